#include "mesh/config.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"
#include "mesh/system.hpp"

#include <caf/actor_system.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using mesh::config_source;

namespace {

std::string error_text(const caf::error& err) {
  return mesh::to_string(err);
}

} // namespace

TEST_CASE("every architecture key is registered with its default") {
  // Each key is defined beside the code that reads it, in its own source
  // file: what the registry holds is what static initialization of the
  // whole library registered.
  std::map<std::string, std::string> defaults{
    {"proc_spawn_max_idle", "30s"},
    {"proc_stop_max_idle", "30s"},
    {"host_spawn_ready_timeout", "30s"},
    {"attach_config_timeout", "1m"},
    {"terminate_timeout", "10s"},
    {"terminate_concurrency", "16"},
    {"bootstrap_enable_pdeathsig", "true"},
    {"bootstrap_zygote", "true"},
    {"tail_log_lines", "100"},
    {"log_forwarding", "true"},
    {"call_timeout", "30s"},
    {"proc_unresponsive_timeout", "5s"},
    {"listen_address", "127.0.0.1"},
    {"tls.certificate", ""},
    {"tls.key", ""},
    {"tls.cafile", ""},
    {"transport.insecure", "false"},
    {"transport.max_message_size", "268435456"},
    {"admin_address", "127.0.0.1:0"},
  };
  auto& reg = mesh::config_registry::instance();
  CHECK(reg.keys().size() == defaults.size());
  mesh::config_store store;
  for (auto& [name, fallback] : defaults) {
    INFO(name);
    auto info = reg.find(name);
    REQUIRE(info != nullptr);
    CHECK(mesh::render_config_value(info->fallback) == fallback);
    CHECK(mesh::render_config_value(store.get_value(name)) == fallback);
    CHECK(store.source_of(name) == config_source::default_value);
    CHECK_FALSE(info->doc.empty());
  }
  CHECK(store.get(mesh::keys::proc_spawn_max_idle) == 30s);
  CHECK(store.get(mesh::keys::attach_config_timeout) == 60s);
  CHECK(store.get(mesh::keys::terminate_concurrency) == 16);
  CHECK(store.get(mesh::keys::bootstrap_zygote));
  CHECK(store.get(mesh::keys::listen_address) == "127.0.0.1");
}

TEST_CASE("environment names are MESH_ plus the upper-cased key") {
  auto& reg = mesh::config_registry::instance();
  CHECK(reg.find("proc_spawn_max_idle")->env_name()
        == "MESH_PROC_SPAWN_MAX_IDLE");
  CHECK(reg.find("tls.cafile")->env_name() == "MESH_TLS_CAFILE");
  CHECK(reg.find_env("MESH_TLS_CAFILE") == reg.find("tls.cafile"));
  CHECK(reg.find_env("MESH_NOPE") == nullptr);
}

TEST_CASE("TLS paths, the insecure switch and the admin address are "
          "process-local, everything else propagates") {
  for (auto info : mesh::config_registry::instance().keys()) {
    bool local = info->name.rfind("tls.", 0) == 0 ||
                 info->name == "transport.insecure" ||
                 info->name == "admin_address";
    CHECK_MESSAGE(info->propagate != local, info->name);
  }
}

namespace {

/// The C++ name of a key in mesh::keys: its name with '.' turned into '_'.
std::string identifier_of(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

bool is_identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

/// Whether `text` names `keys::<identifier>` (as a whole word).
bool uses_key(const std::string& text, const std::string& identifier) {
  auto needle = "keys::" + identifier;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + 1)) {
    auto before = pos == 0 ? ' ' : text[pos - 1];
    auto end = pos + needle.size();
    auto after = end < text.size() ? text[end] : ' ';
    if (!is_identifier_char(before) && !is_identifier_char(after))
      return true;
  }
  return false;
}

