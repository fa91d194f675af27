#include "mesh/extent.hpp"

#include <cstdio>
#include <limits>
#include <ostream>
#include <stdexcept>

#include "mesh/error.hpp"

namespace mesh {

namespace {

bool is_bare_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// Text of the input as quoted in error messages: control bytes escaped and
// long inputs cut, so an error stays one readable line.
std::string quote_input(std::string_view text) {
  constexpr size_t max_shown = 64;
  std::string result = "'";
  for (size_t i = 0; i < text.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
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

// Reads the tokens of the shape text forms: labels, numbers, punctuation.
// Every failure is an ec::parse_error naming the form, the input and the
// 0-based position of the offending character.
class shape_reader {
public:
  shape_reader(std::string_view kind, std::string_view text)
    : kind_(kind), text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
      ++pos_;
  }

  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

  // True (and consumed) if the next token is `c`.
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // True if the next tokens are a number and '+'; consumes nothing.
  bool offset_ahead() {
    skip_space();
    auto i = pos_;
    while (i < text_.size() && is_digit(text_[i]))
      ++i;
    if (i == pos_)
      return false;
    while (i < text_.size() && is_space(text_[i]))
      ++i;
    return i < text_.size() && text_[i] == '+';
  }

  caf::error expect(char c) {
    if (accept(c))
      return caf::none;
    return unexpected(std::string{"'"} + c + "'");
  }

  caf::error expect_end() {
    if (at_end())
      return caf::none;
    return unexpected("end of input");
  }

  caf::expected<std::string> label() {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '"')
      return quoted_label();
    auto start = pos_;
    while (pos_ < text_.size() && is_bare_label_char(text_[pos_]))
      ++pos_;
    if (pos_ == start)
      return unexpected("a label");
    return std::string{text_.substr(start, pos_ - start)};
  }

  caf::expected<size_t> number() {
    skip_space();
    auto start = pos_;
    size_t value = 0;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      auto digit = static_cast<size_t>(text_[pos_] - '0');
      if (__builtin_mul_overflow(value, size_t{10}, &value) ||
          __builtin_add_overflow(value, digit, &value))
        return fail("number at position " + std::to_string(start) +
                    " exceeds " +
                    std::to_string(std::numeric_limits<size_t>::max()));
      ++pos_;
    }
    if (pos_ == start)
      return unexpected("a number");
    return value;
  }

  caf::error unexpected(const std::string& wanted) const {
    return fail("expected " + wanted + " at position " + std::to_string(pos_) +
                ", found " + found());
  }

  caf::error fail(std::string what) const {
    return make_error(ec::parse_error,
                      std::string{kind_} + " " + quote_input(text_),
                      std::move(what));
  }

private:
  caf::expected<std::string> quoted_label() {
    auto start = pos_++;
    std::string result;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"')
        return result;
      if (c == '\\') {
        if (pos_ < text_.size() &&
            (text_[pos_] == '"' || text_[pos_] == '\\')) {
          result += text_[pos_++];
          continue;
        }
        --pos_;
        return fail("invalid escape at position " + std::to_string(pos_) +
                    " in the label at position " + std::to_string(start) +
                    ": only \\\" and \\\\ may follow a backslash");
      }
      result += c;
    }
    return fail("unterminated quoted label at position " +
                std::to_string(start));
  }

  std::string found() const {
    if (pos_ >= text_.size())
      return "end of input";
    auto c = static_cast<unsigned char>(text_[pos_]);
    if (c < 0x20 || c >= 0x7f) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "byte 0x%02x", c);
      return buf;
    }
    return std::string{"'"} + static_cast<char>(c) + "'";
  }

  std::string_view kind_;
  std::string_view text_;
  size_t pos_ = 0;
};

std::string quote_label_for_error(const std::string& label) {
  return "'" + label + "'";
}

} // namespace

// -- extent -------------------------------------------------------------------

