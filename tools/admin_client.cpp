#include "admin_client.hpp"

#include <mesh/error.hpp>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

namespace meshctl {

namespace {

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z')
    s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

/// Why a TCP connection to host:port fails, as strerror says it ("connection
/// refused"); httplib only says that it failed. Empty if it connects now.
std::string connect_failure(const std::string& host, int port,
                            std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return lower_first(::gai_strerror(rc));
  std::string why = "cannot connect";
  for (auto* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK,
                      ai->ai_protocol);
    if (fd < 0) {
      why = lower_first(std::strerror(errno));
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        socklen_t len = sizeof(err);
        if (n == 0)
          err = ETIMEDOUT;
        else if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
          err = errno;
      }
    }
    ::close(fd);
    if (err == 0) {
      why.clear();
      break;
    }
    why = lower_first(std::strerror(err));
  }
  ::freeaddrinfo(res);
  return why;
}

std::string one_line(std::string text, size_t max = 200) {
  for (auto& c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  if (text.size() > max)
    text = text.substr(0, max) + "...";
  return text;
}

std::string seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0)
    return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

} // namespace

std::string describe(const mesh::running_mesh& m) {
  return fmt::format("mesh {} (owner pid {})", m.id, m.owner_pid);
}

mesh::running_mesh find_mesh(const std::string& id) {
  auto found = mesh::find_running_mesh(id);
  if (!found)
    throw command_error{mesh::to_string(found.error())};
  return *found;
}

bool process_alive(int64_t pid) {
  if (pid <= 0)
    return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool split_address(const std::string& address, std::string& host, int& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return false;
  host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto digits = address.substr(colon + 1);
  if (digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  port = std::stoi(digits);
  return !host.empty() && port > 0 && port < 65536;
}

log_page parse_log_page(const std::string& json) {
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded())
    throw command_error{"the answer is not JSON"};
  if (!doc.is_object())
    throw command_error{"the answer is not a JSON object"};
  // `where` is "" for the answer itself, "lines[i]" for a line.
  auto name = [](const std::string& where, const char* key) {
    return where.empty() ? fmt::format("\"{}\"", key)
                         : fmt::format("{}.{}", where, key);
  };
  auto field = [](const nlohmann::json& obj, const char* key,
                  const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end())
      throw command_error{fmt::format(
        "{} has no \"{}\"", where.empty() ? "the answer" : where, key)};
    return it;
  };
  auto count = [&](const nlohmann::json& obj, const char* key,
                   const std::string& where) {
    auto it = field(obj, key, where);
    if (!it->is_number_unsigned())
      throw command_error{fmt::format("{} is not a non-negative integer",
                                      name(where, key))};
    return it->get<uint64_t>();
  };
  auto text = [&](const nlohmann::json& obj, const char* key,
                  const std::string& where) {
    auto it = field(obj, key, where);
    if (!it->is_string())
      throw command_error{
        fmt::format("{} is not a string", name(where, key))};
    return it->get<std::string>();
  };
  log_page page;
  page.next = count(doc, "next", "");
  auto lines = doc.find("lines");
  if (lines == doc.end())
    throw command_error{"the answer has no \"lines\""};
  if (!lines->is_array())
    throw command_error{"\"lines\" is not an array"};
  for (size_t i = 0; i < lines->size(); ++i) {
    auto& item = (*lines)[i];
    auto where = fmt::format("lines[{}]", i);
    if (!item.is_object())
      throw command_error{fmt::format("{} is not an object", where)};
    log_line l;
    l.seq = count(item, "seq", where);
    l.stream = text(item, "stream", where);
    if (l.stream != "stdout" && l.stream != "stderr")
      throw command_error{fmt::format(
        "{}.stream is \"{}\", not stdout or stderr", where, l.stream)};
    l.line = text(item, "line", where);
    page.lines.push_back(std::move(l));
  }
  return page;
}

