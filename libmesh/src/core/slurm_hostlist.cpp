#include "libmesh/src/core/slurm_hostlist.hpp"

#include "mesh/error.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>

namespace mesh::slurm {

namespace {

// One LO-HI of a group; `width` is how many characters LO was written with.
struct range {
  uint64_t lo = 0;
  uint64_t hi = 0;
  size_t width = 0;
};

// A bracket group: its ranges, how many numbers they hold, and the widest
// number it prints (so that a name's length is known before expanding).
struct group {
  size_t at = 0; // position of its '['
  std::vector<range> ranges;
  size_t count = 0;
  size_t widest = 0;
};

// An element of the list: texts[0] group[0] texts[1] ... texts[n].
struct element {
  size_t at = 0;
  std::vector<std::string_view> texts;
  std::vector<group> groups;
};

size_t digits_of(uint64_t n) {
  size_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

std::string padded(uint64_t n, size_t width) {
  auto digits = std::to_string(n);
  if (digits.size() < width)
    digits.insert(0, width - digits.size(), '0');
  return digits;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// What may appear in a name: printable ASCII but the list's punctuation.
bool is_name_char(char c) {
  return c > 0x20 && c < 0x7f && c != ',' && c != '[' && c != ']';
}

std::string quote_input(std::string_view text) {
  constexpr size_t max_shown = 64;
  std::string result = "'";
  for (size_t i = 0; i < text.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      result += buf;
    } else {
      result += static_cast<char>(c);
    }
  }
  if (text.size() > max_shown)
    result += "...";
  result += "'";
  return result;
}

// Reads the list into elements, checking the grammar and the bounds; every
// failure names the input and a 0-based position.
class hostlist_reader {
public:
  explicit hostlist_reader(std::string_view text) : text_(text) {}

  caf::expected<std::vector<element>> read() {
    if (text_.empty())
      return fail("is empty");
    std::vector<element> result;
    size_t names = 0;
    for (;;) {
      auto elem = read_element();
      if (!elem)
        return std::move(elem.error());
      size_t count = 1;
      for (auto& g : elem->groups)
        if (__builtin_mul_overflow(count, g.count, &count) ||
            count > max_hostlist_names)
          return too_many(g.at);
      if (count > max_hostlist_names - names)
        return too_many(elem->at);
      names += count;
      result.push_back(std::move(*elem));
      if (pos_ == text_.size())
        return result;
      ++pos_; // the ',' that ended the element
      if (pos_ == text_.size())
        return fail("empty element at position " + std::to_string(pos_) +
                    " (after the last ',')");
    }
  }

private:
  caf::expected<element> read_element() {
    element elem;
    elem.at = pos_;
    auto text_start = pos_;
    size_t length = 0;
    while (pos_ < text_.size() && text_[pos_] != ',') {
      char c = text_[pos_];
      if (c == '[') {
        elem.texts.push_back(text_.substr(text_start, pos_ - text_start));
        length += pos_ - text_start;
        auto g = read_group();
        if (!g)
          return std::move(g.error());
        length += g->widest;
        elem.groups.push_back(std::move(*g));
        text_start = pos_;
      } else if (c == ']') {
        return fail("']' at position " + std::to_string(pos_) +
                    " closes no '['");
      } else if (!is_name_char(c)) {
        return fail("unexpected " + found() + " at position " +
                    std::to_string(pos_) +
                    " (names are printable ASCII without spaces)");
      } else {
        ++pos_;
      }
    }
    elem.texts.push_back(text_.substr(text_start, pos_ - text_start));
    length += pos_ - text_start;
    if (pos_ == elem.at)
      return fail("empty element at position " + std::to_string(pos_));
    if (length > max_hostname_length)
      return fail("the element at position " + std::to_string(elem.at) +
                  " makes names longer than " +
                  std::to_string(max_hostname_length) + " characters");
    return elem;
  }

  // At a '['; returns past its ']'.
  caf::expected<group> read_group() {
    group g;
    g.at = pos_++;
    for (;;) {
      if (pos_ == text_.size())
        return unclosed(g);
      if (text_[pos_] == ',' || text_[pos_] == ']')
        return fail("empty range at position " + std::to_string(pos_) +
                    " in the group at position " + std::to_string(g.at));
      auto r = read_range(g);
      if (!r)
        return std::move(r.error());
      auto span = r->hi - r->lo; // + 1, without overflowing
      if (span >= max_hostlist_names - g.count)
        return too_many(g.at);
      g.count += static_cast<size_t>(span) + 1;
      g.widest = std::max({g.widest, r->width, digits_of(r->hi)});
      g.ranges.push_back(*r);
      if (pos_ == text_.size())
        return unclosed(g);
      char c = text_[pos_++];
      if (c == ']')
        return g;
      if (c != ',') {
        --pos_;
        return fail("expected ',' or ']' at position " + std::to_string(pos_) +
                    ", found " + found());
      }
    }
  }

  caf::expected<range> read_range(const group& g) {
    range r;
    auto lo_at = pos_;
    auto lo = read_number(g);
    if (!lo)
      return std::move(lo.error());
    r.lo = r.hi = *lo;
    r.width = pos_ - lo_at;
    if (pos_ < text_.size() && text_[pos_] == '-') {
      ++pos_;
      auto hi = read_number(g);
      if (!hi)
        return std::move(hi.error());
      r.hi = *hi;
      if (r.hi < r.lo)
        return fail("range " + std::string{text_.substr(lo_at, pos_ - lo_at)} +
                    " at position " + std::to_string(lo_at) +
                    " runs backwards");
    }
    return r;
  }

  caf::expected<uint64_t> read_number(const group& g) {
    auto start = pos_;
    uint64_t value = 0;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      auto digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (__builtin_mul_overflow(value, uint64_t{10}, &value) ||
          __builtin_add_overflow(value, digit, &value))
        return fail("the number at position " + std::to_string(start) +
                    " exceeds " +
                    std::to_string(std::numeric_limits<uint64_t>::max()));
      ++pos_;
    }
    if (pos_ == start) {
      if (pos_ == text_.size())
        return unclosed(g);
      return fail("expected a digit at position " + std::to_string(pos_) +
                  ", found " + found());
    }
    // Checked here too, so that "n[0000...0001]" cannot pad past the bound.
    if (pos_ - start > max_hostname_length)
      return fail("the number at position " + std::to_string(start) +
                  " is longer than " + std::to_string(max_hostname_length) +
                  " characters");
    return value;
  }

  caf::error unclosed(const group& g) const {
    return fail("the '[' at position " + std::to_string(g.at) +
                " is never closed");
  }

  caf::error too_many(size_t at) const {
    return fail("expands to more than " + std::to_string(max_hostlist_names) +
                " names (at position " + std::to_string(at) + ")");
  }

  std::string found() const {
    if (pos_ >= text_.size())
      return "end of input";
    auto c = static_cast<unsigned char>(text_[pos_]);
    if (c <= 0x20 || c >= 0x7f) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "byte 0x%02x", c);
      return buf;
    }
    return std::string{"'"} + static_cast<char>(c) + "'";
  }

