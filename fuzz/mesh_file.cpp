// Fuzzes the mesh-file parser and validator (mesh/mesh_file.hpp):
// parse_mesh_file on the input as YAML text. Properties (the contract of
// mesh/mesh_file.hpp):
//   * it never throws (an escaping exception aborts: a crash to libFuzzer);
//   * a result carries a mesh_file iff it has no diagnostics, diagnostics
//     are sorted by position, each has a message and a position that is
//     either none or 1-based on both axes; to_error agrees;
//   * a valid file keeps the schema's invariants (config/README.md), and
//     its summary and counts agree;
//   * round trip: a valid file written back as YAML (yaml-cpp's emitter,
//     every string double-quoted) parses to an equal mesh_file.
//
// The configuration keys live beside the code that reads them (actors,
// client), which this target does not link: it registers keys of the same
// names and kinds (mesh/config_keys.hpp), all the validator looks at.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include <yaml-cpp/emitter.h>
#include <yaml-cpp/emittermanip.h>

#include "fuzz/check.hpp"
#include "mesh/config.hpp"
#include "mesh/error.hpp"
#include "mesh/id.hpp"
#include "mesh/mesh_file.hpp"
#include "libmesh/src/core/slurm_time.hpp"

using namespace mesh;

namespace {

using std::chrono::seconds;

const config_key<duration> k1{"proc_spawn_max_idle", seconds{30}, true, ""};
const config_key<duration> k2{"proc_stop_max_idle", seconds{30}, true, ""};
const config_key<duration> k3{"host_spawn_ready_timeout", seconds{30}, true,
                              ""};
const config_key<duration> k4{"attach_config_timeout", seconds{30}, true, ""};
const config_key<duration> k5{"terminate_timeout", seconds{10}, true, ""};
const config_key<duration> k6{"call_timeout", seconds{60}, true, ""};
const config_key<int64_t> k7{"terminate_concurrency", 16, true, ""};
const config_key<int64_t> k8{"tail_log_lines", 100, true, ""};
const config_key<bool> k9{"bootstrap_enable_pdeathsig", true, true, ""};
const config_key<bool> k10{"bootstrap_zygote", true, true, ""};
const config_key<bool> k11{"log_forwarding", true, true, ""};
const config_key<std::string> k12{"listen_address", "127.0.0.1", true, ""};
const config_key<std::string> k13{"tls.certificate", "", false, ""};
const config_key<std::string> k14{"tls.key", "", false, ""};
const config_key<std::string> k15{"tls.cafile", "", false, ""};
const config_key<bool> k16{"transport.insecure", false, false, ""};
const config_key<int64_t> k17{"transport.max_message_size", 1, true, ""};
const config_key<duration> k18{"proc_unresponsive_timeout", seconds{5}, true,
                               ""};

constexpr size_t max_ranks = 1000000; // mesh_file_schema.cpp

void check_diagnostics(const mesh_file_result& result, size_t input_size) {
  FUZZ_CHECK(result.file.has_value() == result.diagnostics.empty());
  const mesh_file_diagnostic* previous = nullptr;
  for (const auto& d : result.diagnostics) {
    FUZZ_CHECK(d.file == "fuzz.yaml");
    FUZZ_CHECK(!d.message.empty());
    FUZZ_CHECK((d.line == 0) == (d.column == 0));
    // yaml-cpp counts columns in its UTF-8 copy of the text, where an
    // invalid byte becomes U+FFFD (3 bytes): a column is within 3 per byte.
    FUZZ_CHECK(d.line <= input_size + 1 && d.column <= 3 * input_size + 1);
    if (previous)
      FUZZ_CHECK(std::tie(previous->line, previous->column) <=
                 std::tie(d.line, d.column));
    previous = &d;
    FUZZ_CHECK(!d.to_string().empty());
  }
  auto err = to_error(result);
  FUZZ_CHECK(static_cast<bool>(err) == !result.diagnostics.empty());
  if (err) {
    FUZZ_CHECK(is(err, ec::invalid_mesh_file));
    FUZZ_CHECK(!mesh::to_string(err).empty());
  }
}

void check_command(const bootstrap_command& cmd) {
  FUZZ_CHECK(!cmd.program.empty());
  for (const auto& [name, value] : cmd.env)
    FUZZ_CHECK(name.find('=') == std::string::npos &&
               name.find('\0') == std::string::npos);
}

void check_extent(const extent& ext) {
  FUZZ_CHECK(ext.num_dims() > 0);
  FUZZ_CHECK(ext.num_ranks() >= 1 && ext.num_ranks() <= max_ranks);
  for (const auto& label : ext.labels())
    FUZZ_CHECK(!validate_label(label));
}

// Mode slurm's options keep the schema's rules (config/README.md, "slurm").
void check_slurm(const slurm::job_options& opts, slurm_allocation allocation) {
  bool job = allocation == slurm_allocation::job;
  FUZZ_CHECK(opts.nodes <= max_ranks && opts.hosts_per_node >= 1);
  FUZZ_CHECK(opts.nodes * opts.hosts_per_node <= max_ranks);
  FUZZ_CHECK(opts.nodes >= 1 || !job); // 0: all nodes of the allocation
  if (!job)
    FUZZ_CHECK(opts.partition.empty() && opts.account.empty()
               && opts.time_limit.empty() && opts.sbatch_args.empty()
               && opts.job_name == slurm::job_options{}.job_name);
  // A time limit is in Slurm's syntax already: converting it again keeps it.
  if (!opts.time_limit.empty()) {
    auto again = slurm::time_limit(opts.time_limit);
    FUZZ_CHECK(again && *again == opts.time_limit);
  }
  for (const auto& arg : opts.sbatch_args)
    FUZZ_CHECK(!arg.empty() && arg.front() == '-');
  for (const auto& [name, value] : opts.env)
    FUZZ_CHECK(!name.empty() && name.find('=') == std::string::npos
               && !(name.front() >= '0' && name.front() <= '9'));
  FUZZ_CHECK(opts.spool_root.empty() || opts.spool_root.front() == '/');
  FUZZ_CHECK(opts.owner_timeout >= std::chrono::seconds{1}
             && opts.owner_timeout.count() % 1000 == 0);
  FUZZ_CHECK(opts.start_timeout.count() >= 0);
  FUZZ_CHECK(opts.poll_interval >= std::chrono::milliseconds{10});
  FUZZ_CHECK(!opts.proc_command);
}

void check_valid(const mesh_file& file) {
  FUZZ_CHECK(file.path == "fuzz.yaml");
  const auto& hosts = file.hosts;
  FUZZ_CHECK(hosts.hosts.has_value() == (hosts.mode == host_mode::process));
  if (hosts.hosts)
    check_extent(*hosts.hosts);
  FUZZ_CHECK(hosts.addresses.empty() == (hosts.mode != host_mode::attach));
  FUZZ_CHECK(std::set<std::string>(hosts.addresses.begin(),
                                   hosts.addresses.end())
               .size() == hosts.addresses.size());
  FUZZ_CHECK(!(hosts.bootstrap && hosts.mode == host_mode::in_process));
  FUZZ_CHECK(hosts.slurm.has_value() == (hosts.mode == host_mode::slurm));
  if (hosts.slurm)
    check_slurm(*hosts.slurm, hosts.allocation);
  if (hosts.bootstrap)
    check_command(*hosts.bootstrap);
  FUZZ_CHECK(file.host_extent().num_ranks() == file.num_hosts());

  FUZZ_CHECK(!file.proc_meshes.empty());
  std::set<std::string> names;
  size_t procs = 0;
  auto host_labels = file.host_extent().labels();
  for (const auto& spec : file.proc_meshes) {
    FUZZ_CHECK(!validate_label(spec.name));
    FUZZ_CHECK(names.insert(spec.name).second);
    check_extent(spec.per_host);
    for (const auto& label : host_labels)
      FUZZ_CHECK(!spec.per_host.position(label));
    if (spec.proc_bind)
      FUZZ_CHECK(spec.proc_bind->size() == spec.per_host.num_ranks());
    for (const auto& [name, value] : spec.env)
      FUZZ_CHECK(name.find('=') == std::string::npos &&
                 name.find('\0') == std::string::npos);
    if (spec.bootstrap)
      check_command(*spec.bootstrap);
    if (hosts.mode == host_mode::in_process)
      FUZZ_CHECK(!spec.bootstrap && !spec.proc_bind && spec.env.empty());
    std::set<std::string> actors;
    for (const auto& actor : spec.actors) {
      FUZZ_CHECK(!validate_label(actor.name));
      FUZZ_CHECK(actors.insert(actor.name).second);
      FUZZ_CHECK(!actor.type.empty());
    }
    procs += file.num_hosts() * spec.per_host.num_ranks();
  }
  FUZZ_CHECK(file.num_procs() == procs);
  for (const auto& [key, value] : file.config)
    FUZZ_CHECK(config_registry::instance().validate(key, value));
  FUZZ_CHECK(!file.summary().empty());
}

// --- the round trip ---------------------------------------------------------

// Well-formed UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t more = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      more = 1;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      more = 2;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      more = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= more)
      return false;
    for (size_t k = 1; k <= more; ++k) {
      auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xc0) != 0x80)
        return false;
      code = code << 6 | (next & 0x3f);
    }
    constexpr uint32_t shortest[] = {0, 0x80, 0x800, 0x10000};
    if (code < shortest[more] || code > 0x10ffff ||
        (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += more + 1;
  }
  return true;
}