/// The keys of `names` that no text of `sources` uses. A definition
/// (`config_key<T> name{...}` in namespace mesh::keys) and the public
/// `extern` declaration do not spell `keys::`, so only a use counts.
std::vector<std::string> unread_keys(const std::vector<std::string>& names,
                                     const std::vector<std::string>& sources) {
  std::vector<std::string> result;
  for (auto& name : names) {
    auto id = identifier_of(name);
    auto reads = [&](const std::string& text) { return uses_key(text, id); };
    if (std::none_of(sources.begin(), sources.end(), reads))
      result.push_back(name);
  }
  return result;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Every C++ source of the library and the programs. Not the tests: a key
/// that only a test reads is read by nobody.
std::vector<std::string> library_sources() {
  namespace fs = std::filesystem;
  std::vector<std::string> result;
  fs::path root{MESH_SOURCE_ROOT};
  for (auto dir : {"libmesh", "bootstrap", "actors", "tools", "examples",
                   "bench"}) {
    if (!fs::exists(root / dir))
      continue;
    for (auto& entry : fs::recursive_directory_iterator(root / dir)) {
      auto ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".cpp" || ext == ".hpp"))
        result.push_back(read_text(entry.path()));
    }
  }
  return result;
}

} // namespace

TEST_CASE("every registered key is read outside its definition") {
  std::vector<std::string> names;
  for (auto info : mesh::config_registry::instance().keys())
    names.push_back(info->name);
  auto sources = library_sources();
  REQUIRE(sources.size() > 50);
  auto unread = unread_keys(names, sources);
  for (auto& name : unread)
    FAIL_CHECK("config key '" << name
                              << "' is registered but no source of the "
                                 "library or its programs reads keys::"
                              << identifier_of(name));
  CHECK(unread.empty());
}

TEST_CASE("the unread-key check names a key that nobody reads") {
  std::vector<std::string> sources{
    R"(config_key<duration> only_defined{"only_defined", 1s, true, "x"};)",
    "extern const config_key<duration> only_defined;",
    "auto t = store.get(keys::read_here); auto u = keys::read_heres;",
    "auto v = mesh::keys::tls_cafile.name();"};
  CHECK(unread_keys({"read_here", "tls.cafile", "only_defined", "read_her"},
                    sources)
        == std::vector<std::string>{"only_defined", "read_her"});
}

TEST_CASE("every key the public header declares is registered") {
  // An extern declaration that nothing defines links as long as nothing
  // uses it: the registry is what proves the definition exists.
  auto header = read_text(std::filesystem::path{MESH_SOURCE_ROOT}
                          / "libmesh/include/mesh/config_keys.hpp");
  std::regex decl{R"(extern const config_key<[^>]+> (\w+);)"};
  std::set<std::string> declared;
  for (std::sregex_iterator i{header.begin(), header.end(), decl}, end;
       i != end; ++i)
    declared.insert((*i)[1]);
  std::set<std::string> registered;
  for (auto info : mesh::config_registry::instance().keys())
    registered.insert(identifier_of(info->name));
  CHECK(declared.size() == 19);
  CHECK(declared == registered);
}

TEST_CASE("durations parse in ms, s, m and h") {
  CHECK(*mesh::parse_duration("500ms") == 500ms);
  CHECK(*mesh::parse_duration("30s") == 30s);
  CHECK(*mesh::parse_duration("2m") == 2min);
  CHECK(*mesh::parse_duration("1h") == 1h);
  CHECK(*mesh::parse_duration(" 0 ") == 0ms);
  CHECK(*mesh::parse_duration("0s") == 0ms);
}

TEST_CASE("malformed durations are rejected") {
  for (auto bad : {"", "s", "5", "5x", "-1s", "1.5s", "5 s", "5sec", "ms",
                   "99999999999999999999s", "9223372036854775807h", "+",
                   "1s2"})
    CHECK_MESSAGE(!mesh::parse_duration(bad), "accepted '" << bad << "'");
}

