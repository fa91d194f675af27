// Inside a proc (mesh/this_proc.hpp): what a proc's environment says about
// its place (RANK, LOCAL_RANK, WORLD_SIZE, MESH_POINT, ...), what
// this_proc() says to an actor running in it, at spawn and later, and that
// this_host() spawns procs on the proc's own host. The procs are the test
// program test/mesh_child, each running the "whereami" test actor
// (support/test_actors.hpp), which answers with both.
#include "bootstrap/launch_plan.hpp"
#include "libmesh/src/core/proc_env.hpp"
#include "mesh/actor_mesh.hpp"
#include "mesh/error.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/this_proc.hpp"
#include "support/actor_fixture.hpp"
#include "support/process.hpp"
#include "support/test_actors.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using mesh::extent;
using mesh::host_mesh;
using mesh::test::actor_fixture;

namespace {

mesh::bootstrap_command child_command() {
  mesh::bootstrap_command cmd;
  cmd.program = mesh::test::build_path("test/mesh_child");
  return cmd;
}

/// "key=value" lines as a map.
std::map<std::string, std::string>
as_map(const std::vector<std::string>& lines) {
  std::map<std::string, std::string> result;
  for (auto& line : lines) {
    auto eq = line.find('=');
    result[line.substr(0, eq)] =
      eq == std::string::npos ? std::string{} : line.substr(eq + 1);
  }
  return result;
}

/// Spawns "whereami" on every proc of `pm` and returns each rank's answer.
std::vector<std::map<std::string, std::string>>
ask_every_rank(const mesh::proc_mesh& pm) {
  std::vector<std::map<std::string, std::string>> result;
  auto am = pm.spawn<caf::actor>("whereami", "whereami");
  REQUIRE_MESSAGE(am, mesh::to_string(am.error()));
  auto answers =
    am->call<std::vector<std::string>>(30s, mesh::test::where_atom::value);
  REQUIRE_MESSAGE(answers, mesh::to_string(answers.error()));
  for (auto& lines : answers->values())
    result.push_back(as_map(lines));
  return result;
}

/// What rank `r` of `pm`, `per_host` procs per host, must say about itself
/// (now, in the key's plain form, and at spawn, "spawn."-prefixed).
void check_rank(const std::map<std::string, std::string>& got,
                const mesh::proc_mesh& pm, size_t r, size_t per_host,
                const std::string& host_addr, const mesh::host_mesh_ref& hosts,
                std::optional<std::string> env_rank = std::nullopt) {
  CAPTURE(r);
  auto pt = pm.extent().point_of_rank(r);
  REQUIRE(pt);
  auto world = std::to_string(pm.size());
  auto rank = std::to_string(r);
  auto local = std::to_string(r % per_host);
  auto per = std::to_string(per_host);
  for (std::string prefix : {"", "spawn."}) {
    CAPTURE(prefix);
    auto at = [&](const std::string& key) {
      auto i = got.find(prefix + key);
      return i == got.end() ? std::string{"<missing>"} : i->second;
    };
    CHECK(at("error") == "<missing>");
    // this_proc()
    CHECK(at("rank") == rank);
    CHECK(at("point") == pt->to_string());
    CHECK(at("extent") == pm.extent().to_string());
    CHECK(at("mesh") == pm.id().to_string());
    CHECK(at("proc_name") == mesh::proc_name(pm.id(), r));
    CHECK(at("local_rank") == local);
    CHECK(at("local_world_size") == per);
    CHECK(at("host_addr") == host_addr);
    CHECK(at("host_mesh") == hosts.id().to_string());
    CHECK(at("host_handle") == "yes");
    // The environment.
    CHECK(at("env.RANK") == env_rank.value_or(rank));
    CHECK(at("env.MESH_RANK") == rank);
    CHECK(at("env.WORLD_SIZE") == world);
    CHECK(at("env.MESH_WORLD_SIZE") == world);
    CHECK(at("env.LOCAL_RANK") == local);
    CHECK(at("env.LOCAL_WORLD_SIZE") == per);
    CHECK(at("env.MESH_POINT") == pt->to_string());
    CHECK(at("env.MESH_EXTENT") == pm.extent().to_string());
    CHECK(at("env.MESH_PROC_MESH_ID") == pm.id().to_string());
    CHECK(at("env.MESH_PROC_NAME") == mesh::proc_name(pm.id(), r));
    CHECK(at("env.MESH_HOST") == host_addr);
    CHECK(at("env.MESH_HOST_MESH_ID") == hosts.id().to_string());
  }
}

} // namespace