class yaml_writer {
public:
  bool all_utf8 = true;

  void str(std::string_view s) {
    all_utf8 = all_utf8 && valid_utf8(s);
    out << YAML::DoubleQuoted << std::string{s};
  }

  void key(std::string_view k) {
    out << YAML::Key;
    str(k);
    out << YAML::Value;
  }

  void extent_map(const extent& ext) {
    out << YAML::BeginMap;
    for (size_t i = 0; i < ext.num_dims(); ++i) {
      key(ext.labels()[i]);
      out << ext.sizes()[i];
    }
    out << YAML::EndMap;
  }

  void strings(const std::vector<std::string>& xs) {
    out << YAML::BeginSeq;
    for (const auto& x : xs)
      str(x);
    out << YAML::EndSeq;
  }

  void string_map(const std::map<std::string, std::string>& xs) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : xs) {
      key(k);
      str(v);
    }
    out << YAML::EndMap;
  }

  void command(const bootstrap_command& cmd) {
    out << YAML::BeginMap;
    key("program");
    str(cmd.program);
    if (cmd.arg0) {
      key("arg0");
      str(*cmd.arg0);
    }
    key("args");
    strings(cmd.args);
    key("env");
    string_map(cmd.env);
    out << YAML::EndMap;
  }

  void file(const mesh_file& f) {
    out << YAML::BeginMap;
    key("hosts");
    out << YAML::BeginMap;
    key("mode");
    str(to_string(f.hosts.mode));
    if (f.hosts.hosts) {
      key("extent");
      extent_map(*f.hosts.hosts);
    }
    if (!f.hosts.addresses.empty()) {
      key("addresses");
      strings(f.hosts.addresses);
    }
    if (f.hosts.bootstrap) {
      key("bootstrap");
      command(*f.hosts.bootstrap);
    }
    if (f.hosts.slurm)
      slurm(*f.hosts.slurm, f.hosts.allocation);
    out << YAML::EndMap;
    key("proc_meshes");
    out << YAML::BeginSeq;
    for (const auto& spec : f.proc_meshes)
      proc_mesh(spec);
    out << YAML::EndSeq;
    if (!f.config.empty()) {
      key("config");
      string_map(f.config);
    }
    out << YAML::EndMap;
  }

  YAML::Emitter out;

