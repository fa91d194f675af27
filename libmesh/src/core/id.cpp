#include "mesh/id.hpp"

#include <array>
#include <limits>
#include <random>

#include <unistd.h>

namespace mesh {

namespace {

constexpr std::string_view base58_alphabet =
  "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

static_assert(base58_alphabet.size() == 58);

constexpr uint64_t fnv_prime = 0x100000001b3ULL;

bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_label_end(char c) {
  return is_lower(c) || is_digit(c);
}

bool is_label_char(char c) {
  return is_label_end(c) || c == '-' || c == '_';
}

// One character as shown in messages: printable ASCII as is, any other byte
// as \xNN, so that an error about binary input stays one readable line.
std::string show_char(char c) {
  auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f)
    return std::string(1, c);
  constexpr std::string_view hex = "0123456789abcdef";
  return std::string{"\\x"} + hex[byte >> 4] + hex[byte & 0xf];
}

std::string quote(std::string_view s) {
  std::string result = "'";
  for (char c : s)
    result += show_char(c);
  result += '\'';
  return result;
}

// Why `s` is not a label, or nullopt if it is one. Rules are checked from the
// most general to the most specific so the message names the first one a
// reader would look at.
std::optional<std::string> label_problem(std::string_view s) {
  if (s.empty())
    return "is empty";
  if (s.size() > max_label_length)
    return "is " + std::to_string(s.size()) + " characters long, more than " +
           std::to_string(max_label_length);
  if (!is_lower(s.front()))
    return "must start with a lowercase letter [a-z], not '" +
           show_char(s.front()) + "'";
  for (size_t i = 1; i < s.size(); ++i)
    if (!is_label_char(s[i]))
      return "character '" + show_char(s[i]) + "' at position " +
             std::to_string(i) + " is not one of [a-z0-9_-]";
  if (!is_label_end(s.back()))
    return "must end with a lowercase letter or digit [a-z0-9], not '" +
           show_char(s.back()) + "'";
  return std::nullopt;
}

// Why `s` is not a base58 number, or nullopt with `out` set.
std::optional<std::string> base58_problem(std::string_view s, uint64_t& out) {
  if (s.empty())
    return "is empty";
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  uint64_t value = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto digit = base58_alphabet.find(s[i]);
    if (digit == std::string_view::npos)
      return "character '" + show_char(s[i]) + "' at position " +
             std::to_string(i) + " is not a base58 digit";
    if (value > (max - digit) / 58)
      return std::string{"does not fit in 64 bits"};
    value = value * 58 + digit;
  }
  out = value;
  return std::nullopt;
}

// The (label, uid) of `s` if it has the instance form `<label>-<uid>`: the
// part after the last '-' has at least uid_digits base58 digits and the part
// before it is a label.
struct instance_split {
  std::string_view label;
  uint64_t uid = 0;
  // Set when the form fits but for the uid: why the uid is bad.
  std::optional<std::string> uid_problem;
};

std::optional<instance_split> split_instance(std::string_view s) {
  auto dash = s.rfind('-');
  if (dash == std::string_view::npos)
    return std::nullopt;
  auto prefix = s.substr(0, dash);
  auto suffix = s.substr(dash + 1);
  if (suffix.size() < uid_digits || label_problem(prefix))
    return std::nullopt;
  instance_split result;
  result.label = prefix;
  if (auto problem = base58_problem(suffix, result.uid))
    result.uid_problem = "uid " + quote(suffix) + " " + *problem;
  return result;
}

void append_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

} // namespace

caf::error validate_label(std::string_view s) {
  if (auto problem = label_problem(s))
    return make_error(ec::invalid_label, quote(s), *problem);
  return caf::none;
}

std::string strip_label(std::string_view s) {
  std::string result;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (!is_label_char(c))
      continue;
    if (result.empty() && !is_lower(c))
      continue;
    result += c;
  }
  if (result.size() > max_label_length)
    result.resize(max_label_length);
  while (!result.empty() && !is_label_end(result.back()))
    result.pop_back();
  return result.empty() ? std::string{"nil"} : result;
}

std::string base58_encode(uint64_t v) {
  std::string result;
  do {
    result += base58_alphabet[v % 58];
    v /= 58;
  } while (v != 0);
  return {result.rbegin(), result.rend()};
}

