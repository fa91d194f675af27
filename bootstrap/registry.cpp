#include "bootstrap/registry.hpp"

#include "bootstrap/fd.hpp"
#include "bootstrap/payload.hpp"
#include "bootstrap/proc_stats.hpp"
#include "mesh/error.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <tuple>

namespace mesh::bootstrap {

namespace {

using json = nlohmann::ordered_json;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size()
         && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

} // namespace

std::string render_entry(const registry_entry& e) {
  json j;
  j["id"] = e.mesh.id;
  j["owner_pid"] = e.mesh.owner_pid;
  j["owner_start_time"] = e.owner_start_time;
  j["started_at_ms"] = e.mesh.started_at_ms;
  j["command_line"] = e.mesh.command_line;
  j["admin_address"] = e.mesh.admin_address;
  j["token"] = e.mesh.token;
  j["hosts"] = e.mesh.hosts;
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

caf::expected<registry_entry> parse_entry(std::string_view text) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return make_error(ec::parse_error, "registry entry",
                      std::string{"not JSON: "} + e.what());
  }
  if (!j.is_object())
    return make_error(ec::parse_error, "registry entry", "expected an object");
  registry_entry e;
  auto str = [&](const char* key, std::string& out) -> caf::error {
    auto i = j.find(key);
    if (i == j.end() || !i->is_string())
      return make_error(ec::parse_error, "registry entry", key,
                        i == j.end() ? "missing" : "expected a string");
    out = i->get<std::string>();
    return {};
  };
  auto num = [&](const char* key, auto& out, bool positive) -> caf::error {
    auto i = j.find(key);
    if (i == j.end())
      return make_error(ec::parse_error, "registry entry", key, "missing");
    if (!i->is_number_integer() || (i->is_number_integer() && !i->is_number_unsigned()
                                     && i->get<int64_t>() < 0))
      return make_error(ec::parse_error, "registry entry", key,
                        "expected a non-negative integer");
    auto v = i->get<uint64_t>();
    using T = std::decay_t<decltype(out)>;
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())
        || (positive && v == 0))
      return make_error(ec::parse_error, "registry entry", key, "out of range");
    out = static_cast<T>(v);
    return {};
  };
  if (auto err = str("id", e.mesh.id))
    return err;
  if (e.mesh.id.empty() || e.mesh.id.find('/') != std::string::npos)
    return make_error(ec::parse_error, "registry entry", "id",
                      "empty or not a file name");
  if (auto err = num("owner_pid", e.mesh.owner_pid, true))
    return err;
  if (auto err = num("owner_start_time", e.owner_start_time, false))
    return err;
  if (auto err = num("started_at_ms", e.mesh.started_at_ms, false))
    return err;
  if (auto err = str("command_line", e.mesh.command_line))
    return err;
  if (auto err = str("admin_address", e.mesh.admin_address))
    return err;
  if (auto err = str("token", e.mesh.token))
    return err;
  if (auto err = num("hosts", e.mesh.hosts, false))
    return err;
  return e;
}

std::optional<uint64_t> process_start_time(int64_t pid) {
  if (pid <= 0)
    return std::nullopt;
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text)
    return std::nullopt;
  auto stat = parse_proc_stat(*text);
  if (!stat || stat->starttime_ticks < 0)
    return std::nullopt;
  return static_cast<uint64_t>(stat->starttime_ticks);
}

bool owner_alive(const registry_entry& e) {
  auto pid = static_cast<pid_t>(e.mesh.owner_pid);
  if (pid <= 0 || static_cast<int64_t>(pid) != e.mesh.owner_pid)
    return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return false;
  auto start = process_start_time(e.mesh.owner_pid);
  // A zombie still has its stat; a pid that vanished between the two looks
  // gone. Either way: the same start time, or not the owner.
  return start && *start == e.owner_start_time;
}

caf::error check_private_dir(const std::string& dir, const std::string& what) {
  if (dir.empty())
    return make_error(ec::system_error, what, "empty path");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(ec::system_error, what + " " + dir,
                      "cannot create it: " + errno_text(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return make_error(ec::system_error, what + " " + dir,
                      errno_text(errno));
  if (!S_ISDIR(st.st_mode))
    return make_error(ec::system_error, what + " " + dir,
                      "not a directory (a symlink or a file)");
  if (st.st_uid != ::geteuid())
    return make_error(ec::system_error, what + " " + dir,
                      "owned by uid " + std::to_string(st.st_uid)
                        + ", not by this user (uid "
                        + std::to_string(::geteuid()) + ")");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return make_error(ec::system_error, what + " " + dir,
                      std::string{"mode "} + mode
                        + " lets others in; it must be 0700");
  }
  return {};
}

caf::expected<std::vector<running_mesh>> list_entries(const std::string& dir) {
  if (auto err = check_private_dir(dir))
    return err;
  std::vector<running_mesh> out;
  auto* d = ::opendir(dir.c_str());
  if (!d)
    return make_error(ec::system_error, "runtime directory " + dir,
                      errno_text(errno));
  std::vector<std::string> names;
  while (auto* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name.size() > 5 && name[0] != '.' && ends_with(name, ".json"))
      names.push_back(name);
  }
  ::closedir(d);
  for (auto& name : names) {
    auto path = dir + "/" + name;
    auto text = read_file(path);
    if (!text)
      continue; // removed meanwhile
    auto e = parse_entry(*text);
    if (!e) {
      std::cerr << "libmesh: skipping registry entry " << path << ": "
                << mesh::to_string(e.error()) << "\n";
      continue;
    }
    if (!owner_alive(*e)) {
      ::unlink(path.c_str());
      continue;
    }
    e->mesh.path = path;
    out.push_back(std::move(e->mesh));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.started_at_ms, a.id) < std::tie(b.started_at_ms, b.id);
  });
  return out;
}