extent::extent(std::initializer_list<std::pair<std::string, size_t>> dims) {
  std::vector<std::string> labels;
  std::vector<size_t> sizes;
  for (auto& [label, size] : dims) {
    labels.push_back(label);
    sizes.push_back(size);
  }
  auto result = make(std::move(labels), std::move(sizes));
  if (!result)
    throw std::invalid_argument(mesh::to_string(result.error()));
  *this = std::move(*result);
}

caf::expected<extent> extent::make(std::vector<std::string> labels,
                                   std::vector<size_t> sizes) {
  if (labels.size() != sizes.size())
    return make_error(ec::dimension_mismatch,
                      std::to_string(labels.size()) + " labels but " +
                        std::to_string(sizes.size()) + " sizes");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty())
      return make_error(ec::invalid_label, "dimension " + std::to_string(i) +
                                             " has an empty label");
    for (size_t j = 0; j < i; ++j)
      if (labels[j] == labels[i])
        return make_error(ec::overlapping_label,
                          "label " + quote_label_for_error(labels[i]) +
                            " names two dimensions");
  }
  // Bounding the non-zero sizes (not just the rank count) keeps every
  // row-major stride representable, also in extents with a size-0 dimension.
  size_t product = 1;
  for (auto size : sizes)
    if (size != 0 && __builtin_mul_overflow(product, size, &product))
      return make_error(ec::invalid_argument,
                        "the product of the sizes exceeds " +
                          std::to_string(std::numeric_limits<size_t>::max()));
  extent result;
  result.labels_ = std::move(labels);
  result.sizes_ = std::move(sizes);
  return result;
}

size_t extent::num_ranks() const {
  size_t product = 1;
  for (auto size : sizes_)
    product *= size;
  return product;
}

std::optional<size_t> extent::size(std::string_view label) const {
  if (auto pos = position(label))
    return sizes_[*pos];
  return std::nullopt;
}

std::optional<size_t> extent::position(std::string_view label) const {
  for (size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] == label)
      return i;
  return std::nullopt;
}

caf::expected<extent> extent::concat(const extent& other) const {
  for (auto& label : other.labels_)
    if (position(label))
      return make_error(ec::overlapping_label,
                        "cannot concatenate " + to_string() + " and " +
                          other.to_string(),
                        "both have label " + quote_label_for_error(label));
  auto labels = labels_;
  labels.insert(labels.end(), other.labels_.begin(), other.labels_.end());
  auto sizes = sizes_;
  sizes.insert(sizes.end(), other.sizes_.begin(), other.sizes_.end());
  return make(std::move(labels), std::move(sizes));
}

caf::expected<point> extent::point_of_rank(size_t rank) const {
  auto total = num_ranks();
  if (rank >= total)
    return make_error(ec::out_of_range, "rank " + std::to_string(rank),
                      "extent " + to_string() + " has " +
                        std::to_string(total) + " ranks");
  return point{*this, rank};
}

caf::expected<size_t> extent::rank_of(const std::vector<size_t>& coords) const {
  if (coords.size() != sizes_.size())
    return make_error(ec::dimension_mismatch,
                      std::to_string(coords.size()) +
                        " coordinates for extent " + to_string() + " of " +
                        std::to_string(sizes_.size()) + " dimensions");
  size_t rank = 0;
  for (size_t i = 0; i < coords.size(); ++i) {
    if (coords[i] >= sizes_[i])
      return make_error(ec::out_of_range,
                        "coordinate " + std::to_string(coords[i]) +
                          " of dimension " + quote_label_for_error(labels_[i]) +
                          " is not below its size " +
                          std::to_string(sizes_[i]));
    rank = rank * sizes_[i] + coords[i];
  }
  return rank;
}

std::vector<point> extent::points() const {
  std::vector<point> result;
  auto total = num_ranks();
  result.reserve(total);
  for (size_t rank = 0; rank < total; ++rank)
    result.push_back(point{*this, rank});
  return result;
}

std::string extent::to_string() const {
  std::string result = "{";
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (i > 0)
      result += ", ";
    result += detail::format_label(labels_[i]);
    result += ": ";
    result += std::to_string(sizes_[i]);
  }
  result += "}";
  return result;
}

