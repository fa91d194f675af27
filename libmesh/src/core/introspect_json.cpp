// The JSON form of the introspection tree (mesh/introspect.hpp), schema in
// docs/admin-api.md. Pure: no I/O, no actors.
//
// Rendering is canonical: fields in a fixed order, absent optionals as null,
// a non-finite cpu_percent as -1 (not known). Parsing is strict about what it
// reads: every documented field must be present with its type (integers in
// range, no fractions where an integer is due), a status must be one of
// to_string(proc_status)'s names; unknown fields are ignored (a newer owner
// may add some). Nesting deeper than max_json_depth is refused before
// nlohmann's recursive parser sees the text, so hostile input cannot exhaust
// the stack. Errors are ec::parse_error and name the field by its path, e.g.
// "hosts[0].procs[2].pid: expected an integer".
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace mesh {

namespace {

using json = nlohmann::ordered_json;

/// Deepest nesting of arrays and objects a snapshot can have is 6 (root,
/// hosts, host, procs, proc, actors, actor); leave room, refuse the rest.
constexpr size_t max_json_depth = 16;

// --- rendering -----------------------------------------------------------------

json opt_int(const std::optional<int>& x) {
  return x ? json(*x) : json(nullptr);
}

json render(const actor_snapshot& a) {
  json j;
  j["name"] = a.name;
  j["actor_mesh"] = a.actor_mesh;
  j["type"] = a.type;
  j["status"] = a.status;
  j["mailbox_depth"] = a.mailbox_depth;
  j["mesh_messages"] = a.mesh_messages;
  j["last_failure"] = a.last_failure;
  return j;
}

json render(const proc_snapshot& p) {
  json j;
  j["rank"] = p.rank;
  j["name"] = p.name;
  j["proc_mesh"] = p.proc_mesh;
  j["host_mesh"] = p.host_mesh;
  j["host"] = p.host;
  j["address"] = p.address;
  j["pid"] = p.pid;
  j["status"] = std::string{to_string(p.status)};
  j["reason"] = p.reason;
  j["exit_code"] = opt_int(p.exit_code);
  j["signal"] = opt_int(p.signal);
  j["uptime_ms"] = p.uptime_ms;
  j["rss_bytes"] = p.rss_bytes;
  j["cpu_time_ms"] = p.cpu_time_ms;
  j["cpu_percent"] = std::isfinite(p.cpu_percent) ? p.cpu_percent : -1.0;
  j["threads"] = p.threads;
  j["open_fds"] = p.open_fds;
  j["responsive"] = p.responsive;
  j["restarts"] = p.restarts;
  auto actors = json::array();
  for (auto& a : p.actors)
    actors.push_back(render(a));
  j["actors"] = std::move(actors);
  j["stderr_tail"] = p.stderr_tail;
  return j;
}

json render(const config_entry& c) {
  json j;
  j["key"] = c.key;
  j["value"] = c.value;
  j["default"] = c.default_value;
  j["layer"] = c.layer;
  j["env"] = c.env;
  return j;
}

json render(const host_snapshot& h) {
  json j;
  j["address"] = h.address;
  j["pid"] = h.pid;
  j["uptime_ms"] = h.uptime_ms;
  j["rss_bytes"] = h.rss_bytes;
  j["cpu_time_ms"] = h.cpu_time_ms;
  auto by_status = json::object();
  for (auto& [status, n] : h.procs_by_status)
    by_status[status] = n;
  j["procs_by_status"] = std::move(by_status);
  auto config = json::array();
  for (auto& c : h.config)
    config.push_back(render(c));
  j["config"] = std::move(config);
  auto procs = json::array();
  for (auto& p : h.procs)
    procs.push_back(render(p));
  j["procs"] = std::move(procs);
  j["error"] = h.error;
  return j;
}

std::string dump(const json& j) {
  // Invalid UTF-8 (a proc's stderr line may hold anything) is replaced by
  // U+FFFD rather than thrown.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// --- parsing -------------------------------------------------------------------

/// Thrown inside the parser, turned into a caf::error at its edge.
struct bad_field {
  std::string path;
  std::string what;
};

[[noreturn]] void fail(const std::string& path, std::string what) {
  throw bad_field{path, std::move(what)};
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string{key} : path + "." + std::string{key};
}

const json& field(const json& obj, const std::string& path,
                  std::string_view key) {
  auto i = obj.find(std::string{key});
  if (i == obj.end())
    fail(join(path, key), "missing");
  return *i;
}

std::string get_string(const json& obj, const std::string& path,
                       std::string_view key) {
  auto& v = field(obj, path, key);
  if (!v.is_string())
    fail(join(path, key), "expected a string");
  return v.get<std::string>();
}

bool get_bool(const json& obj, const std::string& path, std::string_view key) {
  auto& v = field(obj, path, key);
  if (!v.is_boolean())
    fail(join(path, key), "expected true or false");
  return v.get<bool>();
}

/// An integer in [lo, hi] (a JSON number without fraction or exponent).
template <class T>
T integer(const json& v, const std::string& where) {
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) {
    auto x = v.get<uint64_t>();
    if (x > static_cast<uint64_t>(hi))
      fail(where, "out of range");
    return static_cast<T>(x);
  }
  if (v.is_number_integer()) {
    auto x = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (x < static_cast<int64_t>(lo) || x > static_cast<int64_t>(hi))
        fail(where, "out of range");
    } else {
      if (x < 0)
        fail(where, "out of range");
    }
    return static_cast<T>(x);
  }
  fail(where, "expected an integer");
}

template <class T>
T get_int(const json& obj, const std::string& path, std::string_view key) {
  return integer<T>(field(obj, path, key), join(path, key));
}

std::optional<int> get_opt_int(const json& obj, const std::string& path,
                               std::string_view key) {
  auto& v = field(obj, path, key);
  if (v.is_null())
    return std::nullopt;
  if (!v.is_number_integer())
    fail(join(path, key), "expected an integer or null");
  return integer<int>(v, join(path, key));
}

double get_double(const json& obj, const std::string& path,
                  std::string_view key) {
  auto& v = field(obj, path, key);
  if (!v.is_number())
    fail(join(path, key), "expected a number");
  return v.get<double>();
}

const json& get_array(const json& obj, const std::string& path,
                      std::string_view key) {
  auto& v = field(obj, path, key);
  if (!v.is_array())
    fail(join(path, key), "expected an array");
  return v;
}

void expect_object(const json& v, const std::string& path) {
  if (!v.is_object())
    fail(path.empty() ? "(top level)" : path, "expected an object");
}

std::string item(const std::string& path, std::string_view key, size_t i) {
  return join(path, key) + "[" + std::to_string(i) + "]";
}

proc_status parse_status(const json& obj, const std::string& path) {
  auto name = get_string(obj, path, "status");
  for (int i = 0; i <= static_cast<int>(proc_status::unknown); ++i) {
    auto s = static_cast<proc_status>(i);
    if (to_string(s) == name)
      return s;
  }
  fail(join(path, "status"), "unknown status '" + name + "'");
}

actor_snapshot parse_actor(const json& j, const std::string& path) {
  expect_object(j, path);
  actor_snapshot a;
  a.name = get_string(j, path, "name");
  a.actor_mesh = get_string(j, path, "actor_mesh");
  a.type = get_string(j, path, "type");
  a.status = get_string(j, path, "status");
  a.mailbox_depth = get_int<int64_t>(j, path, "mailbox_depth");
  a.mesh_messages = get_int<uint64_t>(j, path, "mesh_messages");
  a.last_failure = get_string(j, path, "last_failure");
  return a;
}

proc_snapshot parse_proc(const json& j, const std::string& path) {
  expect_object(j, path);
  proc_snapshot p;
  p.rank = get_int<uint64_t>(j, path, "rank");
  p.name = get_string(j, path, "name");
  p.proc_mesh = get_string(j, path, "proc_mesh");
  p.host_mesh = get_string(j, path, "host_mesh");
  p.host = get_string(j, path, "host");
  p.address = get_string(j, path, "address");
  p.pid = get_int<int64_t>(j, path, "pid");
  p.status = parse_status(j, path);
  p.reason = get_string(j, path, "reason");
  p.exit_code = get_opt_int(j, path, "exit_code");
  p.signal = get_opt_int(j, path, "signal");
  p.uptime_ms = get_int<int64_t>(j, path, "uptime_ms");
  p.rss_bytes = get_int<int64_t>(j, path, "rss_bytes");
  p.cpu_time_ms = get_int<int64_t>(j, path, "cpu_time_ms");
  p.cpu_percent = get_double(j, path, "cpu_percent");
  p.threads = get_int<int64_t>(j, path, "threads");
  p.open_fds = get_int<int64_t>(j, path, "open_fds");
  p.responsive = get_bool(j, path, "responsive");
  p.restarts = get_int<uint32_t>(j, path, "restarts");
  auto& actors = get_array(j, path, "actors");
  for (size_t i = 0; i < actors.size(); ++i)
    p.actors.push_back(parse_actor(actors[i], item(path, "actors", i)));
  auto& tail = get_array(j, path, "stderr_tail");
  for (size_t i = 0; i < tail.size(); ++i) {
    if (!tail[i].is_string())
      fail(item(path, "stderr_tail", i), "expected a string");
    p.stderr_tail.push_back(tail[i].get<std::string>());
  }
  return p;
}

config_entry parse_config(const json& j, const std::string& path) {
  expect_object(j, path);
  config_entry c;
  c.key = get_string(j, path, "key");
  c.value = get_string(j, path, "value");
  c.default_value = get_string(j, path, "default");
  c.layer = get_string(j, path, "layer");
  c.env = get_string(j, path, "env");
  return c;
}

host_snapshot parse_host(const json& j, const std::string& path) {
  expect_object(j, path);
  host_snapshot h;
  h.address = get_string(j, path, "address");
  h.pid = get_int<int64_t>(j, path, "pid");
  h.uptime_ms = get_int<int64_t>(j, path, "uptime_ms");
  h.rss_bytes = get_int<int64_t>(j, path, "rss_bytes");
  h.cpu_time_ms = get_int<int64_t>(j, path, "cpu_time_ms");
  auto& by_status = field(j, path, "procs_by_status");
  auto by_path = join(path, "procs_by_status");
  if (!by_status.is_object())
    fail(by_path, "expected an object");
  for (auto& [name, n] : by_status.items())
    h.procs_by_status.emplace_back(name, integer<uint64_t>(n, join(by_path, name)));
  auto& config = get_array(j, path, "config");
  for (size_t i = 0; i < config.size(); ++i)
    h.config.push_back(parse_config(config[i], item(path, "config", i)));
  auto& procs = get_array(j, path, "procs");
  for (size_t i = 0; i < procs.size(); ++i)
    h.procs.push_back(parse_proc(procs[i], item(path, "procs", i)));
  h.error = get_string(j, path, "error");
  return h;
}

/// The deepest nesting of [ and { outside strings, stopping early once it
/// passes `limit`.
size_t nesting(std::string_view text, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

template <class F>
auto parse_with(std::string_view text, std::string_view what, F f)
  -> caf::expected<decltype(f(std::declval<const json&>()))> {
  if (nesting(text, max_json_depth) > max_json_depth)
    return make_error(ec::parse_error, std::string{what},
                      "nested deeper than " + std::to_string(max_json_depth)
                        + " levels");
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return make_error(ec::parse_error, std::string{what},
                      std::string{"not JSON: "} + e.what());
  }
  try {
    return f(j);
  } catch (const bad_field& e) {
    return make_error(ec::parse_error, std::string{what}, e.path, e.what);
  } catch (const json::exception& e) {
    return make_error(ec::parse_error, std::string{what}, e.what());
  }
}

} // namespace

