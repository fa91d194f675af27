// The "obvious" CAF child of the baseline launcher: CAF's default
// configuration, connect to the launcher's published actor, say hello with
// its pid and wait until told to quit. Usage: naive_child HOST PORT
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
  auto parent = sys.middleman().remote_actor(argv[1],
                                             static_cast<uint16_t>(
                                               std::atoi(argv[2])));
  if (!parent)
    return 1;
  caf::scoped_actor self{sys};
  self->send(*parent, caf::ok_atom::value, static_cast<int32_t>(::getpid()));
  self->receive([](caf::close_atom) {});
  return 0;
}
