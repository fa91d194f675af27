#include "mesh/error.hpp"

#include <caf/message.hpp>

namespace mesh {

namespace {

struct ec_info {
  std::string_view name;
  std::string_view phrase;
};

// Indexed by the enum value; keep in the order of `ec`.
constexpr ec_info ec_table[] = {
  {"none", "no error"},
  {"invalid_argument", "invalid argument"},
  {"invalid_label", "invalid label"},
  {"overlapping_label", "overlapping dimension label"},
  {"dimension_mismatch", "dimension mismatch"},
  {"out_of_range", "out of range"},
  {"invalid_dimension", "invalid dimension"},
  {"empty_range", "empty range"},
  {"parse_error", "parse error"},
  {"invalid_config", "invalid configuration"},
  {"bad_payload", "bad bootstrap payload"},
  {"invalid_mesh_file", "invalid mesh file"},
  {"system_error", "system error"},
  {"spawn_failed", "spawn failed"},
  {"proc_failed", "proc failed"},
  {"spawn_timeout", "spawn timed out"},
  {"stop_failed", "stop failed"},
  {"host_unreachable", "host unreachable"},
  {"config_push_failed", "config push failed"},
  {"handshake_refused", "handshake refused"},
  {"actor_spawn_failed", "actor spawn failed"},
  {"call_failed", "call failed"},
  {"not_running", "not running"},
  {"tls_error", "TLS error"},
  {"allocation_failed", "allocation failed"},
  {"cancelled", "cancelled"},
};

constexpr size_t ec_count = sizeof(ec_table) / sizeof(ec_table[0]);

static_assert(static_cast<size_t>(ec::cancelled) + 1 == ec_count,
              "ec_table must list every mesh::ec value");

const ec_info* lookup(uint8_t code) {
  return code < ec_count ? &ec_table[code] : nullptr;
}

} // namespace

std::string to_string(ec code) {
  if (auto info = lookup(static_cast<uint8_t>(code)))
    return std::string{info->name};
  return "ec(" + std::to_string(static_cast<int>(code)) + ")";
}

std::string_view describe(ec code) {
  if (auto info = lookup(static_cast<uint8_t>(code)))
    return info->phrase;
  return "unknown libmesh error";
}

bool is(const caf::error& err, ec code) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(code);
}

std::string render_error(uint8_t code, const caf::message& context) {
  std::string result{describe(static_cast<ec>(code))};
  for (size_t i = 0; i < context.size(); ++i) {
    result += ": ";
    if (context.match_element<std::string>(i))
      result += context.get_as<std::string>(i);
    else
      result += context.stringify(i);
  }
  return result;
}

std::string to_string(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category)
    return render_error(err.code(), err.context());
  return caf::to_string(err);
}

} // namespace mesh
