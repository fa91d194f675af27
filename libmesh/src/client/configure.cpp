#include "mesh/system.hpp"

#include "bootstrap/tls.hpp"
#include "libmesh/src/core/config_stores.hpp"
#include "mesh/actors.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <optional>

namespace mesh {

namespace {

/// Loads CAF's openssl module when tls.certificate, tls.key and tls.cafile
/// are all set. CAF turns mandatory mutual authentication on with any
/// openssl.* key and aborts at start-up when only some are set, so a partial
/// setting loads nothing here; publish and connect then refuse with an error
/// naming the missing keys (bootstrap/network.hpp). Children learn the
/// credentials from their host's launcher (actors/bootstrap_proc_manager),
/// not from this process's environment: configure() never calls setenv.
void configure_tls(caf::actor_system_config& cfg, const config_store& store) {
  auto creds = tls::from_config(store);
  if (creds && *creds) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = (*creds)->certificate;
    cfg.openssl_key = (*creds)->key;
    cfg.openssl_cafile = (*creds)->cafile;
  }
}

} // namespace

void configure(caf::actor_system_config& cfg) {
  auto& store = attach_config_store(cfg);
  cfg.load<caf::io::middleman>();
  cfg.add_message_types<caf::id_block::mesh>();
  cfg.add_error_category(error_category,
                         [](uint8_t code, caf::atom_value,
                            const caf::message& context) {
                           return render_error(code, context);
                         });
  // CAF's default work-stealing scheduler polls with max(4, cores) threads;
  // on small machines with many processes that costs 3-4x in start-up and a
  // third of a core idling (reference/caf_0.17_notes.md §3.1). Two sharing
  // workers serve a client or host; procs lower this to one.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", size_t{2});
  // BASP messages are deserialized on the middleman's I/O thread instead of
  // being handed to a worker thread first: one hand-off less per message.
  // Set in client and procs together it measured round trips 0.68-0.89x and
  // actor_mesh::call 0.75-0.78x (small casts to one proc 0.77x); on one side
  // only it gained little or lost (BENCHMARKS.md, "Round trip").
  cfg.set("middleman.workers", size_t{0});
  // A hung peer is only noticed with heartbeats on the peer and a
  // connection timeout on the watcher; both are off in CAF by default.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds{1}});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds{5}});
  configure_tls(cfg, store);
}

config::config() {
  configure(*this);
  store_guard_ = std::shared_ptr<void>(
    nullptr, [this](void*) { detach_config_store(*this); });
}

} // namespace mesh
