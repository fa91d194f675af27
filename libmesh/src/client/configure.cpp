#include "mesh/system.hpp"

#include "libmesh/src/client/liveness.hpp"

#include "bootstrap/tls.hpp"
#include "libmesh/src/core/config_stores.hpp"
#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/proc_mesh.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/thread_hook.hpp>
#include <caf/timespan.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

namespace mesh::keys {

// Read when an actor system starts (declared in mesh/config_keys.hpp,
// architecture §6): by configure() and, with the parent's snapshot, by a
// bootstrap child (bootstrap_child.cpp).
const config_key<duration> proc_unresponsive_timeout{
  "proc_unresponsive_timeout", std::chrono::seconds{5}, true,
  "a peer silent this long (no heartbeat) is failed as unresponsive "
  "(0 = off)"};

} // namespace mesh::keys

namespace mesh {

void apply_liveness(caf::actor_system_config& cfg, const config_store& store) {
  auto timeout = store.get(keys::proc_unresponsive_timeout);
  if (timeout <= duration::zero()) {
    cfg.set("middleman.heartbeat-interval", caf::timespan{0});
    cfg.set("middleman.connection-timeout", caf::timespan{0});
    return;
  }
  auto interval = std::min<duration>(std::chrono::seconds{1}, timeout / 4);
  cfg.set("middleman.heartbeat-interval", caf::timespan{interval});
  // CAF looks for silence once per heartbeat interval: cutting at
  // timeout - interval puts every cut within `timeout` of the last sign of
  // life (and no earlier than timeout - 2 intervals).
  cfg.set("middleman.connection-timeout", caf::timespan{timeout - interval});
}

namespace {

/// Every connection is authenticated (bootstrap/tls.hpp): CAF's openssl
/// module is always loaded, and its sessions use libmesh's one TLS context
/// per process. That context's certificates come from tls.certificate,
/// tls.key and tls.cafile (all three or none); the files are loaded and
/// checked here, once, and a problem is reported by the first publish or
/// connect (configure() cannot fail). CAF's own openssl.* settings stay
/// empty: libmesh's context replaces whatever they would configure, so an
/// application that sets them for its own CAF connections should use the
/// tls.* keys instead (they then serve both).
void configure_tls(caf::actor_system_config& cfg, const config_store& store) {
  cfg.load<caf::openssl::manager>();
  auto creds = tls::from_config(store);
  if (!creds)
    tls::refuse_credentials(std::move(creds.error()));
  else
    tls::use_credentials(*creds);
}

/// Whether this thread was started by an actor system (a scheduler worker,
/// the middleman, a detached actor): set by actor_thread_marker.
thread_local bool actor_thread = false;

/// Marks the threads actor systems start, so that libmesh can tell a
/// caller on one of them (an actor) from an application thread.
class actor_thread_marker : public caf::thread_hook {
public:
  void init(caf::actor_system&) override {}
  void thread_started() override { actor_thread = true; }
  void thread_terminates() override {}
};

} // namespace

bool on_actor_thread() {
  return actor_thread;
}

void configure(caf::actor_system_config& cfg) {
  auto& store = attach_config_store(cfg);
  cfg.load<caf::io::middleman>();
  cfg.add_thread_hook<actor_thread_marker>();
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
  apply_liveness(cfg, store);
  configure_tls(cfg, store);
}

config::config() {
  configure(*this);
  store_guard_ = std::shared_ptr<void>(
    nullptr, [this](void*) { detach_config_store(*this); });
}

caf::error write_mesh_key_file(const std::string& path) {
  return tls::write_key_file(path);
}

caf::error use_mesh_key_file(const std::string& path) {
  auto key = tls::read_key_file(path);
  if (!key)
    return std::move(key.error());
  return tls::adopt(tls::transport{false, std::move(*key)});
}

} // namespace mesh
