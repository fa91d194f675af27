#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bootstrap/payload.hpp"
#include "mesh/error.hpp"

using namespace mesh::bootstrap;

namespace {

payload proc_payload() {
  payload p;
  p.child_role = role::proc;
  p.name = "trainers-3";
  p.parent_host = "127.0.0.1";
  p.parent_port = 4100;
  p.token = "0123456789abcdef0123456789abcdef";
  p.config = {{"proc_spawn_max_idle", "30s"}, {"tail_log_lines", "100"}};
  p.mesh_key = std::string(mesh::bootstrap::mesh_key_size, '\x5a');
  return p;
}

payload host_payload() {
  payload p = proc_payload();
  p.child_role = role::host;
  p.name = "host-1";
  mesh::bootstrap_command cmd;
  cmd.program = "/usr/bin/worker";
  cmd.arg0 = "worker";
  cmd.args = {"--verbose", "a b", ""};
  cmd.env = {{"A", "1"}, {"EMPTY", ""}, {"PATH", "/usr/bin:/bin"}};
  p.proc_command = cmd;
  return p;
}

std::string error_of(const caf::expected<payload>& x) {
  REQUIRE_FALSE(x);
  CHECK(mesh::is(x.error(), mesh::ec::bad_payload));
  return mesh::to_string(x.error());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string be32(uint32_t x) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8)
    out += static_cast<char>((x >> shift) & 0xff);
  return out;
}

// One field as the format writes it: tag, u32 length, value.
std::string field(uint8_t tag, const std::string& value) {
  return static_cast<char>(tag) + be32(static_cast<uint32_t>(value.size())) +
         value;
}

// The layout of one field in a record, found by walking the documented
// format: tag at `begin`, u32 length, value at [value_begin, end).
struct field_span {
  uint8_t tag;
  size_t begin;
  size_t value_begin;
  size_t end;
};

std::vector<field_span> walk(const std::string& record) {
  std::vector<field_span> result;
  size_t pos = 5; // magic + version
  while (static_cast<uint8_t>(record.at(pos)) != end_marker) {
    size_t size = 0;
    for (size_t i = 1; i <= 4; ++i)
      size = size << 8 | static_cast<uint8_t>(record.at(pos + i));
    result.push_back(
      {static_cast<uint8_t>(record[pos]), pos, pos + 5, pos + 5 + size});
    pos += 5 + size;
  }
  return result;
}

field_span span_of(const std::string& record, uint8_t tag) {
  for (auto& f : walk(record))
    if (f.tag == tag)
      return f;
  FAIL("no field with tag " << int{tag});
  return {};
}

std::string without(const std::string& record, uint8_t tag) {
  auto f = span_of(record, tag);
  return record.substr(0, f.begin) + record.substr(f.end);
}

std::string with_value(const std::string& record, uint8_t tag,
                       const std::string& value) {
  auto f = span_of(record, tag);
  return record.substr(0, f.begin) + field(tag, value) + record.substr(f.end);
}

std::string field_bytes(const std::string& record, uint8_t tag) {
  auto f = span_of(record, tag);
  return record.substr(f.begin, f.end - f.begin);
}

std::string decode_record_error(const std::string& record) {
  return error_of(decode_record(record));
}

// Decodes `text` and checks that the outcome is clean: an error of the
// payload category with a message, or a payload whose encoding is `text`
// itself (the format is canonical). Returns true if it was rejected.
bool rejected_cleanly(const std::string& text) {
  caf::expected<payload> result{payload{}};
  CHECK_NOTHROW(result = decode(text));
  if (result) {
    CHECK(encode(*result) == text);
    return false;
  }
  CHECK(mesh::is(result.error(), mesh::ec::bad_payload));
  CHECK(mesh::to_string(result.error()).size() >
        std::string{"bad bootstrap payload: "}.size());
  return true;
}

} // namespace

