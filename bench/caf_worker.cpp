// The child of the plain CAF + Boost.Process baseline, written the obvious
// way: CAF's default configuration, connect to the launcher's published actor,
// spawn the benchmark worker and introduce it with (ok, pid, worker); run
// until the worker is told to exit or the launcher is lost.
// Usage: caf_worker HOST PORT
#include "worker.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <unistd.h>

#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 3)
    return 2;
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto launcher = sys.middleman().remote_actor(
    argv[1], static_cast<uint16_t>(std::atoi(argv[2])));
  if (!launcher)
    return 1;
  auto worker = sys.spawn(bench::worker);
  caf::scoped_actor self{sys};
  self->monitor(worker);
  self->monitor(*launcher);
  self->send(*launcher, caf::ok_atom::value, static_cast<int32_t>(::getpid()),
             worker);
  self->receive([&](const caf::down_msg& down) {
    // The launcher is gone: nobody will ever stop the worker.
    if (down.source != worker.address())
      self->send_exit(worker, caf::exit_reason::kill);
  });
  return 0;
}
