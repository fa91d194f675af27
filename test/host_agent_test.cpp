// The two faces of a host over a real BASP connection (architecture §3;
// actors/host_agent.hpp HA-1, HA-2; actors/registrar.hpp R-1..R-3).
//
// A host agent is published on 127.0.0.1 as the library publishes it; a
// second actor system in this process connects to it like any peer that
// reaches the port, and tries what such a peer could: register without the
// token, and send the host agent's internal messages to its actor id, which
// CAF 0.17 delivers whatever interface the peer was given. The procs are
// shell children that print their payload (so the test knows their tokens)
// and sleep; one registers, with a proc agent on the peer node.
#include "actors/host_agent.hpp"
#include "actors/proc_agent.hpp"
#include "bootstrap/network.hpp"
#include "bootstrap/payload.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "support/actor_fixture.hpp"

#include <doctest/doctest.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace mesh;

namespace {

constexpr auto deadline = std::chrono::seconds{10};

bool refused(const caf::error& err) {
  return mesh::is(err, ec::handshake_refused);
}

/// A host on `sys` (the fixture's node) and a peer node that reaches it.
struct two_nodes : test::actor_fixture {
  test::test_config peer_cfg;
  caf::actor_system peer{peer_cfg};
  /// The host agent as this process holds it, and as the peer sees it.
  host_agent_actor agent;
  host_agent_actor remote;
  uint16_t port = 0;
  /// The one-time tokens of the procs, from what they printed.
  std::map<std::string, std::string> tokens;
  /// A proc agent on the peer node, registered for pm-0.
  proc_agent_actor peer_agent;

  ~two_nodes() {
    if (agent) {
      caf::scoped_actor self{sys};
      self->request(agent, 3 * deadline, shutdown_host_atom::value)
        .receive([](shutdown_summary&) {},
                 [](caf::error& err) {
                   FAIL_CHECK("shutdown: " << mesh::to_string(err));
                 });
    }
    if (peer_agent)
      caf::anon_send_exit(peer_agent, caf::exit_reason::kill);
  }

  /// Publishes an in-process-free host agent (procs are child processes)
  /// and connects the peer to it.
  void start() {
    host_agent_options opts;
    opts.bootstrap_children = true;
    auto published = publish_host_agent(sys, opts, "127.0.0.1");
    REQUIRE_MESSAGE(published, mesh::to_string(published.error()));
    agent = published->first;
    port = published->second;
    auto conn =
      net::connect<host_agent_actor>(peer, {"127.0.0.1", port}, deadline);
    REQUIRE_MESSAGE(conn, mesh::to_string(conn.error()));
    remote = *conn;
  }

  /// Two procs, pm-0 and pm-1, launched at the peer's request; returns once
  /// both printed their payloads. Neither registers by itself.
  void spawn_two(caf::scoped_actor& client) {
    caf::scoped_actor events{sys};
    caf::anon_send(agent, subscribe_events_atom::value, std::string{"pm"},
                   caf::actor_cast<caf::actor>(events));
    spawn_procs_request req;
    req.proc_mesh_id = "pm";
    req.host_mesh_id = "hm";
    bootstrap_command cmd;
    cmd.program = "/bin/sh";
    cmd.args = {"-c", "echo \"$MESH_BOOTSTRAP\"; exec sleep 60"};
    req.default_command = cmd;
    // A shell cannot be a zygote; and no handshake deadline, so that pm-1
    // stays initializing for the whole test.
    req.config = {{"bootstrap_zygote", "false"},
                  {"host_spawn_ready_timeout", "0s"}};
    for (uint64_t r = 0; r < 2; ++r)
      req.procs.push_back(
        {"pm-" + std::to_string(r), r, std::nullopt, std::nullopt});
    // The reply comes once both are done; nobody waits for it.
    client->request(remote, caf::infinite, spawn_procs_atom::value, req);
    bool timed_out = false;
    events->receive_while([&] { return tokens.size() < 2 && !timed_out; })(
      [&](proc_output& out) {
        if (auto p = bootstrap::decode(out.line))
          tokens[p->name] = p->token;
      },
      [](proc_event&) {}, caf::after(deadline) >> [&] { timed_out = true; });
    REQUIRE_FALSE(timed_out);
  }

