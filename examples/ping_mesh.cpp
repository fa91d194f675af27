// Embeds libmesh in a CAF application that brings its own actor type and its
// own message types: 2 host processes x 4 procs, one pinger actor per proc,
// a cast and a call across all of them, then a clean shutdown.
//
//   build/examples/ping_mesh
//
// The same executable is the client, the hosts and the procs: each child
// finds its role in the environment and run_bootstrap_child() runs it, with
// this program's actor types registered.
#include <mesh/host_mesh.hpp>
#include <mesh/system.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

// --- the application's messages and actor
// -------------------------------------

namespace ping_app {

struct ping {
  uint64_t seq = 0;
  std::string from;
};

struct pong {
  uint64_t seq = 0;
  std::string greeting; ///< The pinger's init argument.
  int64_t pid = 0;      ///< The proc that answered.
  uint64_t notes = 0;   ///< Casts it had received.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("ping_app::ping"), x.seq, x.from);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pong& x) {
  return f(caf::meta::type_name("ping_app::pong"), x.seq, x.greeting, x.pid,
           x.notes);
}

using note_atom = caf::atom_constant<caf::atom("note")>;

using pinger_actor = caf::typed_actor<
  // Counts a note (cast to every pinger).
  caf::reacts_to<note_atom>,
  // Answers a ping.
  caf::replies_to<ping>::with<pong>>;

struct pinger_state {
  static inline const char* name = "pinger";
  std::string greeting;
  uint64_t notes = 0;
};

pinger_actor::behavior_type
pinger(pinger_actor::stateful_pointer<pinger_state> self,
       std::string greeting) {
  self->state.greeting = std::move(greeting);
  return {
    [self](note_atom) { ++self->state.notes; },
    [self](const ping& p) {
      return pong{p.seq, self->state.greeting, static_cast<int64_t>(::getpid()),
                  self->state.notes};
    },
  };
}

} // namespace ping_app

// The application's type-ID block starts where libmesh's ends.
CAF_BEGIN_TYPE_ID_BLOCK(ping_app, caf::id_block::mesh::end)
CAF_ADD_TYPE_ID(ping_app, (ping_app::ping))
CAF_ADD_TYPE_ID(ping_app, (ping_app::pong))
CAF_ADD_TYPE_ID(ping_app, (ping_app::pinger_actor))
CAF_END_TYPE_ID_BLOCK(ping_app)

// --- the application's configuration
// ------------------------------------------

class app_config : public caf::actor_system_config {
public:
  app_config() {
    mesh::configure(*this);
    // Types first, then the actor type: add_actor_type would otherwise
    // register pinger_actor under the name "pinger".
    add_message_types<caf::id_block::ping_app>();
    add_actor_type("pinger", ping_app::pinger);
  }
};

int main(int argc, char** argv) {
  app_config cfg;
  if (auto code = mesh::run_bootstrap_child(cfg))
    return *code;
  if (auto err = cfg.parse(argc, argv)) {
    std::fprintf(stderr, "%s\n", cfg.render(err).c_str());
    return 1;
  }
  caf::actor_system sys{cfg};
  auto fail = [](const caf::error& err) {
    std::fprintf(stderr, "ping_mesh: %s\n", mesh::to_string(err).c_str());
    return 1;
  };
  auto cmd = mesh::bootstrap_command::current();
  if (!cmd)
    return fail(cmd.error());
  auto hosts = mesh::host_mesh::process(sys, mesh::extent{{"hosts", 2}}, *cmd);
  if (!hosts)
    return fail(hosts.error());
  auto procs = hosts->spawn("procs", mesh::extent{{"procs", 4}});
  if (!procs)
    return fail(procs.error());
  auto pingers = procs->spawn<ping_app::pinger_actor>("pingers", "pinger",
                                                      std::string{"hello"});
  if (!pingers)
    return fail(pingers.error());
  std::printf("%zu pingers on %s\n", pingers->size(),
              pingers->extent().to_string().c_str());
  // One message per host; each host's comm actor delivers to its procs.
  pingers->cast(ping_app::note_atom::value);
  pingers->cast(ping_app::note_atom::value);
  auto pongs = pingers->call<ping_app::pong>(ping_app::ping{1, "main"});
  if (!pongs)
    return fail(pongs.error());
  int rc = 0;
  for (auto [point, p] : *pongs) {
    std::printf("%-20s pid %-7lld %s, %llu notes\n", point.to_string().c_str(),
                static_cast<long long>(p.pid), p.greeting.c_str(),
                static_cast<unsigned long long>(p.notes));
    if (p.notes != 2 || p.seq != 1)
      rc = 1;
  }
  // Only the second host.
  auto second = pingers->range("hosts", 1, 2);
  if (!second)
    return fail(second.error());
  auto seqs = second->call<ping_app::pong>(ping_app::ping{2, "main"});
  if (!seqs)
    return fail(seqs.error());
  std::printf("host 1 answered %zu pings\n", seqs->size());
  auto summary = hosts->shutdown();
  if (!summary)
    return fail(summary.error());
  std::printf("shutdown: %s\n", summary->to_string().c_str());
  return rc;
}
