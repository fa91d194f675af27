// Slurm time limits (libmesh/src/core/slurm_time.hpp).
#include "libmesh/src/core/slurm_time.hpp"

#include "mesh/config.hpp"
#include "mesh/error.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace mesh::slurm {

namespace {

constexpr std::string_view syntax =
  "expected Slurm's syntax (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, "
  "UNLIMITED) or a duration like 90s, 10m or 2h";

caf::error invalid(std::string_view text, std::string_view why) {
  return make_error(ec::invalid_argument,
                    "invalid time limit '" + std::string{text} + "': "
                      + std::string{why});
}

// 1 to 9 digits: a field of Slurm's syntax.
bool is_field(std::string_view field) {
  return !field.empty() && field.size() <= 9
         && std::all_of(field.begin(), field.end(), [](char ch) {
              return ch >= '0' && ch <= '9';
            });
}

// Fields separated by ':', at most `max_fields` of them.
bool is_clock(std::string_view text, size_t max_fields) {
  size_t fields = 0;
  for (;;) {
    auto colon = text.find(':');
    if (!is_field(text.substr(0, colon)) || ++fields > max_fields)
      return false;
    if (colon == std::string_view::npos)
      return true;
    text.remove_prefix(colon + 1);
  }
}

bool is_slurm_syntax(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos)
    return is_clock(text, 3); // MM, MM:SS, HH:MM:SS
  // D-HH, D-HH:MM, D-HH:MM:SS
  return is_field(text.substr(0, dash)) && is_clock(text.substr(dash + 1), 3);
}

bool equals_ignoring_case(std::string_view x, std::string_view y) {
  return x.size() == y.size()
         && std::equal(x.begin(), x.end(), y.begin(), [](char a, char b) {
              return std::toupper(static_cast<unsigned char>(a))
                     == std::toupper(static_cast<unsigned char>(b));
            });
}

std::string two_digits(long long n) {
  return (n < 10 ? "0" : "") + std::to_string(n);
}

} // namespace

caf::expected<std::string> time_limit(std::string_view text) {
  if (text.empty())
    return invalid(text, syntax);
  if (equals_ignoring_case(text, "UNLIMITED")
      || equals_ignoring_case(text, "INFINITE"))
    return std::string{text};
  if (is_slurm_syntax(text))
    return std::string{text};
  // Only a duration ends in a letter; "0" alone was Slurm's syntax above.
  if (!std::isalpha(static_cast<unsigned char>(text.back())))
    return invalid(text, syntax);
  auto d = parse_duration(text);
  if (!d)
    return invalid(text, syntax);
  auto ms = d->count();
  if (ms == 0)
    return invalid(text, "a zero duration; write 0 or UNLIMITED for no limit");
  if (ms % 1000 != 0)
    return invalid(text, "Slurm counts whole seconds");
  auto seconds = ms / 1000;
  if (seconds % 60 == 0)
    return std::to_string(seconds / 60);
  auto days = seconds / 86400;
  auto clock = two_digits(seconds / 3600 % 24) + ":"
               + two_digits(seconds / 60 % 60) + ":"
               + two_digits(seconds % 60);
  return days > 0 ? std::to_string(days) + "-" + clock : clock;
}

} // namespace mesh::slurm
