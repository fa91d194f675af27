#include "mesh/id.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

using mesh::ec;

namespace {

constexpr uint64_t max_u64 = std::numeric_limits<uint64_t>::max();

// A uid whose base58 form is "c3coQ7B8ox" (checked below).
constexpr uint64_t sample_uid = 0x0123456789abcdefULL;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The rendered error of `err`, which must be a libmesh error of `code`.
std::string failure(const caf::error& err, ec code) {
  CHECK(err);
  CHECK_MESSAGE(mesh::is(err, code), mesh::to_string(err));
  return mesh::to_string(err);
}

template <class T>
std::string failure(const caf::expected<T>& x, ec code) {
  REQUIRE_FALSE(x);
  return failure(x.error(), code);
}

} // namespace

// --- labels -----------------------------------------------------------------

TEST_CASE("validate_label accepts labels of every allowed shape") {
  for (auto label : {"a", "abc", "a-b_c9", "x0", "host_agent", "env-vars"})
    CHECK_MESSAGE(!mesh::validate_label(label), label);
  CHECK_FALSE(mesh::validate_label(std::string(63, 'a')));
}

TEST_CASE("validate_label rejects the empty label") {
  auto msg = failure(mesh::validate_label(""), ec::invalid_label);
  CHECK(msg == "invalid label: '': is empty");
}

TEST_CASE("validate_label rejects labels longer than 63 characters") {
  auto label = std::string(64, 'a');
  auto msg = failure(mesh::validate_label(label), ec::invalid_label);
  CHECK(contains(msg, "'" + label + "'"));
  CHECK(contains(msg, "is 64 characters long, more than 63"));
}

TEST_CASE("validate_label rejects a first character that is not [a-z]") {
  auto msg = failure(mesh::validate_label("1abc"), ec::invalid_label);
  CHECK(msg ==
        "invalid label: '1abc': must start with a lowercase letter [a-z], "
        "not '1'");
  failure(mesh::validate_label("-abc"), ec::invalid_label);
  failure(mesh::validate_label("_abc"), ec::invalid_label);
  msg = failure(mesh::validate_label("Abc"), ec::invalid_label);
  CHECK(contains(msg, "not 'A'"));
}

TEST_CASE("validate_label rejects a last character that is not [a-z0-9]") {
  auto msg = failure(mesh::validate_label("abc-"), ec::invalid_label);
  CHECK(msg ==
        "invalid label: 'abc-': must end with a lowercase letter or digit "
        "[a-z0-9], not '-'");
  msg = failure(mesh::validate_label("abc_"), ec::invalid_label);
  CHECK(contains(msg, "not '_'"));
}

TEST_CASE("validate_label rejects characters outside [a-z0-9_-]") {
  auto msg = failure(mesh::validate_label("abCd"), ec::invalid_label);
  CHECK(msg ==
        "invalid label: 'abCd': character 'C' at position 2 is not one of "
        "[a-z0-9_-]");
  msg = failure(mesh::validate_label("a.b"), ec::invalid_label);
  CHECK(contains(msg, "character '.' at position 1"));
  msg = failure(mesh::validate_label("a b"), ec::invalid_label);
  CHECK(contains(msg, "character ' ' at position 1"));
}

TEST_CASE("validate_label shows non-ASCII bytes escaped") {
  auto msg = failure(mesh::validate_label("caf\xc3\xa9"), ec::invalid_label);
  CHECK(msg ==
        "invalid label: 'caf\\xc3\\xa9': character '\\xc3' at position 3 "
        "is not one of [a-z0-9_-]");
}

TEST_CASE("strip_label lowercases and drops illegal characters") {
  CHECK(mesh::strip_label("MyWorkers") == "myworkers");
  CHECK(mesh::strip_label("my workers!") == "myworkers");
  CHECK(mesh::strip_label("a.b/c") == "abc");
  CHECK(mesh::strip_label("caf\xc3\xa9-1") == "caf-1");
  CHECK(mesh::strip_label("test-0") == "test-0");
}

