// Fuzzes the record of a Slurm job as `scontrol show job -o` prints it
// (core/slurm_record.hpp): the Slurm allocator parses it on every poll, and
// its values hold whatever users put in job names, paths and comments.
// Properties:
//   * failures are ec::parse_error, never exceptions or crashes;
//   * every key is [A-Za-z][A-Za-z0-9_:/]*, no value starts or ends with a
//     blank, and JobId and JobState are there;
//   * what parses renders canonically: render(parse(x)) parses again to the
//     same fields, which render to the same line;
//   * the state's word maps to a phase (total).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/check.hpp"
#include "libmesh/src/core/slurm_record.hpp"
#include "mesh/error.hpp"

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool is_key(const std::string& key) {
  if (key.empty())
    return false;
  auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  if (!alpha(key[0]))
    return false;
  for (char c : key)
    if (!(alpha(c) || (c >= '0' && c <= '9') || c == '_' || c == ':' ||
          c == '/'))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto rec = mesh::slurm::parse_job_record(text);
  if (!rec) {
    FUZZ_CHECK(mesh::is(rec.error(), mesh::ec::parse_error));
    return 0;
  }
  FUZZ_CHECK(rec->find("JobId") != nullptr);
  FUZZ_CHECK(rec->find("JobState") != nullptr);
  for (auto& [key, value] : rec->fields) {
    FUZZ_CHECK(is_key(key));
    FUZZ_CHECK(value.find('\n') == std::string::npos);
    FUZZ_CHECK(value.empty() ||
               (!is_blank(value.front()) && !is_blank(value.back())));
  }
  auto once = mesh::slurm::render_job_record(*rec);
  auto again = mesh::slurm::parse_job_record(once);
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->fields == rec->fields);
  FUZZ_CHECK(mesh::slurm::render_job_record(*again) == once);
  auto phase = mesh::slurm::job_phase_of(rec->state());
  FUZZ_CHECK(phase == mesh::slurm::job_phase::waiting ||
             phase == mesh::slurm::job_phase::running ||
             phase == mesh::slurm::job_phase::ending ||
             phase == mesh::slurm::job_phase::ended);
  return 0;
}
