#include "mesh/config.hpp"

#include "libmesh/src/core/config_stores.hpp"

#include "mesh/error.hpp"

#include <caf/actor_system.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <memory>

extern char** environ;

namespace mesh {

// -- names ---------------------------------------------------------------------

std::string_view to_string(config_source src) {
  switch (src) {
    case config_source::test_override:
      return "test_override";
    case config_source::env:
      return "env";
    case config_source::runtime:
      return "runtime";
    case config_source::file:
      return "file";
    case config_source::client_override:
      return "client_override";
    case config_source::default_value:
      break;
  }
  return "default";
}

std::string_view to_string(config_kind kind) {
  switch (kind) {
    case config_kind::duration:
      return "duration";
    case config_kind::integer:
      return "integer";
    case config_kind::boolean:
      return "bool";
    case config_kind::string:
      return "string";
    case config_kind::list:
      break;
  }
  return "list";
}

std::string config_key_info::env_name() const {
  std::string result = "MESH_";
  for (char c : name)
    result += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(
                                         static_cast<unsigned char>(c)));
  return result;
}

// -- values --------------------------------------------------------------------

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string result{s};
  for (auto& c : result)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t value = 0;
  auto first = s.data();
  auto last = s.data() + s.size();
  if (first != last && *first == '+')
    ++first;
  auto [ptr, err] = std::from_chars(first, last, value);
  if (err != std::errc{} || ptr != last || first == last)
    return std::nullopt;
  return value;
}

caf::error value_error(std::string_view what, std::string_view text) {
  return make_error(ec::invalid_config, "invalid " + std::string{what}
                                          + " '" + std::string{text} + "'");
}

} // namespace

caf::expected<duration> parse_duration(std::string_view text) {
  auto s = trim(text);
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])))
    ++digits;
  if (digits == 0)
    return value_error("duration", text);
  auto count = parse_int(s.substr(0, digits));
  auto unit = s.substr(digits);
  if (!count)
    return value_error("duration", text);
  int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit.empty() && *count == 0)
    scale = 1;
  else
    return value_error("duration", text);
  if (*count > std::numeric_limits<int64_t>::max() / scale)
    return value_error("duration", text);
  return duration{*count * scale};
}

std::string render_duration(duration d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0)
    return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0)
    return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string render_config_value(const config_value& value) {
  struct visitor {
    std::string operator()(duration d) const { return render_duration(d); }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(const std::vector<std::string>& xs) const {
      std::string result;
      for (auto& x : xs) {
        if (!result.empty())
          result += ',';
        result += x;
      }
      return result;
    }
  };
  return std::visit(visitor{}, value);
}

caf::expected<config_value> parse_config_value(config_kind kind,
                                               std::string_view text) {
  switch (kind) {
    case config_kind::duration: {
      auto d = parse_duration(text);
      if (!d)
        return make_error(ec::invalid_config,
                          "expected a duration like 500ms, 30s or 2m");
      return config_value{*d};
    }
    case config_kind::integer: {
      auto i = parse_int(trim(text));
      if (!i)
        return make_error(ec::invalid_config, "expected an integer");
      return config_value{*i};
    }
    case config_kind::boolean: {
      auto s = lower(trim(text));
      if (s == "true" || s == "1" || s == "yes" || s == "on")
        return config_value{true};
      if (s == "false" || s == "0" || s == "no" || s == "off")
        return config_value{false};
      return make_error(ec::invalid_config, "expected true or false");
    }
    case config_kind::string:
      return config_value{std::string{text}};
    case config_kind::list: {
      std::vector<std::string> items;
      auto s = trim(text);
      while (!s.empty()) {
        auto comma = s.find(',');
        auto item = trim(s.substr(0, comma));
        if (item.empty())
          return make_error(ec::invalid_config,
                            "expected a comma-separated list without empty "
                            "items");
        items.emplace_back(item);
        if (comma == std::string_view::npos)
          break;
        s.remove_prefix(comma + 1);
        if (trim(s).empty())
          return make_error(ec::invalid_config,
                            "expected a comma-separated list without empty "
                            "items");
      }
      return config_value{std::move(items)};
    }
  }
  return make_error(ec::invalid_config, "unknown value kind");
}

// -- snapshots -----------------------------------------------------------------

// Format: one "key=value" line per entry. In values, '\\' and '\n' are
// escaped as "\\\\" and "\\n" so that any byte string survives; keys are
// registry names and never contain '=', '\\' or '\n'.
std::string serialize_snapshot(const config_snapshot& snap) {
  std::string result;
  for (auto& [key, value] : snap) {
    result += key;
    result += '=';
    for (char c : value) {
      if (c == '\\')
        result += "\\\\";
      else if (c == '\n')
        result += "\\n";
      else
        result += c;
    }
    result += '\n';
  }
  return result;
}

