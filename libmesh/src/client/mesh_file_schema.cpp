// Validation of a mesh file against its schema
// (libmesh/src/client/mesh_file_schema.hpp).
#include "libmesh/src/client/mesh_file_schema.hpp"

#include "libmesh/src/client/mesh_file_text.hpp"
#include "libmesh/src/core/slurm_time.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "mesh/config.hpp"
#include "mesh/id.hpp"

namespace mesh {

namespace {

using mesh_file_text::closest;
using mesh_file_text::join;
using mesh_file_text::quote;

// A dimension or an extent never has more ranks than this.
constexpr size_t max_ranks = 1000000;

constexpr std::string_view core_tag_prefix = "tag:yaml.org,2002:";

std::string describe(const yaml_node& node) {
  switch (node.type) {
  case yaml_node::kind::null:
    return "an empty value";
  case yaml_node::kind::scalar:
    return node.quoted ? "the string " + quote(node.value)
                       : "the value " + quote(node.value);
  case yaml_node::kind::sequence:
    return "a list";
  case yaml_node::kind::mapping:
    return "a mapping";
  case yaml_node::kind::alias:
    return "an alias";
  }
  return "a node";
}

std::string render_tag(std::string_view tag) {
  if (tag.substr(0, core_tag_prefix.size()) == core_tag_prefix)
    return "!!" + std::string{tag.substr(core_tag_prefix.size())};
  return std::string{tag};
}

// The rendered error without its leading phrase: the part that says what is
// wrong with the value.
std::string error_detail(const caf::error& err) {
  auto text = mesh::to_string(err);
  if (err.category() == error_category) {
    auto phrase = std::string{describe(static_cast<ec>(err.code()))} + ": ";
    if (text.compare(0, phrase.size(), phrase) == 0 &&
        text.size() > phrase.size())
      return text.substr(phrase.size());
  }
  return text;
}

// --- the schema -------------------------------------------------------------

// The keys each mapping of the schema allows (config/README.md).
const std::vector<std::string> top_keys{"hosts", "proc_meshes", "config"};
// Mode slurm's keys, then the ones only a new job takes (inside an
// allocation, its partition, account, time limit and name are its own).
const std::vector<std::string> slurm_keys{
  "allocation", "nodes",       "hosts_per_node", "partition",
  "account",    "time",        "job_name",       "sbatch_args",
  "env",        "meshd",       "spool",          "owner_timeout",
  "start_timeout", "poll_interval"};
const std::vector<std::string> slurm_job_keys{"partition", "account", "time",
                                              "job_name", "sbatch_args"};
const std::vector<std::string> hosts_keys = [] {
  std::vector<std::string> keys{"mode", "extent", "addresses", "bootstrap"};
  keys.insert(keys.end(), slurm_keys.begin(), slurm_keys.end());
  return keys;
}();
const std::vector<std::string> bootstrap_keys{"program", "arg0", "args", "env"};
const std::vector<std::string> proc_mesh_keys{"name", "per_host",  "proc_bind",
                                              "env",  "bootstrap", "actors"};
const std::vector<std::string> actor_keys{"name", "type", "args"};
const std::vector<std::string> proc_bind_keys{"cpunodebind", "membind",
                                              "physcpubind", "cpus"};

constexpr std::array<std::pair<std::string_view, host_mode>, 5> mode_names{{
  {"local", host_mode::local},
  {"in_process", host_mode::in_process},
  {"process", host_mode::process},
  {"attach", host_mode::attach},
  {"slurm", host_mode::slurm},
}};

constexpr std::array<std::pair<std::string_view, slurm_allocation>, 2>
  allocation_names{{
    {"job", slurm_allocation::job},
    {"current", slurm_allocation::current},
  }};

// sbatch options that a key of the file (or libmesh itself) sets: given in
// sbatch_args they would contradict it. A long option matches itself,
// "option=value" and "option value", a short one any argument it starts.
struct reserved_option {
  std::string_view option;
  std::string_view key; ///< Empty: libmesh sets it.
};
constexpr std::array<reserved_option, 18> reserved_sbatch_options{{
  {"--nodes", "nodes"},
  {"-N", "nodes"},
  {"--ntasks-per-node", "hosts_per_node"},
  {"--ntasks", "hosts_per_node"},
  {"-n", "hosts_per_node"},
  {"--partition", "partition"},
  {"-p", "partition"},
  {"--account", "account"},
  {"-A", "account"},
  {"--time", "time"},
  {"-t", "time"},
  {"--job-name", "job_name"},
  {"-J", "job_name"},
  {"--output", ""},
  {"-o", ""},
  {"--parsable", ""},
  {"--wrap", ""},
  {"--export", ""},
}};

const reserved_option* reserved(std::string_view arg) {
  for (const auto& r : reserved_sbatch_options) {
    bool is_long = r.option.size() > 2;
    if (is_long ? arg == r.option
                    || (arg.substr(0, r.option.size()) == r.option
                        && arg.size() > r.option.size()
                        && (arg[r.option.size()] == '='
                            || arg[r.option.size()] == ' '))
                : arg.substr(0, 2) == r.option)
      return &r;
  }
  return nullptr;
}

// A name the batch script can export: a shell identifier.
bool is_shell_name(std::string_view name) {
  auto alpha = [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
  };
  return !name.empty() && alpha(name.front())
         && std::all_of(name.begin(), name.end(), [&](char ch) {
              return alpha(ch) || (ch >= '0' && ch <= '9');
            });
}

bool has_space_or_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    auto byte = static_cast<unsigned char>(ch);
    return byte <= 0x20 || byte == 0x7f;
  });
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    auto byte = static_cast<unsigned char>(ch);
    return byte < 0x20 || byte == 0x7f;
  });
}

