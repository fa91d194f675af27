// The admin endpoint's pure parts (libmesh/src/core/admin_metrics.hpp): the
// call latency histogram, the bounded log buffer with sequence numbers and
// its wait, the cause class of supervision events, and the Prometheus
// rendering, checked by hand and by python3-prometheus-client's parser.
#include "libmesh/src/core/admin_metrics.hpp"

#include "support/process.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace mesh;
using namespace std::chrono_literals;

namespace {

/// Parses `text` with prometheus_client and prints "name type sample labels
/// value" per sample (Debian's python3-prometheus-client: /usr/bin/python3).
test::run_result parse_with_python(const std::string& text) {
  static const char* script = R"(
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print(fam.name, fam.type, s.name, labels, repr(float(s.value)))
)";
  return test::run({"/usr/bin/python3", "-c", script}, 30s, {}, text);
}

metrics_input sample_input() {
  metrics_input in;
  in.tree.id = "hosts-x";
  host_snapshot h;
  proc_snapshot p;
  p.proc_mesh = "procs-a\"b";
  p.name = "procs-a_0";
  p.rank = 0;
  p.status = proc_status::running;
  p.cpu_percent = 12.5;
  p.rss_bytes = 4096;
  actor_snapshot a;
  a.name = "workers";
  a.actor_mesh = "workers-1";
  a.mesh_messages = 7;
  a.mailbox_depth = 2;
  p.actors.push_back(a);
  a.name = "other";
  a.mailbox_depth = -1;
  p.actors.push_back(a);
  h.procs.push_back(p);
  p.rank = 1;
  p.name = "procs-a_1";
  p.status = proc_status::failed;
  p.cpu_percent = -1;
  p.rss_bytes = -1;
  p.actors.clear();
  h.procs.push_back(p);
  in.tree.hosts.push_back(h);
  metrics_input::proc_mesh_counters pm;
  pm.proc_mesh = "procs-a\"b";
  pm.casts_dropped = 3;
  pm.supervision[{"restarting", "proc_failed"}] = 2;
  pm.supervision[{"restarted", "proc_failed"}] = 1;
  in.proc_meshes.push_back(pm);
  latency_histogram hist;
  hist.observe(200us);
  hist.observe(3ms);
  hist.observe(20s);
  in.latencies.push_back({"workers-1", "workers\nx", hist.snapshot()});
  return in;
}

} // namespace

TEST_CASE("the latency histogram counts each observation in one bucket") {
  latency_histogram h;
  h.observe(100us);  // <= 0.0005
  h.observe(1ms);    // <= 0.001 (bounds are inclusive)
  h.observe(7ms);    // <= 0.01
  h.observe(60s);    // +Inf
  auto s = h.snapshot();
  CHECK(s.count == 4);
  CHECK(s.cumulative[0] == 1);
  CHECK(s.cumulative[1] == 2);
  CHECK(s.cumulative[3] == 2);  // <= 0.005
  CHECK(s.cumulative[4] == 3);  // <= 0.01
  CHECK(s.cumulative[latency_bounds.size() - 1] == 3);
  CHECK(s.cumulative[latency_bounds.size()] == 4);
  CHECK(s.sum_seconds == doctest::Approx(60.0081));
}

TEST_CASE("the log buffer keeps the last lines with their sequence numbers") {
  log_buffer buf{3};
  auto empty = buf.after(0);
  CHECK(empty.next == 0);
  CHECK(empty.lines.empty());
  for (int i = 1; i <= 5; ++i)
    buf.append(i % 2 == 0, "line " + std::to_string(i));
  CHECK(buf.last_seq() == 5);
  auto all = buf.after(0);
  REQUIRE(all.lines.size() == 3);
  CHECK(all.lines[0].seq == 3);
  CHECK(all.lines[0].line == "line 3");
  CHECK_FALSE(all.lines[0].is_stderr);
  CHECK(all.lines[1].is_stderr);
  CHECK(all.next == 5);
  auto newer = buf.after(4);
  REQUIRE(newer.lines.size() == 1);
  CHECK(newer.lines[0].seq == 5);
  auto none = buf.after(5);
  CHECK(none.lines.empty());
  CHECK(none.next == 5);
  // A client ahead of the buffer (another owner's numbers) is brought back.
  CHECK(buf.after(99).next == 5);
  auto limited = buf.after(0, 2);
  REQUIRE(limited.lines.size() == 2);
  CHECK(limited.next == 4);
}

TEST_CASE("a wait for newer lines ends with a line, a close or its time") {
  log_buffer buf;
  buf.append(false, "old");
  // Something newer already: no wait.
  auto now = buf.wait_after(0, 10s);
  REQUIRE(now.lines.size() == 1);
  // Nothing newer: the wait ends when a line comes.
  std::thread writer{[&] {
    std::this_thread::sleep_for(50ms);
    buf.append(true, "new");
  }};
  auto got = buf.wait_after(1, 20s);
  writer.join();
  REQUIRE(got.lines.size() == 1);
  CHECK(got.lines[0].line == "new");
  CHECK(got.next == 2);
  // Its time passes: an empty page.
  auto idle = buf.wait_after(2, 10ms);
  CHECK(idle.lines.empty());
  CHECK(idle.next == 2);
  // close() wakes a waiter and later waits return at once.
  std::thread closer{[&] {
    std::this_thread::sleep_for(50ms);
    buf.close();
  }};
  auto closed = buf.wait_after(2, 60s);
  closer.join();
  CHECK(closed.lines.empty());
}

