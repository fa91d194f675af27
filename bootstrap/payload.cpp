#include "bootstrap/payload.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

#include "mesh/error.hpp"

namespace mesh::bootstrap {

bool operator==(const payload& x, const payload& y) {
  return x.child_role == y.child_role && x.name == y.name &&
         x.parent_host == y.parent_host && x.parent_port == y.parent_port &&
         x.token == y.token && x.config == y.config &&
         x.proc_command == y.proc_command && x.insecure == y.insecure &&
         x.mesh_key == y.mesh_key && x.proc_env == y.proc_env;
}

// --- base64 ------------------------------------------------------------------

namespace {

constexpr char base64_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet_of(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

// A byte as quoted in messages: printable ASCII as itself, the rest in hex,
// so that the message stays one readable line.
std::string describe_byte(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f)
    return std::string{"'"} + c + "'";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "byte 0x%02x", u);
  return buf;
}

caf::error not_base64(std::string what) {
  return make_error(ec::bad_payload, "not base64", std::move(what));
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group =
      static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16 |
      static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8 |
      static_cast<uint8_t>(bytes[i + 2]);
    out += base64_alphabet[(group >> 18) & 0x3f];
    out += base64_alphabet[(group >> 12) & 0x3f];
    out += base64_alphabet[(group >> 6) & 0x3f];
    out += base64_alphabet[group & 0x3f];
  }
  auto rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i]))
                     << 16;
    if (rest == 2)
      group |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8;
    out += base64_alphabet[(group >> 18) & 0x3f];
    out += base64_alphabet[(group >> 12) & 0x3f];
    out += rest == 2 ? base64_alphabet[(group >> 6) & 0x3f] : '=';
    out += '=';
  }
  return out;
}

caf::expected<std::string> base64_decode(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] != '=' && sextet_of(text[i]) < 0)
      return not_base64("invalid character " + describe_byte(text[i]) +
                        " at position " + std::to_string(i));
  if (text.size() % 4 != 0)
    return not_base64("length " + std::to_string(text.size()) +
                      " is not a multiple of 4");
  auto first_pad = text.find('=');
  size_t padding = 0;
  if (first_pad != std::string_view::npos) {
    padding = text.size() - first_pad;
    if (padding > 2 ||
        text.find_first_not_of('=', first_pad) != std::string_view::npos)
      return not_base64("padding '=' at position " + std::to_string(first_pad) +
                        " before the end");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      int value = text[i + j] == '=' ? 0 : sextet_of(text[i + j]);
      group = group << 6 | static_cast<uint32_t>(value);
    }
    out += static_cast<char>((group >> 16) & 0xff);
    out += static_cast<char>((group >> 8) & 0xff);
    out += static_cast<char>(group & 0xff);
  }
  if (padding > 0) {
    // The bits a padded group does not use must be zero, or two texts would
    // decode to the same bytes.
    auto last_data = text.size() - padding - 1;
    auto unused_mask = padding == 2 ? 0x0f : 0x03;
    if ((sextet_of(text[last_data]) & unused_mask) != 0)
      return not_base64("non-zero unused bits in the character at position " +
                        std::to_string(last_data));
    out.resize(out.size() - padding);
  }
  return out;
}

// --- binary record -----------------------------------------------------------

namespace {

constexpr std::string_view magic = "MESH";

// Every tag up to and including this one must be present, unless retired.
constexpr uint8_t last_required_tag = config_tag;
constexpr uint8_t last_tag = proc_env_tag;

// Retired tags keep their names, for the message that refuses them.
constexpr const char* field_names[] = {
  "end marker", "role",         "name",        "mesh_id",  "host_mesh_id",
  "rank",       "parent_host",  "parent_port", "token",    "config",
  "bind",       "proc_command", "transport",   "proc_env",
};

static_assert(sizeof(field_names) / sizeof(field_names[0]) == last_tag + 1,
              "field_names must name every tag");

std::string quoted_field(uint8_t tag) {
  return std::string{"field '"} + field_names[tag] + "'";
}

class writer {
public:
  explicit writer(std::string prefix = {}) : out_(std::move(prefix)) {}

  void u8(uint8_t x) { out_ += static_cast<char>(x); }

