// Line framing of a child's output (bootstrap/line_framer.hpp).
#include "bootstrap/line_framer.hpp"

#include <utility>

namespace mesh::bootstrap {

void line_framer::feed(const char* data, size_t size, const sink& emit) {
  // `pending_` holds no '\n' before this call: search only the new bytes.
  auto nl = pending_.size();
  pending_.append(data, size);
  nl = pending_.find('\n', nl);
  size_t begin = 0;
  for (;;) {
    auto end = nl == std::string::npos ? pending_.size() : nl;
    // Cut the same way whatever the read boundaries: a line of exactly
    // max_line is one piece, a longer one max_line pieces and a rest.
    if (end - begin > max_line_) {
      emit(pending_.substr(begin, max_line_));
      begin += max_line_;
      continue;
    }
    if (nl == std::string::npos)
      break;
    emit(pending_.substr(begin, nl - begin));
    begin = nl + 1;
    nl = pending_.find('\n', begin);
  }
  pending_.erase(0, begin);
}

void line_framer::finish(const sink& emit) {
  if (!pending_.empty())
    emit(std::exchange(pending_, {}));
}

} // namespace mesh::bootstrap
