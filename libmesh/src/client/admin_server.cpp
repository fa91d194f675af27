#include "libmesh/src/client/admin_server.hpp"

#include "bootstrap/registry.hpp"
#include "libmesh/src/client/ops.hpp"
#include "libmesh/src/client/proc_mesh_ops.hpp"
#include "libmesh/src/core/admin_metrics.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"
#include "mesh/introspect.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <variant>

namespace mesh::keys {

// Read by the owner of a host mesh when it is up (declared in
// mesh/config_keys.hpp, documented in config/README.md and
// docs/admin-api.md). Process-local: each owner serves its own.
const config_key<std::string> admin_address{
  "admin_address", std::string{"127.0.0.1:0"}, false,
  "the owner's admin endpoint, host:port (port 0: a free one; empty: off)"};

} // namespace mesh::keys

namespace mesh::detail {

namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

/// Longest long poll of the logs endpoint.
constexpr auto max_log_wait = 10s;
/// Longest introspection deadline a request may ask for.
constexpr auto max_deadline = 60s;
/// Default introspection deadline (mesh::introspect's).
constexpr auto default_deadline = 2s;

/// Equal without leaking where they differ (their lengths may leak).
bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

/// A decimal number of at most 18 digits, else nullopt.
std::optional<uint64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 18)
    return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& what) {
  send_json(res, status, json{{"error", what}});
}

/// "host:port" (host may be [v6]) into its parts; the error says why not.
caf::expected<std::pair<std::string, int>> split_address(const std::string& a) {
  auto colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return make_error(ec::invalid_config, "admin_address '" + a + "'",
                      "expected host:port");
  auto host = a.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port = parse_number(std::string_view{a}.substr(colon + 1));
  if (!port || *port > 65535)
    return make_error(ec::invalid_config, "admin_address '" + a + "'",
                      "the port must be 0..65535");
  return std::make_pair(host, static_cast<int>(*port));
}

} // namespace

struct admin_service::impl : std::enable_shared_from_this<impl> {
  std::shared_ptr<mesh_access::host_data> d;
  bootstrap::registration reg;
  /// The token requests must bear (the registry entry's).
  std::string token;
  httplib::Server svr;
  std::thread listener;
  std::atomic<bool> listening_done{false};
  std::atomic<bool> stopping{false};

  // --- the tree, enriched by the owner -------------------------------------

  caf::expected<mesh_snapshot> tree(std::chrono::milliseconds deadline) {
    // Once the mesh is stopping, its actor system may end soon (an owner
    // released on an actor's thread does not wait for this server): no new
    // round starts on it.
    if (stopping.load())
      return make_error(ec::not_running, "host mesh " + d->id.to_string(),
                        "it is shutting down");
    // blocking: an HTTP thread, not an actor's: one introspection round
    auto snap = introspect(mesh_access::make_ref(d), deadline);
    if (!snap)
      return snap;
    if (snap->owner_pid == 0)
      snap->owner_pid = ::getpid();
    if (snap->taken_at_ms == 0)
      snap->taken_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
    auto meshes = d->proc_meshes->live();
    for (auto& h : snap->hosts)
      for (auto& p : h.procs) {
        auto m = std::find_if(meshes.begin(), meshes.end(),
                              [&](auto& x) { return x.id == p.proc_mesh; });
        if (m == meshes.end())
          continue;
        std::lock_guard<std::mutex> guard{m->shared->mtx};
        if (p.rank < m->shared->restarts.size())
          p.restarts = m->shared->restarts[p.rank];
        for (auto& a : p.actors) {
          auto i = m->shared->actor_meshes.find(a.actor_mesh);
          if (i == m->shared->actor_meshes.end())
            continue;
          if (auto sup = i->second.lock())
            a.mesh_messages = sup->sent_to(p.rank);
        }
      }
    return snap;
  }

