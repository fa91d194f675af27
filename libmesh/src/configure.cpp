#include "mesh/system.hpp"

#include "mesh/actors.hpp"
#include "mesh/error.hpp"

#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/timespan.hpp>

#include <chrono>

namespace mesh {

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
  // A hung peer is only noticed with heartbeats on the peer and a
  // connection timeout on the watcher; both are off in CAF by default.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds{1}});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds{5}});
}

config::config() {
  configure(*this);
}

} // namespace mesh