std::string to_json(const proc_snapshot& proc) {
  return dump(render(proc));
}

std::string to_json(const mesh_snapshot& snap) {
  json j;
  j["id"] = snap.id;
  j["owner_pid"] = snap.owner_pid;
  j["taken_at_ms"] = snap.taken_at_ms;
  auto hosts = json::array();
  for (auto& h : snap.hosts)
    hosts.push_back(render(h));
  j["hosts"] = std::move(hosts);
  return dump(j);
}

caf::expected<mesh_snapshot> mesh_snapshot_from_json(std::string_view text) {
  return parse_with(text, "mesh snapshot", [](const json& j) {
    expect_object(j, "");
    mesh_snapshot s;
    s.id = get_string(j, "", "id");
    s.owner_pid = get_int<int64_t>(j, "", "owner_pid");
    s.taken_at_ms = get_int<int64_t>(j, "", "taken_at_ms");
    auto& hosts = get_array(j, "", "hosts");
    for (size_t i = 0; i < hosts.size(); ++i)
      s.hosts.push_back(parse_host(hosts[i], item("", "hosts", i)));
    return s;
  });
}

caf::expected<proc_snapshot> proc_snapshot_from_json(std::string_view text) {
  return parse_with(text, "proc snapshot",
                    [](const json& j) { return parse_proc(j, ""); });
}

} // namespace mesh