  /// The proc mesh a /v1/procs request means: `wanted` (an id, or a prefix
  /// of one: a name), else the oldest live one.
  std::variant<indexed_proc_mesh, std::pair<int, std::string>>
  pick(const httplib::Request& req) {
    auto meshes = d->proc_meshes->live();
    if (!req.has_param("proc_mesh")) {
      if (meshes.empty())
        return std::make_pair(404, std::string{"the mesh has no proc mesh"});
      return meshes.front();
    }
    auto wanted = req.get_param_value("proc_mesh");
    std::vector<indexed_proc_mesh> hits;
    for (auto& m : meshes) {
      if (m.id == wanted)
        return m;
      if (!wanted.empty() && m.id.compare(0, wanted.size(), wanted) == 0)
        hits.push_back(m);
    }
    if (hits.empty())
      return std::make_pair(404, "no proc mesh '" + wanted + "'");
    if (hits.size() > 1)
      return std::make_pair(400, "'" + wanted + "' names "
                                   + std::to_string(hits.size())
                                   + " proc meshes");
    return hits.front();
  }

  std::optional<std::chrono::milliseconds>
  deadline_of(const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("deadline_ms"))
      return std::chrono::milliseconds{default_deadline};
    auto ms = parse_number(req.get_param_value("deadline_ms"));
    if (!ms || *ms == 0 || std::chrono::milliseconds{*ms} > max_deadline) {
      send_error(res, 400, "deadline_ms must be 1.."
                             + std::to_string(std::chrono::milliseconds{
                               max_deadline}.count()));
      return std::nullopt;
    }
    return std::chrono::milliseconds{*ms};
  }

  std::optional<uint64_t> rank_of(const httplib::Request& req,
                                  httplib::Response& res) {
    auto rank = parse_number(req.matches[1].str());
    if (!rank)
      send_error(res, 400, "bad rank '" + req.matches[1].str()
                             + "': expected a decimal number");
    return rank;
  }

  // --- endpoints ---------------------------------------------------------------

  void get_mesh(const httplib::Request& req, httplib::Response& res) {
    auto deadline = deadline_of(req, res);
    if (!deadline)
      return;
    auto snap = tree(*deadline);
    if (!snap) {
      send_error(res, 503, mesh::to_string(snap.error()));
      return;
    }
    res.status = 200;
    res.set_content(to_json(*snap), "application/json");
  }

  void get_proc(const httplib::Request& req, httplib::Response& res) {
    auto rank = rank_of(req, res);
    if (!rank)
      return;
    auto deadline = deadline_of(req, res);
    if (!deadline)
      return;
    auto picked = pick(req);
    if (auto* err = std::get_if<std::pair<int, std::string>>(&picked)) {
      send_error(res, err->first, err->second);
      return;
    }
    auto& pm = std::get<indexed_proc_mesh>(picked);
    auto snap = tree(*deadline);
    if (!snap) {
      send_error(res, 503, mesh::to_string(snap.error()));
      return;
    }
    // A restarted rank has its old proc (ended) and its new one in the
    // tree: the rank's current proc is the one not terminated, else the
    // newest.
    const proc_snapshot* found = nullptr;
    for (auto& h : snap->hosts)
      for (auto& p : h.procs)
        if (p.proc_mesh == pm.id && p.rank == *rank
            && (!found || is_terminated(found->status)))
          found = &p;
    if (found) {
      res.status = 200;
      res.set_content(to_json(*found), "application/json");
      return;
    }
    send_error(res, 404, "proc mesh " + pm.id + " has no rank "
                           + std::to_string(*rank)
                           + " that its hosts answered for");
  }

  void get_logs(const httplib::Request& req, httplib::Response& res) {
    auto rank = rank_of(req, res);
    if (!rank)
      return;
    uint64_t after = 0;
    if (req.has_param("after")) {
      auto a = parse_number(req.get_param_value("after"));
      if (!a) {
        send_error(res, 400, "after must be a sequence number");
        return;
      }
      after = *a;
    }
    std::chrono::milliseconds wait{0};
    if (req.has_param("wait_ms")) {
      auto w = parse_number(req.get_param_value("wait_ms"));
      if (!w) {
        send_error(res, 400, "wait_ms must be a number of milliseconds");
        return;
      }
      wait = std::min<std::chrono::milliseconds>(std::chrono::milliseconds{*w},
                                                 max_log_wait);
    }
    auto picked = pick(req);
    if (auto* err = std::get_if<std::pair<int, std::string>>(&picked)) {
      send_error(res, err->first, err->second);
      return;
    }
    auto& pm = std::get<indexed_proc_mesh>(picked);
    std::shared_ptr<log_buffer> buf;
    {
      std::lock_guard<std::mutex> guard{pm.shared->mtx};
      if (*rank < pm.shared->logs.size())
        buf = pm.shared->logs[*rank];
    }
    if (!buf) {
      send_error(res, 404, "proc mesh " + pm.id + " has no rank "
                             + std::to_string(*rank));
      return;
    }
    // The long poll waits in slices, so that a stopping server does not
    // wait for it.
    auto until = std::chrono::steady_clock::now() + wait;
    auto page = buf->after(after);
    while (page.lines.empty() && !stopping.load()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
      if (left <= 0ms)
        break;
      // blocking: an HTTP thread, not an actor's: the long poll
      page = buf->wait_after(after, std::min<std::chrono::milliseconds>(left, 100ms));
    }
    json lines = json::array();
    for (auto& l : page.lines)
      lines.push_back(json{{"seq", l.seq},
                           {"stream", l.is_stderr ? "stderr" : "stdout"},
                           {"line", l.line}});
    send_json(res, 200,
              json{{"proc_mesh", pm.id},
                   {"rank", *rank},
                   {"next", page.next},
                   {"lines", std::move(lines)}});
  }

  void get_metrics(const httplib::Request& req, httplib::Response& res) {
    auto deadline = deadline_of(req, res);
    if (!deadline)
      return;
    metrics_input in;
    auto snap = tree(*deadline);
    if (snap)
      in.tree = std::move(*snap);
    else
      spdlog::warn("admin endpoint of {}: /metrics without the tree: {}",
                   d->id.to_string(), mesh::to_string(snap.error()));
    for (auto& m : d->proc_meshes->live()) {
      metrics_input::proc_mesh_counters c;
      c.proc_mesh = m.id;
      std::vector<std::shared_ptr<actor_mesh_supervision>> actor_meshes;
      {
        std::lock_guard<std::mutex> guard{m.shared->mtx};
        for (auto n : m.shared->dropped)
          c.casts_dropped += n;
        c.supervision = m.shared->supervision;
        for (auto& [id, weak] : m.shared->actor_meshes)
          if (auto sup = weak.lock())
            actor_meshes.push_back(std::move(sup));
      }
      in.proc_meshes.push_back(std::move(c));
      for (auto& sup : actor_meshes)
        in.latencies.push_back({sup->id, sup->name, sup->calls.snapshot()});
    }
    res.status = 200;
    res.set_content(render_metrics(in), std::string{metrics_content_type});
  }

  // --- the server ----------------------------------------------------------------

  /// 401 unless the request bears the token; 405 unless it is a GET.
  httplib::Server::HandlerResponse admit(const httplib::Request& req,
                                         httplib::Response& res) {
    auto auth = req.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    bool ok = auth.size() > scheme.size()
              && strncasecmp(auth.c_str(), scheme.data(), scheme.size()) == 0
              && same_token(std::string_view{auth}.substr(scheme.size()),
                            token);
    if (!ok) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"libmesh\"");
      send_error(res, 401, "a bearer token is required (the mesh's registry "
                           "entry holds it)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET");
      send_error(res, 405, "method " + req.method + " not allowed: GET only");
      return httplib::Server::HandlerResponse::Handled;
    }
    // A GET has no body. One that announces one is refused here, whatever
    // the HTTP library would make of it (Debian's 0.11.4+deb12u1 answers
    // such a request or not depending on when the announced bytes fail to
    // come), and the connection is not kept.
    if (req.has_header("Transfer-Encoding")
        || (req.has_header("Content-Length")
            && req.get_header_value("Content-Length") != "0")) {
      res.set_header("Connection", "close");
      send_error(res, 400, "a GET request has no body");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  /// Binds and serves on `address`; returns the bound "host:port".
  caf::expected<std::string> serve(const std::string& address) {
    auto parts = split_address(address);
    if (!parts)
      return parts.error();
    auto& [host, port] = *parts;
    svr.new_task_queue = [] { return new httplib::ThreadPool(4); };
    svr.set_read_timeout(5, 0);
    svr.set_write_timeout(5, 0);
    svr.set_keep_alive_timeout(1);
    svr.set_payload_max_length(64 * 1024);
    svr.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        return admit(req, res);
      });
    svr.set_error_handler(httplib::Server::HandlerWithResponse{
      [](const httplib::Request& req, httplib::Response& res) {
        if (res.body.empty())
          send_error(res, res.status,
                     res.status == 404
                       ? "no such endpoint: " + req.path
                       : "HTTP error " + std::to_string(res.status));
        return httplib::Server::HandlerResponse::Handled;
      }});
    svr.Get("/v1/mesh", [this](const auto& req, auto& res) { get_mesh(req, res); });
    svr.Get(R"(/v1/procs/([^/]+))",
            [this](const auto& req, auto& res) { get_proc(req, res); });
    svr.Get(R"(/v1/procs/([^/]+)/logs)",
            [this](const auto& req, auto& res) { get_logs(req, res); });
    svr.Get("/metrics",
            [this](const auto& req, auto& res) { get_metrics(req, res); });
    int bound = port;
    if (port == 0)
      bound = svr.bind_to_any_port(host);
    else if (!svr.bind_to_port(host, port))
      bound = -1;
    if (bound < 0)
      return make_error(ec::system_error, "admin endpoint on " + address,
                        "cannot listen there");
    listener = std::thread{[self = this] {
      self->svr.listen_after_bind();
      self->listening_done = true;
    }};
    auto shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return shown + ":" + std::to_string(bound);
  }

  void stop() {
    if (stopping.exchange(true))
      return;
    reg.remove();
    if (!listener.joinable())
      return;
    auto finish = [self = shared_from_this()] {
      // httplib's stop() does nothing before its listen loop runs: repeat
      // it until the loop is over.
      while (!self->listening_done.load()) {
        self->svr.stop();
        // blocking: never on an actor's thread (see below): the HTTP threads end
        std::this_thread::sleep_for(5ms);
      }
      // blocking: never on an actor's thread (see below): the listener ended
      self->listener.join();
    };
    if (on_actor_thread())
      std::thread{finish}.detach();
    else
      finish();
  }
};

