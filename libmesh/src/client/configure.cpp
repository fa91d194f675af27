#include "mesh/system.hpp"

#include "bootstrap/tls.hpp"
#include "mesh/actors.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/timespan.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>

namespace mesh {

namespace {

/// Loads CAF's openssl module when tls.certificate, tls.key and tls.cafile
/// are all set. CAF turns mandatory mutual authentication on with any
/// openssl.* key and aborts at start-up when only some are set, so a partial
/// setting loads nothing here; publish and connect then refuse with an error
/// naming the missing keys (bootstrap/network.hpp).
void configure_tls(caf::actor_system_config& cfg) {
  auto creds = tls::from_config();
  std::optional<tls::credentials> use;
  if (creds && *creds) {
    use = **creds;
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = use->certificate;
    cfg.openssl_key = use->key;
    cfg.openssl_cafile = use->cafile;
  }
  // Bootstrap children run on this machine and connect back to this process,
  // so they need its credentials; TLS paths never travel in config snapshots,
  // hence the environment, which children inherit. Mirroring it both ways
  // keeps a child from using credentials this process does not.
  auto mirror = [](const config_key<std::string>& key, const std::string* v) {
    auto name = config_registry::instance().find(key.name())->env_name();
    if (v != nullptr)
      ::setenv(name.c_str(), v->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  };
  mirror(keys::tls_certificate, use ? &use->certificate : nullptr);
  mirror(keys::tls_key, use ? &use->key : nullptr);
  mirror(keys::tls_cafile, use ? &use->cafile : nullptr);
}

} // namespace

void configure(caf::actor_system_config& cfg) {
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
  configure_tls(cfg);
}

config::config() {
  configure(*this);
}

} // namespace mesh
