// Fuzzes the /proc parsers of the introspection (bootstrap/proc_stats.hpp).
//
// Input: byte 0 picks the mode, the rest is text.
//   * mode even: the text is a whole /proc/<pid>/stat and, separately, a
//     whole statm. Neither parser may crash; what they accept is in range
//     (no negative count, rss a whole number of pages).
//   * mode odd: the text is a command name (comm) of a stat line whose
//     other fields are fixed: the parser must find exactly those fields
//     whatever the comm holds (spaces, ')', '(', digits, newlines), since it
//     reads from the last ')'.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bootstrap/proc_stats.hpp"
#include "fuzz/check.hpp"

using namespace mesh::bootstrap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  if (data[0] % 2 == 0) {
    if (auto st = parse_proc_stat(text)) {
      FUZZ_CHECK(st->utime_ticks >= 0 && st->stime_ticks >= 0);
      FUZZ_CHECK(st->num_threads >= 0 && st->starttime_ticks >= 0);
      FUZZ_CHECK(ticks_to_ms(st->utime_ticks, 100) >= 0);
    }
    int64_t page = int64_t{1} << (data[0] % 32);
    if (auto rss = parse_statm_rss(text, page)) {
      FUZZ_CHECK(*rss >= 0);
      FUZZ_CHECK(*rss % page == 0);
    }
    return 0;
  }
  std::string line = "77 (";
  line.append(text);
  line += ") T 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n";
  auto st = parse_proc_stat(line);
  FUZZ_CHECK(static_cast<bool>(st));
  FUZZ_CHECK(st->state == 'T');
  FUZZ_CHECK(st->utime_ticks == 11 && st->stime_ticks == 12);
  FUZZ_CHECK(st->num_threads == 17 && st->starttime_ticks == 19);
  return 0;
}