caf::expected<std::string> write_entry(const std::string& dir,
                                       const registry_entry& e) {
  if (e.mesh.id.empty() || e.mesh.id.find('/') != std::string::npos
      || e.mesh.id[0] == '.')
    return make_error(ec::invalid_argument, "registry entry",
                      "mesh id '" + e.mesh.id + "' is not a file name");
  if (auto err = check_private_dir(dir))
    return err;
  auto path = dir + "/" + e.mesh.id + ".json";
  std::string tmp = dir + "/." + e.mesh.id + ".XXXXXX";
  // mkstemp creates the file mode 0600.
  int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    return make_error(ec::system_error, "registry entry " + path,
                      errno_text(errno));
  if (auto err = write_all(fd, render_entry(e))) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return make_error(ec::system_error, "registry entry " + path,
                      errno_text(err));
  }
  ::fchmod(fd, 0600);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno;
    ::unlink(tmp.c_str());
    return make_error(ec::system_error, "registry entry " + path,
                      errno_text(err));
  }
  return path;
}

std::string self_command_line() {
  auto text = read_file("/proc/self/cmdline");
  if (!text)
    return {};
  std::string out;
  for (char c : *text)
    out += c == '\0' ? ' ' : c;
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

registration::~registration() {
  remove();
}

void registration::add(running_mesh mesh) {
  auto dir = runtime_dir();
  if (!dir) {
    warning_ = mesh::to_string(dir.error());
    return;
  }
  dir_ = *dir;
  mesh.owner_pid = ::getpid();
  if (mesh.started_at_ms == 0)
    mesh.started_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  if (mesh.command_line.empty())
    mesh.command_line = self_command_line();
  if (mesh.token.empty())
    mesh.token = make_token();
  entry_.mesh = std::move(mesh);
  entry_.owner_start_time = process_start_time(::getpid()).value_or(0);
  update(entry_.mesh);
}

void registration::update(const running_mesh& mesh) {
  if (dir_.empty())
    return;
  entry_.mesh = mesh;
  auto path = write_entry(dir_, entry_);
  if (!path) {
    warning_ = mesh::to_string(path.error());
    entry_.mesh.path.clear();
    return;
  }
  entry_.mesh.path = *path;
  warning_.clear();
}

void registration::remove() {
  if (!entry_.mesh.path.empty()) {
    ::unlink(entry_.mesh.path.c_str());
    entry_.mesh.path.clear();
  }
}

} // namespace mesh::bootstrap

// --- the public face (mesh/introspect.hpp) ------------------------------------

namespace mesh {

caf::expected<std::string> runtime_dir() {
  std::string dir;
  if (auto* own = std::getenv("MESH_RUNTIME_DIR"); own && *own) {
    dir = own;
  } else if (auto* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
    dir = std::string{xdg} + "/libmesh";
  } else {
    dir = "/tmp/libmesh-" + std::to_string(::geteuid());
  }
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  if (auto err = bootstrap::check_private_dir(dir))
    return err;
  return dir;
}

caf::expected<std::vector<running_mesh>> running_meshes() {
  auto dir = runtime_dir();
  if (!dir)
    return dir.error();
  return bootstrap::list_entries(*dir);
}

caf::expected<running_mesh> find_running_mesh(std::string_view id) {
  auto all = running_meshes();
  if (!all)
    return all.error();
  if (all->empty())
    return make_error(ec::not_running, "no mesh of this user is running");
  if (id.empty()) {
    if (all->size() == 1)
      return all->front();
    return make_error(ec::invalid_argument,
                      std::to_string(all->size())
                        + " meshes are running; name one (meshctl ls)");
  }
  std::vector<const running_mesh*> hits;
  for (auto& m : *all) {
    if (m.id == id)
      return m;
    if (m.id.compare(0, id.size(), id) == 0)
      hits.push_back(&m);
  }
  if (hits.empty())
    return make_error(ec::not_running, "no running mesh '" + std::string{id}
                                         + "' (meshctl ls lists them)");
  if (hits.size() > 1)
    return make_error(ec::invalid_argument,
                      "'" + std::string{id} + "' names "
                        + std::to_string(hits.size()) + " running meshes: "
                        + hits[0]->id + ", " + hits[1]->id
                        + (hits.size() > 2 ? ", ..." : ""));
  return *hits.front();
}

} // namespace mesh