  void u16(uint16_t x) {
    u8(static_cast<uint8_t>(x >> 8));
    u8(static_cast<uint8_t>(x));
  }

  void u32(uint32_t x) {
    for (int shift = 24; shift >= 0; shift -= 8)
      u8(static_cast<uint8_t>(x >> shift));
  }

  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }

  void opt_str(const std::optional<std::string>& s) {
    u8(s ? 1 : 0);
    if (s)
      str(*s);
  }

  void field(field_tag tag, std::string_view value) {
    u8(tag);
    str(value);
  }

  std::string& out() { return out_; }

private:
  std::string out_;
};

caf::error bad_value(uint8_t tag, std::string what) {
  return make_error(ec::bad_payload, "bad value for " + quoted_field(tag),
                    std::move(what));
}

// Reads [pos, end) of a record. Every read checks the remaining length
// before touching or allocating anything, so a forged length can only ever
// produce a "truncated" error. `what_` names the part being read in errors.
class reader {
public:
  reader(std::string_view bytes, size_t begin, size_t end, std::string what)
    : bytes_(bytes), pos_(begin), end_(end), what_(std::move(what)) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }
  bool at_end() const { return pos_ == end_; }

  caf::error truncated(size_t needed) const {
    return make_error(ec::bad_payload,
                      "truncated while reading " + what_ + " at byte " +
                        std::to_string(pos_),
                      "needs " + std::to_string(needed) + " bytes, " +
                        std::to_string(remaining()) + " remain");
  }

  caf::error take(size_t n, std::string_view& out) {
    if (n > remaining())
      return truncated(n);
    out = bytes_.substr(pos_, n);
    pos_ += n;
    return {};
  }

  template <class T>
  caf::error uint(T& x) {
    std::string_view raw;
    if (auto err = take(sizeof(T), raw))
      return err;
    x = 0;
    for (char c : raw)
      x = static_cast<T>(x << 8 | static_cast<uint8_t>(c));
    return {};
  }

  caf::error str(std::string& x) {
    uint32_t size = 0;
    if (auto err = uint(size))
      return err;
    std::string_view raw;
    if (auto err = take(size, raw))
      return err;
    x.assign(raw);
    return {};
  }

  caf::error opt_str(uint8_t tag, std::optional<std::string>& x) {
    auto at = pos_;
    uint8_t present = 0;
    if (auto err = uint(present))
      return err;
    if (present > 1)
      return bad_value(tag, "presence byte " + std::to_string(present) +
                              " at byte " + std::to_string(at) +
                              " (expected 0 or 1)");
    if (present == 0) {
      x.reset();
      return {};
    }
    x.emplace();
    return str(*x);
  }

  // A structured value must use all of its declared length.
  caf::error finish(uint8_t tag) const {
    if (at_end())
      return {};
    return bad_value(tag, std::to_string(remaining()) +
                            " unused bytes at byte " + std::to_string(pos_));
  }

private:
  std::string_view bytes_;
  size_t pos_;
  size_t end_;
  std::string what_;
};

caf::error require_non_empty(uint8_t tag, const std::string& x) {
  if (x.empty())
    return bad_value(tag, "it is empty");
  return {};
}

// Strings that end up in an argv or environment cannot hold NUL bytes.
caf::error require_exec_safe(uint8_t tag, std::string_view what,
                             const std::string& x) {
  if (x.find('\0') != std::string::npos)
    return bad_value(tag, std::string{what} + " contains a NUL byte");
  return {};
}

std::string encode_command(const bootstrap_command& cmd) {
  writer w;
  w.str(cmd.program);
  w.opt_str(cmd.arg0);
  w.u32(static_cast<uint32_t>(cmd.args.size()));
  for (auto& arg : cmd.args)
    w.str(arg);
  w.u32(static_cast<uint32_t>(cmd.env.size()));
  for (auto& [key, value] : cmd.env) {
    w.str(key);
    w.str(value);
  }
  return std::move(w.out());
}

std::string encode_env(const std::map<std::string, std::string>& env) {
  writer w;
  for (auto& [key, value] : env) {
    w.str(key);
    w.str(value);
  }
  return std::move(w.out());
}

std::string encode_config(const config_snapshot& config) {
  writer w;
  for (auto& [key, value] : config) {
    w.str(key);
    w.str(value);
  }
  return std::move(w.out());
}