TEST_CASE("the proc environment reads back what it wrote") {
  mesh::proc_place place;
  place.proc_mesh_id = "workers-3vQB7xYz";
  place.proc_name = "workers-3vQB7xYz-5";
  place.rank = 5;
  place.extent = extent{{"hosts", 2}, {"x", 2}, {"y", 2}};
  place.procs_per_host = 4;
  place.host_addr = "127.0.0.1:4100";
  place.host_mesh_id = "local-8xHf3k2a";
  auto env = mesh::proc_env_of(place);
  CHECK(env.at("RANK") == "5");
  CHECK(env.at("LOCAL_RANK") == "1");
  CHECK(env.at("LOCAL_WORLD_SIZE") == "4");
  CHECK(env.at("WORLD_SIZE") == "8");
  CHECK(env.at("MESH_POINT") == "hosts=1/2,x=0/2,y=1/2");
  CHECK(env.at("MESH_EXTENT") == "{hosts: 2, x: 2, y: 2}");
  auto back = mesh::proc_place_of(env);
  REQUIRE_MESSAGE(back, mesh::to_string(back.error()));
  CHECK(back->rank == 5);
  CHECK(back->extent == place.extent);
  CHECK(back->procs_per_host == 4);
  CHECK(back->proc_name == place.proc_name);
  CHECK(back->host_addr == place.host_addr);
  CHECK(back->host_mesh_id == place.host_mesh_id);
  // Without an extent: only what needs none.
  place.extent.reset();
  env = mesh::proc_env_of(place);
  CHECK(env.count("RANK") == 1);
  CHECK(env.count("WORLD_SIZE") == 0);
  CHECK(env.count("MESH_POINT") == 0);
  back = mesh::proc_place_of(env);
  REQUIRE(back);
  CHECK_FALSE(back->extent);
  // A rank outside the extent, or a number that is not one, is named.
  env = mesh::proc_env_of(place);
  env["MESH_EXTENT"] = "{x: 2}";
  env["LOCAL_WORLD_SIZE"] = "2";
  auto bad = mesh::proc_place_of(env);
  REQUIRE_FALSE(bad);
  CHECK(mesh::to_string(bad.error()).find("MESH_RANK") != std::string::npos);
  env["MESH_RANK"] = "1x";
  bad = mesh::proc_place_of(env);
  REQUIRE_FALSE(bad);
  CHECK(mesh::to_string(bad.error()).find("'1x' is not a number") !=
        std::string::npos);
}

