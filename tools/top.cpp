// `meshctl top`: the terminal around render_top (mesh_view.hpp). The screen
// is the alternate screen with the cursor hidden and the keyboard in
// non-canonical, no-echo mode (Ctrl-C still raises SIGINT); all of it is
// undone when top ends: on q, on SIGINT, SIGTERM or SIGHUP, and on an error
// (the terminal guard's destructor runs while the error unwinds).
#include "inspect.hpp"

#include "admin_client.hpp"
#include "mesh_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace meshctl {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int wake_pipe[2] = {-1, -1};
volatile sig_atomic_t stop_signal = 0;
volatile sig_atomic_t resized = 0;

extern "C" void on_stop(int sig) {
  stop_signal = sig;
  [[maybe_unused]] auto n = ::write(wake_pipe[1], "s", 1);
}

extern "C" void on_winch(int) {
  resized = 1;
  [[maybe_unused]] auto n = ::write(wake_pipe[1], "w", 1);
}

void write_all(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += static_cast<size_t>(n);
  }
}

/// The terminal as top leaves it: entered once, restored exactly once.
class terminal_guard {
public:
  terminal_guard() {
    keys_ = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (keys_) {
      auto raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    }
    // Alternate screen, cursor hidden, screen cleared.
    write_all("\x1b[?1049h\x1b[?25l\x1b[2J\x1b[H");
  }

  ~terminal_guard() { restore(); }

  terminal_guard(const terminal_guard&) = delete;
  terminal_guard& operator=(const terminal_guard&) = delete;

  /// Cursor shown, main screen back, keyboard as it was.
  void restore() {
    if (restored_)
      return;
    restored_ = true;
    write_all(std::string{sgr_reset} + "\x1b[?25h\x1b[?1049l");
    if (keys_)
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }

  /// Whether keys can be read (stdin is a terminal).
  bool keys() const { return keys_; }

private:
  termios saved_{};
  bool keys_ = false;
  bool restored_ = false;
};

void terminal_size(size_t& width, size_t& height) {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0
      && ws.ws_row > 0) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
}

void draw(const std::vector<std::string>& lines, size_t width) {
  std::string out = "\x1b[H";
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    // Erase the rest of a short line; not after a full one, where the
    // cursor waits at the last column and the erase would take its
    // character.
    if (strip_ansi(lines[i]).size() < width)
      out += "\x1b[K";
    if (i + 1 < lines.size())
      out += "\r\n";
  }
  write_all(out);
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// One screen, in plain text and in full: what top prints off a terminal.
std::string plain_snapshot(const mesh::mesh_snapshot& snap,
                           const top_options& opts) {
  top_view view;
  view.color = false;
  view.width = 1000;
  size_t rows = 8 + snap.hosts.size() + actor_meshes(snap).size();
  for (auto& h : snap.hosts)
    rows += h.procs.size();
  view.height = rows;
  view.interval_ms = static_cast<int64_t>(opts.interval_s * 1000);
  auto lines = render_top(snap, view);
  lines.pop_back(); // the keys: nothing to press
  while (!lines.empty() && lines.back().empty())
    lines.pop_back();
  std::string out;
  for (auto& l : lines) {
    // Header and selected rows are padded to the (nominal) width.
    auto end = l.find_last_not_of(' ');
    out += l.substr(0, end == std::string::npos ? 0 : end + 1) + '\n';
  }
  return out;
}

enum class key_action { none, quit, redraw };