caf::expected<extent> extent::parse(std::string_view text) {
  shape_reader in{"extent", text};
  if (auto err = in.expect('{'))
    return err;
  std::vector<std::string> labels;
  std::vector<size_t> sizes;
  if (!in.accept('}')) {
    do {
      auto label = in.label();
      if (!label)
        return label.error();
      if (auto err = in.expect(':'))
        return err;
      auto size = in.number();
      if (!size)
        return size.error();
      labels.push_back(std::move(*label));
      sizes.push_back(*size);
    } while (in.accept(','));
    if (auto err = in.expect('}'))
      return err;
  }
  if (auto err = in.expect_end())
    return err;
  return make(std::move(labels), std::move(sizes));
}

// -- point --------------------------------------------------------------------

point::point(mesh::extent ext, size_t rank)
  : extent_(std::move(ext)), rank_(rank) {
  auto& sizes = extent_.sizes();
  coords_.resize(sizes.size());
  for (size_t i = sizes.size(); i-- > 0;) {
    coords_[i] = rank % sizes[i];
    rank /= sizes[i];
  }
}

std::optional<size_t> point::coord(std::string_view label) const {
  if (auto pos = extent_.position(label))
    return coords_[*pos];
  return std::nullopt;
}

std::string point::to_string() const {
  std::string result;
  auto& labels = extent_.labels();
  auto& sizes = extent_.sizes();
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0)
      result += ',';
    result += detail::format_label(labels[i]);
    result += '=';
    result += std::to_string(coords_[i]);
    result += '/';
    result += std::to_string(sizes[i]);
  }
  return result;
}

caf::expected<point> point::parse(std::string_view text) {
  auto parsed = detail::parse_shape_items("point", text, false);
  if (!parsed)
    return parsed.error();
  std::vector<std::string> labels;
  std::vector<size_t> coords;
  std::vector<size_t> sizes;
  for (auto& item : parsed->items) {
    labels.push_back(std::move(item.label));
    coords.push_back(item.first);
    sizes.push_back(item.second);
  }
  auto ext = mesh::extent::make(std::move(labels), std::move(sizes));
  if (!ext)
    return ext.error();
  auto rank = ext->rank_of(coords);
  if (!rank)
    return rank.error();
  return point{std::move(*ext), *rank};
}

// -- free functions -----------------------------------------------------------

std::string to_string(const extent& x) {
  return x.to_string();
}

std::string to_string(const point& x) {
  return x.to_string();
}

std::ostream& operator<<(std::ostream& out, const extent& x) {
  return out << x.to_string();
}

std::ostream& operator<<(std::ostream& out, const point& x) {
  return out << x.to_string();
}

namespace detail {

std::string format_label(std::string_view label) {
  bool bare = !label.empty();
  for (char c : label)
    bare = bare && is_bare_label_char(c);
  if (bare)
    return std::string{label};
  std::string result = "\"";
  for (char c : label) {
    if (c == '"' || c == '\\')
      result += '\\';
    result += c;
  }
  result += '"';
  return result;
}

caf::expected<shape_items> parse_shape_items(std::string_view kind,
                                             std::string_view text,
                                             bool allow_offset) {
  shape_reader in{kind, text};
  shape_items result;
  // A label may be all digits ("0=1/2"): a leading number is an offset
  // only if '+' follows it.
  if (allow_offset && in.offset_ahead()) {
    auto offset = in.number();
    if (!offset)
      return offset.error();
    result.offset = *offset;
    if (auto err = in.expect('+'))
      return err;
  }
  if (in.at_end())
    return result;
  do {
    shape_item item;
    auto label = in.label();
    if (!label)
      return label.error();
    item.label = std::move(*label);
    if (auto err = in.expect('='))
      return err;
    auto first = in.number();
    if (!first)
      return first.error();
    item.first = *first;
    if (auto err = in.expect('/'))
      return err;
    auto second = in.number();
    if (!second)
      return second.error();
    item.second = *second;
    result.items.push_back(std::move(item));
  } while (in.accept(','));
  if (auto err = in.expect_end())
    return err;
  return result;
}

} // namespace detail

} // namespace mesh