caf::expected<config_snapshot> deserialize_snapshot(std::string_view text) {
  config_snapshot result;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    if (nl == std::string_view::npos)
      return make_error(ec::invalid_config, "config snapshot line "
                                              + std::to_string(line_no)
                                              + " is not terminated");
    auto line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return make_error(ec::invalid_config, "config snapshot line "
                                              + std::to_string(line_no)
                                              + " is not key=value");
    std::string key{line.substr(0, eq)};
    if (key.find('\\') != std::string::npos)
      return make_error(ec::invalid_config, "config snapshot line "
                                              + std::to_string(line_no)
                                              + " has a malformed key");
    std::string value;
    auto raw = line.substr(eq + 1);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        value += raw[i];
        continue;
      }
      if (i + 1 == raw.size() || (raw[i + 1] != '\\' && raw[i + 1] != 'n'))
        return make_error(ec::invalid_config,
                          "config snapshot line " + std::to_string(line_no)
                            + " has a bad escape sequence");
      value += raw[++i] == 'n' ? '\n' : '\\';
    }
    if (!result.empty() && result.back().first >= key)
      return make_error(ec::invalid_config,
                        "config snapshot keys are not sorted and unique at "
                        "line "
                          + std::to_string(line_no));
    result.emplace_back(std::move(key), std::move(value));
  }
  return result;
}

// -- registry ------------------------------------------------------------------

config_registry& config_registry::instance() {
  static config_registry registry;
  return registry;
}

void config_registry::add(config_key_info info) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto name = info.name;
  if (!keys_.emplace(name, std::move(info)).second) {
    // Two keys with one name would make every lookup ambiguous; this is a
    // programming error caught at start-up, never a run-time condition.
    std::fprintf(stderr, "libmesh: config key '%s' declared twice\n",
                 name.c_str());
    std::abort();
  }
}

const config_key_info* config_registry::find(std::string_view name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = keys_.find(name);
  return i == keys_.end() ? nullptr : &i->second;
}

const config_key_info*
config_registry::find_env(std::string_view env_name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [name, info] : keys_)
    if (info.env_name() == env_name)
      return &info;
  return nullptr;
}

std::vector<const config_key_info*> config_registry::keys() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<const config_key_info*> result;
  for (auto& [name, info] : keys_)
    result.push_back(&info);
  return result;
}

caf::expected<config_value>
config_registry::validate(std::string_view name, std::string_view text) const {
  auto info = find(name);
  if (info == nullptr)
    return make_error(ec::invalid_config,
                      "unknown config key '" + std::string{name} + "'");
  auto value = parse_config_value(info->kind, text);
  if (!value) {
    auto reason = value.error().context().size() > 0
                    ? value.error().context().get_as<std::string>(0)
                    : std::string{"malformed"};
    return make_error(ec::invalid_config,
                      "invalid value '" + std::string{text}
                        + "' for config key " + info->name + " ("
                        + info->env_name() + ")",
                      reason);
  }
  return value;
}

// -- store ---------------------------------------------------------------------

config_store& config_store::global() {
  static config_store* store = [] {
    auto result = new config_store;
    // An invalid MESH_* variable must not stop a process from starting with
    // its defaults; load_env() reports it to callers that ask.
    static_cast<void>(result->load_env());
    return result;
  }();
  return *store;
}

config_store& config_store::owner_of(config_source src) {
  bool process_wide =
    src == config_source::test_override || src == config_source::env;
  return process_wide && process_ != nullptr ? *process_ : *this;
}

const config_store& config_store::owner_of(config_source src) const {
  return const_cast<config_store*>(this)->owner_of(src);
}

std::optional<std::pair<config_source, config_value>>
config_store::find_own(std::string_view name, config_source first) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = layers_.lower_bound(first); i != layers_.end(); ++i) {
    auto j = i->second.find(name);
    if (j != i->second.end())
      return std::make_pair(i->first, j->second);
  }
  return std::nullopt;
}

config_value config_store::get_value(std::string_view name) const {
  // The process's test_override and env layers first, then our own.
  if (process_ != nullptr)
    if (auto hit = process_->find_own(name, config_source::test_override);
        hit && hit->first <= config_source::env)
      return hit->second;
  if (auto hit = find_own(name, config_source::test_override))
    return hit->second;
  auto info = config_registry::instance().find(name);
  if (info == nullptr) {
    std::fprintf(stderr, "libmesh: unknown config key '%.*s'\n",
                 static_cast<int>(name.size()), name.data());
    std::abort();
  }
  return info->fallback;
}

config_source config_store::source_of(std::string_view name) const {
  if (process_ != nullptr)
    if (auto hit = process_->find_own(name, config_source::test_override);
        hit && hit->first <= config_source::env)
      return hit->first;
  if (auto hit = find_own(name, config_source::test_override))
    return hit->first;
  return config_source::default_value;
}