TEST_CASE("durations render in the largest exact unit and round trip") {
  CHECK(mesh::render_duration(1500ms) == "1500ms");
  CHECK(mesh::render_duration(30s) == "30s");
  CHECK(mesh::render_duration(120s) == "2m");
  CHECK(mesh::render_duration(2h) == "2h");
  CHECK(mesh::render_duration(0ms) == "0ms");
  for (auto d : {0ms, 1ms, 999ms, 1000ms, 61000ms, 3600000ms, 7260000ms})
    CHECK(*mesh::parse_duration(mesh::render_duration(d)) == d);
}

TEST_CASE("booleans, integers and lists parse from text") {
  using mesh::config_kind;
  using mesh::config_value;
  for (auto yes : {"true", "TRUE", "1", "yes", "on"})
    CHECK(*mesh::parse_config_value(config_kind::boolean, yes)
          == config_value{true});
  for (auto no : {"false", "0", "No", "off"})
    CHECK(*mesh::parse_config_value(config_kind::boolean, no)
          == config_value{false});
  CHECK_FALSE(mesh::parse_config_value(config_kind::boolean, "maybe"));
  CHECK(*mesh::parse_config_value(config_kind::integer, "-12")
        == config_value{int64_t{-12}});
  CHECK_FALSE(mesh::parse_config_value(config_kind::integer, "12x"));
  CHECK_FALSE(mesh::parse_config_value(config_kind::integer, ""));
  CHECK(*mesh::parse_config_value(config_kind::list, "a, b,c")
        == config_value{std::vector<std::string>{"a", "b", "c"}});
  CHECK(*mesh::parse_config_value(config_kind::list, "")
        == config_value{std::vector<std::string>{}});
  CHECK_FALSE(mesh::parse_config_value(config_kind::list, "a,,b"));
  CHECK_FALSE(mesh::parse_config_value(config_kind::list, "a,"));
}

TEST_CASE("layer order: test_override > env > runtime > file > "
          "client_override > default") {
  mesh::config_store store;
  auto key = mesh::keys::terminate_timeout;
  CHECK(store.get(key) == 10s);
  std::vector<std::pair<config_source, std::string>> layers{
    {config_source::client_override, "1s"}, {config_source::file, "2s"},
    {config_source::runtime, "3s"},         {config_source::env, "4s"},
    {config_source::test_override, "5s"},
  };
  // Installed lowest first: each new layer must win over the previous ones.
  for (auto& [src, text] : layers) {
    REQUIRE_FALSE(store.set(src, key.name(), text));
    CHECK(store.get(key) == *mesh::parse_duration(text));
    CHECK(store.source_of(key.name()) == src);
  }
  // Removed highest first: each removal uncovers the next layer down.
  for (auto i = layers.size(); i-- > 1;) {
    store.clear(layers[i].first);
    CHECK(store.get(key) == *mesh::parse_duration(layers[i - 1].second));
  }
  store.clear(config_source::client_override);
  CHECK(store.get(key) == 10s);
}

TEST_CASE("runtime beats client_override; env beats file") {
  mesh::config_store store;
  REQUIRE_FALSE(store.set(config_source::runtime, "tail_log_lines", "7"));
  REQUIRE_FALSE(
    store.install_client_override({{"tail_log_lines", "3"}}));
  CHECK(store.get(mesh::keys::tail_log_lines) == 7);
  REQUIRE_FALSE(store.set(config_source::file, "listen_address", "10.0.0.1"));
  REQUIRE_FALSE(store.set(config_source::env, "listen_address", "127.0.0.2"));
  CHECK(store.get(mesh::keys::listen_address) == "127.0.0.2");
}

TEST_CASE("a bad value is rejected with an error naming key and value") {
  mesh::config_store store;
  auto err = store.set(config_source::file, "proc_spawn_max_idle", "5x");
  REQUIRE(err);
  CHECK(mesh::is(err, mesh::ec::invalid_config));
  auto text = error_text(err);
  CHECK(text.find("proc_spawn_max_idle") != std::string::npos);
  CHECK(text.find("'5x'") != std::string::npos);
  CHECK(text.find("MESH_PROC_SPAWN_MAX_IDLE") != std::string::npos);
  CHECK(text.find("expected a duration") != std::string::npos);
  CHECK(store.get(mesh::keys::proc_spawn_max_idle) == 30s);
}