caf::error decode_role(std::string_view value, role& x) {
  if (value.size() != 1)
    return bad_value(role_tag,
                     std::to_string(value.size()) + " bytes, expected 1");
  auto code = static_cast<uint8_t>(value[0]);
  if (code != static_cast<uint8_t>(role::host) &&
      code != static_cast<uint8_t>(role::proc) &&
      code != static_cast<uint8_t>(role::zygote))
    return bad_value(role_tag, std::to_string(code) +
                                 " (expected 1 for host, 2 for proc or 3 for "
                                 "zygote)");
  x = static_cast<role>(code);
  return {};
}

template <class T>
caf::error decode_fixed(uint8_t tag, std::string_view value, T& x) {
  if (value.size() != sizeof(T))
    return bad_value(tag, std::to_string(value.size()) + " bytes, expected " +
                            std::to_string(sizeof(T)));
  reader r{value, 0, value.size(), quoted_field(tag)};
  return r.uint(x);
}

caf::error decode_config(reader r, config_snapshot& x) {
  std::set<std::string> keys;
  while (!r.at_end()) {
    auto at = r.pos();
    std::string key, value;
    if (auto err = r.str(key))
      return err;
    if (auto err = r.str(value))
      return err;
    if (key.empty())
      return bad_value(config_tag,
                       "an empty key at byte " + std::to_string(at));
    if (!keys.insert(key).second)
      return bad_value(config_tag, "key '" + key + "' appears twice");
    x.emplace_back(std::move(key), std::move(value));
  }
  return {};
}

/// Reads one (name, value) of an environment that is written in name
/// order: the name must be a variable name, after the entries of `x`.
caf::error read_env_entry(reader& r, uint8_t tag,
                          const std::map<std::string, std::string>& x,
                          std::string& key, std::string& value) {
  if (auto err = r.str(key))
    return err;
  if (auto err = r.str(value))
    return err;
  if (key.empty() || key.find('=') != std::string::npos)
    return bad_value(tag, "invalid environment variable name '" + key + "'");
  // A map is written in key order; anything else would not re-encode
  // identically.
  if (!x.empty() && !(x.rbegin()->first < key))
    return bad_value(tag, "environment variable '" + key
                            + "' is repeated or out of order");
  return {};
}

caf::error decode_command(reader r, bootstrap_command& x) {
  if (auto err = r.str(x.program))
    return err;
  if (auto err = r.opt_str(proc_command_tag, x.arg0))
    return err;
  // Counts are never used to reserve memory: each element read checks the
  // remaining length, so a forged count fails as soon as the data runs out.
  uint32_t count = 0;
  if (auto err = r.uint(count))
    return err;
  for (uint32_t i = 0; i < count; ++i) {
    std::string arg;
    if (auto err = r.str(arg))
      return err;
    x.args.push_back(std::move(arg));
  }
  if (auto err = r.uint(count))
    return err;
  for (uint32_t i = 0; i < count; ++i) {
    std::string key, value;
    if (auto err = read_env_entry(r, proc_command_tag, x.env, key, value))
      return err;
    if (auto err = require_exec_safe(
          proc_command_tag, "environment variable '" + key + "'", value))
      return err;
    x.env.emplace_hint(x.env.end(), std::move(key), std::move(value));
  }
  if (auto err = r.finish(proc_command_tag))
    return err;
  if (x.program.empty())
    return bad_value(proc_command_tag, "the program is empty");
  if (auto err = require_exec_safe(proc_command_tag, "the program", x.program))
    return err;
  if (x.arg0)
    if (auto err = require_exec_safe(proc_command_tag, "arg0", *x.arg0))
      return err;
  for (auto& arg : x.args)
    if (auto err = require_exec_safe(proc_command_tag, "an argument", arg))
      return err;
  for (auto& [key, value] : x.env)
    if (auto err = require_exec_safe(proc_command_tag,
                                     "an environment variable name", key))
      return err;
  return {};
}

// (name, value)* in name order, each fit for an environment.
caf::error decode_env(reader r, std::map<std::string, std::string>& x) {
  while (!r.at_end()) {
    std::string key, value;
    if (auto err = read_env_entry(r, proc_env_tag, x, key, value))
      return err;
    if (auto err = require_exec_safe(
          proc_env_tag, "environment variable '" + key + "'", key + value))
      return err;
    x.emplace_hint(x.end(), std::move(key), std::move(value));
  }
  return {};
}

