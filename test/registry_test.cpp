// The per-user registry of running meshes (bootstrap/registry.hpp,
// mesh/introspect.hpp) in a temporary directory: entry files (mode,
// atomic write, parse), the directory's checks, dead owners' entries
// removed, malformed ones skipped, lookup by id prefix.
#include "bootstrap/registry.hpp"
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"
#include "support/runtime_dir.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace mesh;
namespace fs = std::filesystem;

namespace {

using temp_runtime_dir = mesh::test::scoped_runtime_dir;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream{path} << text;
}

/// A pid that existed and is gone: a reaped child.
pid_t dead_pid() {
  auto pid = ::fork();
  if (pid == 0)
    ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

} // namespace

TEST_CASE("an entry renders and parses back") {
  bootstrap::registry_entry e;
  e.mesh.id = "hosts-JPwcyDCgEup";
  e.mesh.owner_pid = 1234;
  e.mesh.started_at_ms = 1765000000000;
  e.mesh.command_line = "./train --steps \"10\"";
  e.mesh.admin_address = "127.0.0.1:40123";
  e.mesh.token = "00112233445566778899aabbccddeeff";
  e.mesh.hosts = 3;
  e.owner_start_time = 987654;
  auto back = bootstrap::parse_entry(bootstrap::render_entry(e));
  REQUIRE_MESSAGE(back, mesh::to_string(back.error()));
  CHECK(back->mesh.id == e.mesh.id);
  CHECK(back->mesh.owner_pid == 1234);
  CHECK(back->mesh.started_at_ms == 1765000000000);
  CHECK(back->mesh.command_line == e.mesh.command_line);
  CHECK(back->mesh.admin_address == e.mesh.admin_address);
  CHECK(back->mesh.token == e.mesh.token);
  CHECK(back->mesh.hosts == 3);
  CHECK(back->owner_start_time == 987654);
}

TEST_CASE("malformed entries are refused with the field named") {
  std::pair<std::string, std::string> cases[] = {
    {"", "not JSON"},
    {"garbage", "not JSON"},
    {"[1]", "expected an object"},
    {"{}", "id: missing"},
    {R"({"id":""})", "id: empty or not a file name"},
    {R"({"id":"../x"})", "id: empty or not a file name"},
    {R"({"id":"a","owner_pid":0})", "owner_pid: out of range"},
    {R"({"id":"a","owner_pid":-5})", "owner_pid: expected a non-negative integer"},
    {R"({"id":"a","owner_pid":"5"})", "owner_pid: expected a non-negative integer"},
    {R"({"id":"a","owner_pid":5})", "owner_start_time: missing"},
    {R"({"id":"a","owner_pid":5,"owner_start_time":1,"started_at_ms":2,)"
     R"("command_line":3})",
     "command_line: expected a string"},
    {R"({"id":"a","owner_pid":5,"owner_start_time":1,"started_at_ms":2,)"
     R"("command_line":"x","admin_address":"","token":"t"})",
     "hosts: missing"},
  };
  for (auto& [text, says] : cases) {
    CAPTURE(text);
    auto r = bootstrap::parse_entry(text);
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), ec::parse_error));
    auto msg = mesh::to_string(r.error());
    CHECK_MESSAGE(msg.find(says) != std::string::npos, msg);
  }
}

TEST_CASE("the start time of a process comes from /proc") {
  auto mine = bootstrap::process_start_time(::getpid());
  REQUIRE(mine);
  CHECK(*mine > 0);
  CHECK_FALSE(bootstrap::process_start_time(dead_pid()));
  CHECK_FALSE(bootstrap::process_start_time(0));
}

TEST_CASE("the runtime directory is private, created 0700, others refused") {
  temp_runtime_dir tmp;
  auto dir = runtime_dir();
  REQUIRE_MESSAGE(dir, mesh::to_string(dir.error()));
  CHECK(*dir == tmp.dir);
  CHECK(mode_of(tmp.dir) == 0700);
  // Open to the group: refused, and the error says why.
  ::chmod(tmp.dir.c_str(), 0750);
  auto open = runtime_dir();
  REQUIRE_FALSE(open);
  CHECK(mesh::to_string(open.error()).find("mode 0750 lets others in")
        != std::string::npos);
  ::chmod(tmp.dir.c_str(), 0700);
  // A symlink to a private directory is refused too.
  auto link = tmp.base + "/link";
  REQUIRE(::symlink(tmp.dir.c_str(), link.c_str()) == 0);
  ::setenv("MESH_RUNTIME_DIR", link.c_str(), 1);
  auto linked = runtime_dir();
  REQUIRE_FALSE(linked);
  CHECK(mesh::to_string(linked.error()).find("not a directory") != std::string::npos);
  // Owned by someone else (only root can make one).
  if (::geteuid() == 0) {
    auto other = tmp.base + "/other";
    REQUIRE(::mkdir(other.c_str(), 0700) == 0);
    REQUIRE(::chown(other.c_str(), 65534, 65534) == 0);
    ::setenv("MESH_RUNTIME_DIR", other.c_str(), 1);
    auto theirs = runtime_dir();
    REQUIRE_FALSE(theirs);
    CHECK(mesh::to_string(theirs.error()).find("owned by uid 65534")
          != std::string::npos);
  } else {
    MESSAGE("not root: the foreign-owner case is skipped");
  }
  // The default places, without the override.
  ::unsetenv("MESH_RUNTIME_DIR");
  ::setenv("XDG_RUNTIME_DIR", tmp.base.c_str(), 1);
  auto xdg = runtime_dir();
  REQUIRE_MESSAGE(xdg, mesh::to_string(xdg.error()));
  CHECK(*xdg == tmp.base + "/libmesh");
  CHECK(mode_of(*xdg) == 0700);
  ::unsetenv("XDG_RUNTIME_DIR");
}