TEST_CASE("strip_label trims invalid leading and trailing characters") {
  CHECK(mesh::strip_label("123abc") == "abc");
  CHECK(mesh::strip_label("--_x") == "x");
  CHECK(mesh::strip_label("abc-_") == "abc");
  CHECK(mesh::strip_label("-9a9-") == "a9");
}

TEST_CASE("strip_label truncates to 63 characters and re-trims the end") {
  CHECK(mesh::strip_label(std::string(70, 'a')) == std::string(63, 'a'));
  // The 63rd character is '-': it must go after the cut.
  auto text = std::string(62, 'a') + "-bcd";
  CHECK(mesh::strip_label(text) == std::string(62, 'a'));
}

TEST_CASE("strip_label gives nil when nothing is left") {
  CHECK(mesh::strip_label("") == "nil");
  CHECK(mesh::strip_label("123") == "nil");
  CHECK(mesh::strip_label("-_!?") == "nil");
}

TEST_CASE("strip_label always returns a valid label") {
  for (auto text : {"", "X", "Hello World", "9-lives", "a__", "--", "\xff\xfe",
                    "proc mesh #3", "a-B-c-D-"})
    CHECK_MESSAGE(!mesh::validate_label(mesh::strip_label(text)), text);
  CHECK_FALSE(mesh::validate_label(mesh::strip_label(std::string(200, 'z'))));
}

// --- base58 -----------------------------------------------------------------

TEST_CASE("base58_encode of small values") {
  CHECK(mesh::base58_encode(0) == "1");
  CHECK(mesh::base58_encode(1) == "2");
  CHECK(mesh::base58_encode(57) == "Z");
  CHECK(mesh::base58_encode(58) == "21");
  CHECK(mesh::base58_encode(sample_uid) == "c3coQ7B8ox");
}

TEST_CASE("base58 of the largest uint64 round-trips") {
  CHECK(mesh::base58_encode(max_u64) == "JPwcyDCgEup");
  auto decoded = mesh::base58_decode("JPwcyDCgEup");
  REQUIRE(decoded);
  CHECK(*decoded == max_u64);
}

TEST_CASE("base58_decode inverts base58_encode") {
  std::vector<uint64_t> values{0,    1,      57,         58,         3363,
                               3364, 195111, sample_uid, max_u64 - 1};
  for (uint64_t v = 1; v != 0 && v < max_u64 / 7; v *= 7)
    values.push_back(v);
  for (auto v : values) {
    auto decoded = mesh::base58_decode(mesh::base58_encode(v));
    REQUIRE(decoded);
    CHECK(*decoded == v);
  }
}

TEST_CASE("base58_decode reads leading '1's as zero digits") {
  auto decoded = mesh::base58_decode("111Z");
  REQUIRE(decoded);
  CHECK(*decoded == 57);
  decoded = mesh::base58_decode("11111111");
  REQUIRE(decoded);
  CHECK(*decoded == 0);
}

TEST_CASE("base58_decode rejects characters outside the alphabet") {
  for (char c : {'0', 'O', 'I', 'l', '-', '+'}) {
    auto text = std::string{"ab"} + c;
    auto msg = failure(mesh::base58_decode(text), ec::parse_error);
    CHECK(contains(msg, "'" + text + "'"));
    CHECK(contains(msg, std::string{"character '"} + c +
                          "' at position 2 is not a base58 digit"));
  }
}

TEST_CASE("base58_decode rejects empty text") {
  auto msg = failure(mesh::base58_decode(""), ec::parse_error);
  CHECK(msg == "parse error: base58 number '': is empty");
}