// " (did you mean 'x'?)" when a candidate is close to `text`, else "".
std::string guess_of(std::string_view text,
                     const std::vector<std::string>& candidates) {
  auto guess = closest(text, candidates);
  return guess ? fmt::format(" (did you mean {}?)", quote(*guess))
               : std::string{};
}

// The names of a table of name/value pairs, for messages and guesses.
template <class Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> result;
  for (const auto& item : table)
    result.emplace_back(item.first);
  return result;
}

// One key-value pair of a mapping; `name` is the key's text.
struct entry {
  std::string name;
  const yaml_node* key;
  const yaml_node* value;
};

// The known keys of a mapping, by name.
using fields = std::map<std::string, entry, std::less<>>;

// Walks the tree, checking it against the schema and collecting every
// problem. Each read_* function reports what is wrong with its node and
// returns nothing (or a partial value) rather than stopping.
class validator {
public:
  validator(std::string file, std::vector<mesh_file_diagnostic>& diagnostics)
    : file_(std::move(file)), diagnostics_(diagnostics) {}

  void error(source_position pos, std::string message) {
    diagnostics_.push_back({file_, pos.line, pos.column, std::move(message)});
  }

  bool ok() const { return diagnostics_.size() == first_; }

  std::optional<mesh_file> read_file(const yaml_node& root) {
    if (!usable(root))
      return std::nullopt;
    if (root.type != yaml_node::kind::mapping) {
      error(root.pos, "expected a mapping with the keys hosts and proc_meshes "
                      "at the top level, got " +
                        describe(root));
      return std::nullopt;
    }
    auto top = known(entries(root), top_keys, "at the top level");
    mesh_file result;
    result.path = file_;
    std::optional<hosts_spec> hosts;
    if (auto i = require(top, "hosts", root, "at the top level"))
      hosts = read_hosts(*i->value);
    if (auto i = require(top, "proc_meshes", root, "at the top level"))
      result.proc_meshes = read_proc_meshes(*i->value, hosts);
    if (auto i = find(top, "config"))
      result.config = read_config(*i->value);
    if (!ok() || !hosts)
      return std::nullopt;
    result.hosts = std::move(*hosts);
    return result;
  }

private:
  // --- node kinds -----------------------------------------------------------

  // Aliases and explicit tags have no meaning in a mesh file; rejecting them
  // keeps what the file says equal to what it looks like.
  bool usable(const yaml_node& node) {
    if (node.type == yaml_node::kind::alias) {
      error(node.pos,
            "aliases are not supported in mesh files; write the value out");
      return false;
    }
    if (!node.tag.empty()) {
      error(node.pos, "tags are not supported in mesh files, found " +
                        quote(render_tag(node.tag)));
      return false;
    }
    return true;
  }

  bool expect_mapping(const yaml_node& node, std::string_view what) {
    if (!usable(node))
      return false;
    if (node.type == yaml_node::kind::mapping)
      return true;
    error(node.pos, fmt::format("expected a mapping for {}, got {}", what,
                                describe(node)));
    return false;
  }

  bool expect_list(const yaml_node& node, std::string_view what) {
    if (!usable(node))
      return false;
    if (node.type == yaml_node::kind::sequence)
      return true;
    error(node.pos,
          fmt::format("expected a list for {}, got {}", what, describe(node)));
    return false;
  }

  std::optional<std::string> read_string(const yaml_node& node,
                                         std::string_view what) {
    if (!usable(node))
      return std::nullopt;
    if (node.type == yaml_node::kind::scalar)
      return node.value;
    error(node.pos, fmt::format("expected a string for {}, got {}", what,
                                describe(node)));
    return std::nullopt;
  }

  std::optional<std::string> read_non_empty(const yaml_node& node,
                                            std::string_view what) {
    auto text = read_string(node, what);
    if (text && text->empty()) {
      error(node.pos, fmt::format("{} must not be empty", what));
      return std::nullopt;
    }
    return text;
  }

  std::vector<std::string> read_strings(const yaml_node& node,
                                        std::string_view what) {
    std::vector<std::string> result;
    if (!usable(node))
      return result;
    if (node.type != yaml_node::kind::sequence) {
      error(node.pos, fmt::format("expected a list of strings for {}, got {}",
                                  what, describe(node)));
      return result;
    }
    for (const auto& item : node.children)
      if (auto text = read_string(item, fmt::format("an item of {}", what)))
        result.push_back(std::move(*text));
    return result;
  }

  // --- mappings -------------------------------------------------------------