  registrar_actor registrar_from_peer(caf::scoped_actor& client) {
    registrar_actor result;
    client->request(remote, deadline, registrar_atom::value)
      .receive([&](registrar_actor& r) { result = std::move(r); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    REQUIRE(result);
    return result;
  }
  /// pm-0 registers as a child would: a proc agent on the peer node, through
  /// the registrar the peer got from the host. Returns that registrar.
  registrar_actor register_pm0_from_peer(caf::scoped_actor& client) {
    auto reg = registrar_from_peer(client);
    peer_agent = peer.spawn(proc_agent, std::string{"pm-0"}, reg);
    REQUIRE_FALSE(register_via(client, reg, "pm-0", tokens["pm-0"],
                               caf::actor_cast<caf::actor>(peer_agent)));
    return reg;
  }


  /// Registers `name` through `reg` with `token`: ok or the error.
  caf::error register_via(caf::scoped_actor& client, const registrar_actor& reg,
                          const std::string& name, const std::string& token,
                          caf::actor agent_handle) {
    caf::error result;
    child_registration cr{name, token, 4242, std::move(agent_handle), "", 0};
    client->request(reg, deadline, register_child_atom::value, cr)
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::vector<proc_info> states(caf::scoped_actor& client) {
    std::vector<proc_info> result;
    client
      ->request(remote, deadline, proc_state_atom::value, std::string{"pm"},
                std::vector<std::string>{})
      .receive([&](std::vector<proc_info>& xs) { result = std::move(xs); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    REQUIRE(result.size() == 2);
    return result;
  }

  std::vector<std::string> names(caf::scoped_actor& client) {
    std::vector<std::string> result;
    client->request(remote, deadline, list_procs_atom::value)
      .receive([&](std::vector<std::string>& xs) { result = std::move(xs); },
               [&](caf::error& err) { FAIL(mesh::to_string(err)); });
    return result;
  }
};

} // namespace

TEST_CASE_FIXTURE(two_nodes, "HA-1 a host publishes its public protocol "
                             "only") {
  start();
  // A peer that expects the internal interface does not get the agent.
  auto internal =
    net::connect(peer, peer.message_types<host_agent_internal_actor>(),
                 {"127.0.0.1", port}, deadline);
  CHECK_FALSE(internal);
  auto ifs = peer.message_types<host_agent_actor>();
  for (auto& sig : ifs) {
    CHECK(sig.find("proc_exit") == std::string::npos);
    CHECK(sig.find("child_registration") == std::string::npos);
    bool names_failure = sig.find("actor_failure") != std::string::npos;
    bool via_registrar = sig.find("registrar") != std::string::npos;
    CHECK((!names_failure || via_registrar));
  }
}

TEST_CASE_FIXTURE(two_nodes, "R-1 a registration without the exact token "
                             "changes nothing") {
  start();
  caf::scoped_actor client{peer};
  spawn_two(client);
  auto reg = registrar_from_peer(client);
  auto fake = peer.spawn([]() -> caf::behavior {
    return {[](stop_proc_atom, const std::string&) {}};
  });
  auto handle = caf::actor_cast<caf::actor>(fake);
  // Wrong, missing and another proc's token, for a proc that is waiting.
  for (auto token : {std::string{"0123456789abcdef0123456789abcdef"},
                     std::string{}, tokens["pm-1"]}) {
    CHECK(refused(register_via(client, reg, "pm-0", token, handle)));
  }
  // A token for a name the host does not know.
  CHECK(refused(register_via(client, reg, "pm-9", tokens["pm-0"], handle)));
  // No agent at all.
  CHECK(
    refused(register_via(client, reg, "pm-0", tokens["pm-0"], caf::actor{})));
  for (auto& info : states(client)) {
    CHECK(info.state.status == proc_status::initializing);
    CHECK_FALSE(info.agent);
    CHECK(info.address.empty());
  }
  // The exact token works once.
  CHECK_FALSE(register_via(client, reg, "pm-0", tokens["pm-0"], handle));
  CHECK(refused(register_via(client, reg, "pm-0", tokens["pm-0"], handle)));
  auto after = states(client);
  CHECK(after[0].state.status == proc_status::running);
  CHECK(after[1].state.status == proc_status::initializing);
  caf::anon_send_exit(fake, caf::exit_reason::kill);
}

TEST_CASE_FIXTURE(two_nodes, "HA-2 internal messages from another node "
                             "change nothing") {
  start();
  caf::scoped_actor client{peer};
  spawn_two(client);
  auto reg = register_pm0_from_peer(client);
  auto before = states(client);
  REQUIRE(before[0].state.status == proc_status::running);
  REQUIRE(before[1].state.status == proc_status::initializing);
  caf::scoped_actor events{sys};
  caf::anon_send(agent, subscribe_events_atom::value, std::string{},
                 caf::actor_cast<caf::actor>(events));
  // Everything below goes to the host agent's actor id, as CAF lets a peer
  // do, anonymously and with a sender of the peer's node.
  auto target = caf::actor_cast<caf::actor>(remote);
  auto forge = [&](auto... xs) {
    caf::anon_send(target, xs...);
    client->send(target, xs...);
  };
  for (auto name : {std::string{"pm-0"}, std::string{"pm-1"}}) {
    forge(proc_exited_atom::value, proc_exit{name, 0, std::nullopt, {}});
    forge(proc_exited_atom::value, proc_exit{name, std::nullopt, 9, "forged"});
    forge(proc_output_atom::value, proc_output{name, 0, true, "forged"});
    // (The real timers carry types no peer can encode: these match no
    // handler at all.)
    forge(ready_timeout_atom::value, name);
    forge(proc_lost_atom::value, name, int64_t{4242});
    for (int32_t stage = 0; stage < 4; ++stage)
      forge(escalate_atom::value, name, stage);
    forge(actor_failed_atom::value,
          actor_failure{name, "w", "am", "forged to the host agent"});
  }
  forge(set_endpoint_atom::value, std::string{"evil.example"}, uint16_t{1});
  // The internal side of registration, even with pm-1's exact token.
  caf::error internal_refusal;
  client
    ->request(target, deadline, register_child_atom::value,
              child_registration{"pm-1", tokens["pm-1"], 1,
                                 caf::actor_cast<caf::actor>(peer_agent), "",
                                 0})
    .receive([](caf::ok_atom) {},
             [&](caf::error& err) { internal_refusal = err; });
  CHECK(refused(internal_refusal));
  // On this node too, only the proc manager reports exits, and the endpoint
  // is set once.
  {
    caf::scoped_actor local{sys};
    auto local_target = caf::actor_cast<caf::actor>(agent);
    local->send(local_target, proc_exited_atom::value,
                proc_exit{"pm-1", 0, std::nullopt, {}});
    local->send(local_target, proc_output_atom::value,
                proc_output{"pm-1", 0, true, "forged"});
    local->send(local_target, set_endpoint_atom::value,
                std::string{"evil.example"}, uint16_t{1});
  }
  // To the registrar: a failure of a proc that did not register there.
  caf::anon_send(reg, actor_failed_atom::value,
                 actor_failure{"pm-1", "w", "am", "forged to the registrar"});
  client->send(reg, actor_failed_atom::value,
               actor_failure{"pm-1", "w", "am", "forged to the registrar"});
  // A request through the registrar orders everything sent to it before.
  CHECK(refused(register_via(client, reg, "pm-1", "wrong", caf::actor{})));
  auto after = states(client);
  for (size_t i = 0; i < 2; ++i) {
    INFO("rank " << i);
    CHECK(after[i].state.status == before[i].state.status);
    CHECK(after[i].state.pid == before[i].state.pid);
    CHECK(after[i].state.host == "127.0.0.1:" + std::to_string(port));
    CHECK(after[i].state.stderr_tail.empty());
    CHECK_FALSE(after[i].state.exit_code);
    CHECK_FALSE(after[i].state.signal);
  }
  CHECK(names(client) == std::vector<std::string>{"pm-0", "pm-1"});
  // Nothing was pushed: no status change, no actor event, no line.
  bool pushed = false;
  events->receive_while([&] { return !pushed; })(
    [&](proc_event& ev) {
      pushed = true;
      FAIL_CHECK("unexpected event for " << ev.proc_name << ": " << ev.reason);
    },
    [&](proc_output& out) {
      pushed = true;
      FAIL_CHECK("unexpected line of " << out.name << ": " << out.line);
    },
    caf::after(std::chrono::milliseconds{0}) >> [&] { pushed = true; });
}

TEST_CASE_FIXTURE(two_nodes, "the public protocol works from another node, "
                             "actor failures included") {
  start();
  caf::scoped_actor client{peer};
  spawn_two(client);
  auto reg = register_pm0_from_peer(client);
  // wait_status answers at once for a status reached, with the given rank.
  client
    ->request(remote, deadline, wait_status_atom::value, std::string{"pm-0"},
              proc_status::running, uint64_t{7})
    .receive(
      [](uint64_t rank, proc_state& st) {
        CHECK(rank == 7);
        CHECK(st.status == proc_status::running);
      },
      [](caf::error& err) { FAIL_CHECK(mesh::to_string(err)); });
  client->request(remote, deadline, comm_atom::value)
    .receive([](comm_actor_actor& comm) { CHECK(comm); },
             [](caf::error& err) { FAIL_CHECK(mesh::to_string(err)); });
  // (The store is this process's: the empty snapshot puts it back.)
  auto tail_before = config_store::global().get(keys::tail_log_lines);
  for (auto snap :
       {config_snapshot{{"tail_log_lines", "50"}}, config_snapshot{}})
    client->request(remote, deadline, set_config_atom::value, snap)
      .receive([](caf::ok_atom) {},
               [](caf::error& err) { FAIL_CHECK(mesh::to_string(err)); });
  CHECK(config_store::global().get(keys::tail_log_lines) == tail_before);
  // A failure reported by the proc's own node reaches the subscribers.
  caf::scoped_actor events{peer};
  client->send(remote, subscribe_events_atom::value, std::string{"pm"},
               caf::actor_cast<caf::actor>(events));
  client->send(reg, actor_failed_atom::value,
               actor_failure{"pm-0", "workers", "am-1", "it threw"});
  std::optional<proc_event> failure;
  events->receive_while([&] { return !failure; })(
    [&](proc_event& ev) {
      if (!ev.actor.empty())
        failure = ev;
    },
    [](proc_output&) {},
    caf::after(deadline) >> [&] { FAIL("no actor event"); });
  REQUIRE(failure);
  CHECK(failure->proc_name == "pm-0");
  CHECK(failure->actor == "workers");
  // Stops: pm-0 politely then by signal (its agent quits, the shell does
  // not), pm-1 by SIGTERM at once.
  client
    ->request(remote, 3 * deadline, stop_procs_atom::value, std::string{"pm"},
              std::vector<std::string>{}, std::string{"test done"})
    .receive(
      [](shutdown_summary& s) {
        CHECK(s.total() == 2);
        CHECK(s.failures.empty());
      },
      [](caf::error& err) { FAIL_CHECK(mesh::to_string(err)); });
  for (auto& info : states(client))
    CHECK(info.state.status == proc_status::stopped);
}

TEST_CASE_FIXTURE(test::actor_fixture,
                  "a connection whose handshake outlasts a heartbeat tick is "
                  "made again within the deadline, not given up") {
  // CAF 0.17.6 stamps a connection it opens with no time until the peer's
  // first message, and its heartbeat check closes one whose handshake is
  // still under way at the next tick (bootstrap/network.cpp). A host stopped
  // for two ticks is reached once it runs again.
  auto hosts = host_mesh::process(sys, extent{{"hosts", 1}},
                                  test::child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto where = net::parse_endpoint(hosts->host_addrs()[0]);
  REQUIRE(where);
  auto pm = hosts->spawn("workers", extent{{"gpus", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto host = test::host_process_of(test::pids_of(*pm)[0]);
  REQUIRE(host > 1);
  REQUIRE(host != ::getpid());
  // A second node, a stranger to the host: its connect is a new connection
  // with a full handshake.
  test::test_config cfg2;
  caf::actor_system sys2{cfg2};
  std::optional<caf::expected<host_agent_actor>> agent;
  {
    test::resume_on_exit resume{host};
    REQUIRE(test::stop_process(host));
    auto connecting = std::async(std::launch::async, [&] {
      return net::connect<host_agent_actor>(sys2, *where,
                                            std::chrono::seconds{20});
    });
    // Two ticks of sys2's heartbeat (1 s) pass while the host is stopped.
    CHECK(connecting.wait_for(std::chrono::milliseconds{2500}) ==
          std::future_status::timeout);
    ::kill(host, SIGCONT);
    REQUIRE(connecting.wait_for(std::chrono::seconds{20}) ==
            std::future_status::ready);
    agent = connecting.get();
  }
  REQUIRE(agent);
  CHECK_MESSAGE(*agent, mesh::to_string(agent->error()));
  auto summary = hosts->shutdown();
  REQUIRE_MESSAGE(summary, mesh::to_string(summary.error()));
}