  caf::error fail(std::string what) const {
    return make_error(ec::parse_error, "hostlist " + quote_input(text_),
                      std::move(what));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Appends an element's names: the cartesian product of its groups in
// Slurm's order, an odometer whose fastest wheel is the last group, then
// the first, the second, ... (what `scontrol show hostnames` prints).
void expand(const element& elem, std::vector<std::string>& out) {
  std::vector<std::vector<std::string>> numbers;
  for (auto& g : elem.groups) {
    auto& list = numbers.emplace_back();
    list.reserve(g.count);
    for (auto& r : g.ranges)
      for (auto n = r.lo;; ++n) {
        list.push_back(padded(n, r.width));
        if (n == r.hi)
          break;
      }
  }
  // The wheels, fastest first.
  std::vector<size_t> wheels;
  if (!numbers.empty())
    wheels.push_back(numbers.size() - 1);
  for (size_t i = 0; i + 1 < numbers.size(); ++i)
    wheels.push_back(i);
  std::vector<size_t> index(numbers.size(), 0);
  for (;;) {
    std::string name{elem.texts[0]};
    for (size_t i = 0; i < numbers.size(); ++i) {
      name += numbers[i][index[i]];
      name += elem.texts[i + 1];
    }
    out.push_back(std::move(name));
    size_t turned = 0;
    for (; turned < wheels.size(); ++turned) {
      auto w = wheels[turned];
      if (++index[w] < numbers[w].size())
        break;
      index[w] = 0;
    }
    if (turned == wheels.size())
      return;
  }
}

} // namespace

caf::expected<std::vector<std::string>> expand_hostlist(std::string_view text) {
  auto elements = hostlist_reader{text}.read();
  if (!elements)
    return std::move(elements.error());
  std::vector<std::string> names;
  for (auto& elem : *elements)
    expand(elem, names);
  return names;
}

} // namespace mesh::slurm