  // The pairs of a mapping whose keys are strings, first occurrence of each.
  std::vector<entry> entries(const yaml_node& map) {
    std::vector<entry> result;
    // Indexed by name: a hostile file may hold a mapping of many keys.
    std::map<std::string_view, const yaml_node*> first_keys;
    for (size_t i = 0; i + 1 < map.children.size(); i += 2) {
      const auto& key = map.children[i];
      const auto& value = map.children[i + 1];
      if (!usable(key))
        continue;
      if (key.type != yaml_node::kind::scalar) {
        error(key.pos, "expected a string as key, got " + describe(key));
        continue;
      }
      if (key.value.empty()) {
        error(key.pos, "empty key");
        continue;
      }
      auto [same, inserted] = first_keys.emplace(key.value, &key);
      if (!inserted) {
        error(key.pos, fmt::format("duplicate key {} (first at line {}, "
                                   "column {})",
                                   quote(key.value), same->second->pos.line,
                                   same->second->pos.column));
        continue;
      }
      result.push_back({key.value, &key, &value});
    }
    return result;
  }

  // Keeps the entries whose keys are `allowed`, reporting the others.
  fields known(std::vector<entry> all, const std::vector<std::string>& allowed,
               std::string_view where) {
    fields result;
    for (auto& x : all) {
      if (std::find(allowed.begin(), allowed.end(), x.name) != allowed.end()) {
        result.emplace(x.name, x);
      } else if (auto guess = closest(x.name, allowed)) {
        error(x.key->pos, fmt::format("unknown key {} (did you mean {}?)",
                                      quote(x.name), quote(*guess)));
      } else {
        error(x.key->pos,
              fmt::format("unknown key {} {} (allowed: {})", quote(x.name),
                          where, join(allowed, ", ")));
      }
    }
    return result;
  }

  static const entry* find(const fields& xs, std::string_view name) {
    auto i = xs.find(name);
    return i == xs.end() ? nullptr : &i->second;
  }

  const entry* require(const fields& xs, std::string_view name,
                       const yaml_node& map, std::string_view where) {
    if (auto x = find(xs, name))
      return x;
    error(map.pos,
          fmt::format("missing required key {} {}", quote(name), where));
    return nullptr;
  }

  // --- values ---------------------------------------------------------------

