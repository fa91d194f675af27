// Every libmesh message type survives CAF's serializer: an unannounced or
// half-inspected type is not a compile error in CAF 0.17, it is an empty
// message at run time.
#include "mesh/actors.hpp"
#include "mesh/system.hpp"

#include <doctest/doctest.h>

#include <caf/all.hpp>

namespace {

struct system_fixture {
  mesh::config cfg;
  caf::actor_system sys{cfg};

  /// Serializes `msg` as BASP would and reads it back.
  caf::message round_trip(const caf::message& msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = msg;
    if (auto err = sink(copy))
      FAIL("serialize: " << sys.render(err));
    caf::binary_deserializer source{sys, buf};
    caf::message result;
    if (auto err = source(result))
      FAIL("deserialize: " << sys.render(err));
    return result;
  }

  template <class T>
  void check(T value) {
    auto msg = caf::make_message(value);
    auto back = round_trip(msg);
    REQUIRE(back.size() == 1);
    REQUIRE(back.template match_element<T>(0));
    CHECK(caf::deep_to_string(back.template get_as<T>(0))
          == caf::deep_to_string(value));
  }
};

mesh::bootstrap_command sample_command() {
  mesh::bootstrap_command cmd;
  cmd.program = "/usr/bin/env";
  cmd.arg0 = "envy";
  cmd.args = {"-i", "x=1"};
  cmd.env = {{"A", "b"}, {"EMPTY", ""}};
  return cmd;
}

} // namespace

TEST_CASE_FIXTURE(system_fixture, "status and event types round-trip") {
  check(mesh::proc_status::timeout);
  mesh::proc_event ev;
  ev.rank = 3;
  ev.proc_name = "w-3";
  ev.status = mesh::proc_status::failed;
  ev.signal = 9;
  ev.reason = "killed by signal 9";
  check(ev);
  mesh::proc_state st;
  st.rank = 1;
  st.proc_name = "w-1";
  st.host = "127.0.0.1:1";
  st.pid = 1234;
  st.status = mesh::proc_status::stopped;
  st.exit_code = 0;
  st.stderr_tail = {"a", "b"};
  check(st);
  mesh::shutdown_summary sum;
  sum.stopped_politely = 2;
  sum.killed = 1;
  sum.hosts = 1;
  sum.failures = {"x"};
  check(sum);
}

TEST_CASE_FIXTURE(system_fixture, "optional fields survive both ways") {
  mesh::proc_event with;
  with.exit_code = 7;
  mesh::proc_event without;
  auto a = round_trip(caf::make_message(with));
  auto b = round_trip(caf::make_message(without));
  CHECK(a.get_as<mesh::proc_event>(0).exit_code == std::optional<int>{7});
  CHECK_FALSE(b.get_as<mesh::proc_event>(0).exit_code);
  CHECK_FALSE(b.get_as<mesh::proc_event>(0).signal);
}

TEST_CASE_FIXTURE(system_fixture, "spawn request types round-trip") {
  check(sample_command());
  mesh::proc_bind bind;
  bind.cpus = "0-3";
  bind.membind = "1";
  check(bind);
  mesh::proc_spec spec{"p-0", 5, sample_command(), bind};
  check(spec);
  mesh::spawn_procs_request req;
  req.proc_mesh_id = "workers-abcdefgh";
  req.host_mesh_id = "local-abcdefgh";
  req.host_rank = 2;
  req.host_children = true;
  req.default_command = sample_command();
  req.config = {{"a", "1"}, {"b", "x=y"}};
  req.procs = {spec, mesh::proc_spec{"p-1", 6, std::nullopt, std::nullopt}};
  check(req);
  auto back = round_trip(caf::make_message(req))
                .get_as<mesh::spawn_procs_request>(0);
  CHECK(back.procs[0].command == sample_command());
  CHECK(back.procs[0].bind == bind);
  CHECK_FALSE(back.procs[1].command);
  CHECK(back.config == req.config);
}

TEST_CASE_FIXTURE(system_fixture, "handshake and manager types round-trip") {
  check(mesh::child_registration{"p-0", "tok", 42, caf::actor{}, "127.0.0.1",
                                 4100});
  mesh::launch_request lr;
  lr.name = "p-0";
  lr.rank = 1;
  lr.command = sample_command();
  lr.payload = "QUJD";
  lr.token = "t";
  check(lr);
  mesh::proc_exit ex;
  ex.name = "p-0";
  ex.signal = 15;
  check(ex);
  check(mesh::proc_output{"p-0", 2, true, "line"});
  mesh::proc_info info;
  info.state.rank = 4;
  info.address = "127.0.0.1:5";
  check(info);
  check(std::vector<mesh::proc_info>{info, info});
  check(mesh::config_snapshot{{"k", "v"}});
  check(std::vector<std::string>{"x", "y"});
}

TEST_CASE_FIXTURE(system_fixture,
                  "empty and live actor handles inside messages survive") {
  // CAF 0.17 drops a whole message that holds an invalid handle.
  mesh::proc_info empty;
  auto back = round_trip(caf::make_message(empty));
  REQUIRE(back.size() == 1);
  CHECK_FALSE(back.get_as<mesh::proc_info>(0).agent);
  auto live = sys.spawn([]() -> caf::behavior { return {[](int) {}}; });
  mesh::proc_info with;
  with.agent = caf::actor_cast<mesh::proc_agent_actor>(live);
  back = round_trip(caf::make_message(with));
  REQUIRE(back.size() == 1);
  CHECK(back.get_as<mesh::proc_info>(0).agent == with.agent);
  caf::anon_send_exit(live, caf::exit_reason::kill);
}

TEST_CASE("users can start their own type-ID block after libmesh's") {
  CHECK(caf::id_block::mesh::begin == caf::first_custom_type_id);
  CHECK(caf::id_block::mesh::end > caf::id_block::mesh::begin);
}