TEST_CASE("a registration writes a 0600 entry and removes it") {
  temp_runtime_dir tmp;
  std::string path;
  {
    bootstrap::registration reg;
    running_mesh m;
    m.id = "hosts-JPwcyDCgEup";
    m.hosts = 2;
    reg.add(m);
    REQUIRE_MESSAGE(!reg.path().empty(), reg.warning());
    path = reg.path();
    CHECK(path == tmp.dir + "/hosts-JPwcyDCgEup.json");
    CHECK(mode_of(path) == 0600);
    CHECK(reg.mesh().token.size() == 32);
    auto stored = bootstrap::parse_entry(slurp(path));
    REQUIRE(stored);
    CHECK(stored->mesh.owner_pid == ::getpid());
    CHECK(stored->owner_start_time == *bootstrap::process_start_time(::getpid()));
    CHECK(stored->mesh.command_line.find("mesh_tests") != std::string::npos);
    // update rewrites it (the admin address comes later).
    auto later = reg.mesh();
    later.admin_address = "127.0.0.1:5555";
    reg.update(later);
    auto found = find_running_mesh("hosts-JP");
    REQUIRE_MESSAGE(found, mesh::to_string(found.error()));
    CHECK(found->admin_address == "127.0.0.1:5555");
    CHECK(found->token == reg.mesh().token);
    CHECK(found->path == path);
    CHECK(found->hosts == 2);
    // No temporary left beside it.
    size_t files = 0;
    for (auto& f : fs::directory_iterator(tmp.dir)) {
      (void) f;
      ++files;
    }
    CHECK(files == 1);
  }
  CHECK_FALSE(fs::exists(path));
  auto none = find_running_mesh("");
  REQUIRE_FALSE(none);
  CHECK(mesh::to_string(none.error()).find("no mesh of this user is running")
        != std::string::npos);
}

TEST_CASE("a registry that cannot be written is a warning, not a failure") {
  temp_runtime_dir tmp;
  REQUIRE(runtime_dir());
  ::chmod(tmp.dir.c_str(), 0777);
  bootstrap::registration reg;
  running_mesh m;
  m.id = "hosts-JPwcyDCgEup";
  reg.add(m);
  CHECK(reg.path().empty());
  CHECK(reg.warning().find("lets others in") != std::string::npos);
}

TEST_CASE("listing removes dead owners, skips malformed entries, finds by prefix") {
  temp_runtime_dir tmp;
  REQUIRE(runtime_dir());
  auto entry = [&](std::string id, int64_t pid, uint64_t start,
                   int64_t started_at) {
    bootstrap::registry_entry e;
    e.mesh.id = std::move(id);
    e.mesh.owner_pid = pid;
    e.mesh.started_at_ms = started_at;
    e.owner_start_time = start;
    auto path = bootstrap::write_entry(tmp.dir, e);
    REQUIRE_MESSAGE(path, mesh::to_string(path.error()));
    return *path;
  };
  auto me = ::getpid();
  auto my_start = *bootstrap::process_start_time(me);
  entry("hosts-aaa1", me, my_start, 20);
  entry("hosts-aaa2", me, my_start, 10);
  entry("hosts-bbb", me, my_start, 30);
  auto gone = entry("hosts-gone", dead_pid(), my_start, 5);
  // The pid lives but is another process (reused): its start time differs.
  auto reused = entry("hosts-reused", me, my_start + 1, 5);
  auto bad = tmp.dir + "/hosts-bad.json";
  write_text(bad, "{not json");
  write_text(tmp.dir + "/.hosts-x.ABCDEF", "{}"); // a temporary: not an entry
  auto all = running_meshes();
  REQUIRE_MESSAGE(all, mesh::to_string(all.error()));
  REQUIRE(all->size() == 3);
  // Oldest first.
  CHECK((*all)[0].id == "hosts-aaa2");
  CHECK((*all)[1].id == "hosts-aaa1");
  CHECK((*all)[2].id == "hosts-bbb");
  CHECK_FALSE(fs::exists(gone));
  CHECK_FALSE(fs::exists(reused));
  CHECK(fs::exists(bad)); // skipped, kept
  // Lookup: exact, unique prefix, ambiguous prefix, unknown, none given.
  CHECK(find_running_mesh("hosts-bbb")->id == "hosts-bbb");
  CHECK(find_running_mesh("hosts-b")->id == "hosts-bbb");
  auto amb = find_running_mesh("hosts-aaa");
  REQUIRE_FALSE(amb);
  CHECK(mesh::to_string(amb.error()).find("names 2 running meshes") != std::string::npos);
  auto unknown = find_running_mesh("hosts-zzz");
  REQUIRE_FALSE(unknown);
  CHECK(mesh::to_string(unknown.error()).find("no running mesh 'hosts-zzz'")
        != std::string::npos);
  auto which = find_running_mesh("");
  REQUIRE_FALSE(which);
  CHECK(mesh::to_string(which.error()).find("3 meshes are running") != std::string::npos);
}