TEST_CASE("an unknown key is rejected by name") {
  mesh::config_store store;
  auto err = store.set(config_source::runtime, "proc_spawn_max_idel", "1s");
  REQUIRE(err);
  CHECK(error_text(err).find("unknown config key 'proc_spawn_max_idel'")
        != std::string::npos);
}

TEST_CASE("set_layer is all or nothing") {
  mesh::config_store store;
  REQUIRE_FALSE(store.set_layer(config_source::file, {{"tail_log_lines", "5"}}));
  auto err = store.set_layer(config_source::file, {{"tail_log_lines", "6"},
                                                   {"terminate_timeout", "x"}});
  REQUIRE(err);
  CHECK(error_text(err).find("terminate_timeout") != std::string::npos);
  CHECK(store.get(mesh::keys::tail_log_lines) == 5);
}

TEST_CASE("the default layer cannot be written") {
  mesh::config_store store;
  CHECK(store.set(config_source::default_value, "tail_log_lines", "1"));
  CHECK(store.get(mesh::keys::tail_log_lines) == 100);
}

TEST_CASE("load_env reads MESH_ variables and rejects bad ones whole") {
  mesh::config_store store;
  ::setenv("MESH_TAIL_LOG_LINES", "42", 1);
  ::setenv("MESH_UNRELATED_THING", "whatever", 1);
  CHECK_FALSE(store.load_env());
  CHECK(store.get(mesh::keys::tail_log_lines) == 42);
  CHECK(store.source_of("tail_log_lines") == config_source::env);
  ::setenv("MESH_TERMINATE_TIMEOUT", "soon", 1);
  auto err = store.load_env();
  REQUIRE(err);
  CHECK(error_text(err).find("'soon'") != std::string::npos);
  CHECK(store.get(mesh::keys::tail_log_lines) == 42);
  ::unsetenv("MESH_TAIL_LOG_LINES");
  ::unsetenv("MESH_UNRELATED_THING");
  ::unsetenv("MESH_TERMINATE_TIMEOUT");
  CHECK_FALSE(store.load_env());
  CHECK(store.get(mesh::keys::tail_log_lines) == 100);
}

TEST_CASE("the propagated snapshot holds resolved values of propagated keys") {
  mesh::config_store store;
  REQUIRE_FALSE(store.set(config_source::runtime, "terminate_timeout", "1500ms"));
  REQUIRE_FALSE(store.set(config_source::runtime, "tls.key", "/k.pem"));
  auto snap = store.propagated_snapshot();
  REQUIRE_FALSE(snap.empty());
  CHECK(std::is_sorted(snap.begin(), snap.end()));
  bool saw_timeout = false;
  for (auto& [k, v] : snap) {
    CHECK(k.rfind("tls.", 0) != 0);
    if (k == "terminate_timeout") {
      saw_timeout = true;
      CHECK(v == "1500ms");
    }
  }
  CHECK(saw_timeout);
}

TEST_CASE("a snapshot installed as client override reproduces the values") {
  mesh::config_store parent;
  REQUIRE_FALSE(parent.set(config_source::runtime, "proc_spawn_max_idle", "2m"));
  REQUIRE_FALSE(parent.set(config_source::env, "log_forwarding", "false"));
  auto snap = parent.propagated_snapshot();
  auto text = mesh::serialize_snapshot(snap);
  auto back = mesh::deserialize_snapshot(text);
  REQUIRE(back);
  mesh::config_store child;
  REQUIRE_FALSE(child.install_client_override(*back));
  CHECK(child.get(mesh::keys::proc_spawn_max_idle) == 2min);
  CHECK_FALSE(child.get(mesh::keys::log_forwarding));
  CHECK(child.source_of("proc_spawn_max_idle")
        == config_source::client_override);
  CHECK(child.propagated_snapshot() == snap);
}

