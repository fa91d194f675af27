#include "echo_actor.hpp"

#include <caf/all.hpp>

namespace meshctl {

namespace {

echo_actor::behavior_type echo(echo_actor::pointer,
                               std::vector<std::string> args) {
  std::string prefix;
  for (auto& a : args)
    prefix += a + " ";
  return {
    [prefix](echo_atom, const std::string& text) { return prefix + text; },
  };
}

} // namespace

void register_actor_types(caf::actor_system_config& cfg) {
  // The handle type first, under its own name (CAF 0.17: add_actor_type
  // would otherwise register it under the actor type's name).
  cfg.add_message_type<echo_actor>("meshctl::echo_actor");
  cfg.add_actor_type("echo", echo);
}

const std::vector<std::string>& actor_types() {
  static const std::vector<std::string> names{"echo"};
  return names;
}

} // namespace meshctl
