#include "mesh/value_mesh.hpp"

#include <algorithm>

namespace mesh::detail {

namespace {

/// Longest cell shown in full.
constexpr size_t max_cell = 32;

std::string clip(const std::string& text) {
  // A cell is one line of one table row.
  std::string flat = text;
  std::replace(flat.begin(), flat.end(), '\n', ' ');
  if (flat.size() <= max_cell)
    return flat;
  return flat.substr(0, max_cell - 3) + "...";
}

/// Appends `cell` left-aligned in `width` columns (no padding if wider).
void pad(std::string& out, const std::string& cell, size_t width) {
  out += cell;
  if (cell.size() < width)
    out.append(width - cell.size(), ' ');
}

} // namespace

std::string format_table(const mesh::extent& ext,
                         const std::vector<std::string>& cells) {
  if (ext.num_dims() == 0)
    return (cells.empty() ? std::string{} : clip(cells.front())) + "\n";
  auto& labels = ext.labels();
  auto& sizes = ext.sizes();
  size_t cols = sizes.back();
  size_t rows = cols == 0 ? 0 : ext.num_ranks() / cols;
  // Row headers: the coordinates of every dimension but the last.
  std::string corner;
  for (size_t d = 0; d + 1 < labels.size(); ++d)
    corner += (d == 0 ? "" : ",") + detail::format_label(labels[d]);
  corner += (corner.empty() ? "" : "\\") + detail::format_label(labels.back());
  std::vector<std::string> row_names(rows);
  for (size_t r = 0; r < rows; ++r) {
    auto pt = ext.point_of_rank(r * cols);
    for (size_t d = 0; d + 1 < labels.size(); ++d)
      row_names[r] += (d == 0 ? "" : ",") + std::to_string(pt->coords()[d]);
  }
  // Column widths: the header column, then one per coordinate of the last
  // dimension.
  size_t head = corner.size();
  for (auto& name : row_names)
    head = std::max(head, name.size());
  std::vector<std::string> shown(cells.size());
  std::transform(cells.begin(), cells.end(), shown.begin(), clip);
  std::vector<size_t> width(cols);
  for (size_t c = 0; c < cols; ++c) {
    width[c] = std::to_string(c).size();
    for (size_t r = 0; r < rows; ++r)
      width[c] = std::max(width[c], shown[r * cols + c].size());
  }
  std::string out;
  pad(out, corner, head);
  for (size_t c = 0; c < cols; ++c) {
    out += "  ";
    pad(out, std::to_string(c), c + 1 == cols ? 0 : width[c]);
  }
  out += '\n';
  for (size_t r = 0; r < rows; ++r) {
    pad(out, row_names[r], head);
    for (size_t c = 0; c < cols; ++c) {
      out += "  ";
      auto& cell = shown[r * cols + c];
      pad(out, cell, c + 1 == cols ? 0 : width[c]);
    }
    out += '\n';
  }
  return out;
}

} // namespace mesh::detail
