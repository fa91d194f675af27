// The watcher's side of its zygotes (bootstrap/zygote_protocol.hpp):
// starting one per command, asking it to fork and to reap, hearing of exits,
// and losing it.
//
// Nothing here waits: a request is sent and its answer handled when the
// control socket is readable, a zygote that is starting holds the launches
// for its command until it says 'ready', and every wait has a deadline that
// the poll loop checks (check_zygote_deadlines). Meanwhile other children's
// lines and exits keep flowing.
#include "bootstrap/child_watcher_impl.hpp"

#include "bootstrap/elf.hpp"

#include <signal.h>
#include <sys/socket.h>

#include <cerrno>

namespace mesh::bootstrap {

namespace {

std::chrono::milliseconds ms(int count) {
  return std::chrono::milliseconds{count};
}

} // namespace

child_watcher::impl::zygote_state*
child_watcher::impl::zygote_for(const prepared_launch& launch) {
  auto& key = *launch.zygote_key;
  if (without_zygote.count(key) != 0)
    return nullptr;
  size_t serving = 0;
  for (auto& z : zygotes) {
    if (z->lost)
      continue;
    if (z->key == key)
      return z.get();
    ++serving;
  }
  if (serving >= max_zygotes)
    return nullptr;
  auto plan =
    zygote::links_libmesh(launch.path) ? zygote_plan(launch) : std::nullopt;
  if (!plan) {
    without_zygote.insert(key);
    return nullptr;
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return nullptr;
  unique_fd mine{pair[0]};
  unique_fd theirs{above_stdio(pair[1])};
  if (!theirs)
    return nullptr;
  auto proc = exec_child(*plan, theirs.get());
  theirs.reset();
  if (!proc) {
    // Exec'ing the command fails: so will the child's own launch, which
    // reports why.
    without_zygote.insert(key);
    return nullptr;
  }
  auto z = std::make_unique<zygote_state>();
  z->key = key;
  z->pid = proc->pid;
  z->control = std::move(mine);
  z->ready_by = clock::now() + ms(zygote_ready_ms);
  adopt(plan->name, std::move(*proc), z.get(), true);
  zygotes.push_back(std::move(z));
  return zygotes.back().get();
}

bool child_watcher::impl::request_fork(zygote_state& z, launch_job& job) {
  if (z.lost)
    return false;
  auto stdio = open_child_stdio(proc_context(job.launch.name));
  if (!stdio) {
    conclude(job, std::move(stdio.error()));
    return true;
  }
  zygote::message msg;
  msg.kind = zygote::op::spawn;
  msg.text = job.launch.child_payload;
  // The zygote gets its own copies now: ours close when this returns.
  msg.fds = {stdio->in.get(), stdio->out_write.get(), stdio->err_write.get()};
  if (zygote::send(z.control.get(), msg) != 0) {
    lose(z);
    return false;
  }
  request req;
  req.kind = zygote::op::spawn;
  req.answer_by = clock::now() + ms(zygote_fork_ms);
  req.job = std::move(job);
  req.out = std::move(stdio->out_read);
  req.err = std::move(stdio->err_read);
  z.outstanding.push_back(std::move(req));
  return true;
}

void child_watcher::impl::request_reap(child& c) {
  auto& z = *c.zygote;
  if (zygote::send(z.control.get(),
                   zygote::make_message(zygote::op::reap, c.pid)) != 0) {
    give_up(z); // reports c
    return;
  }
  request req;
  req.kind = zygote::op::reap;
  req.answer_by = clock::now() + ms(zygote_fork_ms);
  req.pid = c.pid;
  z.outstanding.push_back(std::move(req));
}

void child_watcher::impl::on_control_readable(zygote_state& z) {
  while (!z.lost && !closed) {
    int err = 0;
    auto msg = zygote::receive(z.control.get(), true, err);
    if (!msg) {
      if (err != EAGAIN)
        lose(z);
      return;
    }
    on_zygote_message(z, std::move(*msg));
  }
}

void child_watcher::impl::on_zygote_message(zygote_state& z,
                                            zygote::message msg) {
  using zygote::op;
  if (msg.kind == op::ready) {
    if (z.ready)
      return;
    z.ready = true;
    // A send that fails loses the zygote, which execs what still waits.
    while (!z.waiting.empty()) {
      auto job = std::move(z.waiting.front());
      z.waiting.pop_front();
      if (!request_fork(z, job))
        exec_now(job);
    }
    return;
  }
  if (msg.kind == op::exited) {
    for (auto& c : children)
      if (c->zygote == &z && c->forked() && c->state == phase::running &&
          c->pid == msg.pid) {
        std::optional<int> code;
        std::optional<int> sig;
        if (msg.a >= 0)
          code = msg.a;
        else
          sig = msg.b;
        forked_exit(*c, code, sig);
        return;
      }
    return;
  }
  // An answer: to the oldest request. Anything unasked is out of protocol
  // and ignored.
  if (z.outstanding.empty() || !z.ready)
    return;
  auto& req = z.outstanding.front();
  if (req.kind == op::spawn &&
      (msg.kind == op::spawned || msg.kind == op::spawn_failed)) {
    auto done = std::move(req);
    z.outstanding.pop_front();
    if (msg.kind == op::spawn_failed)
      return conclude(*done.job, make_error(ec::spawn_failed,
                                            proc_context(done.job->launch.name),
                                            "the zygote " + msg.text));
    started_process proc;
    proc.pid = static_cast<pid_t>(msg.pid);
    proc.out = std::move(done.out);
    proc.err = std::move(done.err);
    auto& c = adopt(done.job->launch.name, std::move(proc), &z, false);
    // Before the next poll: before any line or exit of the child.
    return conclude(*done.job, static_cast<int64_t>(c.pid));
  }
  if (req.kind == op::reap && msg.kind == op::reaped && msg.pid == req.pid) {
    z.outstanding.pop_front();
    // Reported only once reaped: whoever hears of the exit finds the
    // process gone.
    for (auto& c : children)
      if (c->zygote == &z && c->state == phase::reaping && c->pid == msg.pid)
        return report(*c, c->exit_code, c->exit_signal);
    return;
  }
  // A wrong answer: the zygote cannot be trusted with more.
  give_up(z);
}

void child_watcher::impl::check_zygote_deadlines(clock::time_point now) {
  // By index: losing a zygote may call back, and callbacks may launch.
  for (size_t i = 0; i < zygotes.size() && !closed; ++i) {
    auto& z = *zygotes[i];
    if (z.lost)
      continue;
    // Alive but silent: not a libmesh program, one far too slow, or wedged.
    if ((!z.ready && now >= z.ready_by) ||
        (!z.outstanding.empty() && now >= z.outstanding.front().answer_by))
      give_up(z);
  }
}

void child_watcher::impl::give_up(zygote_state& z) {
  if (z.lost)
    return;
  ::kill(-z.pid, SIGKILL);
  lose(z);
}

void child_watcher::impl::lose(zygote_state& z) {
  if (z.lost)
    return;
  z.lost = true;
  z.control.reset();
  // One that never came up serves its command no more.
  if (!z.ready)
    without_zygote.insert(z.key);
  auto waiting = std::move(z.waiting);
  auto outstanding = std::move(z.outstanding);
  z.waiting.clear();
  z.outstanding.clear();
  // Its children were SIGKILLed with it (parent-death signal). A callback
  // may launch more children, so walk by index.
  for (size_t i = 0; i < children.size(); ++i) {
    auto& c = *children[i];
    if (c.zygote != &z || !c.forked())
      continue;
    if (c.state == phase::reaping)
      report(c, c.exit_code, c.exit_signal);
    else if (c.state == phase::running)
      orphan(c);
  }
  // What it did not fork is exec'd.
  for (auto& req : outstanding)
    if (req.job)
      exec_now(*req.job);
  for (auto& job : waiting)
    exec_now(job);
}

} // namespace mesh::bootstrap