  // A size of an extent: a plain positive integer up to max_ranks.
  std::optional<size_t> read_size(const yaml_node& node,
                                  std::string_view label) {
    if (!usable(node))
      return std::nullopt;
    auto bad = [&] {
      error(node.pos, fmt::format("size of {} must be a positive integer, "
                                  "got {}",
                                  quote(label), describe(node)));
      return std::nullopt;
    };
    if (node.type != yaml_node::kind::scalar || node.quoted ||
        node.value.empty() ||
        !std::all_of(node.value.begin(), node.value.end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; }))
      return bad();
    auto digits = node.value.find_first_not_of('0');
    if (digits == std::string::npos)
      return bad();
    auto significant = std::string_view{node.value}.substr(digits);
    if (significant.size() > 7 ||
        std::stoul(std::string{significant}) > max_ranks) {
      error(node.pos, fmt::format("size of {} is {}, more than the limit of {}",
                                  quote(label), quote(node.value), max_ranks));
      return std::nullopt;
    }
    return std::stoul(std::string{significant});
  }

  bool check_label(const yaml_node& node, std::string_view label,
                   std::string_view what) {
    if (auto err = validate_label(label)) {
      // The label module's message names the label and the broken rule.
      error(node.pos, fmt::format("invalid {}: {}", what, error_detail(err)));
      return false;
    }
    return true;
  }

  // An extent written as a mapping of dimension label to size: {gpus: 4}.
  std::optional<extent> read_extent(const yaml_node& node,
                                    std::string_view what) {
    if (!usable(node))
      return std::nullopt;
    if (node.type != yaml_node::kind::mapping) {
      error(node.pos, fmt::format("expected a mapping of dimension sizes like "
                                  "{{gpus: 4}} for {}, got {}",
                                  what, describe(node)));
      return std::nullopt;
    }
    std::vector<std::string> labels;
    std::vector<size_t> sizes;
    bool valid = true;
    for (auto& x : entries(node)) {
      auto label_ok = check_label(*x.key, x.name, "dimension label");
      auto size = read_size(*x.value, x.name);
      if (!label_ok || !size) {
        valid = false;
        continue;
      }
      labels.push_back(x.name);
      sizes.push_back(*size);
    }
    if (!valid)
      return std::nullopt;
    if (labels.empty()) {
      error(node.pos, fmt::format("{} needs at least one dimension, e.g. "
                                  "{{procs: 1}}",
                                  what));
      return std::nullopt;
    }
    auto result = extent::make(std::move(labels), std::move(sizes));
    if (!result) {
      error(node.pos,
            fmt::format("invalid {}: {}", what, error_detail(result.error())));
      return std::nullopt;
    }
    // Checked stepwise: the product of a few sizes below max_ranks cannot
    // overflow before it exceeds max_ranks.
    size_t ranks = 1;
    for (auto size : result->sizes()) {
      ranks *= size;
      if (ranks > max_ranks) {
        error(node.pos, fmt::format("{} {} has more than {} ranks", what,
                                    result->to_string(), max_ranks));
        return std::nullopt;
      }
    }
    return std::move(*result);
  }

  // "host:port" or "[v6-address]:port", port 1..65535.
  static std::optional<std::string> address_problem(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return "expected host:port";
    auto host = text.substr(0, colon);
    auto port = text.substr(colon + 1);
    if (host.empty())
      return std::string{"the host is missing"};
    if (host.find_first_of(" \t") != std::string_view::npos)
      return std::string{"the host contains whitespace"};
    bool bracketed = host.front() == '[' && host.back() == ']';
    if (!bracketed && host.find(':') != std::string_view::npos)
      return std::string{"write an IPv6 host in brackets, e.g. [::1]:26600"};
    if (bracketed && host.size() == 2)
      return std::string{"the host is missing"};
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char ch) { return ch >= '0' && ch <= '9'; }))
      return "the port must be a number from 1 to 65535, got " + quote(port);
    auto number = std::stoul(std::string{port});
    if (number < 1 || number > 65535)
      return "the port must be a number from 1 to 65535, got " + quote(port);
    return std::nullopt;
  }

  std::vector<std::string> read_addresses(const yaml_node& node) {
    std::vector<std::string> result;
    if (!usable(node))
      return result;
    if (node.type != yaml_node::kind::sequence) {
      error(node.pos, "expected a list of host:port strings for addresses, "
                      "got " +
                        describe(node));
      return result;
    }
    std::map<std::string, source_position> seen;
    for (const auto& item : node.children) {
      auto text = read_string(item, "an address");
      if (!text)
        continue;
      if (auto problem = address_problem(*text)) {
        error(item.pos,
              fmt::format("invalid address {}: {}", quote(*text), *problem));
        continue;
      }
      auto [first, inserted] = seen.emplace(*text, item.pos);
      if (!inserted) {
        error(item.pos, fmt::format("duplicate address {} (first at line {}, "
                                    "column {})",
                                    quote(*text), first->second.line,
                                    first->second.column));
        continue;
      }
      result.push_back(std::move(*text));
    }
    return result;
  }

  std::map<std::string, std::string> read_env(const yaml_node& node,
                                              std::string_view where) {
    std::map<std::string, std::string> result;
    if (!expect_mapping(node, where))
      return result;
    for (auto& x : entries(node)) {
      auto name_ok = true;
      if (x.name.find('=') != std::string::npos ||
          x.name.find('\0') != std::string::npos) {
        error(x.key->pos, fmt::format("invalid environment variable name {}: "
                                      "it must not contain '=' or NUL",
                                      quote(x.name)));
        name_ok = false;
      }
      auto value = read_string(
        *x.value, fmt::format("environment variable {}", quote(x.name)));
      if (name_ok && value)
        result.emplace(x.name, std::move(*value));
    }
    return result;
  }

  std::optional<bootstrap_command> read_bootstrap(const yaml_node& node,
                                                  const std::string& where) {
    if (!expect_mapping(node, where))
      return std::nullopt;
    auto xs = known(entries(node), bootstrap_keys, "in " + where);
    bootstrap_command result;
    bool valid = true;
    if (auto x = require(xs, "program", node, "in " + where)) {
      auto program = read_non_empty(*x->value, where + ".program");
      valid = valid && program;
      if (program)
        result.program = std::move(*program);
    } else {
      valid = false;
    }
    if (auto x = find(xs, "arg0")) {
      auto arg0 = read_string(*x->value, where + ".arg0");
      valid = valid && arg0;
      result.arg0 = std::move(arg0);
    }
    if (auto x = find(xs, "args"))
      result.args = read_strings(*x->value, where + ".args");
    if (auto x = find(xs, "env"))
      result.env = read_env(*x->value, where + ".env");
    if (!valid)
      return std::nullopt;
    return result;
  }

  // --- hosts ----------------------------------------------------------------

  std::optional<host_mode> read_mode(const yaml_node& node) {
    auto text = read_string(node, "hosts.mode");
    if (!text)
      return std::nullopt;
    for (const auto& [name, mode] : mode_names)
      if (*text == name)
        return mode;
    error(node.pos, fmt::format("invalid mode {}: expected one of {}{}",
                                quote(*text), join(names_of(mode_names), ", "),
                                guess_of(*text, names_of(mode_names))));
    return std::nullopt;
  }

  // Returns the hosts as far as they could be read; a mode is required for
  // a result, so the proc meshes can be checked against it.
  std::optional<hosts_spec> read_hosts(const yaml_node& node) {
    if (!expect_mapping(node, "hosts"))
      return std::nullopt;
    auto xs = known(entries(node), hosts_keys, "in hosts");
    std::optional<host_mode> mode;
    if (auto x = require(xs, "mode", node, "in hosts"))
      mode = read_mode(*x->value);
    hosts_spec result;
    if (mode)
      result.mode = *mode;
    auto extent_entry = find(xs, "extent");
    auto addresses_entry = find(xs, "addresses");
    auto bootstrap_entry = find(xs, "bootstrap");
    if (extent_entry) {
      if (mode && *mode != host_mode::process)
        error(extent_entry->key->pos,
              fmt::format("'extent' is only allowed with mode process, not {}",
                          to_string(*mode)));
      else
        result.hosts = read_extent(*extent_entry->value, "hosts.extent");
    } else if (mode == host_mode::process) {
      error(node.pos, "mode process requires 'extent' (the host extent, e.g. "
                      "{hosts: 2})");
    }
    if (addresses_entry) {
      if (mode && *mode != host_mode::attach) {
        error(addresses_entry->key->pos,
              fmt::format("'addresses' is only allowed with mode attach, "
                          "not {}",
                          to_string(*mode)));
      } else {
        result.addresses = read_addresses(*addresses_entry->value);
        if (mode && addresses_entry->value->type == yaml_node::kind::sequence &&
            addresses_entry->value->children.empty())
          error(addresses_entry->value->pos,
                "mode attach requires at least one address");
      }
    } else if (mode == host_mode::attach) {
      error(node.pos, "mode attach requires 'addresses' (a list of host:port "
                      "of running meshd hosts)");
    }
    // The slurm keys are checked whatever the mode, so that a file with a
    // misspelt mode still hears about its bad values.
    std::vector<const entry*> slurm_entries;
    for (const auto& key : slurm_keys)
      if (auto x = find(xs, key))
        slurm_entries.push_back(x);
    if (mode && *mode != host_mode::slurm) {
      for (const auto* x : slurm_entries)
        error(x->key->pos,
              fmt::format("{} is only allowed with mode slurm, not {}",
                          quote(x->name), to_string(*mode)));
    } else {
      auto slurm = read_slurm(xs);
      if (mode == host_mode::slurm && slurm) {
        result.slurm = std::move(slurm->first);
        result.allocation = slurm->second;
      }
    }
    if (bootstrap_entry) {
      if (mode == host_mode::in_process)
        error(bootstrap_entry->key->pos,
              "'bootstrap' would be ignored with mode in_process (its procs "
              "run inside this process); remove it");
      else
        result.bootstrap =
          read_bootstrap(*bootstrap_entry->value, "hosts.bootstrap");
    }
    if (!mode)
      return std::nullopt;
    return result;
  }

  // --- hosts: slurm ---------------------------------------------------------

  // A count of nodes or hosts: a plain positive integer up to max_ranks.
  std::optional<size_t> read_count(const yaml_node& node,
                                   std::string_view what) {
    if (!usable(node))
      return std::nullopt;
    bool digits = node.type == yaml_node::kind::scalar && !node.quoted
                  && !node.value.empty()
                  && std::all_of(node.value.begin(), node.value.end(),
                                 [](char ch) { return ch >= '0' && ch <= '9'; });
    auto significant = digits ? node.value.find_first_not_of('0')
                              : std::string::npos;
    if (significant == std::string::npos) {
      error(node.pos, fmt::format("{} must be a positive integer, got {}",
                                  what, describe(node)));
      return std::nullopt;
    }
    auto text = std::string_view{node.value}.substr(significant);
    if (text.size() > 7 || std::stoul(std::string{text}) > max_ranks) {
      error(node.pos, fmt::format("{} is {}, more than the limit of {}", what,
                                  quote(node.value), max_ranks));
      return std::nullopt;
    }
    return std::stoul(std::string{text});
  }

  // A duration of the config syntax (500ms, 30s, 2m); at least `min`, and
  // whole seconds if `whole_seconds`.
  std::optional<duration> read_duration(const yaml_node& node,
                                        std::string_view what, duration min,
                                        bool whole_seconds) {
    auto text = read_string(node, what);
    if (!text)
      return std::nullopt;
    auto value = parse_duration(*text);
    if (!value) {
      error(node.pos, fmt::format("invalid {} {}: expected a duration like "
                                  "500ms, 30s or 2m",
                                  what, quote(*text)));
      return std::nullopt;
    }
    if (*value < min) {
      error(node.pos, fmt::format("{} must be at least {}, got {}", what,
                                  render_duration(min), quote(*text)));
      return std::nullopt;
    }
    if (whole_seconds && value->count() % 1000 != 0) {
      error(node.pos, fmt::format("{} must be whole seconds, got {}", what,
                                  quote(*text)));
      return std::nullopt;
    }
    return *value;
  }

  // A word Slurm takes as one argument: a partition or account name.
  std::optional<std::string> read_word(const yaml_node& node,
                                       std::string_view what) {
    auto text = read_non_empty(node, what);
    if (text && has_space_or_control(*text)) {
      error(node.pos, fmt::format("{} must not contain spaces or control "
                                  "characters, got {}",
                                  what, quote(*text)));
      return std::nullopt;
    }
    return text;
  }

  std::optional<slurm_allocation> read_allocation(const yaml_node& node) {
    auto text = read_string(node, "hosts.allocation");
    if (!text)
      return std::nullopt;
    for (const auto& [name, value] : allocation_names)
      if (*text == name)
        return value;
    error(node.pos,
          fmt::format("invalid allocation {}: expected job (submit a batch "
                      "job) or current (the allocation meshctl runs in){}",
                      quote(*text),
                      guess_of(*text, names_of(allocation_names))));
    return std::nullopt;
  }

  std::vector<std::string> read_sbatch_args(const yaml_node& node) {
    std::vector<std::string> result;
    if (!usable(node))
      return result;
    if (node.type != yaml_node::kind::sequence) {
      error(node.pos, "expected a list of strings for hosts.sbatch_args, "
                      "got " + describe(node));
      return result;
    }
    for (const auto& item : node.children) {
      auto text = read_string(item, "an item of hosts.sbatch_args");
      if (!text)
        continue;
      const auto& arg = *text;
      if (arg.empty() || arg.front() != '-') {
        error(item.pos,
              fmt::format("sbatch argument {} is not an option: each item is "
                          "one option with its value, e.g. "
                          "'--constraint=gpu'",
                          quote(arg)));
      } else if (has_control(arg)) {
        error(item.pos, fmt::format("sbatch argument {} contains control "
                                    "characters",
                                    quote(arg)));
      } else if (auto r = reserved(arg); r && !r->key.empty()) {
        error(item.pos, fmt::format("sbatch option {} is set by the key {}; "
                                    "use that key instead",
                                    quote(arg), quote(r->key)));
      } else if (r) {
        error(item.pos, fmt::format("sbatch option {} is set by libmesh (the "
                                    "job's script, output and environment); "
                                    "remove it",
                                    quote(arg)));
      } else {
        result.push_back(arg);
      }
    }
    return result;
  }

  std::map<std::string, std::string> read_slurm_env(const yaml_node& node) {
    auto result = read_env(node, "hosts.env");
    if (node.type != yaml_node::kind::mapping)
      return result;
    for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
      const auto& key = node.children[i];
      if (key.type == yaml_node::kind::scalar && result.count(key.value) > 0
          && !is_shell_name(key.value)) {
        error(key.pos, fmt::format("invalid environment variable name {}: "
                                   "the batch script exports it, so it must "
                                   "be letters, digits and '_', not starting "
                                   "with a digit",
                                   quote(key.value)));
        result.erase(key.value);
      }
    }
    return result;
  }

  // Mode slurm's keys of `xs`, read into job options (mesh/slurm.hpp); the
  // options come back only if every one of them is valid.
  std::optional<std::pair<slurm::job_options, slurm_allocation>>
  read_slurm(const fields& xs) {
    auto before = diagnostics_.size();
    slurm::job_options opts;
    auto allocation = slurm_allocation::job;
    if (auto x = find(xs, "allocation"))
      allocation = read_allocation(*x->value).value_or(allocation);
    if (allocation == slurm_allocation::current)
      for (const auto& key : slurm_job_keys)
        if (auto x = find(xs, key))
          error(x->key->pos,
                fmt::format("{} is only allowed with allocation job: inside "
                            "an allocation{}",
                            quote(key),
                            key == "sbatch_args"
                              ? ", no job is submitted"
                              : ", it is the allocation's own"));
    // Inside an allocation, no `nodes` means all of them (0).
    opts.nodes = allocation == slurm_allocation::current ? 0 : 1;
    const entry* nodes_entry = find(xs, "nodes");
    if (nodes_entry)
      opts.nodes = read_count(*nodes_entry->value, "hosts.nodes").value_or(1);
    if (auto x = find(xs, "hosts_per_node"))
      opts.hosts_per_node =
        read_count(*x->value, "hosts.hosts_per_node").value_or(1);
    if (nodes_entry && opts.nodes * opts.hosts_per_node > max_ranks)
      error(nodes_entry->value->pos,
            fmt::format("nodes x hosts_per_node is {} hosts, more than the "
                        "limit of {}",
                        opts.nodes * opts.hosts_per_node, max_ranks));
    if (auto x = find(xs, "partition"))
      opts.partition = read_word(*x->value, "hosts.partition").value_or("");
    if (auto x = find(xs, "account"))
      opts.account = read_word(*x->value, "hosts.account").value_or("");
    if (auto x = find(xs, "time")) {
      if (auto text = read_string(*x->value, "hosts.time")) {
        if (auto limit = slurm::time_limit(*text))
          opts.time_limit = std::move(*limit);
        else
          error(x->value->pos, error_detail(limit.error()));
      }
    }
    if (auto x = find(xs, "job_name")) {
      auto name = read_non_empty(*x->value, "hosts.job_name");
      if (name && has_control(*name))
        error(x->value->pos, fmt::format("hosts.job_name must not contain "
                                         "control characters, got {}",
                                         quote(*name)));
      else if (name)
        opts.job_name = std::move(*name);
    }
    if (auto x = find(xs, "sbatch_args"))
      opts.sbatch_args = read_sbatch_args(*x->value);
    if (auto x = find(xs, "env"))
      opts.env = read_slurm_env(*x->value);
    if (auto x = find(xs, "meshd"))
      opts.meshd = read_non_empty(*x->value, "hosts.meshd").value_or("");
    if (auto x = find(xs, "spool")) {
      auto spool = read_non_empty(*x->value, "hosts.spool");
      if (spool && spool->front() != '/')
        error(x->value->pos, fmt::format("hosts.spool must be an absolute "
                                         "path (a directory every node "
                                         "sees), got {}",
                                         quote(*spool)));
      else if (spool)
        opts.spool_root = std::move(*spool);
    }
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    if (auto x = find(xs, "owner_timeout"))
      opts.owner_timeout =
        read_duration(*x->value, "hosts.owner_timeout", seconds{1}, true)
          .value_or(opts.owner_timeout);
    if (auto x = find(xs, "start_timeout"))
      opts.start_timeout =
        read_duration(*x->value, "hosts.start_timeout", duration{0}, false)
          .value_or(opts.start_timeout);
    if (auto x = find(xs, "poll_interval"))
      opts.poll_interval =
        read_duration(*x->value, "hosts.poll_interval", milliseconds{10},
                      false)
          .value_or(opts.poll_interval);
    if (diagnostics_.size() != before)
      return std::nullopt;
    return std::pair{std::move(opts), allocation};
  }

  // The dimension labels of the host extent, which per-host extents must
  // not reuse (the proc extent is their concatenation).
  static std::vector<std::string> host_labels(const hosts_spec& hosts) {
    if (hosts.mode == host_mode::process)
      return hosts.hosts ? hosts.hosts->labels() : std::vector<std::string>{};
    return {"hosts"};
  }

  // --- proc meshes ----------------------------------------------------------

  std::vector<mesh::proc_bind> read_proc_bind(const yaml_node& node,
                                              const std::string& where) {
    std::vector<mesh::proc_bind> result;
    if (!expect_list(node, where))
      return result;
    for (size_t i = 0; i < node.children.size(); ++i) {
      const auto& item = node.children[i];
      auto item_where = fmt::format("{}[{}]", where, i);
      mesh::proc_bind bind;
      if (expect_mapping(item, item_where)) {
        auto xs = known(entries(item), proc_bind_keys, "in " + item_where);
        std::array<std::optional<std::string>*, 4> slots{
          &bind.cpunodebind, &bind.membind, &bind.physcpubind, &bind.cpus};
        for (size_t k = 0; k < proc_bind_keys.size(); ++k)
          if (auto x = find(xs, proc_bind_keys[k]))
            *slots[k] = read_non_empty(
              *x->value, fmt::format("{}.{}", item_where, proc_bind_keys[k]));
      }
      result.push_back(std::move(bind));
    }
    return result;
  }

  std::vector<actor_mesh_spec> read_actors(const yaml_node& node,
                                           const std::string& where) {
    std::vector<actor_mesh_spec> result;
    if (!expect_list(node, where))
      return result;
    std::map<std::string, source_position> names;
    for (size_t i = 0; i < node.children.size(); ++i) {
      const auto& item = node.children[i];
      auto item_where = fmt::format("{}[{}]", where, i);
      if (!expect_mapping(item, item_where))
        continue;
      auto xs = known(entries(item), actor_keys, "in " + item_where);
      actor_mesh_spec spec;
      spec.position = item.pos;
      bool valid = true;
      if (auto x = require(xs, "name", item, "in " + item_where)) {
        auto name = read_name(*x->value, "actor mesh name", names);
        valid = valid && name;
        if (name)
          spec.name = std::move(*name);
      } else {
        valid = false;
      }
      if (auto x = require(xs, "type", item, "in " + item_where)) {
        auto type = read_non_empty(*x->value, item_where + ".type");
        valid = valid && type;
        if (type)
          spec.type = std::move(*type);
      } else {
        valid = false;
      }
      if (auto x = find(xs, "args"))
        spec.args = read_strings(*x->value, item_where + ".args");
      if (valid)
        result.push_back(std::move(spec));
    }
    return result;
  }

  // A name that must be a valid label, unique among `seen`.
  std::optional<std::string>
  read_name(const yaml_node& node, std::string_view what,
            std::map<std::string, source_position>& seen) {
    auto name = read_string(node, what);
    if (!name || !check_label(node, *name, what))
      return std::nullopt;
    auto [first, inserted] = seen.emplace(*name, node.pos);
    if (!inserted) {
      error(node.pos, fmt::format("duplicate {} {} (first at line {}, column "
                                  "{})",
                                  what, quote(*name), first->second.line,
                                  first->second.column));
      return std::nullopt;
    }
    return name;
  }

  // The mode-dependent rules need the hosts; without a readable mode they
  // are skipped (the mode's own error has been reported).
  void check_against_hosts(const proc_mesh_spec& spec, const fields& xs,
                           const std::optional<hosts_spec>& hosts) {
    if (!hosts)
      return;
    if (hosts->mode == host_mode::in_process) {
      if (auto x = find(xs, "bootstrap"))
        error(x->key->pos, "'bootstrap' would be ignored with mode "
                           "in_process (its procs run inside this process); "
                           "remove it");
      if (auto x = find(xs, "proc_bind"))
        error(x->key->pos, "'proc_bind' would be ignored with mode "
                           "in_process (in-process procs cannot be bound to "
                           "CPUs); remove it");
      if (auto x = find(xs, "env"))
        error(x->key->pos, "'env' would be ignored with mode in_process "
                           "(in-process procs share this process's "
                           "environment); remove it");
    }
    if (auto x = find(xs, "per_host"))
      for (const auto& label : host_labels(*hosts))
        if (spec.per_host.position(label)) {
          error(x->value->pos,
                fmt::format("per_host dimension {} is also a host dimension; "
                            "choose another label",
                            quote(label)));
        }
  }

  std::optional<proc_mesh_spec>
  read_proc_mesh(const yaml_node& node, const std::string& where,
                 const std::optional<hosts_spec>& hosts,
                 std::map<std::string, source_position>& names) {
    if (!expect_mapping(node, where))
      return std::nullopt;
    auto xs = known(entries(node), proc_mesh_keys, "in " + where);
    proc_mesh_spec spec;
    spec.position = node.pos;
    bool valid = true;
    if (auto x = require(xs, "name", node, "in " + where)) {
      auto name = read_name(*x->value, "proc mesh name", names);
      valid = valid && name;
      if (name)
        spec.name = std::move(*name);
    } else {
      valid = false;
    }
    std::optional<extent> per_host;
    if (auto x = require(xs, "per_host", node, "in " + where)) {
      per_host = read_extent(*x->value, where + ".per_host");
      valid = valid && per_host;
      if (per_host)
        spec.per_host = *per_host;
    } else {
      valid = false;
    }
    if (auto x = find(xs, "proc_bind")) {
      spec.proc_bind = read_proc_bind(*x->value, where + ".proc_bind");
      if (per_host && x->value->type == yaml_node::kind::sequence &&
          spec.proc_bind->size() != per_host->num_ranks())
        error(x->value->pos,
              fmt::format("proc_bind has {} {} but per_host {} has {} "
                          "ranks; give one entry per rank",
                          spec.proc_bind->size(),
                          spec.proc_bind->size() == 1 ? "entry" : "entries",
                          per_host->to_string(), per_host->num_ranks()));
    }
    if (auto x = find(xs, "env"))
      spec.env = read_env(*x->value, where + ".env");
    if (auto x = find(xs, "bootstrap"))
      spec.bootstrap = read_bootstrap(*x->value, where + ".bootstrap");
    if (auto x = find(xs, "actors"))
      spec.actors = read_actors(*x->value, where + ".actors");
    // An unreadable per_host leaves the unity extent, which overlaps nothing.
    check_against_hosts(spec, xs, hosts);
    if (!valid)
      return std::nullopt;
    return spec;
  }

  std::vector<proc_mesh_spec>
  read_proc_meshes(const yaml_node& node,
                   const std::optional<hosts_spec>& hosts) {
    std::vector<proc_mesh_spec> result;
    if (!expect_list(node, "proc_meshes"))
      return result;
    if (node.children.empty()) {
      error(node.pos, "proc_meshes must list at least one proc mesh");
      return result;
    }
    std::map<std::string, source_position> names;
    for (size_t i = 0; i < node.children.size(); ++i)
      if (auto spec = read_proc_mesh(
            node.children[i], fmt::format("proc_meshes[{}]", i), hosts, names))
        result.push_back(std::move(*spec));
    return result;
  }

  // --- config overrides -----------------------------------------------------

  // Nested mappings are flattened with '.', so `tls: {key: x}` is the key
  // `tls.key`.
  void read_config_entries(const yaml_node& node, const std::string& prefix,
                           std::map<std::string, std::string>& result) {
    const auto& registry = config_registry::instance();
    for (auto& x : entries(node)) {
      auto name = prefix + x.name;
      if (x.value->type == yaml_node::kind::mapping && x.value->tag.empty()) {
        read_config_entries(*x.value, name + ".", result);
        continue;
      }
      if (!registry.find(name)) {
        std::vector<std::string> names;
        for (const auto* info : registry.keys())
          names.push_back(info->name);
        if (auto guess = closest(name, names))
          error(x.key->pos, fmt::format("unknown config key {} (did you mean "
                                        "{}?)",
                                        quote(name), quote(*guess)));
        else
          error(x.key->pos,
                fmt::format("unknown config key {} (known keys: {})",
                            quote(name), join(names, ", ")));
        continue;
      }
      auto text = read_string(*x.value, "config key " + quote(name));
      if (!text)
        continue;
      if (auto value = registry.validate(name, *text); !value) {
        error(x.value->pos, error_detail(value.error()));
        continue;
      }
      // A dotted key and a nested mapping can name the same key.
      if (!result.emplace(name, std::move(*text)).second)
        error(x.key->pos, fmt::format("duplicate config key {}", quote(name)));
    }
  }

  std::map<std::string, std::string> read_config(const yaml_node& node) {
    std::map<std::string, std::string> result;
    if (expect_mapping(node, "config"))
      read_config_entries(node, "", result);
    return result;
  }

  std::string file_;
  std::vector<mesh_file_diagnostic>& diagnostics_;
  /// Diagnostics before this validator's own.
  size_t first_ = diagnostics_.size();
};

} // namespace

std::string_view to_string(host_mode mode) {
  for (const auto& [name, value] : mode_names)
    if (value == mode)
      return name;
  return "unknown";
}

std::optional<mesh_file>
validate_mesh_file(const yaml_node& root, const std::string& file,
                   std::vector<mesh_file_diagnostic>& diagnostics) {
  validator check{file, diagnostics};
  return check.read_file(root);
}

} // namespace mesh