TEST_CASE("base58_decode rejects values above 2^64-1") {
  auto msg = failure(mesh::base58_decode("JPwcyDCgEuq"), ec::parse_error);
  CHECK(contains(msg, "does not fit in 64 bits"));
  failure(mesh::base58_decode("zzzzzzzzzzzz"), ec::parse_error);
  failure(mesh::base58_decode(std::string(40, 'Z')), ec::parse_error);
}

TEST_CASE("encode_uid pads to 8 digits with the zero digit") {
  CHECK(mesh::encode_uid(0) == "11111111");
  CHECK(mesh::encode_uid(57) == "1111111Z");
  CHECK(mesh::encode_uid(sample_uid) == "c3coQ7B8ox");
  auto decoded = mesh::base58_decode(mesh::encode_uid(57));
  REQUIRE(decoded);
  CHECK(*decoded == 57);
}

// --- hashing and uids -------------------------------------------------------

TEST_CASE("fnv1a64 matches the published test vectors") {
  CHECK(mesh::fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(mesh::fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(mesh::fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("fnv1a64 continues from a seed") {
  CHECK(mesh::fnv1a64("bar", mesh::fnv1a64("foo")) == mesh::fnv1a64("foobar"));
  CHECK(mesh::fnv1a64(std::string_view{"\0\0", 2}) !=
        mesh::fnv1a64(std::string_view{"\0", 1}));
}

TEST_CASE("random_uid does not repeat") {
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i)
    seen.insert(mesh::random_uid());
  CHECK(seen.size() == 1000);
}

// --- mesh ids (reference §15.5) ---------------------------------------------

TEST_CASE("resource_id singleton") {
  auto id = mesh::resource_id::singleton("local");
  CHECK(id.is_singleton());
  CHECK_FALSE(id.uid());
  CHECK(id.label() == "local");
  CHECK(id.display_label() == "local");
}

TEST_CASE("resource_id instance") {
  auto id = mesh::resource_id::instance("workers");
  CHECK_FALSE(id.is_singleton());
  CHECK(id.uid());
  CHECK(id.label() == "workers");
  CHECK(id.display_label() == "workers");
}

TEST_CASE("resource_id unlabeled instance") {
  auto id = mesh::resource_id::from_uid(sample_uid);
  CHECK_FALSE(id.is_singleton());
  CHECK(id.uid() == sample_uid);
  CHECK_FALSE(id.label());
  CHECK(id.display_label() == "resource");
  CHECK(id.to_string() == "resource-c3coQ7B8ox");
}

TEST_CASE("a default-constructed id is the unlabeled instance with uid 0") {
  mesh::proc_mesh_id id;
  CHECK(id == mesh::proc_mesh_id::from_uid(0));
  CHECK(id.to_string() == "proc-11111111");
}

TEST_CASE("instance ids are equal by uid only") {
  auto x = mesh::resource_id::from_uid(7, "alpha");
  auto y = mesh::resource_id::from_uid(7, "beta");
  auto z = mesh::resource_id::from_uid(7);
  CHECK(x == y);
  CHECK(x == z);
  CHECK_FALSE(x != y);
}

TEST_CASE("instance ids with different uids differ") {
  auto x = mesh::resource_id::from_uid(7, "same");
  auto y = mesh::resource_id::from_uid(8, "same");
  CHECK(x != y);
  CHECK_FALSE(x == y);
  // A singleton never equals an instance, whatever the labels.
  CHECK(mesh::resource_id::singleton("same") != x);
}

TEST_CASE("instance ids hash by uid only") {
  auto x = mesh::resource_id::from_uid(7, "alpha");
  auto y = mesh::resource_id::from_uid(7, "beta");
  std::hash<mesh::resource_id> hash;
  CHECK(hash(x) == hash(y));
  std::unordered_set<mesh::resource_id> set{x};
  CHECK(set.count(y) == 1);
  CHECK(set.count(mesh::resource_id::from_uid(8, "alpha")) == 0);
  CHECK(set.count(mesh::resource_id::singleton("alpha")) == 0);
}

TEST_CASE("ids order singletons first, then by label or by uid only") {
  auto s_a = mesh::resource_id::singleton("a");
  auto s_b = mesh::resource_id::singleton("b");
  auto i_1 = mesh::resource_id::from_uid(1, "zzz");
  auto i_2 = mesh::resource_id::from_uid(2, "aaa");
  CHECK(s_a < s_b);
  CHECK(s_b < i_1);
  CHECK(i_1 < i_2);
  CHECK_FALSE(i_2 < i_1);
  CHECK_FALSE(i_1 < s_a);
  auto i_1_other = mesh::resource_id::from_uid(1, "aaa");
  CHECK_FALSE(i_1 < i_1_other);
  CHECK_FALSE(i_1_other < i_1);
}

TEST_CASE("display forms of singleton, labelled and unlabeled ids") {
  CHECK(mesh::resource_id::singleton("local").to_string() == "local");
  CHECK(mesh::resource_id::from_uid(sample_uid, "workers").to_string() ==
        "workers-c3coQ7B8ox");
  CHECK(mesh::resource_id::from_uid(sample_uid).to_string() ==
        "resource-c3coQ7B8ox");
  auto id = mesh::resource_id::from_uid(sample_uid, "workers");
  CHECK(to_string(id) == id.to_string());
}

TEST_CASE("typed mesh ids display their type's default label") {
  CHECK(mesh::host_mesh_id::from_uid(sample_uid).to_string() ==
        "host-c3coQ7B8ox");
  CHECK(mesh::proc_mesh_id::from_uid(sample_uid).to_string() ==
        "proc-c3coQ7B8ox");
  CHECK(mesh::actor_mesh_id::from_uid(sample_uid).to_string() ==
        "actor-c3coQ7B8ox");
  CHECK(mesh::proc_mesh_id::instance().display_label() == "proc");
}

TEST_CASE("instance() strips its label and treats empty as unlabeled") {
  auto id = mesh::proc_mesh_id::instance("My Workers!");
  CHECK(id.label() == "myworkers");
  CHECK_FALSE(mesh::proc_mesh_id::instance("").label());
  CHECK(mesh::proc_mesh_id::from_uid(3, "9 Lives").label() == "lives");
  CHECK_FALSE(mesh::proc_mesh_id::from_uid(3, "").label());
}

TEST_CASE("make_singleton validates its label") {
  auto id = mesh::host_mesh_id::make_singleton("env-vars");
  REQUIRE(id);
  CHECK(id->is_singleton());
  CHECK(id->to_string() == "env-vars");
  auto msg =
    failure(mesh::host_mesh_id::make_singleton("Bad"), ec::invalid_label);
  CHECK(contains(msg, "'Bad'"));
  CHECK(contains(msg, "must start with a lowercase letter"));
}

TEST_CASE("make_singleton rejects labels that read as instance ids") {
  auto msg = failure(mesh::resource_id::make_singleton("svc-abcdefgh"),
                     ec::invalid_label);
  CHECK(contains(msg, "'svc-abcdefgh'"));
  CHECK(contains(msg, "reads as an instance id"));
  // A suffix that is not base58 (it has a '0') is an ordinary label.
  CHECK(mesh::resource_id::make_singleton("svc-00000000"));
}

TEST_CASE("parse reads a singleton") {
  auto id = mesh::resource_id::parse("local");
  REQUIRE(id);
  CHECK(*id == mesh::resource_id::singleton("local"));
  CHECK(id->is_singleton());
}

TEST_CASE("parse reads a base58-looking word as a singleton") {
  // "service" is all base58 digits, but there is no '-' to split at.
  auto id = mesh::resource_id::parse("service");
  REQUIRE(id);
  CHECK(id->is_singleton());
  CHECK(id->label() == "service");
}

TEST_CASE("parse reads a short suffix as part of a singleton label") {
  auto id = mesh::resource_id::parse("env-vars");
  REQUIRE(id);
  CHECK(id->is_singleton());
  CHECK(id->label() == "env-vars");
}

TEST_CASE("parse reads a labelled instance") {
  auto id = mesh::resource_id::parse("workers-c3coQ7B8ox");
  REQUIRE(id);
  CHECK_FALSE(id->is_singleton());
  CHECK(id->uid() == sample_uid);
  CHECK(id->label() == "workers");
}

TEST_CASE("parse reads the default label as an unlabeled instance") {
  auto id = mesh::resource_id::parse("resource-c3coQ7B8ox");
  REQUIRE(id);
  CHECK(id->uid() == sample_uid);
  CHECK_FALSE(id->label());
}

TEST_CASE("parse rejects the debug form <b58>") {
  auto msg = failure(mesh::resource_id::parse("<c3coQ7B8ox>"), ec::parse_error);
  CHECK(msg ==
        "parse error: resource id '<c3coQ7B8ox>': expected a label or "
        "<label>-<base58 uid>: as a label it must start with a lowercase "
        "letter [a-z], not '<'");
}

TEST_CASE("parse reads a label with hyphens before the uid") {
  auto id = mesh::resource_id::parse("my-service-c3coQ7B8ox");
  REQUIRE(id);
  CHECK(id->uid() == sample_uid);
  CHECK(id->label() == "my-service");
}

TEST_CASE("typed parse omits only its own default label") {
  auto host = mesh::host_mesh_id::parse("host-c3coQ7B8ox");
  REQUIRE(host);
  CHECK_FALSE(host->label());
  CHECK(host->uid() == sample_uid);
  auto actor = mesh::actor_mesh_id::parse("actor-c3coQ7B8ox");
  REQUIRE(actor);
  CHECK_FALSE(actor->label());
}

TEST_CASE("typed parse preserves a non-default label") {
  auto id = mesh::host_mesh_id::parse("proc-c3coQ7B8ox");
  REQUIRE(id);
  CHECK(id->label() == "proc");
  CHECK(id->uid() == sample_uid);
  auto res = mesh::resource_id::parse("host-c3coQ7B8ox");
  REQUIRE(res);
  CHECK(res->label() == "host");
}

TEST_CASE("to_string and parse round-trip ids and their labels") {
  std::vector<mesh::proc_mesh_id> ids{
    mesh::proc_mesh_id::singleton("local"),
    mesh::proc_mesh_id::singleton("env-vars"),
    mesh::proc_mesh_id::instance("workers"),
    mesh::proc_mesh_id::instance("my-service"),
    mesh::proc_mesh_id::instance(),
    mesh::proc_mesh_id::from_uid(0, "tiny"),
    mesh::proc_mesh_id::from_uid(57),
    mesh::proc_mesh_id::from_uid(max_u64, "big"),
  };
  for (auto& id : ids) {
    auto parsed = mesh::proc_mesh_id::parse(id.to_string());
    REQUIRE_MESSAGE(parsed, id.to_string());
    CHECK(*parsed == id);
    CHECK(parsed->is_singleton() == id.is_singleton());
    CHECK(parsed->label() == id.label());
    CHECK(parsed->to_string() == id.to_string());
  }
}

TEST_CASE("ids with uids shorter than 8 digits still parse as instances") {
  auto id = mesh::resource_id::from_uid(1, "svc");
  CHECK(id.to_string() == "svc-11111112");
  auto parsed = mesh::resource_id::parse("svc-11111112");
  REQUIRE(parsed);
  CHECK_FALSE(parsed->is_singleton());
  CHECK(parsed->uid() == 1);
}

TEST_CASE("retag converts a mesh id to a resource id with uid and label") {
  auto mesh_id = mesh::proc_mesh_id::from_uid(sample_uid, "workers");
  auto res = mesh_id.retag<mesh::resource_tag>();
  CHECK(res.uid() == sample_uid);
  CHECK(res.label() == "workers");
  auto unlabeled = mesh::host_mesh_id::from_uid(sample_uid);
  CHECK(unlabeled.retag<mesh::resource_tag>().to_string() ==
        "resource-c3coQ7B8ox");
  auto single = mesh::host_mesh_id::singleton("local");
  CHECK(single.retag<mesh::resource_tag>() ==
        mesh::resource_id::singleton("local"));
}

TEST_CASE("instance ids differ") {
  auto x = mesh::host_mesh_id::instance("local");
  auto y = mesh::host_mesh_id::instance("local");
  CHECK(x != y);
  CHECK(x.to_string() != y.to_string());
}

TEST_CASE("singleton ids match") {
  CHECK(mesh::host_mesh_id::singleton("local") ==
        mesh::host_mesh_id::singleton("local"));
  CHECK(std::hash<mesh::host_mesh_id>{}(mesh::host_mesh_id::singleton("x")) ==
        std::hash<mesh::host_mesh_id>{}(mesh::host_mesh_id::singleton("x")));
  CHECK(mesh::host_mesh_id::singleton("a") !=
        mesh::host_mesh_id::singleton("b"));
}

TEST_CASE("parse rejects malformed ids with a reason") {
  struct bad_case {
    std::string input;
    std::string reason;
  };
  std::vector<bad_case> cases{
    {"", "is empty"},
    {"-", "must start with a lowercase letter"},
    {"a-", "must end with a lowercase letter or digit"},
    {"Local", "must start with a lowercase letter [a-z], not 'L'"},
    {"loCal", "character 'C' at position 2"},
    {std::string(64, 'a'), "is 64 characters long, more than 63"},
    {"x-0OIl0000", "uid '0OIl0000' character '0' at position 0 is not a "
                   "base58 digit"},
    {"x-ZZZZZZZZZZZZZZZZZ", "uid 'ZZZZZZZZZZZZZZZZZ' does not fit in 64 bits"},
    {"caf\xc3\xa9", "character '\\xc3' at position 3"},
    {"\xff", "not '\\xff'"},
    {"1abc", "not '1'"},
    {"-c3coQ7B8ox", "must start with a lowercase letter"},
    {"a b", "character ' ' at position 1"},
    {"host:1", "character ':' at position 4"},
    {"a--", "must end with a lowercase letter or digit"},
    {"_x-c3coQ7B8ox", "not '_'"},
  };
  for (auto& c : cases) {
    auto parsed = mesh::proc_mesh_id::parse(c.input);
    REQUIRE_FALSE_MESSAGE(parsed, c.input);
    auto msg = failure(parsed, ec::parse_error);
    CHECK_MESSAGE(contains(msg, "proc mesh id '"), msg);
    CHECK_MESSAGE(contains(msg, c.reason), msg);
  }
}

TEST_CASE("parse reports a bad uid when the rest reads as an instance") {
  auto msg = failure(mesh::host_mesh_id::parse("x-0OIl0000"), ec::parse_error);
  CHECK(msg ==
        "parse error: host mesh id 'x-0OIl0000': expected <label>-<base58 "
        "uid>: uid '0OIl0000' character '0' at position 0 is not a base58 "
        "digit");
}

// --- proc names -------------------------------------------------------------

TEST_CASE("proc_name of a singleton mesh is label-rank") {
  auto mesh_id = mesh::proc_mesh_id::singleton("test");
  CHECK(mesh::proc_name(mesh_id, 0) == "test-0");
  CHECK(mesh::proc_name(mesh_id, 12) == "test-12");
  CHECK(mesh::proc_resource_id(mesh_id, 0).is_singleton());
}

TEST_CASE("proc_name of an instance mesh is pinned") {
  // Any change of hash, byte order or encoding breaks these strings, and with
  // them the agreement between clients and hosts of different builds.
  auto mesh_id = mesh::proc_mesh_id::from_uid(sample_uid, "test");
  CHECK(mesh::proc_name(mesh_id, 0) == "test-0-8gs72b6wrnP");
  CHECK(mesh::proc_name(mesh_id, 1) == "test-1-35UJmLQMu71");
  CHECK(mesh::proc_name(mesh_id, 7) == "test-7-AxmbABXzf3N");
  CHECK(mesh::proc_resource_id(mesh_id, 0).uid() == 3130387262114969845ULL);
}

TEST_CASE("proc_name of an unlabeled mesh uses the proc default label") {
  auto mesh_id = mesh::proc_mesh_id::from_uid(42);
  CHECK(mesh::proc_name(mesh_id, 0) == "proc-0-xQ41kyr3r8n");
}

TEST_CASE("proc_name is deterministic") {
  auto mesh_id = mesh::proc_mesh_id::instance("workers");
  auto copy = mesh::proc_mesh_id::parse(mesh_id.to_string());
  REQUIRE(copy);
  for (size_t rank = 0; rank < 16; ++rank) {
    CHECK(mesh::proc_name(mesh_id, rank) == mesh::proc_name(mesh_id, rank));
    CHECK(mesh::proc_name(mesh_id, rank) == mesh::proc_name(*copy, rank));
  }
}

TEST_CASE("proc_name gives distinct names to distinct ranks and meshes") {
  auto a = mesh::proc_mesh_id::instance("workers");
  auto b = mesh::proc_mesh_id::instance("workers");
  std::set<std::string> names;
  for (size_t rank = 0; rank < 500; ++rank) {
    names.insert(mesh::proc_name(a, rank));
    names.insert(mesh::proc_name(b, rank));
  }
  CHECK(names.size() == 1000);
}

TEST_CASE("proc_name round-trips through resource_id::parse") {
  auto mesh_id = mesh::proc_mesh_id::instance("workers");
  for (size_t rank = 0; rank < 64; ++rank) {
    auto name = mesh::proc_name(mesh_id, rank);
    auto parsed = mesh::resource_id::parse(name);
    REQUIRE_MESSAGE(parsed, name);
    CHECK(*parsed == mesh::proc_resource_id(mesh_id, rank));
    CHECK(parsed->label() == "workers-" + std::to_string(rank));
    CHECK(parsed->to_string() == name);
  }
  auto single = mesh::resource_id::parse(
    mesh::proc_name(mesh::proc_mesh_id::singleton("test"), 3));
  REQUIRE(single);
  CHECK(*single == mesh::resource_id::singleton("test-3"));
}

TEST_CASE("proc_name pads a short hash so it still parses as an instance") {
  // fnv1a64(uid 11507874, rank 0) = 57702473736, only 7 base58 digits.
  auto mesh_id = mesh::proc_mesh_id::from_uid(11507874, "w");
  auto name = mesh::proc_name(mesh_id, 0);
  CHECK(name == "w-0-12vUYg7Q");
  auto parsed = mesh::resource_id::parse(name);
  REQUIRE(parsed);
  CHECK_FALSE(parsed->is_singleton());
  CHECK(parsed->uid() == 57702473736ULL);
  CHECK(parsed->label() == "w-0");
}

TEST_CASE("proc_name keeps the rank of a mesh with a 63-character label") {
  auto long_label = std::string(63, 'a');
  auto single = mesh::proc_mesh_id::singleton(long_label);
  auto first = mesh::proc_name(single, 0);
  auto second = mesh::proc_name(single, 1);
  CHECK(first != second);
  CHECK(first == std::string(61, 'a') + "-0");
  CHECK_FALSE(mesh::validate_label(first));
  auto inst = mesh::proc_mesh_id::from_uid(5, long_label);
  CHECK(mesh::proc_resource_id(inst, 123).label() ==
        std::string(59, 'a') + "-123");
}