TEST_SUITE("payload") {

  TEST_CASE("a proc payload with only the required fields round-trips") {
    auto p = proc_payload();
    auto decoded = decode(encode(p));
    REQUIRE(decoded);
    CHECK(*decoded == p);
    CHECK_FALSE(decoded->proc_command);
  }

  TEST_CASE("a host payload with a proc command round-trips") {
    auto p = host_payload();
    auto decoded = decode(encode(p));
    REQUIRE(decoded);
    CHECK(*decoded == p);
    REQUIRE(decoded->proc_command);
    CHECK(decoded->proc_command->args ==
          std::vector<std::string>{"--verbose", "a b", ""});
  }

  TEST_CASE("empty optional values round-trip and differ from absent ones") {
    auto p = host_payload();
    p.config.clear();
    p.proc_command = mesh::bootstrap_command{};
    p.proc_command->program = "w";
    auto decoded = decode(encode(p));
    REQUIRE(decoded);
    CHECK(*decoded == p);
    REQUIRE(decoded->proc_command);
    CHECK_FALSE(decoded->proc_command->arg0);
    CHECK(decoded->proc_command->args.empty());
    CHECK(decoded->proc_command->env.empty());
    // An empty arg0 is present, not absent.
    auto with_arg0 = p;
    with_arg0.proc_command->arg0 = "";
    auto back = decode(encode(with_arg0));
    REQUIRE(back);
    CHECK(*back == with_arg0);
    REQUIRE(back->proc_command->arg0);
    CHECK(back->proc_command->arg0->empty());
    CHECK(encode(with_arg0) != encode(p));
    auto no_command = p;
    no_command.proc_command.reset();
    CHECK(encode(p) != encode(no_command));
  }

  TEST_CASE("config values with '=', newlines and non-ASCII bytes round-trip") {
    auto p = proc_payload();
    p.config = {{"a.b", "x=y=z"},
                {"lines", "one\ntwo\r\n"},
                {"utf8", "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93"},
                {"raw", std::string{"\xff\x00\x01", 3}},
                {"empty", ""}};
    auto decoded = decode(encode(p));
    REQUIRE(decoded);
    CHECK(decoded->config == p.config);
  }

  TEST_CASE("long strings and many config entries round-trip") {
    auto p = host_payload();
    p.name = std::string(100000, 'n');
    p.token = std::string(5000, 't');
    for (int i = 0; i < 1000; ++i)
      p.config.emplace_back("key" + std::to_string(i), std::string(i, 'v'));
    p.proc_command->args.assign(500, std::string(300, 'a'));
    auto decoded = decode(encode(p));
    REQUIRE(decoded);
    CHECK(*decoded == p);
  }

  TEST_CASE("extreme integer values round-trip") {
    auto p = proc_payload();
    for (uint16_t port : {uint16_t{1}, uint16_t{256}, uint16_t{65535}}) {
      p.parent_port = port;
      auto decoded = decode(encode(p));
      REQUIRE(decoded);
      CHECK(decoded->parent_port == port);
    }
  }

  TEST_CASE("encode is deterministic and the record starts with magic and "
            "version") {
    auto p = host_payload();
    CHECK(encode(p) == encode(p));
    auto copy = p;
    CHECK(encode(copy) == encode(p));
    auto record = encode_record(p);
    CHECK(record.substr(0, 4) == "MESH");
    CHECK(static_cast<uint8_t>(record[4]) == payload_version);
    CHECK(static_cast<uint8_t>(record.back()) == end_marker);
    CHECK(encode(p) == base64_encode(record));
    auto decoded = decode(encode(p));
    REQUIRE(decoded);
    CHECK(encode(*decoded) == encode(p));
  }

  TEST_CASE("base64 matches the RFC 4648 test vectors and round-trips bytes") {
    const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
    };
    for (auto& [plain, coded] : vectors) {
      CHECK(base64_encode(plain) == coded);
      auto back = base64_decode(coded);
      REQUIRE(back);
      CHECK(*back == plain);
    }
    std::string all;
    for (int i = 0; i < 256; ++i)
      all += static_cast<char>(i);
    for (size_t n = 0; n <= all.size(); ++n) {
      auto back = base64_decode(base64_encode(all.substr(0, n)));
      REQUIRE(back);
      CHECK(*back == all.substr(0, n));
    }
    CHECK(base64_encode("\xfb\xff") == "+/8=");
  }

  TEST_CASE("base64 rejects a character outside the alphabet, naming it and "
            "its position") {
    auto bad = base64_decode("Zm9v!!!!");
    REQUIRE_FALSE(bad);
    CHECK(mesh::to_string(bad.error()) ==
          "bad bootstrap payload: not base64: invalid character '!' at "
          "position 4");
    auto space = decode("Zm 9");
    CHECK(
      contains(error_of(space), "invalid character byte 0x20 at position 2"));
    auto url_safe = decode("Zm9-");
    CHECK(contains(error_of(url_safe), "invalid character '-' at position 3"));
  }

  TEST_CASE("base64 rejects a length that is not a multiple of four") {
    CHECK(contains(error_of(decode("Zm9vY")),
                   "not base64: length 5 is not a multiple of 4"));
    CHECK(contains(error_of(decode("Zm9")), "length 3 is not a multiple of 4"));
  }

  TEST_CASE("base64 rejects misplaced padding") {
    CHECK(contains(error_of(decode("Zm==Zm9v")),
                   "not base64: padding '=' at position 2 before the end"));
    CHECK(contains(error_of(decode("Zg=v")), "padding '=' at position 2"));
    CHECK(contains(error_of(decode("Z===")), "padding '=' at position 1"));
    CHECK(contains(error_of(decode("====")), "padding '=' at position 0"));
  }

  TEST_CASE("base64 rejects non-zero unused bits in the last character") {
    CHECK(contains(error_of(decode("Zh==")),
                   "not base64: non-zero unused bits in the character at "
                   "position 1"));
    CHECK(contains(error_of(decode("Zm9=")),
                   "non-zero unused bits in the character at position 2"));
  }

  TEST_CASE("an empty value is reported as an empty payload") {
    CHECK(error_of(decode("")) ==
          "bad bootstrap payload: the payload is empty");
  }

  TEST_CASE("a record without the magic is not a libmesh bootstrap payload") {
    CHECK(contains(error_of(decode(base64_encode("{\"Proc\":{}}"))),
                   "bad bootstrap payload: not a libmesh bootstrap payload"));
    auto record = encode_record(proc_payload());
    record[0] = 'm';
    CHECK(
      contains(decode_record_error(record), "not a libmesh bootstrap payload"));
    CHECK(contains(decode_record_error("MES"),
                   "truncated while reading the header at byte 3"));
  }

  TEST_CASE("another version is refused naming both versions") {
    auto record = encode_record(proc_payload());
    record[4] = 7;
    CHECK(decode_record_error(record) ==
          "bad bootstrap payload: payload version 7, this binary reads "
          "version 4");
    // A version 1 record, with the fields version 2 retired, as a v1 host
    // agent wrote it: refused on its version, before any field is read.
    auto name = span_of(record, name_tag);
    auto config = span_of(record, config_tag);
    auto v1 = std::string{"MESH"} + '\x01' + record.substr(5, name.end - 5) +
              field(retired_mesh_id_tag, "trainers") +
              field(retired_host_mesh_id_tag, "hosts-1f2e") +
              field(retired_rank_tag, std::string(7, '\0') + '\x03') +
              record.substr(name.end, config.end - name.end) +
              field(retired_bind_tag, std::string(4, '\0')) +
              record.substr(config.end);
    CHECK(decode_record_error(v1) ==
          "bad bootstrap payload: payload version 1, this binary reads "
          "version 4");
    // A version 2 record (no transport field) is refused the same way.
    auto v2 = without(record, transport_tag);
    v2[4] = 2;
    CHECK(decode_record_error(v2) ==
          "bad bootstrap payload: payload version 2, this binary reads "
          "version 4");
    // So is a version 3 record, though it would read as one of version 4
    // without a proc_env: the version says which binaries speak together.
    auto v3 = record;
    v3[4] = 3;
    CHECK(decode_record_error(v3) ==
          "bad bootstrap payload: payload version 3, this binary reads "
          "version 4");
    CHECK(contains(decode_record_error("MESH"),
                   "truncated while reading the version at byte 4"));
  }

  TEST_CASE("a missing required field is reported by name") {
    auto record = encode_record(proc_payload());
    const std::pair<uint8_t, std::string> required[] = {
      {role_tag, "role"},
      {name_tag, "name"},
      {parent_host_tag, "parent_host"},
      {parent_port_tag, "parent_port"},
      {token_tag, "token"},
      {config_tag, "config"},
      {transport_tag, "transport"},
    };
    for (auto& [tag, name] : required) {
      CAPTURE(name);
      CHECK(decode_record_error(without(record, tag)) ==
            "bad bootstrap payload: missing field '" + name + "'");
    }
  }

  TEST_CASE("an unknown field tag is rejected with its position") {
    auto record = encode_record(proc_payload());
    auto end = record.size() - 1;
    auto forged = record.substr(0, end) + field(42, "x") + record.substr(end);
    CHECK(decode_record_error(forged) ==
          "bad bootstrap payload: unknown field tag 42 at byte " +
            std::to_string(end));
    // The first tag after the last one this version knows.
    forged = record.substr(0, end) +
             field(static_cast<uint8_t>(proc_env_tag + 1), "x") +
             record.substr(end);
    CHECK(decode_record_error(forged) ==
          "bad bootstrap payload: unknown field tag 14 at byte " +
            std::to_string(end));
  }

  TEST_CASE("a retired field tag is refused with its name and position") {
    // Each retired tag where it used to stand (in tag order, with a value of
    // the shape it had) and at the end: refused either way, never skipped.
    auto record = encode_record(proc_payload());
    auto name = span_of(record, name_tag);
    auto config = span_of(record, config_tag);
    auto end = record.size() - 1;
    const struct {
      uint8_t tag;
      std::string name;
      size_t in_place;
      std::string value;
    } retired[] = {
      {retired_mesh_id_tag, "mesh_id", name.end, "trainers"},
      {retired_host_mesh_id_tag, "host_mesh_id", name.end, "hosts-1f2e"},
      {retired_rank_tag, "rank", name.end, std::string(8, '\0')},
      {retired_bind_tag, "bind", config.end, std::string(4, '\0')},
    };
    for (auto& r : retired) {
      CAPTURE(r.name);
      CHECK(is_retired(r.tag));
      for (auto at : {r.in_place, end}) {
        auto forged =
          record.substr(0, at) + field(r.tag, r.value) + record.substr(at);
        CHECK(decode_record_error(forged) ==
              "bad bootstrap payload: retired field '" + r.name + "' (tag " +
                std::to_string(r.tag) + ", retired in version 2) at byte " +
                std::to_string(at));
      }
    }
    // This version never writes one.
    for (auto& f : walk(encode_record(host_payload())))
      CHECK_FALSE(is_retired(f.tag));
  }

  TEST_CASE("a duplicated field is rejected") {
    auto record = encode_record(proc_payload());
    auto name = span_of(record, name_tag);
    auto forged = record.substr(0, name.end) + field_bytes(record, name_tag) +
                  record.substr(name.end);
    CHECK(decode_record_error(forged) ==
          "bad bootstrap payload: duplicated field 'name' at byte " +
            std::to_string(name.end));
  }

  TEST_CASE("fields out of tag order are rejected") {
    // parent_host moved in front of name: name then follows a higher tag.
    auto record = encode_record(proc_payload());
    auto name = span_of(record, name_tag);
    auto host = span_of(record, parent_host_tag);
    auto host_size = host.end - host.begin;
    auto forged = record.substr(0, name.begin) +
                  field_bytes(record, parent_host_tag) +
                  record.substr(name.begin, host.begin - name.begin) +
                  record.substr(host.end);
    CHECK(decode_record_error(forged) ==
          "bad bootstrap payload: field 'name' at byte " +
            std::to_string(name.begin + host_size) +
            " is out of order (it follows field 'parent_host')");
  }

  TEST_CASE("a truncated record names the field and byte where it ends") {
    auto record = encode_record(proc_payload());
    auto config = span_of(record, config_tag);
    auto cut = config.value_begin + 3;
    CHECK(contains(decode_record_error(record.substr(0, cut)),
                   "truncated while reading field 'config' at byte " +
                     std::to_string(config.value_begin)));
    CHECK(contains(decode_record_error(record.substr(0, config.begin + 2)),
                   "truncated while reading the length of field 'config' at "
                   "byte " +
                     std::to_string(config.begin + 1)));
    CHECK(contains(decode_record_error(record.substr(0, record.size() - 1)),
                   "truncated while reading the tag of the next field (no end "
                   "marker) at byte " +
                     std::to_string(record.size() - 1)));
  }

  TEST_CASE("a length larger than the input is truncation, not an "
            "allocation") {
    auto record = encode_record(proc_payload());
    auto name = span_of(record, name_tag);
    auto forged = record.substr(0, name.begin + 1) + be32(0xffffffff) +
                  record.substr(name.value_begin);
    auto message = decode_record_error(forged);
    CHECK(contains(message, "truncated while reading field 'name' at byte " +
                              std::to_string(name.value_begin)));
    CHECK(contains(message, "needs 4294967295 bytes"));
    // The same inside a structured field: a string length in the config.
    auto config = span_of(record, config_tag);
    auto inner = with_value(record, config_tag, be32(0xfffffff0) + "key");
    CHECK(contains(decode_record_error(inner),
                   "truncated while reading field 'config' at byte " +
                     std::to_string(config.value_begin + 4)));
  }

  TEST_CASE("bytes after the end marker are rejected") {
    auto record = encode_record(proc_payload());
    CHECK(decode_record_error(record + "xyz") ==
          "bad bootstrap payload: 3 trailing bytes after the end marker at "
          "byte " +
            std::to_string(record.size()));
  }

  TEST_CASE("a zygote's payload is its proc's with role, name and token of "
            "its own") {
    auto proc = proc_payload();
    auto z = decode(zygote_payload_of(encode(proc)));
    REQUIRE(z);
    CHECK(z->child_role == role::zygote);
    CHECK(z->name == "zygote");
    CHECK(z->token != proc.token);
    CHECK(z->token.size() == 32);
    CHECK(z->parent_host == proc.parent_host);
    CHECK(z->parent_port == proc.parent_port);
    CHECK(z->config == proc.config);
    // A zygote is no rank: its proc's place stays out.
    proc.proc_env = {{"RANK", "3"}};
    z = decode(zygote_payload_of(encode(proc)));
    REQUIRE(z);
    CHECK(z->proc_env.empty());
    // Nothing to derive from a payload that does not decode.
    CHECK(zygote_payload_of("").empty());
    CHECK(zygote_payload_of("not%base64").empty());
    CHECK(zygote_payload_of(encode(proc).substr(0, 20)).empty());
  }

  TEST_CASE("role must be 1 (host), 2 (proc) or 3 (zygote)") {
    auto record = encode_record(proc_payload());
    CHECK(decode_record_error(with_value(record, role_tag, "\x04")) ==
          "bad bootstrap payload: bad value for field 'role': 4 (expected 1 "
          "for host, 2 for proc or 3 for zygote)");
    CHECK(decode_record_error(
            with_value(record, role_tag, std::string(1, '\0'))) ==
          "bad bootstrap payload: bad value for field 'role': 0 (expected 1 "
          "for host, 2 for proc or 3 for zygote)");
    auto zygote = decode_record(with_value(record, role_tag, "\x03"));
    REQUIRE(zygote);
    CHECK(zygote->child_role == role::zygote);
    CHECK(contains(decode_record_error(with_value(record, role_tag, "")),
                   "bad value for field 'role': 0 bytes, expected 1"));
  }

  TEST_CASE("parent_port must have its exact size") {
    auto record = encode_record(proc_payload());
    CHECK(contains(decode_record_error(with_value(
                     record, parent_port_tag, std::string{"\x01\x00\x00", 3})),
                   "bad value for field 'parent_port': 3 bytes, expected 2"));
    CHECK(
      contains(decode_record_error(with_value(record, parent_port_tag, "\x01")),
               "bad value for field 'parent_port': 1 bytes, expected 2"));
    CHECK(contains(decode_record_error(with_value(record, parent_port_tag, "")),
                   "bad value for field 'parent_port': 0 bytes, expected 2"));
  }

  TEST_CASE("the transport is a mesh key of exactly 32 bytes or plain TCP") {
    auto p = proc_payload();
    p.insecure = true;
    p.mesh_key.clear();
    auto plain = decode(encode(p));
    REQUIRE(plain);
    CHECK(plain->insecure);
    CHECK(plain->mesh_key.empty());
    CHECK(*plain == p);
    auto record = encode_record(proc_payload());
    CHECK(contains(
      decode_record_error(with_value(record, transport_tag, "\x01" +
                                       std::string(31, 'k'))),
      "bad value for field 'transport': a mesh key of 31 bytes, expected 32"));
    CHECK(contains(decode_record_error(with_value(record, transport_tag, "\x01")),
                   "a mesh key of 0 bytes, expected 32"));
    CHECK(contains(decode_record_error(with_value(record, transport_tag,
                                                  "\x02k")),
                   "plain TCP with 1 more bytes"));
    CHECK(contains(decode_record_error(with_value(record, transport_tag,
                                                  std::string(1, '\0'))),
                   "mode 0, expected 1 (mesh key) or 2 (plain TCP)"));
    CHECK(contains(decode_record_error(with_value(record, transport_tag, "")),
                   "bad value for field 'transport': it is empty"));
  }

  TEST_CASE("parent_port 0 is rejected") {
    auto p = proc_payload();
    p.parent_port = 0;
    CHECK(contains(error_of(decode(encode(p))),
                   "bad value for field 'parent_port': 0 is not a port"));
  }

  TEST_CASE("name, parent_host and token must not be empty") {
    auto record = encode_record(proc_payload());
    for (auto [tag, name] : {std::pair<uint8_t, const char*>{name_tag, "name"},
                             {parent_host_tag, "parent_host"},
                             {token_tag, "token"}}) {
      CAPTURE(name);
      CHECK(decode_record_error(with_value(record, tag, "")) ==
            std::string{"bad bootstrap payload: bad value for field '"} + name +
              "': it is empty");
    }
  }

  TEST_CASE("config keys must be non-empty and unique") {
    auto p = proc_payload();
    p.config = {{"a", "1"}, {"a", "2"}};
    CHECK(contains(error_of(decode(encode(p))),
                   "bad value for field 'config': key 'a' appears twice"));
    p.config = {{"", "1"}};
    CHECK(contains(error_of(decode(encode(p))),
                   "bad value for field 'config': an empty key at byte"));
  }

  TEST_CASE("a presence byte other than 0 or 1 is rejected") {
    // The proc command's arg0 is optional: its presence byte follows the
    // program (u32 length and bytes).
    auto p = host_payload();
    auto record = encode_record(p);
    auto command = span_of(record, proc_command_tag);
    auto at = command.value_begin + 4 + p.proc_command->program.size();
    REQUIRE(record[at] == 1);
    record[at] = 2;
    CHECK(decode_record_error(record) ==
          "bad bootstrap payload: bad value for field 'proc_command': "
          "presence byte 2 at byte " +
            std::to_string(at) + " (expected 0 or 1)");
  }

  TEST_CASE("a structured field with unused bytes is rejected") {
    auto record = encode_record(host_payload());
    auto command = span_of(record, proc_command_tag);
    auto value =
      record.substr(command.value_begin, command.end - command.value_begin) +
      "zz";
    CHECK(decode_record_error(with_value(record, proc_command_tag, value)) ==
          "bad bootstrap payload: bad value for field 'proc_command': 2 "
          "unused bytes at byte " +
            std::to_string(command.end));
  }

  TEST_CASE("a proc payload must not carry a proc command") {
    auto p = host_payload();
    p.child_role = role::proc;
    CHECK(contains(error_of(decode(encode(p))),
                   "bad value for field 'proc_command': only a host child"));
  }

  TEST_CASE("a proc's environment round-trips and only a proc has one") {
    auto p = proc_payload();
    p.proc_env = {{"MESH_POINT", "hosts=0/1,gpus=3/4"},
                  {"RANK", "3"},
                  {"WORLD_SIZE", "4"},
                  {"EMPTY", ""}};
    auto back = decode(encode(p));
    REQUIRE_MESSAGE(back, mesh::to_string(back.error()));
    CHECK(*back == p);
    CHECK(span_of(encode_record(p), proc_env_tag).tag == proc_env_tag);
    // Absent when empty.
    for (auto& f : walk(encode_record(proc_payload())))
      CHECK(f.tag != proc_env_tag);
    auto h = host_payload();
    h.proc_env = {{"RANK", "0"}};
    CHECK(contains(error_of(decode(encode(h))),
                   "bad value for field 'proc_env': only a proc gets"));
    p.proc_env = {{"A=B", "x"}};
    CHECK(contains(error_of(decode(encode(p))),
                   "invalid environment variable name 'A=B'"));
    p.proc_env = {{"V", std::string{"\0", 1}}};
    CHECK(contains(error_of(decode(encode(p))),
                   "environment variable 'V' contains a NUL byte"));
    // Present but empty is not how an encoder writes nothing.
    auto record = encode_record(proc_payload());
    auto end = record.size() - 1;
    CHECK(contains(
      decode_record_error(record.substr(0, end) + field(proc_env_tag, "") +
                          record.substr(end)),
      "bad value for field 'proc_env': it is empty"));
  }

  TEST_CASE("a proc command must be executable: program, NUL bytes, "
            "environment names") {
    auto p = host_payload();
    p.proc_command->program.clear();
    CHECK(contains(error_of(decode(encode(p))),
                   "bad value for field 'proc_command': the program is empty"));
    p = host_payload();
    p.proc_command->args.push_back(std::string{"a\0b", 3});
    CHECK(
      contains(error_of(decode(encode(p))), "an argument contains a NUL byte"));
    p = host_payload();
    p.proc_command->env["A=B"] = "x";
    CHECK(contains(error_of(decode(encode(p))),
                   "invalid environment variable name 'A=B'"));
    p = host_payload();
    p.proc_command->env["V"] = std::string{"\0", 1};
    CHECK(contains(error_of(decode(encode(p))),
                   "environment variable 'V' contains a NUL byte"));
  }

  TEST_CASE("proc command environment out of name order is rejected") {
    auto p = host_payload();
    p.proc_command->env = {{"A", "1"}, {"B", "2"}};
    auto record = encode_record(p);
    auto f = span_of(record, proc_command_tag);
    auto value = record.substr(f.value_begin, f.end - f.value_begin);
    auto b = value.rfind(std::string{"\0\0\0\x01"
                                     "B",
                                     5});
    auto a = value.rfind(std::string{"\0\0\0\x01"
                                     "A",
                                     5});
    REQUIRE(a < b);
    // Each entry is name (5 bytes) + value (5 bytes): swap the two entries.
    auto swapped = value.substr(0, a) + value.substr(b, 10) +
                   value.substr(a, 10) + value.substr(b + 10);
    CHECK(contains(
      decode_record_error(with_value(record, proc_command_tag, swapped)),
      "environment variable 'A' is repeated or out of order"));
  }

  TEST_CASE("every truncation of a valid record is rejected cleanly") {
    auto record = encode_record(host_payload());
    size_t rejected = 0;
    for (size_t n = 0; n < record.size(); ++n)
      rejected += rejected_cleanly(base64_encode(record.substr(0, n))) ? 1 : 0;
    CHECK(rejected == record.size());
    CHECK(record.size() > 200);
  }

  TEST_CASE("every corruption of a tag or length byte is rejected or "
            "re-encodes identically") {
    auto record = encode_record(host_payload());
    std::vector<size_t> positions{0, 1, 2, 3, 4, record.size() - 1};
    for (auto& f : walk(record))
      for (size_t i = f.begin; i < f.value_begin; ++i)
        positions.push_back(i);
    size_t tried = 0, rejected = 0;
    for (auto pos : positions) {
      auto original = static_cast<uint8_t>(record[pos]);
      std::set<uint8_t> values{0, 1, 0x7f, 0x80, 0xff};
      values.insert(static_cast<uint8_t>(original + 1));
      values.insert(static_cast<uint8_t>(original - 1));
      for (auto v : values) {
        if (v == original)
          continue;
        auto forged = record;
        forged[pos] = static_cast<char>(v);
        ++tried;
        rejected += rejected_cleanly(base64_encode(forged)) ? 1 : 0;
      }
    }
    CHECK(tried >= 200);
    // Changing the structure of the record can never give a valid payload.
    CHECK(rejected == tried);
  }

  TEST_CASE("single bit flips anywhere are rejected or re-encode identically") {
    auto record = encode_record(host_payload());
    size_t tried = 0, rejected = 0;
    for (size_t pos = 0; pos < record.size(); ++pos) {
      for (int bit = 0; bit < 8; ++bit) {
        auto forged = record;
        forged[pos] = static_cast<char>(forged[pos] ^ (1 << bit));
        ++tried;
        rejected += rejected_cleanly(base64_encode(forged)) ? 1 : 0;
      }
    }
    CHECK(tried == record.size() * 8);
    // Flips inside string values yield other valid payloads; the structure
    // bytes alone guarantee many rejections.
    CHECK(rejected > 200);
  }

  TEST_CASE("random bytes from a fixed-seed generator are rejected cleanly") {
    std::mt19937_64 rng{20240611};
    std::uniform_int_distribution<int> byte{0, 255};
    std::uniform_int_distribution<size_t> length{0, 300};
    size_t rejected = 0;
    const size_t rounds = 500;
    for (size_t i = 0; i < rounds; ++i) {
      std::string bytes;
      // Half of the inputs get a valid header so that the field parser, not
      // the magic check, sees the noise.
      if (i % 2 == 0)
        bytes = std::string{"MESH"} + static_cast<char>(payload_version);
      auto n = length(rng);
      for (size_t j = 0; j < n; ++j)
        bytes += static_cast<char>(byte(rng));
      rejected += rejected_cleanly(base64_encode(bytes)) ? 1 : 0;
    }
    CHECK(rejected == rounds);
  }

  TEST_CASE("random base64 garbage and arbitrary text are rejected cleanly") {
    std::mt19937_64 rng{77};
    const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    std::uniform_int_distribution<size_t> pick{0, chars.size() - 1};
    std::uniform_int_distribution<size_t> length{0, 400};
    std::uniform_int_distribution<int> byte{0, 255};
    size_t rejected = 0;
    const size_t rounds = 300;
    for (size_t i = 0; i < rounds; ++i) {
      std::string text;
      auto n = length(rng);
      for (size_t j = 0; j < n; ++j)
        text += i % 3 == 2 ? static_cast<char>(byte(rng)) : chars[pick(rng)];
      rejected += rejected_cleanly(text) ? 1 : 0;
    }
    CHECK(rejected == rounds);
  }

  TEST_CASE("make_token gives 32 lowercase hex characters, never the same") {
    std::set<std::string> tokens;
    for (int i = 0; i < 100; ++i) {
      auto token = make_token();
      CHECK(token.size() == 32);
      CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
      tokens.insert(token);
    }
    CHECK(tokens.size() == 100);
  }

} // TEST_SUITE