caf::error decode_transport(std::string_view value, payload& p) {
  if (value.empty())
    return bad_value(transport_tag, "it is empty");
  auto mode = static_cast<uint8_t>(value[0]);
  if (mode == 1) {
    if (value.size() != 1 + mesh_key_size)
      return bad_value(transport_tag,
                       "a mesh key of " + std::to_string(value.size() - 1) +
                         " bytes, expected " + std::to_string(mesh_key_size));
    p.insecure = false;
    p.mesh_key.assign(value.substr(1));
    return {};
  }
  if (mode == 2) {
    if (value.size() != 1)
      return bad_value(transport_tag, "plain TCP with " +
                                        std::to_string(value.size() - 1) +
                                        " more bytes");
    p.insecure = true;
    p.mesh_key.clear();
    return {};
  }
  return bad_value(transport_tag, "mode " + std::to_string(mode) +
                                    ", expected 1 (mesh key) or 2 (plain TCP)");
}

// Decodes the value of one field into `p`.
caf::error decode_field(uint8_t tag, std::string_view bytes, size_t begin,
                        size_t size, payload& p) {
  auto value = bytes.substr(begin, size);
  reader nested{bytes, begin, begin + size, quoted_field(tag)};
  switch (tag) {
  case role_tag:
    return decode_role(value, p.child_role);
  case name_tag:
    p.name.assign(value);
    return require_non_empty(tag, p.name);
  case parent_host_tag:
    p.parent_host.assign(value);
    return require_non_empty(tag, p.parent_host);
  case parent_port_tag:
    if (auto err = decode_fixed(tag, value, p.parent_port))
      return err;
    if (p.parent_port == 0)
      return bad_value(tag, "0 is not a port a child can connect to");
    return {};
  case token_tag:
    p.token.assign(value);
    return require_non_empty(tag, p.token);
  case config_tag:
    return decode_config(std::move(nested), p.config);
  case transport_tag:
    return decode_transport(value, p);
  case proc_env_tag:
    if (auto err = decode_env(std::move(nested), p.proc_env))
      return err;
    if (p.proc_env.empty())
      return bad_value(tag, "it is empty (an empty one is not written)");
    return {};
  default: // proc_command_tag; the caller rejects unknown and retired tags.
    return decode_command(std::move(nested), p.proc_command.emplace());
  }
}

} // namespace

std::string encode_record(const payload& p) {
  writer w{std::string{magic}};
  w.u8(payload_version);
  w.field(role_tag, std::string(1, static_cast<char>(p.child_role)));
  w.field(name_tag, p.name);
  w.field(parent_host_tag, p.parent_host);
  writer port;
  port.u16(p.parent_port);
  w.field(parent_port_tag, port.out());
  w.field(token_tag, p.token);
  w.field(config_tag, encode_config(p.config));
  if (p.proc_command)
    w.field(proc_command_tag, encode_command(*p.proc_command));
  w.field(transport_tag,
          p.insecure ? std::string(1, '\x02')
                     : std::string(1, '\x01') + p.mesh_key);
  if (!p.proc_env.empty())
    w.field(proc_env_tag, encode_env(p.proc_env));
  w.u8(end_marker);
  return std::move(w.out());
}

