// Text of mesh file messages: how user text is shown in a diagnostic.
//
// Contract: whatever bytes a file holds, a quoted piece of it is one line of
// printable ASCII of bounded length (quotes and backslashes escaped, anything
// else as \xNN, long text cut with "..."), so garbage input yields readable
// messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::mesh_file_text {

/// `text` in single quotes, escaped and cut as above.
std::string quote(std::string_view text);

/// The same escaping without the quotes (for yaml-cpp's own messages).
std::string sanitize(std::string_view text);

/// `items` separated by `sep`.
std::string join(const std::vector<std::string>& items, std::string_view sep);

/// The candidate closest to `key` if it is close enough to be a likely
/// typo (edit distance below 3 and below the candidate's length).
std::optional<std::string> closest(std::string_view key,
                                   const std::vector<std::string>& candidates);

} // namespace mesh::mesh_file_text