caf::expected<uint64_t> base58_decode(std::string_view s) {
  uint64_t value = 0;
  if (auto problem = base58_problem(s, value))
    return make_error(ec::parse_error, "base58 number " + quote(s), *problem);
  return value;
}

std::string encode_uid(uint64_t uid) {
  auto digits = base58_encode(uid);
  if (digits.size() < uid_digits)
    digits.insert(0, uid_digits - digits.size(), base58_alphabet.front());
  return digits;
}

uint64_t fnv1a64(std::string_view bytes, uint64_t seed) {
  auto h = seed;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= fnv_prime;
  }
  return h;
}

uint64_t random_uid() {
  // Per thread, so no lock; keyed by pid, so that a child forked without exec
  // does not hand out the same uids as its parent.
  struct generator {
    pid_t pid = -1;
    std::mt19937_64 engine;
  };
  thread_local generator gen;
  auto pid = ::getpid();
  if (gen.pid != pid) {
    std::random_device device;
    std::array<std::random_device::result_type, 8> seed_data;
    for (auto& x : seed_data)
      x = device();
    std::seed_seq seed(seed_data.begin(), seed_data.end());
    gen.engine.seed(seed);
    gen.pid = pid;
  }
  return gen.engine();
}

namespace detail {

std::string format_id(const id_parts& parts, std::string_view default_label) {
  if (parts.singleton)
    return parts.label;
  std::string result{parts.label.empty() ? default_label : parts.label};
  result += '-';
  result += encode_uid(parts.uid);
  return result;
}

caf::expected<id_parts> parse_id(std::string_view s,
                                 std::string_view default_label,
                                 std::string_view noun) {
  auto split = split_instance(s);
  if (split && !split->uid_problem) {
    id_parts result;
    result.uid = split->uid;
    if (split->label != default_label)
      result.label = std::string{split->label};
    return result;
  }
  auto problem = label_problem(s);
  if (!problem) {
    id_parts result;
    result.singleton = true;
    result.label = std::string{s};
    return result;
  }
  auto what = std::string{noun} + " " + quote(s);
  if (s.empty())
    return make_error(ec::parse_error, what, "is empty");
  // Looks like an instance but for its uid: that is what the caller got wrong.
  if (split)
    return make_error(ec::parse_error, what, "expected <label>-<base58 uid>",
                      *split->uid_problem);
  return make_error(ec::parse_error, what,
                    "expected a label or <label>-<base58 uid>",
                    "as a label it " + *problem);
}

caf::error check_singleton_label(std::string_view label) {
  if (auto err = validate_label(label))
    return err;
  auto split = split_instance(label);
  if (split && !split->uid_problem)
    return make_error(ec::invalid_label, quote(label),
                      "reads as an instance id <label>-<base58 uid>, so it "
                      "cannot name a singleton");
  return caf::none;
}

size_t identity_hash(const id_parts& parts) noexcept {
  if (parts.singleton)
    return std::hash<std::string>{}(parts.label);
  // Distinct from the hash of any label only by chance; that is all a hash
  // table needs.
  return std::hash<uint64_t>{}(parts.uid) ^ 0x9e3779b97f4a7c15ULL;
}

} // namespace detail

resource_id proc_resource_id(const proc_mesh_id& mesh, size_t rank) {
  auto rank_suffix = "-" + std::to_string(rank);
  auto base = mesh.display_label();
  // Cut the mesh's label, not the rank: otherwise long labels would give
  // every rank of a singleton mesh the same name.
  if (base.size() + rank_suffix.size() > max_label_length)
    base.resize(max_label_length - rank_suffix.size());
  auto label = strip_label(base + rank_suffix);
  auto mesh_uid = mesh.uid();
  if (!mesh_uid)
    return resource_id::singleton(std::move(label));
  std::string bytes;
  append_le(bytes, *mesh_uid);
  append_le(bytes, static_cast<uint64_t>(rank));
  return resource_id::from_uid(fnv1a64(bytes), std::move(label));
}

std::string proc_name(const proc_mesh_id& mesh, size_t rank) {
  return proc_resource_id(mesh, rank).to_string();
}

} // namespace mesh