private:
  // Every key written, defaults included: the parse must give them back.
  void slurm(const slurm::job_options& opts, slurm_allocation allocation) {
    bool job = allocation == slurm_allocation::job;
    key("allocation");
    str(job ? "job" : "current");
    if (opts.nodes > 0) {
      key("nodes");
      out << opts.nodes;
    }
    key("hosts_per_node");
    out << opts.hosts_per_node;
    if (job) {
      for (auto [name, value] : {std::pair{"partition", &opts.partition},
                                 std::pair{"account", &opts.account},
                                 std::pair{"time", &opts.time_limit}})
        if (!value->empty()) {
          key(name);
          str(*value);
        }
      key("job_name");
      str(opts.job_name);
      key("sbatch_args");
      strings(opts.sbatch_args);
    }
    key("env");
    string_map(opts.env);
    for (auto [name, value] : {std::pair{"meshd", &opts.meshd},
                               std::pair{"spool", &opts.spool_root}})
      if (!value->empty()) {
        key(name);
        str(*value);
      }
    for (auto [name, value] :
         {std::pair{"owner_timeout", opts.owner_timeout},
          std::pair{"start_timeout", opts.start_timeout},
          std::pair{"poll_interval", opts.poll_interval}}) {
      key(name);
      str(render_duration(value));
    }
  }

  void proc_mesh(const proc_mesh_spec& spec) {
    out << YAML::BeginMap;
    key("name");
    str(spec.name);
    key("per_host");
    extent_map(spec.per_host);
    if (spec.proc_bind) {
      key("proc_bind");
      out << YAML::BeginSeq;
      for (const auto& bind : *spec.proc_bind) {
        out << YAML::BeginMap;
        for (auto [name, value] :
             {std::pair{"cpunodebind", &bind.cpunodebind},
              std::pair{"membind", &bind.membind},
              std::pair{"physcpubind", &bind.physcpubind},
              std::pair{"cpus", &bind.cpus}})
          if (*value) {
            key(name);
            str(**value);
          }
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!spec.env.empty()) {
      key("env");
      string_map(spec.env);
    }
    if (spec.bootstrap) {
      key("bootstrap");
      command(*spec.bootstrap);
    }
    if (!spec.actors.empty()) {
      key("actors");
      out << YAML::BeginSeq;
      for (const auto& actor : spec.actors) {
        out << YAML::BeginMap;
        key("name");
        str(actor.name);
        key("type");
        str(actor.type);
        key("args");
        strings(actor.args);
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
};

bool same_proc_mesh(const proc_mesh_spec& x, const proc_mesh_spec& y) {
  if (x.actors.size() != y.actors.size())
    return false;
  for (size_t i = 0; i < x.actors.size(); ++i)
    if (x.actors[i].name != y.actors[i].name ||
        x.actors[i].type != y.actors[i].type ||
        x.actors[i].args != y.actors[i].args)
      return false;
  return x.name == y.name && x.per_host == y.per_host &&
         x.proc_bind == y.proc_bind && x.env == y.env &&
         x.bootstrap == y.bootstrap;
}

bool same_slurm(const slurm::job_options& x, const slurm::job_options& y) {
  return x.nodes == y.nodes && x.hosts_per_node == y.hosts_per_node
         && x.partition == y.partition && x.account == y.account
         && x.time_limit == y.time_limit && x.job_name == y.job_name
         && x.sbatch_args == y.sbatch_args && x.env == y.env
         && x.meshd == y.meshd && x.spool_root == y.spool_root
         && x.owner_timeout == y.owner_timeout
         && x.start_timeout == y.start_timeout
         && x.poll_interval == y.poll_interval
         && x.proc_command == y.proc_command;
}

bool same_file(const mesh_file& x, const mesh_file& y) {
  if (x.proc_meshes.size() != y.proc_meshes.size())
    return false;
  for (size_t i = 0; i < x.proc_meshes.size(); ++i)
    if (!same_proc_mesh(x.proc_meshes[i], y.proc_meshes[i]))
      return false;
  if (x.hosts.slurm.has_value() != y.hosts.slurm.has_value())
    return false;
  if (x.hosts.slurm && !same_slurm(*x.hosts.slurm, *y.hosts.slurm))
    return false;
  return x.path == y.path && x.hosts.mode == y.hosts.mode &&
         x.hosts.allocation == y.hosts.allocation &&
         x.hosts.hosts == y.hosts.hosts &&
         x.hosts.addresses == y.hosts.addresses &&
         x.hosts.bootstrap == y.hosts.bootstrap && x.config == y.config;
}

void check_round_trip(const mesh_file& file) {
  yaml_writer writer;
  writer.file(file);
  // yaml-cpp's emitter writes UTF-8 only: text that is not (the parser
  // passes bytes through) has no faithful YAML form to compare.
  if (!writer.all_utf8 || !writer.out.good())
    return;
  std::string text = writer.out.c_str();
  auto again = parse_mesh_file(text, file.path);
  if (!again.file) {
    for (const auto& d : again.diagnostics)
      std::fprintf(stderr, "round trip: %s\n", d.to_string().c_str());
    std::fprintf(stderr, "round trip of:\n%s\n", text.c_str());
  }
  FUZZ_CHECK(again.file);
  FUZZ_CHECK(same_file(file, *again.file));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto result = parse_mesh_file(text, "fuzz.yaml");
  check_diagnostics(result, size);
  if (result.file) {
    check_valid(*result.file);
    check_round_trip(*result.file);
  }
  return 0;
}
