// Fuzzes the MESH_BOOTSTRAP payload decoder (bootstrap/payload.hpp).
//
// The input is tried both as the binary record (decode_record) and as the
// environment variable's text (decode: base64 of a record). Properties:
//   * the encoding is canonical: whatever decodes re-encodes to the very
//     same bytes, and decodes again to an equal payload;
//   * a decoded payload keeps the documented field invariants;
//   * base64 is strict: base64_decode(x) succeeds only if base64_encode of
//     its result is x, and base64_decode(base64_encode(x)) == x for any x;
//   * decode(base64 of x) and decode_record(x) agree;
//   * failures are ec::bad_payload with a message, never an exception (an
//     exception escaping here aborts, which libFuzzer reports as a crash).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bootstrap/payload.hpp"
#include "fuzz/check.hpp"
#include "mesh/error.hpp"

using namespace mesh::bootstrap;

namespace {

void check_error(const caf::error& err) {
  FUZZ_CHECK(mesh::is(err, mesh::ec::bad_payload));
  FUZZ_CHECK(!mesh::to_string(err).empty());
}

bool exec_safe(const std::string& s) {
  return s.find('\0') == std::string::npos;
}

void check_invariants(const payload& p) {
  FUZZ_CHECK(p.child_role == role::host || p.child_role == role::proc ||
             p.child_role == role::zygote);
  FUZZ_CHECK(!p.name.empty());
  FUZZ_CHECK(!p.parent_host.empty());
  FUZZ_CHECK(p.parent_port != 0);
  FUZZ_CHECK(!p.token.empty());
  for (size_t i = 0; i < p.config.size(); ++i) {
    FUZZ_CHECK(!p.config[i].first.empty());
    for (size_t j = 0; j < i; ++j)
      FUZZ_CHECK(p.config[j].first != p.config[i].first);
  }
  if (p.proc_command) {
    auto& cmd = *p.proc_command;
    FUZZ_CHECK(p.child_role == role::host);
    FUZZ_CHECK(!cmd.program.empty() && exec_safe(cmd.program));
    FUZZ_CHECK(!cmd.arg0 || exec_safe(*cmd.arg0));
    for (auto& arg : cmd.args)
      FUZZ_CHECK(exec_safe(arg));
    for (auto& [key, value] : cmd.env) {
      FUZZ_CHECK(!key.empty() && exec_safe(key) && exec_safe(value));
      FUZZ_CHECK(key.find('=') == std::string::npos);
    }
  }
}

// A record that decoded: the same bytes again, and the same payload again.
void check_record_round_trip(std::string_view bytes, const payload& p) {
  check_invariants(p);
  auto again = encode_record(p);
  FUZZ_CHECK(again == bytes);
  auto redecoded = decode_record(again);
  FUZZ_CHECK(redecoded && *redecoded == p);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};

  // The binary record.
  auto record = decode_record(input);
  if (record)
    check_record_round_trip(input, *record);
  else
    check_error(record.error());

  // The same bytes in base64: decode must agree with decode_record.
  auto text = base64_encode(input);
  FUZZ_CHECK(text.size() == (size + 2) / 3 * 4);
  auto bytes = base64_decode(text);
  FUZZ_CHECK(bytes && *bytes == input);
  auto via_text = decode(text);
  FUZZ_CHECK(static_cast<bool>(via_text) == static_cast<bool>(record));
  if (via_text) {
    FUZZ_CHECK(*via_text == *record);
    FUZZ_CHECK(encode(*via_text) == text);
    // A proc's zygote: the same record with role zygote, name "zygote" and
    // a token of its own.
    if (via_text->child_role == role::proc) {
      auto zygote = decode(zygote_payload_of(text));
      FUZZ_CHECK(zygote);
      FUZZ_CHECK(zygote->child_role == role::zygote);
      FUZZ_CHECK(zygote->name == "zygote");
      FUZZ_CHECK(zygote->parent_host == via_text->parent_host);
      FUZZ_CHECK(zygote->parent_port == via_text->parent_port);
      FUZZ_CHECK(zygote->config == via_text->config);
    }
  } else {
    check_error(via_text.error());
    FUZZ_CHECK(zygote_payload_of(text).empty());
  }

  // The input itself as the environment variable's text.
  auto decoded_text = base64_decode(input);
  if (decoded_text) {
    FUZZ_CHECK(base64_encode(*decoded_text) == input);
    auto p = decode(input);
    auto q = decode_record(*decoded_text);
    FUZZ_CHECK(static_cast<bool>(p) == static_cast<bool>(q));
    if (p) {
      FUZZ_CHECK(*p == *q);
      FUZZ_CHECK(encode(*p) == input);
      check_record_round_trip(*decoded_text, *p);
    } else {
      check_error(p.error());
    }
  } else {
    check_error(decoded_text.error());
    auto p = decode(input);
    FUZZ_CHECK(!p);
    check_error(p.error());
  }
  return 0;
}
