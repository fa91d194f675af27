// Fuzzes the id text forms (mesh/id.hpp): the input is parsed as each of the
// four mesh id types, as a base58 number and as a label. Properties:
//   * parse(to_string(x)) == x with the same label, and to_string is a
//     canonical form; a parsed singleton is its own text and could have been
//     made with make_singleton;
//   * base58: decode(s) == v implies encode(v) is s without leading zero
//     digits, and encode_uid(v) decodes to v;
//   * labels: a valid label strips to itself, and anything strips to a
//     valid label;
//   * proc names parse back to proc_resource_id (ID-2);
//   * failures are ec::parse_error / ec::invalid_label, never exceptions.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/check.hpp"
#include "mesh/error.hpp"
#include "mesh/id.hpp"

namespace {

template <class Tag>
void check_id(std::string_view text) {
  using id = mesh::basic_mesh_id<Tag>;
  auto x = id::parse(text);
  if (!x) {
    FUZZ_CHECK(mesh::is(x.error(), mesh::ec::parse_error));
    FUZZ_CHECK(!id::make_singleton(text));
    return;
  }
  auto s = x->to_string();
  auto again = id::parse(s);
  FUZZ_CHECK(again && *again == *x && again->label() == x->label());
  FUZZ_CHECK(again->is_singleton() == x->is_singleton());
  FUZZ_CHECK(again->to_string() == s);
  FUZZ_CHECK(again->hash() == x->hash());
  FUZZ_CHECK(!(*x < *again) && !(*again < *x));
  if (x->is_singleton()) {
    FUZZ_CHECK(s == text);
    FUZZ_CHECK(!x->uid());
    auto made = id::make_singleton(text);
    FUZZ_CHECK(made && *made == *x);
  } else {
    FUZZ_CHECK(x->uid());
    FUZZ_CHECK(!id::make_singleton(text));
    if (auto label = x->label()) {
      FUZZ_CHECK(!mesh::validate_label(*label));
      FUZZ_CHECK(*label != Tag::default_label);
    }
    auto same = id::from_uid(*x->uid(), x->label());
    FUZZ_CHECK(same == *x && same.to_string() == s);
  }
  // The same identity under another tag.
  auto other = x->template retag<mesh::resource_tag>();
  auto other_again = mesh::resource_id::parse(other.to_string());
  FUZZ_CHECK(other_again && *other_again == other);
}

void check_base58(std::string_view text) {
  auto v = mesh::base58_decode(text);
  if (!v) {
    FUZZ_CHECK(mesh::is(v.error(), mesh::ec::parse_error));
    return;
  }
  auto digits = text.find_first_not_of('1');
  auto canonical =
    digits == std::string_view::npos ? std::string_view{"1"} : text.substr(digits);
  FUZZ_CHECK(mesh::base58_encode(*v) == canonical);
  auto uid = mesh::encode_uid(*v);
  FUZZ_CHECK(uid.size() >= mesh::uid_digits);
  auto back = mesh::base58_decode(uid);
  FUZZ_CHECK(back && *back == *v);
}

void check_label(std::string_view text) {
  auto stripped = mesh::strip_label(text);
  FUZZ_CHECK(!mesh::validate_label(stripped));
  auto err = mesh::validate_label(text);
  if (!err)
    FUZZ_CHECK(stripped == text);
  else
    FUZZ_CHECK(mesh::is(err, mesh::ec::invalid_label));
}

void check_proc_names(std::string_view text) {
  auto mesh_id = mesh::proc_mesh_id::parse(text);
  if (!mesh_id)
    return;
  auto h = mesh::fnv1a64(text);
  for (size_t rank : {size_t{0}, size_t{h % 10000000}, size_t{h}}) {
    auto id = mesh::proc_resource_id(*mesh_id, rank);
    FUZZ_CHECK(id.is_singleton() == mesh_id->is_singleton());
    FUZZ_CHECK(!mesh::validate_label(id.display_label()));
    auto name = mesh::proc_name(*mesh_id, rank);
    FUZZ_CHECK(name == id.to_string());
    // A singleton mesh's names read back while the rank has < 8 digits.
    if (mesh_id->is_singleton() && rank >= 10000000)
      continue;
    auto back = mesh::resource_id::parse(name);
    FUZZ_CHECK(back && *back == id && back->label() == id.label());
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  check_id<mesh::host_mesh_tag>(text);
  check_id<mesh::proc_mesh_tag>(text);
  check_id<mesh::actor_mesh_tag>(text);
  check_id<mesh::resource_tag>(text);
  check_base58(text);
  check_label(text);
  check_proc_names(text);
  return 0;
}