caf::expected<payload> decode_record(std::string_view bytes) {
  if (bytes.empty())
    return make_error(ec::bad_payload, "the payload is empty");
  if (bytes.size() < magic.size() && magic.substr(0, bytes.size()) == bytes)
    return make_error(ec::bad_payload,
                      "truncated while reading the header at byte " +
                        std::to_string(bytes.size()));
  if (bytes.substr(0, magic.size()) != magic)
    return make_error(ec::bad_payload, "not a libmesh bootstrap payload",
                      "it does not start with '" + std::string{magic} + "'");
  reader header{bytes, magic.size(), bytes.size(), "the version"};
  uint8_t version = 0;
  if (auto err = header.uint(version))
    return err;
  if (version != payload_version)
    return make_error(ec::bad_payload, "payload version " +
                                         std::to_string(version) +
                                         ", this binary reads version " +
                                         std::to_string(payload_version));
  payload result;
  bool seen[last_tag + 1] = {};
  uint8_t previous = end_marker;
  auto pos = header.pos();
  for (;;) {
    auto tag_at = pos;
    reader tag_reader{bytes, tag_at, bytes.size(),
                      "the tag of the next field (no end marker)"};
    uint8_t tag = 0;
    if (auto err = tag_reader.uint(tag))
      return err;
    pos = tag_reader.pos();
    if (tag == end_marker)
      break;
    if (tag > last_tag)
      return make_error(ec::bad_payload, "unknown field tag " +
                                           std::to_string(tag) + " at byte " +
                                           std::to_string(tag_at));
    if (is_retired(tag))
      return make_error(ec::bad_payload, "retired " + quoted_field(tag) +
                                           " (tag " + std::to_string(tag) +
                                           ", retired in version 2) " +
                                           "at byte " + std::to_string(tag_at));
    if (seen[tag])
      return make_error(ec::bad_payload, "duplicated " + quoted_field(tag) +
                                           " at byte " +
                                           std::to_string(tag_at));
    if (tag < previous)
      return make_error(ec::bad_payload, quoted_field(tag) + " at byte " +
                                           std::to_string(tag_at) +
                                           " is out of order (it follows " +
                                           quoted_field(previous) + ")");
    seen[tag] = true;
    previous = tag;
    reader length_reader{bytes, pos, bytes.size(),
                         "the length of " + quoted_field(tag)};
    uint32_t size = 0;
    if (auto err = length_reader.uint(size))
      return err;
    pos = length_reader.pos();
    reader value_reader{bytes, pos, bytes.size(), quoted_field(tag)};
    std::string_view value;
    if (auto err = value_reader.take(size, value))
      return err;
    if (auto err = decode_field(tag, bytes, pos, size, result))
      return err;
    pos = value_reader.pos();
  }
  if (pos != bytes.size())
    return make_error(ec::bad_payload,
                      std::to_string(bytes.size() - pos) +
                        " trailing bytes after the end marker at byte " +
                        std::to_string(pos));
  for (uint8_t tag = role_tag; tag <= last_required_tag; ++tag)
    if (!seen[tag] && !is_retired(tag))
      return make_error(ec::bad_payload, "missing " + quoted_field(tag));
  if (!seen[transport_tag])
    return make_error(ec::bad_payload, "missing " + quoted_field(transport_tag));
  if (result.proc_command && result.child_role != role::host)
    return bad_value(proc_command_tag,
                     "only a host child gets a default proc command");
  if (!result.proc_env.empty() && result.child_role != role::proc)
    return bad_value(proc_env_tag, "only a proc gets a proc environment");
  return result;
}

std::string zygote_payload_of(std::string_view proc) {
  auto p = decode(proc);
  if (!p)
    return {};
  p->child_role = role::zygote;
  p->name = "zygote";
  p->proc_env.clear();
  p->token = make_token();
  return encode(*p);
}

std::string encode(const payload& p) {
  return base64_encode(encode_record(p));
}

caf::expected<payload> decode(std::string_view text) {
  auto bytes = base64_decode(text);
  if (!bytes)
    return std::move(bytes.error());
  return decode_record(*bytes);
}

// --- tokens ------------------------------------------------------------------

namespace {

// Fills `buf` from getrandom, falling back to /dev/urandom on kernels
// without the system call; returns the number of bytes obtained.
size_t kernel_random(unsigned char* buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    auto n = ::getrandom(buf + got, size - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (n == 0 || errno != EINTR)
      break;
  }
  if (got == size)
    return got;
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return got;
  while (got < size) {
    auto n = ::read(fd, buf + got, size - got);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fd);
  return got;
}

} // namespace

std::string make_token() {
  unsigned char raw[16];
  if (kernel_random(raw, sizeof(raw)) != sizeof(raw)) {
    std::fputs("libmesh: the kernel offers no randomness for a bootstrap "
               "token\n",
               stderr);
    std::abort();
  }
  constexpr char hex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * sizeof(raw));
  for (auto byte : raw) {
    token += hex[byte >> 4];
    token += hex[byte & 0x0f];
  }
  return token;
}

} // namespace mesh::bootstrap