TEST_CASE("snapshot serialization is exact for any value bytes") {
  mesh::config_snapshot snap{{"a", ""},
                             {"b", "x=y=z"},
                             {"c", "line1\nline2\\n"},
                             {"d", std::string{"\0\x01\xff", 3}},
                             {"e", "trailing\\"}};
  auto back = mesh::deserialize_snapshot(mesh::serialize_snapshot(snap));
  REQUIRE(back);
  CHECK(*back == snap);
  CHECK(*mesh::deserialize_snapshot("") == mesh::config_snapshot{});
}

TEST_CASE("malformed snapshots are rejected") {
  for (auto bad : {"a=1", "=1\n", "novalue\n", "a=\\x\n", "a=\\\n",
                   "b=1\na=2\n", "a=1\na=2\n", "a\\b=1\n"})
    CHECK_MESSAGE(!mesh::deserialize_snapshot(bad), "accepted: " << bad);
}

TEST_CASE("config_override stacks and restores") {
  auto& global = mesh::config_store::global();
  auto before = global.get(mesh::keys::tail_log_lines);
  {
    mesh::config_override outer{"tail_log_lines", "11"};
    CHECK(global.get(mesh::keys::tail_log_lines) == 11);
    {
      mesh::config_override inner{"tail_log_lines", "12"};
      CHECK(global.get(mesh::keys::tail_log_lines) == 12);
    }
    CHECK(global.get(mesh::keys::tail_log_lines) == 11);
  }
  CHECK(global.get(mesh::keys::tail_log_lines) == before);
}

TEST_CASE("two actor systems in one process have two configuration stores") {
  mesh::config a;
  mesh::config b;
  auto& store_a = mesh::config_of(a);
  auto& store_b = mesh::config_of(b);
  REQUIRE(&store_a != &store_b);
  REQUIRE(&store_a != &mesh::config_store::global());
  // Runtime, file and client_override layers are each system's own...
  REQUIRE_FALSE(store_a.set(config_source::runtime, "call_timeout", "7s"));
  REQUIRE_FALSE(store_b.install_client_override({{"tail_log_lines", "3"}}));
  CHECK(store_a.get(mesh::keys::call_timeout) == std::chrono::seconds{7});
  CHECK(store_b.get(mesh::keys::call_timeout) == std::chrono::seconds{30});
  CHECK(store_a.get(mesh::keys::tail_log_lines) == 100);
  CHECK(store_b.get(mesh::keys::tail_log_lines) == 3);
  CHECK(mesh::config_store::global().get(mesh::keys::call_timeout)
        == std::chrono::seconds{30});
  // ...while test overrides and the environment are the process's.
  {
    mesh::config_override fast{"call_timeout", "1s"};
    CHECK(store_a.get(mesh::keys::call_timeout) == std::chrono::seconds{1});
    CHECK(store_a.source_of("call_timeout") == config_source::test_override);
    CHECK(store_b.get(mesh::keys::call_timeout) == std::chrono::seconds{1});
  }
  CHECK(store_a.get(mesh::keys::call_timeout) == std::chrono::seconds{7});
  CHECK(store_a.source_of("call_timeout") == config_source::runtime);
  // An actor system finds its config's store.
  caf::actor_system sys{a};
  CHECK(&mesh::config_of(sys) == &store_a);
}

TEST_CASE("configure gives a config a fresh store; an unknown config reads "
          "the process's") {
  caf::actor_system_config plain;
  CHECK(&mesh::config_of(plain) == &mesh::config_store::global());
  mesh::configure(plain);
  auto* first = &mesh::config_of(plain);
  CHECK(first != &mesh::config_store::global());
  REQUIRE_FALSE(first->set(config_source::runtime, "tail_log_lines", "5"));
  // Configured again (as a new config at the same address would be): no
  // stale layers.
  mesh::configure(plain);
  CHECK(mesh::config_of(plain).get(mesh::keys::tail_log_lines) == 100);
}