TEST_CASE("a launch's proc_env wins over every other layer, and stays out of "
          "its zygote's key and environment") {
  auto spec_for = [](std::string rank) {
    mesh::bootstrap::launch_spec spec;
    spec.name = "p" + rank;
    spec.command.program = "/bin/true";
    spec.command.env = {{"RANK", "99"}, {"KEEP", "1"}};
    spec.extra_env = {{"MESH_BOOTSTRAP", "payload-" + rank},
                      {"LOCAL_RANK", "98"}};
    spec.proc_env = {{"RANK", rank}, {"LOCAL_RANK", rank}};
    spec.zygote_payload = [] { return std::string{"zygote"}; };
    return spec;
  };
  std::map<std::string, std::string> base{{"RANK", "97"}, {"PATH", "/bin"}};
  auto a = mesh::bootstrap::prepare(spec_for("0"), base);
  auto b = mesh::bootstrap::prepare(spec_for("1"), base);
  REQUIRE(a);
  REQUIRE(b);
  auto has = [](const std::vector<std::string>& envv, const std::string& e) {
    return std::count(envv.begin(), envv.end(), e) == 1;
  };
  CHECK(has(a->envv, "RANK=0"));
  CHECK(has(a->envv, "LOCAL_RANK=0"));
  CHECK(has(b->envv, "RANK=1"));
  CHECK(has(a->envv, "KEEP=1"));
  REQUIRE(a->zygote_key);
  REQUIRE(b->zygote_key);
  CHECK(*a->zygote_key == *b->zygote_key);
  auto z = mesh::bootstrap::zygote_plan(*a);
  REQUIRE(z);
  CHECK(has(z->envv, "KEEP=1"));
  for (auto& entry : z->envv) {
    CHECK(entry.rfind("RANK=", 0) != 0);
    CHECK(entry.rfind("LOCAL_RANK=", 0) != 0);
  }
}

TEST_CASE("outside a proc this_proc() and this_host() say so") {
  auto ctx = mesh::this_proc();
  REQUIRE_FALSE(ctx);
  CHECK(mesh::is(ctx.error(), mesh::ec::not_running));
  CHECK(mesh::to_string(ctx.error()).find("not a proc of a mesh") !=
        std::string::npos);
  auto host = mesh::this_host();
  REQUIRE_FALSE(host);
  CHECK(mesh::is(host.error(), mesh::ec::not_running));
  CHECK(mesh::to_string(host.error()).find("this_host()") != std::string::npos);
}