/// Applies the keys read from the terminal to the view.
key_action apply_keys(const std::string& keys, top_view& view) {
  auto action = key_action::none;
  // A new order starts from the top row.
  auto sort_by = [&](sort_key key) {
    view.sort = key;
    view.selected = 0;
    action = key_action::redraw;
  };
  for (size_t i = 0; i < keys.size(); ++i) {
    char c = keys[i];
    // Arrow keys: ESC [ A / ESC [ B (or ESC O A / ESC O B).
    if (c == '\x1b' && i + 2 < keys.size()
        && (keys[i + 1] == '[' || keys[i + 1] == 'O')) {
      char arrow = keys[i + 2];
      i += 2;
      if (arrow == 'A')
        c = 'k';
      else if (arrow == 'B')
        c = 'j';
      else
        continue;
    }
    switch (c) {
      case 'q':
      case 'Q':
        return key_action::quit;
      case 'c':
      case 'C':
        sort_by(sort_key::cpu);
        break;
      case 'r':
      case 'R':
        sort_by(sort_key::rss);
        break;
      case 's':
      case 'S':
        sort_by(sort_key::status);
        break;
      case 'k':
        if (view.selected > 0)
          --view.selected;
        action = key_action::redraw;
        break;
      case 'j':
        ++view.selected; // clamped below, with the snapshot at hand
        action = key_action::redraw;
        break;
      default:
        break;
    }
  }
  return action;
}

int live(admin_client& client, mesh::mesh_snapshot snap,
         const top_options& opts, milliseconds deadline) {
  if (::pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    throw command_error{"top: cannot create a pipe"};
  struct sigaction sa{};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
  sa.sa_handler = on_winch;
  ::sigaction(SIGWINCH, &sa, nullptr);

  auto interval = milliseconds{static_cast<int64_t>(opts.interval_s * 1000)};
  top_view view;
  view.interval_ms = interval.count();
  terminal_guard term;
  auto next_refresh = clock::now() + interval;
  for (;;) {
    terminal_size(view.width, view.height);
    size_t procs = 0;
    for (auto& h : snap.hosts)
      procs += h.procs.size();
    view.selected = procs == 0 ? 0 : std::min(view.selected, procs - 1);
    view.now_ms = now_ms();
    draw(render_top(snap, view), view.width);

    // Wait for a key, a signal or the next refresh.
    bool refresh = false;
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(next_refresh
                                                           - clock::now());
      if (left.count() <= 0) {
        refresh = true;
        break;
      }
      pollfd fds[2] = {{wake_pipe[0], POLLIN, 0},
                       {term.keys() ? STDIN_FILENO : -1, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(left.count()));
      if (stop_signal) {
        term.restore();
        return 128 + stop_signal;
      }
      if (n < 0 && errno != EINTR)
        throw command_error{"top: poll failed"};
      char drain[64];
      while (::read(wake_pipe[0], drain, sizeof(drain)) > 0) {
      }
      if (resized) {
        resized = 0;
        break; // redraw at the new size
      }
      if (n > 0 && (fds[1].revents & POLLIN)) {
        char buf[64];
        auto got = ::read(STDIN_FILENO, buf, sizeof(buf));
        if (got <= 0) // the terminal went away
          return 0;
        auto action = apply_keys(std::string(buf, static_cast<size_t>(got)),
                                 view);
        if (action == key_action::quit)
          return 0;
        if (action == key_action::redraw)
          break;
      }
    }
    if (!refresh)
      continue;
    try {
      snap = client.mesh_tree(deadline);
      view.error.clear();
    } catch (const command_error& e) {
      // An owner that is gone ends top; anything else may pass (a busy
      // owner, a host that is slow): shown, and asked again.
      if (!process_alive(client.mesh().owner_pid))
        throw;
      view.error = e.what();
    }
    next_refresh = clock::now() + interval;
  }
}

} // namespace

int top_command(const top_options& opts) {
  try {
    auto interval = milliseconds{static_cast<int64_t>(opts.interval_s * 1000)};
    auto deadline = std::clamp<milliseconds>(interval, milliseconds{500},
                                             milliseconds{2000});
    admin_client client{find_mesh(opts.mesh), milliseconds{3000}};
    auto snap = client.mesh_tree(deadline);
    if (!::isatty(STDOUT_FILENO)) {
      fmt::print("{}", plain_snapshot(snap, opts));
      return 0;
    }
    return live(client, std::move(snap), opts, deadline);
  } catch (const command_error& e) {
    fmt::print(stderr, "meshctl: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "meshctl: top: {}\n", e.what());
    return 1;
  }
}

} // namespace meshctl
