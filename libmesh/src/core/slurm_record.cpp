#include "libmesh/src/core/slurm_record.hpp"

#include "mesh/error.hpp"

#include <array>
#include <cstdio>

namespace mesh::slurm {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_key_char(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '_' || c == ':' ||
         c == '/';
}

// The length of the key at `pos` if a "Key=" starts there (without '='),
// else 0.
size_t key_at(std::string_view line, size_t pos) {
  if (pos >= line.size() || !is_alpha(line[pos]))
    return 0;
  auto end = pos + 1;
  while (end < line.size() && is_key_char(line[end]))
    ++end;
  return end < line.size() && line[end] == '=' ? end - pos : 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back()))
    text.remove_suffix(1);
  return text;
}

// At most 80 bytes of `text` as printable ASCII, for an error message.
std::string excerpt(std::string_view text) {
  constexpr size_t max_bytes = 80;
  std::string result = "'";
  for (size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      result += static_cast<char>(c);
    } else {
      std::array<char, 5> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02x", c);
      result += hex.data();
    }
  }
  result += text.size() > max_bytes ? "'..." : "'";
  return result;
}

caf::error bad_record(std::string what, std::string_view line) {
  return make_error(ec::parse_error, "scontrol show job record",
                    std::move(what) + ": " + excerpt(line));
}

} // namespace

const std::string* job_record::find(std::string_view key) const {
  for (auto& [k, v] : fields)
    if (k == key)
      return &v;
  return nullptr;
}

std::string job_record::get(std::string_view key) const {
  auto value = find(key);
  return value ? *value : std::string{};
}

std::string job_record::state() const {
  auto value = get("JobState");
  size_t end = 0;
  while (end < value.size() &&
         ((value[end] >= 'A' && value[end] <= 'Z') || value[end] == '_'))
    ++end;
  value.resize(end);
  return value;
}

caf::expected<job_record> parse_job_record(std::string_view text) {
  auto line = text.substr(0, text.find('\n'));
  job_record result;
  size_t pos = 0;
  while (pos < line.size() && is_blank(line[pos]))
    ++pos;
  if (pos == line.size())
    return bad_record("no fields", text);
  while (pos < line.size()) {
    auto key_size = key_at(line, pos);
    if (key_size == 0)
      return bad_record("expected Key=Value at byte " + std::to_string(pos),
                        line.substr(pos));
    auto key = line.substr(pos, key_size);
    auto value_begin = pos + key_size + 1;
    // The value ends at the first run of blanks followed by "Key=".
    auto next = line.size();
    auto value_end = line.size();
    for (auto i = value_begin; i < line.size(); ++i) {
      if (!is_blank(line[i]))
        continue;
      auto after = i;
      while (after < line.size() && is_blank(line[after]))
        ++after;
      if (key_at(line, after) > 0) {
        value_end = i;
        next = after;
        break;
      }
      i = after - 1;
    }
    result.fields.emplace_back(
      std::string{key},
      std::string{trim(line.substr(value_begin, value_end - value_begin))});
    pos = next;
  }
  for (auto required : {"JobId", "JobState"})
    if (!result.find(required))
      return bad_record(std::string{"no "} + required + " field", line);
  return result;
}

std::string render_job_record(const job_record& record) {
  std::string result;
  for (auto& [key, value] : record.fields) {
    if (!result.empty())
      result += ' ';
    result += key;
    result += '=';
    result += value;
  }
  return result;
}

job_phase job_phase_of(std::string_view state) {
  if (state == "RUNNING")
    return job_phase::running;
  for (auto ending : {"COMPLETING", "SIGNALING", "STAGE_OUT"})
    if (state == ending)
      return job_phase::ending;
  for (auto ended :
       {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
        "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "PREEMPTED", "REVOKED",
        "SPECIAL_EXIT"})
    if (state == ended)
      return job_phase::ended;
  return job_phase::waiting;
}

bool is_unknown_job(std::string_view scontrol_stderr) {
  return scontrol_stderr.find("Invalid job id") != std::string_view::npos;
}

} // namespace mesh::slurm