admin_client::admin_client(mesh::running_mesh mesh,
                           std::chrono::milliseconds timeout)
  : mesh_(std::move(mesh)), timeout_(timeout) {
  if (mesh_.admin_address.empty())
    throw command_error{fmt::format(
      "{} has no admin endpoint (its admin_address is empty)",
      describe(mesh_))};
  if (!split_address(mesh_.admin_address, host_, port_))
    throw command_error{fmt::format("{}: bad admin address '{}' in {}",
                                    describe(mesh_), mesh_.admin_address,
                                    mesh_.path)};
}

std::string admin_client::get(const std::string& path,
                              std::chrono::milliseconds extra_wait) const {
  httplib::Client cli{host_, port_};
  cli.set_connection_timeout(timeout_);
  cli.set_read_timeout(timeout_ + extra_wait);
  cli.set_write_timeout(timeout_);
  httplib::Headers headers{{"Authorization", "Bearer " + mesh_.token}};
  auto res = cli.Get(path, headers);
  if (!res) {
    if (!process_alive(mesh_.owner_pid))
      throw command_error{fmt::format("{} is gone: its owner exited",
                                      describe(mesh_))};
    std::string why;
    switch (res.error()) {
      case httplib::Error::Connection:
        why = connect_failure(host_, port_, timeout_);
        if (why.empty())
          why = "cannot connect";
        break;
      case httplib::Error::ConnectionTimeout:
        why = "no connection within " + seconds(timeout_);
        break;
      case httplib::Error::Read:
        why = "no answer within " + seconds(timeout_ + extra_wait);
        break;
      default:
        why = lower_first(httplib::to_string(res.error()));
    }
    throw command_error{fmt::format("{} does not answer at {}: {}",
                                    describe(mesh_), mesh_.admin_address,
                                    why)};
  }
  if (res->status != 200)
    throw command_error{fmt::format("{} at {}: GET {}: HTTP {}{}",
                                    describe(mesh_), mesh_.admin_address, path,
                                    res->status,
                                    res->body.empty()
                                      ? ""
                                      : ": " + one_line(res->body))};
  return res->body;
}

mesh::mesh_snapshot
admin_client::mesh_tree(std::chrono::milliseconds deadline) const {
  auto body = get(fmt::format("/v1/mesh?deadline_ms={}", deadline.count()),
                  deadline);
  auto snap = mesh::mesh_snapshot_from_json(body);
  if (!snap)
    throw command_error{fmt::format("{}: GET /v1/mesh: {}", describe(mesh_),
                                    mesh::to_string(snap.error()))};
  return std::move(*snap);
}

namespace {

std::string query_proc_mesh(const std::string& proc_mesh, char sep) {
  if (proc_mesh.empty())
    return {};
  return std::string(1, sep) + "proc_mesh="
         + httplib::detail::encode_query_param(proc_mesh);
}

} // namespace

mesh::proc_snapshot admin_client::proc(uint64_t rank,
                                       const std::string& proc_mesh) const {
  auto path = fmt::format("/v1/procs/{}{}", rank,
                          query_proc_mesh(proc_mesh, '?'));
  auto p = mesh::proc_snapshot_from_json(get(path));
  if (!p)
    throw command_error{fmt::format("{}: GET {}: {}", describe(mesh_), path,
                                    mesh::to_string(p.error()))};
  return std::move(*p);
}

log_page admin_client::logs(uint64_t rank, const std::string& proc_mesh,
                            uint64_t after,
                            std::chrono::milliseconds wait) const {
  auto path = fmt::format("/v1/procs/{}/logs?after={}&wait_ms={}{}", rank,
                          after, wait.count(), query_proc_mesh(proc_mesh, '&'));
  auto body = get(path, wait);
  try {
    return parse_log_page(body);
  } catch (const command_error& e) {
    throw command_error{
      fmt::format("{}: GET {}: {}", describe(mesh_), path, e.what())};
  }
}

} // namespace meshctl