TEST_CASE_FIXTURE(actor_fixture,
                  "every proc of a 2-D mesh knows its rank and point, in "
                  "this_proc() at spawn and later, and in its environment") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("grid", extent{{"x", 2}, {"y", 3}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  REQUIRE(pm->size() == 6);
  auto got = ask_every_rank(*pm);
  REQUIRE(got.size() == 6);
  for (size_t r = 0; r < 6; ++r)
    check_rank(got[r], *pm, r, 6, hosts->host_addrs()[0], *hosts);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture,
                  "libmesh's values win over the command's environment, and "
                  "a wrapper that is exec'd sees them and may change them") {
  // RANK & co. in the command's env (as bootstrap_command::current() would
  // copy them from a proc) are replaced; the wrapper (sh, exec'd for every
  // proc, never forked by a zygote) reads RANK before the program starts,
  // and what it makes of RANK is what the program sees (this_proc() still
  // says what libmesh set).
  mesh::bootstrap_command cmd;
  cmd.program = "/bin/sh";
  cmd.args = {"-c",
              "MESH_TEST_WRAPPER_RANK=$RANK RANK=$((MESH_RANK + 10)) "
              "exec \"$0\"",
              mesh::test::build_path("test/mesh_child")};
  cmd.env = {{"RANK", "99"},
             {"WORLD_SIZE", "99"},
             {"LOCAL_RANK", "99"},
             {"MESH_POINT", "bogus"},
             {"MESH_HOST", "nowhere:1"}};
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  hosts->set_bootstrap(cmd);
  auto pm = hosts->spawn("wrapped", extent{{"procs", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto got = ask_every_rank(*pm);
  REQUIRE(got.size() == 2);
  for (size_t r = 0; r < 2; ++r) {
    check_rank(got[r], *pm, r, 2, hosts->host_addrs()[0], *hosts,
               std::to_string(r + 10));
    CHECK(got[r]["env.MESH_TEST_WRAPPER_RANK"] == std::to_string(r));
  }
  // A proc forked by a zygote (mesh_child itself, whose env sets RANK too)
  // gets ours as well: set from its payload, its zygote has none.
  hosts->set_bootstrap([] {
    auto plain = child_command();
    plain.env = {{"RANK", "99"}, {"LOCAL_WORLD_SIZE", "99"}};
    return plain;
  }());
  auto forked = hosts->spawn("forked", extent{{"procs", 2}});
  REQUIRE_MESSAGE(forked, mesh::to_string(forked.error()));
  got = ask_every_rank(*forked);
  REQUIRE(got.size() == 2);
  for (size_t r = 0; r < 2; ++r)
    check_rank(got[r], *forked, r, 2, hosts->host_addrs()[0], *hosts);
  // Both forked by one zygote: their variables did not split it.
  auto states = forked->states();
  REQUIRE(states);
  auto zygote = mesh::test::parent_of((*states)[0].pid);
  CHECK(zygote != ::getpid());
  CHECK(mesh::test::parent_of((*states)[1].pid) == zygote);
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture,
                  "on 2 hosts x 2 procs LOCAL_RANK counts within each host "
                  "and MESH_HOST names each proc's own host") {
  auto hosts = host_mesh::process(sys, extent{{"hosts", 2}}, child_command());
  REQUIRE_MESSAGE(hosts, mesh::to_string(hosts.error()));
  auto pm = hosts->spawn("spread", extent{{"gpus", 2}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto got = ask_every_rank(*pm);
  REQUIRE(got.size() == 4);
  for (size_t r = 0; r < 4; ++r)
    check_rank(got[r], *pm, r, 2, hosts->host_addrs()[r / 2], *hosts);
  CHECK(got[3]["point"] == "hosts=1/2,gpus=1/2");
  CHECK(got[2]["env.LOCAL_RANK"] == "0");
  REQUIRE(hosts->shutdown());
}

TEST_CASE_FIXTURE(actor_fixture,
                  "this_host() from inside a proc launches procs on the same "
                  "host, which run until stopped") {
  auto hosts = host_mesh::local_with_bootstrap(sys, child_command());
  REQUIRE(hosts);
  auto pm = hosts->spawn("outer", extent{{"procs", 1}});
  REQUIRE_MESSAGE(pm, mesh::to_string(pm.error()));
  auto am = pm->spawn<caf::actor>("whereami", "whereami");
  REQUIRE_MESSAGE(am, mesh::to_string(am.error()));
  auto answers = am->call<std::vector<std::string>>(
    60s, mesh::test::subspawn_atom::value, int32_t{2});
  REQUIRE_MESSAGE(answers, mesh::to_string(answers.error()));
  auto& lines = (*answers)[0];
  std::ostringstream all;
  for (auto& line : lines)
    all << line << "\n";
  INFO(all.str());
  std::vector<std::string> subs;
  for (auto& line : lines) {
    CHECK(line.rfind("error=", 0) != 0);
    if (line.rfind("sub=", 0) == 0)
      subs.push_back(line.substr(4));
  }
  CHECK(std::count(lines.begin(), lines.end(),
                   "host_addrs=" + hosts->host_addrs()[0]) == 1);
  CHECK(std::count(lines.begin(), lines.end(),
                   "host_mesh=" + hosts->id().to_string()) == 1);
  CHECK(std::count(lines.begin(), lines.end(), "stopped=ok") == 1);
  REQUIRE(subs.size() == 2);
  auto me = static_cast<int64_t>(::getpid());
  for (size_t r = 0; r < 2; ++r) {
    CAPTURE(subs[r]);
    std::istringstream in{subs[r]};
    size_t rank = 0;
    std::string status, host;
    int64_t pid = 0, ppid = 0, grandparent = 0;
    in >> rank >> status >> pid >> ppid >> grandparent >> host;
    CHECK(rank == r);
    CHECK(status == "running");
    CHECK(pid > 0);
    // A child of this host's process, or of its zygote, which is one.
    CHECK((ppid == me || grandparent == me));
    CHECK(host == hosts->host_addrs()[0]);
  }
  REQUIRE(hosts->shutdown());
}
