#include "actors/internal_interfaces.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/node_id.hpp>

#include <spdlog/spdlog.h>

namespace mesh {

bool from_this_node(caf::local_actor* self, const char* what) {
  auto& sender = self->current_sender();
  if (sender != nullptr && sender->node() == self->node())
    return true;
  spdlog::warn("{} refused an internal message ({}) from {}", self->name(),
               what,
               sender == nullptr ? std::string{"an anonymous sender"}
                                 : "node " + to_string(sender->node()));
  return false;
}

} // namespace mesh