TEST_CASE("the cause class of a supervision event comes from the proc's status") {
  proc_event ev;
  ev.status = proc_status::running;
  CHECK(cause_class(ev) == "actor_failed");
  ev.status = proc_status::stopped;
  CHECK(cause_class(ev) == "proc_exited");
  ev.status = proc_status::failed;
  CHECK(cause_class(ev) == "proc_failed");
  ev.status = proc_status::timeout;
  CHECK(cause_class(ev) == "timeout");
  ev.status = proc_status::unknown;
  CHECK(cause_class(ev) == "host_lost");
  ev.status = proc_status::not_exist;
  CHECK(cause_class(ev) == "other");
}

TEST_CASE("label values are escaped") {
  CHECK(escape_label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  CHECK(escape_label("plain") == "plain");
}

TEST_CASE("the metrics render as the exposition format says") {
  auto text = render_metrics(sample_input());
  auto has = [&](const std::string& line) {
    CHECK_MESSAGE(text.find(line + "\n") != std::string::npos, line);
  };
  has("# TYPE mesh_procs gauge");
  has("mesh_procs{status=\"running\"} 1");
  has("mesh_procs{status=\"failed\"} 1");
  has("mesh_procs{status=\"stopped\"} 0");
  has("mesh_proc_cpu_percent{proc_mesh=\"procs-a\\\"b\",rank=\"0\","
      "proc=\"procs-a_0\"} 12.5");
  has("mesh_proc_resident_memory_bytes{proc_mesh=\"procs-a\\\"b\",rank=\"0\","
      "proc=\"procs-a_0\"} 4096");
  // Unknown CPU and RSS (-1) are left out.
  CHECK(text.find("proc=\"procs-a_1\"} -1") == std::string::npos);
  has("mesh_actor_messages_sent_total{proc_mesh=\"procs-a\\\"b\",rank=\"0\","
      "proc=\"procs-a_0\",actor_mesh=\"workers-1\",actor=\"workers\"} 7");
  has("mesh_actor_mailbox_depth{proc_mesh=\"procs-a\\\"b\",rank=\"0\","
      "proc=\"procs-a_0\",actor_mesh=\"workers-1\",actor=\"workers\"} 2");
  CHECK(text.find("actor=\"other\"} -1") == std::string::npos);
  has("# TYPE mesh_call_duration_seconds histogram");
  has("mesh_call_duration_seconds_bucket{actor_mesh=\"workers-1\","
      "actor=\"workers\\nx\",le=\"0.0005\"} 1");
  has("mesh_call_duration_seconds_bucket{actor_mesh=\"workers-1\","
      "actor=\"workers\\nx\",le=\"10\"} 2");
  has("mesh_call_duration_seconds_bucket{actor_mesh=\"workers-1\","
      "actor=\"workers\\nx\",le=\"+Inf\"} 3");
  has("mesh_call_duration_seconds_count{actor_mesh=\"workers-1\","
      "actor=\"workers\\nx\"} 3");
  has("mesh_casts_dropped_total{proc_mesh=\"procs-a\\\"b\"} 3");
  has("mesh_supervision_events_total{proc_mesh=\"procs-a\\\"b\","
      "action=\"restarting\",cause=\"proc_failed\"} 2");
}

TEST_CASE("prometheus_client's parser reads the metrics") {
  auto text = render_metrics(sample_input());
  auto r = parse_with_python(text);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto has = [&](const std::string& line) {
    CHECK_MESSAGE(r.out.find(line + "\n") != std::string::npos,
                  line << "\nin:\n" << r.out);
  };
  has("mesh_procs gauge mesh_procs status=running 1.0");
  has("mesh_proc_cpu_percent gauge mesh_proc_cpu_percent "
      "proc=procs-a_0,proc_mesh=procs-a\"b,rank=0 12.5");
  has("mesh_actor_messages_sent counter mesh_actor_messages_sent_total "
      "actor=workers,actor_mesh=workers-1,proc=procs-a_0,proc_mesh=procs-a\"b,"
      "rank=0 7.0");
  has("mesh_call_duration_seconds histogram mesh_call_duration_seconds_bucket "
      "actor=workers\nx,actor_mesh=workers-1,le=+Inf 3.0");
  has("mesh_call_duration_seconds histogram mesh_call_duration_seconds_count "
      "actor=workers\nx,actor_mesh=workers-1 3.0");
  has("mesh_casts_dropped counter mesh_casts_dropped_total "
      "proc_mesh=procs-a\"b 3.0");
  has("mesh_supervision_events counter mesh_supervision_events_total "
      "action=restarted,cause=proc_failed,proc_mesh=procs-a\"b 1.0");
  // An empty mesh renders too (every family, no sample but the statuses).
  auto empty = parse_with_python(render_metrics(metrics_input{}));
  REQUIRE_MESSAGE(empty.exit_code == 0, empty.err);
  CHECK(empty.out.find("mesh_procs gauge mesh_procs status=running 0.0")
        != std::string::npos);
  // And the parser is strict enough to catch a broken line.
  auto broken = parse_with_python("mesh_procs{status=\"running} 1\n");
  CHECK(broken.exit_code != 0);
}
