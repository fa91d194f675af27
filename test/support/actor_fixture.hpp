// The fixture of the suites that spawn the test actors: an actor system whose
// configuration knows them (in-process procs spawn them here, and the client
// needs the types of their messages), short stop timeouts, and the check
// that no process is left behind.
#pragma once

#include "mesh/config.hpp"
#include "mesh/proc_mesh.hpp"
#include "mesh/system.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <caf/actor_system.hpp>

#include <doctest/doctest.h>

#include <sys/types.h>

#include <vector>

namespace mesh::test {

struct test_config : mesh::config {
  test_config() { add_test_actors(*this); }
};

struct actor_fixture : reaped_fixture {
  mesh::config_override fast_terminate{"terminate_timeout", polite_window()};
  test_config cfg;
  caf::actor_system sys{cfg};
};

/// The pid of every rank, from the hosts (the current proc of each rank).
inline std::vector<pid_t> pids_of(const mesh::proc_mesh& pm) {
  std::vector<pid_t> result;
  auto states = pm.states();
  REQUIRE(states);
  for (auto& st : *states)
    result.push_back(static_cast<pid_t>(st.pid));
  return result;
}

} // namespace mesh::test