std::shared_ptr<admin_service>
admin_service::start(std::shared_ptr<mesh_access::host_data> d) {
  auto svc = std::shared_ptr<admin_service>(new admin_service);
  auto st = std::make_shared<impl>();
  svc->impl_ = st;
  st->d = d;
  auto& store = config_of(*d->sys);
  running_mesh m;
  m.id = d->id.to_string();
  m.hosts = d->agents.size();
  st->reg.add(m);
  if (!st->reg.warning().empty())
    spdlog::warn("host mesh {} is not in the registry of running meshes: {}",
                 m.id, st->reg.warning());
  st->token = st->reg.mesh().token;
  auto address = store.get(keys::admin_address);
  // Without an entry nobody can read the token: no endpoint either.
  if (address.empty() || st->reg.path().empty())
    return svc;
  auto bound = st->serve(address);
  if (!bound) {
    spdlog::warn("host mesh {} runs without its admin endpoint: {}", m.id,
                 mesh::to_string(bound.error()));
    return svc;
  }
  auto entry = st->reg.mesh();
  entry.admin_address = *bound;
  st->reg.update(entry);
  return svc;
}

admin_service::~admin_service() {
  if (impl_)
    impl_->stop();
}

void admin_service::stop() {
  impl_->stop();
}

const running_mesh& admin_service::entry() const {
  return impl_->reg.mesh();
}

} // namespace mesh::detail
