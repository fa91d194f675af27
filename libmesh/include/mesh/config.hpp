// The libmesh configuration registry (architecture §6).
//
// Every key has a type, a default, an environment variable `MESH_<KEY>`, a
// YAML key (its name) and a propagate flag. A value is resolved through six
// layers, highest first:
//
//   test_override > env > runtime > file > client_override > default
//
// Keys marked `propagate` travel with every spawn (installed in each child as
// its client_override layer) and with attach (installed in each host). TLS
// paths are process-local and never propagate.
#pragma once

#include "mesh/export.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

MESH_PUBLIC_BEGIN

namespace mesh {

using duration = std::chrono::milliseconds;

/// The type of a configuration key.
enum class config_kind : uint8_t { duration, integer, boolean, string, list };

/// A resolved configuration value.
using config_value = std::variant<duration, int64_t, bool, std::string,
                                  std::vector<std::string>>;

/// The layers, highest precedence first.
enum class config_source : uint8_t {
  test_override,
  env,
  runtime,
  file,
  client_override,
  default_value,
};

std::string_view to_string(config_source src);
std::string_view to_string(config_kind kind);

/// Static description of one key.
struct config_key_info {
  std::string name;       ///< YAML key, e.g. "proc_spawn_max_idle".
  config_kind kind;       ///< Type of the value.
  config_value fallback;  ///< The default.
  bool propagate;         ///< Travels to children and attached hosts.
  std::string doc;        ///< One line for humans.
  /// `MESH_` + the name upper-cased with '.' and '-' turned into '_'.
  std::string env_name() const;
};

/// Parses a duration: an integer followed by `ms`, `s`, `m` or `h`
/// (e.g. "500ms", "30s", "2m"); "0" alone means zero.
caf::expected<duration> parse_duration(std::string_view text);

/// Prints a duration in the largest unit that represents it exactly
/// ("1500ms", "30s", "2m"); parse_duration(render_duration(d)) == d.
std::string render_duration(duration d);

/// Renders a value in the form parse_config_value accepts.
std::string render_config_value(const config_value& value);

/// Parses the text form of a value of `kind`. Lists are comma-separated.
/// Booleans accept true/false/1/0/yes/no/on/off (case-insensitive).
caf::expected<config_value> parse_config_value(config_kind kind,
                                               std::string_view text);

/// A serializable set of (key name, rendered value) pairs, sorted by key.
using config_snapshot = std::vector<std::pair<std::string, std::string>>;

/// Serializes a snapshot to text ("key=value" lines, values escaped) and back.
/// deserialize(serialize(s)) == s for every snapshot.
std::string serialize_snapshot(const config_snapshot& snap);
caf::expected<config_snapshot> deserialize_snapshot(std::string_view text);

/// The set of all known keys. Keys register themselves on construction of a
/// `config_key<T>` (namespace-scope objects in headers or sources).
class config_registry {
public:
  static config_registry& instance();

  /// Adds a key; a second key with the same name is a programming error.
  void add(config_key_info info);

  /// Looks up a key by name (YAML key) or by environment variable name.
  const config_key_info* find(std::string_view name) const;
  const config_key_info* find_env(std::string_view env_name) const;

  /// All keys, sorted by name.
  std::vector<const config_key_info*> keys() const;

  /// Checks that `name` is a known key and `text` a valid value for it. The
  /// error names the key and the value, e.g. "invalid value '5x' for config
  /// key proc_spawn_max_idle: expected a duration like 500ms, 30s or 2m".
  caf::expected<config_value> validate(std::string_view name,
                                       std::string_view text) const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, config_key_info, std::less<>> keys_;
};

/// A typed handle to one key. Declare keys next to the code that reads them.
template <class T>
class config_key {
public:
  config_key(const char* name, T fallback, bool propagate, const char* doc)
    : name_(name) {
    config_registry::instance().add(
      {name, kind_of(), config_value{std::move(fallback)}, propagate, doc});
  }
  const char* name() const { return name_; }

private:
  static constexpr config_kind kind_of() {
    if constexpr (std::is_same_v<T, duration>)
      return config_kind::duration;
    else if constexpr (std::is_same_v<T, int64_t>)
      return config_kind::integer;
    else if constexpr (std::is_same_v<T, bool>)
      return config_kind::boolean;
    else if constexpr (std::is_same_v<T, std::string>)
      return config_kind::string;
    else
      return config_kind::list;
  }
  const char* name_;
};

/// A layered store. Each actor system that mesh::configure() prepared has
/// one (config_of), so that two systems in one process do not share their
/// runtime, file and client_override layers; the test_override and env
/// layers are the process's (the environment is), kept in global().
class config_store {
public:
  /// A store of its own. Given `process`, its test_override and env layers
  /// are read from and written to that store instead.
  explicit config_store(config_store* process = nullptr) : process_(process) {}

  config_store(const config_store&) = delete;
  config_store& operator=(const config_store&) = delete;

  /// The process's store: the test_override and env layers of every store,
  /// and all layers for code that runs before any actor system exists. On
  /// first use its env layer is read from the environment (invalid env
  /// values are reported by `load_env()`).
  static config_store& global();

  /// Resolves a key across the layers.
  template <class T>
  T get(const config_key<T>& key) const {
    return std::get<T>(get_value(key.name()));
  }
  config_value get_value(std::string_view name) const;

  /// The layer the current value of `name` comes from.
  config_source source_of(std::string_view name) const;

  /// Replaces a whole layer with parsed values (`name -> text`). Every entry
  /// is validated first; on any error nothing changes and the error names
  /// the first bad key and value.
  caf::error set_layer(config_source src,
                       const std::map<std::string, std::string>& values);

  /// Sets one value in a layer (merging). Fails for unknown keys or values.
  caf::error set(config_source src, std::string_view name,
                 std::string_view text);

  /// Removes a layer.
  void clear(config_source src);

  /// Removes one key from a layer.
  void erase(config_source src, std::string_view name);

  /// Reads the env layer from `environ` (MESH_<KEY> variables) replacing it.
  /// Unknown MESH_* variables are ignored; invalid values are an error and
  /// leave the previous env layer in place.
  caf::error load_env();

  /// Installs a snapshot as the client_override layer (replacing it).
  caf::error install_client_override(const config_snapshot& snap);

  /// Resolved values of every propagated key, sorted by name.
  config_snapshot propagated_snapshot() const;

  /// Resolved values of every key with their source, sorted by name.
  std::vector<std::pair<std::string, config_source>> sources() const;

private:
  /// The store that holds `src` for this one.
  config_store& owner_of(config_source src);
  const config_store& owner_of(config_source src) const;
  /// The value of `name` in this store's own layers from `first` on.
  std::optional<std::pair<config_source, config_value>>
  find_own(std::string_view name, config_source first) const;

  config_store* process_ = nullptr;
  mutable std::mutex mtx_;
  std::map<config_source, std::map<std::string, config_value, std::less<>>>
    layers_;
};

/// The store of the actor system `cfg` configures, if mesh::configure()
/// prepared it; else config_store::global(). Actors read their settings from
/// config_of(self->system()).
config_store& config_of(const caf::actor_system_config& cfg);
config_store& config_of(const caf::actor_system& sys);

/// RAII test override: sets `name` in the test_override layer and restores
/// the previous override (if any) on destruction.
class config_override {
public:
  config_override(std::string_view name, std::string_view text);
  ~config_override();
  config_override(const config_override&) = delete;
  config_override& operator=(const config_override&) = delete;

private:
  std::string name_;
  std::optional<std::string> previous_;
};

} // namespace mesh

MESH_PUBLIC_END