caf::error
config_store::set_layer(config_source src,
                        const std::map<std::string, std::string>& values) {
  if (src == config_source::default_value)
    return make_error(ec::invalid_argument,
                      "the default layer is fixed by the key declarations");
  std::map<std::string, config_value, std::less<>> parsed;
  for (auto& [name, text] : values) {
    auto value = config_registry::instance().validate(name, text);
    if (!value)
      return std::move(value.error());
    parsed.emplace(name, std::move(*value));
  }
  auto& owner = owner_of(src);
  std::lock_guard<std::mutex> guard{owner.mtx_};
  owner.layers_[src] = std::move(parsed);
  return caf::none;
}

caf::error config_store::set(config_source src, std::string_view name,
                             std::string_view text) {
  if (src == config_source::default_value)
    return make_error(ec::invalid_argument,
                      "the default layer is fixed by the key declarations");
  auto value = config_registry::instance().validate(name, text);
  if (!value)
    return std::move(value.error());
  auto& owner = owner_of(src);
  std::lock_guard<std::mutex> guard{owner.mtx_};
  owner.layers_[src].insert_or_assign(std::string{name}, std::move(*value));
  return caf::none;
}

void config_store::clear(config_source src) {
  auto& owner = owner_of(src);
  std::lock_guard<std::mutex> guard{owner.mtx_};
  owner.layers_.erase(src);
}

void config_store::erase(config_source src, std::string_view name) {
  auto& owner = owner_of(src);
  std::lock_guard<std::mutex> guard{owner.mtx_};
  auto layer = owner.layers_.find(src);
  if (layer == owner.layers_.end())
    return;
  auto i = layer->second.find(name);
  if (i != layer->second.end())
    layer->second.erase(i);
}

caf::error config_store::load_env() {
  std::map<std::string, std::string> values;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv{*e};
    if (kv.substr(0, 5) != "MESH_")
      continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos)
      continue;
    if (auto info = config_registry::instance().find_env(kv.substr(0, eq)))
      values.emplace(info->name, std::string{kv.substr(eq + 1)});
  }
  return set_layer(config_source::env, values);
}

caf::error config_store::install_client_override(const config_snapshot& snap) {
  std::map<std::string, std::string> values{snap.begin(), snap.end()};
  return set_layer(config_source::client_override, values);
}

config_snapshot config_store::propagated_snapshot() const {
  config_snapshot result;
  for (auto info : config_registry::instance().keys())
    if (info->propagate)
      result.emplace_back(info->name,
                          render_config_value(get_value(info->name)));
  return result;
}

std::vector<std::pair<std::string, config_source>>
config_store::sources() const {
  std::vector<std::pair<std::string, config_source>> result;
  for (auto info : config_registry::instance().keys())
    result.emplace_back(info->name, source_of(info->name));
  return result;
}

// -- stores of actor systems ----------------------------------------------------

namespace {

std::mutex stores_mtx;

/// By config address; shared so that a store outlives a racing lookup.
std::map<const caf::actor_system_config*, std::shared_ptr<config_store>>&
stores() {
  static auto* result =
    new std::map<const caf::actor_system_config*,
                 std::shared_ptr<config_store>>;
  return *result;
}

} // namespace

config_store& attach_config_store(const caf::actor_system_config& cfg) {
  auto store = std::make_shared<config_store>(&config_store::global());
  std::lock_guard<std::mutex> guard{stores_mtx};
  auto& slot = stores()[&cfg];
  slot = std::move(store);
  return *slot;
}

void detach_config_store(const caf::actor_system_config& cfg) {
  std::lock_guard<std::mutex> guard{stores_mtx};
  stores().erase(&cfg);
}

config_store& config_of(const caf::actor_system_config& cfg) {
  std::lock_guard<std::mutex> guard{stores_mtx};
  auto i = stores().find(&cfg);
  return i != stores().end() ? *i->second : config_store::global();
}

config_store& config_of(const caf::actor_system& sys) {
  return config_of(sys.config());
}

// -- test overrides ------------------------------------------------------------

config_override::config_override(std::string_view name, std::string_view text)
  : name_(name) {
  auto& store = config_store::global();
  if (store.source_of(name) == config_source::test_override)
    previous_ = render_config_value(store.get_value(name));
  if (auto err = store.set(config_source::test_override, name, text)) {
    std::fprintf(stderr, "libmesh: bad config_override: %s\n",
                 mesh::to_string(err).c_str());
    std::abort();
  }
}

config_override::~config_override() {
  auto& store = config_store::global();
  if (previous_) {
    static_cast<void>(store.set(config_source::test_override, name_, *previous_));
    return;
  }
  store.erase(config_source::test_override, name_);
}

} // namespace mesh
