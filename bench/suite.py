"""The benchmark suite: libmesh side by side with its baselines, in one run.

Run through bench/run (which builds, installs the peers and compiles the
MPI and Erlang programs first). Every contender runs in its own long-lived
runner process that speaks one protocol, one command and one reply per line:

    up N             ok ms=<bring-up> pids=<p,...> [actors_ms=<actor spawn>]
    rtt K            ok med_us=<median> p99_us=<p99>   (K round trips)
    rtt_api K        as rtt, through libmesh's actor_mesh::call
    rtt_both K       ok med_us p99_us async_med_us async_p99_us: K round
                     trips through actor_mesh::call and K through
                     mesh::async::call, in alternating blocks (libmesh)
    gather K         ok med_ms=<median of K call+gathers over all N workers>
    gather_both K    ok med_ms p99_ms async_med_ms async_p99_ms: as
                     rtt_both, K call+gathers over all N workers each
    direct K         ok med_ms=<median of K rounds of N concurrent requests>
    introspect_both K  as gather_both: K call+gathers over all N (med, p99)
                     and K introspections of the whole mesh (async_*)
    idle_cpu S P     ok cpu_ms=<CPU of the workers over S s, the client
                     introspecting every P ms (0: asking nothing)>
    cast SIZE COUNT  ok ms=<until delivery is confirmed> bytes=<delivered>
    down             ok ms=<until every process has exited>
    quit

Runners: bench/runner (floor, CAF + Boost.Process, libmesh), bench_erlang
(Erlang/OTP peer nodes), bench/python_runner.py (multiprocessing); mpirun is
driven from here. Each repetition brings every contender up, measures the
idle window over all of them at once, then messages and stops them one at a
time (CAF's default scheduler polls while idle, so its procs are stopped
before anyone else is timed); the order rotates between repetitions. The
first repetition is a warm-up; figures are medians of the others.

Then, libmesh alone: bring-up and gather as N doubles; bring-up from a small
client and from one that touched 1 GiB (against posix_spawn and fork + exec
of the floor child); and CAF options in client and procs against the
defaults (runner --caf KEY=VALUE), interleaved. The main runner of
libmesh measures its calls through both faces of the API, blocking
(actor_mesh::call) and non-blocking (mesh::async::call from an event-based
actor), in alternating blocks within one command (rtt_both, gather_both):
its round-trip-via-call and gather figures are the blocking half, and the
non-blocking half is shown beside them with the ratio (issue 14;
--only-async measures just that). N = 128 comes last, without a
warm-up and only while time is left: the run stops measuring at
--time-limit and prints what it has.

--only-introspect (issue 15) measures libmesh alone: an introspection of
the whole tree against a call+gather over the same N workers, alternating,
and the workers' CPU over an idle window with nobody asking and with the
client introspecting every second.

--only-slurm (issue 16) measures the bring-up of host meshes on Slurm:
bench/slurm_bringup (host_mesh::allocate of mesh::slurm::job, then
shutdown) against `srun hostname` and an sbatch + srun floor of the same
shape (1 node x 1, 2, 4 hosts), interleaved, on the tests' private one-node
Slurm run as a program (test/slurm_local); skipped, with the reason, when
not root or without Slurm.

libmesh runs with MESH_CALL_TIMEOUT=5s and MESH_TERMINATE_TIMEOUT=2s: they
only bound what a failure costs, no timed path waits on them.

Idle RSS sums each worker's process tree (an Erlang node's helper process
included); idle CPU is utime + stime over the window, and the threads'
schedstat run time, which is precise where utime + stime count 10 ms ticks
(start-up and client CPU use it too); the client's peak RSS is
its VmHWM (the counter behind getrusage's ru_maxrss), reset through
/proc/PID/clear_refs before each repetition so that every N gets its own.
"""

import argparse
import datetime
import os
import queue
import random
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
CAST_BYTES = 8 << 20  # payload bytes per cast measurement and repetition
IDLE_SETTLE_S = 0.5
IDLE_WINDOW_S = 2.0


class ContenderError(Exception):
    pass


# Monotonic time by which the suite must have stopped measuring, so that it
# can still print what it has (set in main).
HARD_DEADLINE = float("inf")


def time_left():
    return HARD_DEADLINE - time.monotonic()


def bounded(timeout):
    """`timeout`, cut to what is left before the hard deadline."""
    left = time_left()
    if left <= 0:
        raise ContenderError("out of time")
    return min(timeout, left)


# --- /proc --------------------------------------------------------------------


def proc_stat(pid):
    """(ppid, utime + stime ticks, state) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), fields[0]


def proc_status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_ns(pid):
    """CPU time of a process's live threads in ns (schedstat: precise where
    utime + stime count 10 ms ticks)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_pss_kb(pid):
    """Proportional set size: shared pages divided among their users."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st:
                kids.setdefault(st[0], []).append(int(entry))
    return kids


def process_tree(pid, kids):
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(kids.get(p, []))
    return tree


def alive(pid):
    """True if the process has not exited yet (a zombie has: some runtimes,
    Erlang's among them, reap their children lazily)."""
    st = proc_stat(pid)
    return st is not None and st[2] != "Z"


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# --- contenders -----------------------------------------------------------------


class Runner:
    """A contender in its own process, driven over stdin/stdout."""

    def __init__(self, name, argv, log, env=None, features=()):
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.features = set(features)
        self.proc = None
        self.lines = None
        self.pids = []

    def start(self):
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, env=self.env, text=True, bufsize=1)
        self.lines = queue.Queue()
        out = self.proc.stdout

        def pump():
            for line in out:
                self.lines.put(line)
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    @property
    def client_pid(self):
        return self.proc.pid if self.proc else None

    def command(self, line, timeout=180):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        timeout = bounded(timeout)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.lines.get(
                    timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise ContenderError(f"'{line}' timed out after {timeout} s")
            if reply is None:
                self.proc = None
                raise ContenderError(f"runner exited during '{line}'")
            words = reply.split()
            # Runtimes may log to stdout (Erlang's logger): skip such lines.
            if words and words[0] == "ok":
                return dict(w.split("=", 1) for w in words[1:])
            if words and words[0] == "err":
                raise ContenderError(reply[4:].strip())

    def up(self, n):
        r = self.command(f"up {n}")
        self.pids = [int(p) for p in r["pids"].split(",") if p]
        return r

    def down(self):
        r = self.command("down")
        return float(r["ms"])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.proc = None


class MpiContender:
    """mpirun -np N of bench/mpi_ready: ready when every rank has passed
    MPI_Init and a barrier and connected back; stopped by closing the
    connections, after which every rank calls MPI_Finalize."""

    features = ()
    name = "mpi"

    def __init__(self, exe, log):
        self.exe = exe
        self.log = log
        self.proc = None
        self.conns = []
        self.pids = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)

    @property
    def client_pid(self):
        return self.proc.pid if self.proc else None

    def up(self, n):
        port = self.listener.getsockname()[1]
        argv = ["mpirun", "--oversubscribe", "-np", str(n),
                "--mca", "btl", "self,vader",
                "--mca", "oob_tcp_if_include", "lo",
                self.exe, str(port)]
        if os.geteuid() == 0:
            argv.insert(1, "--allow-run-as-root")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        self.listener.settimeout(bounded(120))
        try:
            for _ in range(n):
                conn, _ = self.listener.accept()
                data = b""
                while len(data) < 4:
                    chunk = conn.recv(4 - len(data))
                    if not chunk:
                        raise ContenderError("a rank closed before ready")
                    data += chunk
                self.conns.append(conn)
                self.pids.append(struct.unpack("=i", data)[0])
        except socket.timeout:
            raise ContenderError("ranks did not connect in time")
        return {"ms": (time.perf_counter() - t0) * 1e3}

    def down(self):
        t0 = time.perf_counter()
        for conn in self.conns:
            conn.close()
        self.conns = []
        if self.proc:
            try:
                self.proc.wait(timeout=bounded(120))
            except subprocess.TimeoutExpired:
                raise ContenderError("mpirun did not exit")
        self.proc = None
        self.pids = []
        return (time.perf_counter() - t0) * 1e3

    def kill(self):
        for conn in self.conns:
            conn.close()
        self.conns = []
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        self.kill()
        self.listener.close()


# --- the plan ---------------------------------------------------------------------

CONTENDERS = ["libmesh", "floor", "caf", "erlang", "mpi", "python"]
BASELINES = CONTENDERS[1:]
TITLES = {"libmesh": "libmesh", "floor": "floor", "caf": "CAF+Boost",
          "erlang": "Erlang peer", "mpi": "mpirun", "python": "Python mp"}

# (key, label, unit, higher is better)
FIGURES = [
    ("up", "bring-up to ready", "ms", False),
    ("actors", "actor mesh spawn on ready procs", "ms", False),
    ("proc_cpu", "CPU a proc used to start (schedstat)", "ms", False),
    ("client_cpu", "client CPU for the bring-up, per proc (schedstat)",
     "ms", False),
    ("rtt", "round trip, median", "µs", False),
    ("rtt_p99", "round trip, p99", "µs", False),
    ("rtt_api", "round trip via actor_mesh::call, median", "µs", False),
    ("rtt_async", "round trip via mesh::async::call, median", "µs", False),
    ("gather", "call+gather over N", "ms", False),
    ("gather_async", "call+gather over N via mesh::async::call", "ms", False),
    ("direct", "N concurrent direct requests", "ms", False),
    ("cast_1k", "cast 1 KiB to all", "MB/s", True),
    ("cast_1m", "cast 1 MiB to all", "MB/s", True),
    ("down", "shutdown until every process exited", "ms", False),
    ("left", "processes still running when shutdown returned (all reps)",
     "", False),
    ("idle_rss", "idle RSS per proc", "MB", False),
    ("idle_pss", "idle PSS per proc (shared pages split)", "MB", False),
    ("idle_cpu", "idle CPU per proc (utime + stime)", "% core", False),
    ("idle_cpu_us", "idle CPU per proc (schedstat)", "µs/s", False),
    ("peak", "client peak RSS", "MB", False),
]


TUNING_SIZES = [1, 32]
AUTH_SIZES = [8, 32]
AUTH_FIGURES = ("up", "rtt", "rtt_p99", "rtt_api", "gather", "direct",
                "cast_1k", "cast_1m")


# Issue 14: the non-blocking call (mesh::async::call) against the blocking
# one (actor_mesh::call), measured in one command each: (label, unit,
# blocking p50, p99, non-blocking p50, p99 figures, the command's keys).
ASYNC_PAIRS = [
    ("round trip, member 0", "µs",
     ("rtt_api", "rtt_api_p99", "rtt_async", "rtt_async_p99"), "us"),
    ("call+gather over N", "ms",
     ("gather", "gather_p99", "gather_async", "gather_async_p99"), "ms"),
]
ASYNC_TOLERANCE = 1.05  # "not slower": the p50 ratio within the noise


def gather_rounds(n):
    return max(20, min(200, 400 // n))


class Suite:
    def __init__(self, args, contenders, skipped):
        self.args = args
        self.c = contenders  # name -> contender
        self.skipped = skipped  # name -> reason
        self.samples = {}  # (figure, n, contender) -> [values]
        self.errors = {}  # (n, contender) -> first error
        self.short_sizes = {}  # size -> repetitions done, if fewer
        self.t_start = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.t_start

    def note(self, text):
        print(f"[{self.elapsed():6.1f} s] {text}", file=sys.stderr, flush=True)

    def put(self, fig, n, name, value, keep):
        if keep:
            self.samples.setdefault((fig, n, name), []).append(value)

    def fail(self, n, name, err, c=None):
        """Records the first error of a contender at N and stops what it
        left running (politely if its runner still answers)."""
        self.errors.setdefault((n, name), str(err))
        self.note(f"{name} N={n}: {err}")
        c = c or self.c[name]
        try:
            c.down()
        except (ContenderError, OSError, KeyError, ValueError,
                subprocess.TimeoutExpired):
            c.kill()

    def rep(self, n, index, keep):
        order = [x for x in CONTENDERS if x in self.c and x != "caf"]
        order = order[index % len(order):] + order[:index % len(order)]
        if "caf" in self.c:
            order.append("caf")  # polls while idle: up last, down first
        up = []
        for name in order:
            c = self.c[name]
            try:
                cpu0 = None
                if isinstance(c, Runner) and c.proc and c.proc.poll() is None:
                    reset_peak(c.client_pid)
                    cpu0 = cpu_ns(c.client_pid)
                r = c.up(n)
                self.put("up", n, name, float(r["ms"]), keep)
                if cpu0 is not None:
                    used = cpu_ns(c.client_pid) - cpu0
                    self.put("client_cpu", n, name, used / 1e6 / n, keep)
                if "actors_ms" in r:
                    self.put("actors", n, name, float(r["actors_ms"]), keep)
                up.append(name)
            except (ContenderError, OSError, KeyError) as err:
                self.fail(n, name, err)
        self.idle(n, up, keep)
        # CAF first: its idle procs poll, the others' do not disturb.
        messaging = sorted(up, key=lambda x: x != "caf")
        for name in messaging:
            c = self.c[name]
            try:
                if isinstance(c, Runner):
                    self.message(n, name, c, keep)
                pids = list(c.pids)
                client = c.client_pid
                down_ms = c.down()
                # Some runtimes return before their processes have exited:
                # count those, and time the shutdown until they are gone.
                t0 = time.monotonic()
                left = [p for p in pids if alive(p)]
                self.put("left", n, name, len(left), keep)
                while left and time.monotonic() - t0 < 10:
                    time.sleep(0.001)
                    left = [p for p in left if alive(p)]
                if left:
                    raise ContenderError(
                        f"{len(left)} processes still alive 10 s after "
                        "shutdown")
                down_ms += (time.monotonic() - t0) * 1e3 if pids else 0
                self.put("down", n, name, down_ms, keep)
                peak = proc_status_kb(client, "VmHWM") if client else None
                if peak is not None and isinstance(c, Runner):
                    self.put("peak", n, name, peak / 1024, keep)
            except (ContenderError, OSError, KeyError) as err:
                self.fail(n, name, err)

    def put_pair(self, n, name, r, figures, unit, keep):
        """The four figures of an rtt_both/gather_both reply."""
        keys = (f"med_{unit}", f"p99_{unit}", f"async_med_{unit}",
                f"async_p99_{unit}")
        for fig, key in zip(figures, keys):
            self.put(fig, n, name, float(r[key]), keep)

    def calls(self, n, name, c, keep):
        """Round trips via the mesh API and call+gathers over all N: through
        both faces, alternating, if the runner has both."""
        k = gather_rounds(n)
        if "async" in c.features:
            r = c.command(f"rtt_both {self.args.round_trips // 3}")
            self.put_pair(n, name, r, *ASYNC_PAIRS[0][2:], keep)
            c.command("gather 2")  # untimed, as below
            r = c.command(f"gather_both {k}")
            self.put_pair(n, name, r, *ASYNC_PAIRS[1][2:], keep)
            return
        if "rtt_api" in c.features:
            r = c.command(f"rtt_api {self.args.round_trips // 3}")
            self.put("rtt_api", n, name, float(r["med_us"]), keep)
        # Untimed: the round trips woke worker 0 only, and a runtime whose
        # idle workers sleep deeply (Erlang's schedulers) would pay for
        # waking the others in the first timed gathers.
        c.command("gather 2")
        r = c.command(f"gather {k}")
        self.put("gather", n, name, float(r["med_ms"]), keep)

    def message(self, n, name, c, keep):
        r = c.command(f"rtt {self.args.round_trips}")
        self.put("rtt", n, name, float(r["med_us"]), keep)
        self.put("rtt_p99", n, name, float(r["p99_us"]), keep)
        self.calls(n, name, c, keep)
        k = gather_rounds(n)
        if "direct" in c.features:
            r = c.command(f"direct {k}")
            self.put("direct", n, name, float(r["med_ms"]), keep)
        for fig, size in (("cast_1k", 1 << 10), ("cast_1m", 1 << 20)):
            count = max(1, CAST_BYTES // (size * n))
            r = c.command(f"cast {size} {count}")
            expected = size * count * n
            if int(r["bytes"]) != expected:
                raise ContenderError(
                    f"cast delivered {r['bytes']} of {expected} bytes")
            self.put(fig, n, name, expected / (float(r["ms"]) / 1e3) / 1e6,
                     keep)

    def idle(self, n, names, keep):
        """One window over every contender that is up: RSS and CPU per
        worker process tree."""
        if not names:
            return
        time.sleep(IDLE_SETTLE_S)
        kids = children_map()
        trees = {name: [process_tree(p, kids) for p in self.c[name].pids]
                 for name in names}
        mpi = self.c.get("mpi")
        if "mpi" in names and mpi.client_pid:
            # mpirun is the client; its peak is read here, while it runs.
            peak = proc_status_kb(mpi.client_pid, "VmHWM")
            if peak is not None:
                self.put("peak", n, "mpi", peak / 1024, keep)

        def ticks():
            return {name: [sum((proc_stat(p) or (0, 0, ""))[1] for p in tree)
                           for tree in trees[name]] for name in names}

        def precise():
            return {name: [sum(cpu_ns(p) for p in tree)
                           for tree in trees[name]] for name in names}

        before = ticks()
        before_ns = precise()
        t0 = time.monotonic()
        # Every worker is idle by now: what it has used is its start-up.
        for name in names:
            if before_ns[name]:
                self.put("proc_cpu", n, name,
                         statistics.mean(before_ns[name]) / 1e6, keep)
        if "mpi" in names and mpi.client_pid:
            self.put("client_cpu", n, "mpi", cpu_ns(mpi.client_pid) / 1e6 / n,
                     keep)
        time.sleep(IDLE_WINDOW_S)
        after = ticks()
        after_ns = precise()
        window = time.monotonic() - t0
        for name in names:
            rss = [sum(proc_status_kb(p, "VmRSS") or 0 for p in tree)
                   for tree in trees[name]]
            if rss:
                self.put("idle_rss", n, name, statistics.mean(rss) / 1024,
                         keep)
            pss = [sum(proc_pss_kb(p) for p in tree) for tree in trees[name]]
            if pss:
                self.put("idle_pss", n, name, statistics.mean(pss) / 1024,
                         keep)
            used = [a - b for a, b in zip(after[name], before[name])]
            if used:
                self.put("idle_cpu", n, name,
                         100 * statistics.mean(used) / CLK_TCK / window, keep)
            used = [a - b for a, b in zip(after_ns[name], before_ns[name])]
            if used:
                self.put("idle_cpu_us", n, name,
                         statistics.mean(used) / 1e3 / window, keep)

    def run_main(self, sizes, warm_up=True, deadline=None):
        """Every contender at each N; without `warm_up` the first
        repetition counts too. Past `deadline` (seconds of the run) no new
        repetition starts."""
        for n in sizes:
            first = 0 if warm_up else 1
            last_took = 0.0
            for index in range(first, self.args.reps + 1):
                if time_left() <= 0 or (
                        deadline and self.elapsed() + last_took > deadline):
                    self.note(f"N={n}: time budget reached after "
                              f"{index - 1} repetitions")
                    self.short_sizes[n] = index - 1
                    break
                self.note(f"N={n} repetition {index}"
                          + (" (warm-up)" if index == 0 else ""))
                t0 = self.elapsed()
                self.rep(n, index, keep=index > 0)
                last_took = self.elapsed() - t0

    def run_async(self, name, c, sizes):
        """libmesh alone: blocking and non-blocking calls at each N (a
        warm-up repetition, then --reps)."""
        for index in range(self.args.reps + 1):
            for n in sizes:
                if time_left() <= 0:
                    return
                try:
                    c.up(n)
                    self.calls(n, name, c, index > 0)
                    c.down()
                except (ContenderError, OSError, KeyError) as err:
                    self.fail(n, name, err, c)

    def run_introspect(self, name, c, sizes, idle_s):
        """libmesh alone (issue 15): introspection rounds against
        call+gathers at each N, then the workers' CPU over idle_s seconds
        with nobody asking and with a 1 s introspection (meshctl top)."""
        for index in range(self.args.reps + 1):
            for n in sizes:
                if time_left() <= 0:
                    return
                keep = index > 0
                try:
                    c.up(n)
                    k = gather_rounds(n)
                    r = c.command(f"introspect_both {k}")
                    self.put_pair(n, name, r, *INTROSPECT_PAIR, keep)
                    if keep and index == 1:
                        for fig, poll in (("idle_cpu", 0),
                                          ("polled_cpu", 1000)):
                            r = c.command(f"idle_cpu {idle_s} {poll}")
                            self.put(fig, n, name, float(r["cpu_ms"]) /
                                     idle_s / n, keep)
                    c.down()
                except (ContenderError, OSError, KeyError) as err:
                    self.fail(n, name, err, c)

    def run_scaling(self, sizes):
        """libmesh alone: bring-up and gather as N doubles."""
        c = self.c["libmesh"]
        for index in range(self.args.reps + 1):
            for n in sizes:
                if time_left() <= 0:
                    return
                try:
                    r = c.up(n)
                    self.put("scale_up", n, "libmesh", float(r["ms"]),
                             index > 0)
                    r = c.command(f"gather {gather_rounds(n)}")
                    self.put("scale_gather", n, "libmesh",
                             float(r["med_ms"]), index > 0)
                    c.down()
                except (ContenderError, OSError, KeyError) as err:
                    self.fail(n, "libmesh-scaling", err, c)

    def run_memory(self, runners, sizes, reps):
        """Bring-up from a small client and from one that touched 1 GiB,
        alternating between the two."""
        for index in range(reps + 1):
            for n in sizes:
                for key, c in runners.items():
                    if time_left() <= 0:
                        return
                    try:
                        r = c.up(n)
                        self.put("mem_up", n, key, float(r["ms"]), index > 0)
                        c.down()
                    except (ContenderError, OSError, KeyError) as err:
                        self.fail(n, "/".join(key), err, c)

    def run_tuning(self, variants, sizes):
        """libmesh's messaging with CAF options changed, interleaved with
        the defaults."""
        for index in range(self.args.reps + 1):
            for n in sizes:
                for key, c in variants.items():
                    if time_left() <= 0:
                        return
                    try:
                        c.up(n)
                        self.message(n, key, c, index > 0)
                        c.down()
                    except (ContenderError, OSError, KeyError) as err:
                        self.fail(n, key, err, c)

    def run_auth(self, variants, sizes):
        """libmesh with its default transport (mutual TLS) and with plain
        TCP (transport.insecure), alternating which goes first: bring-up
        and messaging."""
        names = list(variants)
        for index in range(self.args.reps + 1):
            for n in sizes:
                order = names[index % 2:] + names[:index % 2]
                for key in order:
                    c = variants[key]
                    if time_left() <= 0:
                        return
                    try:
                        r = c.up(n)
                        self.put("up", n, key, float(r["ms"]), index > 0)
                        self.message(n, key, c, index > 0)
                        c.down()
                    except (ContenderError, OSError, KeyError) as err:
                        self.fail(n, key, err, c)

    def median(self, fig, n, name):
        xs = self.samples.get((fig, n, name))
        if not xs:
            return None
        return sum(xs) if fig == "left" else statistics.median(xs)


# --- report ----------------------------------------------------------------------


def fmt(x, unit=""):
    if x is None:
        return "—"
    if unit == "" and float(x).is_integer():
        return str(int(x))
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(suite, fig, n, name, unit):
    if name in suite.skipped:
        return "skipped"
    value = suite.median(fig, n, name)
    if value is None and (n, name) in suite.errors:
        return "failed"
    return fmt(value, unit)


def main_table(suite, sizes):
    names = CONTENDERS
    head = (["figure", "N"] + [TITLES[x] for x in names]
            + [f"÷ {TITLES[x]}" for x in BASELINES])
    rows = ["| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for fig, label, unit, _ in FIGURES:
        for n in sizes:
            ours = suite.median(fig, n, "libmesh")
            values = [cell(suite, fig, n, x, unit) for x in names]
            if all(v in ("—", "skipped") for v in values):
                continue
            ratios = []
            for x in BASELINES:
                theirs = suite.median(fig, n, x)
                if ours is None or not theirs or fig == "left":
                    ratios.append("")
                else:
                    ratios.append(f"{ours / theirs:.2f}×")
            title = f"{label} ({unit})" if unit else label
            rows.append("| " + " | ".join([title, str(n)] + values + ratios)
                        + " |")
    return "\n".join(rows)


def variant_table(suite, variants, figure_keys, sizes, ratio):
    """One row per figure and N, a column per variant, and `ratio(v, base)`
    of each variant against the first."""
    figures = [f for f in FIGURES if f[0] in figure_keys]
    base = variants[0]
    head = ["figure", "N"] + variants + [ratio[0](v, base)
                                         for v in variants[1:]]
    rows = ["| " + " | ".join(head) + " |",
            "|---|" + "|".join(["---:"] * (len(head) - 1)) + "|"]
    for fig, label, unit, _ in figures:
        for n in sizes:
            values = [suite.median(fig, n, v) for v in variants]
            ratios = [f"{ratio[1](x, values[0]):.2f}×" if x and values[0]
                      else "" for x in values[1:]]
            rows.append("| " + " | ".join([f"{label} ({unit})", str(n)]
                                          + [fmt(x) for x in values]
                                          + ratios) + " |")
    return "\n".join(rows)


def tuning_table(suite, variants):
    return variant_table(
        suite, variants, ("rtt", "rtt_p99", "rtt_api", "gather", "direct",
                          "cast_1k", "cast_1m"), TUNING_SIZES,
        (lambda v, base: f"{v} ÷ {base}", lambda x, base: x / base))


def auth_table(suite, variants):
    return variant_table(
        suite, variants, AUTH_FIGURES, AUTH_SIZES,
        (lambda v, base: f"{base} ÷ {v}", lambda x, base: base / x))


def auth_targets(suite, tls, plain):
    """The cost budget of issue 12: authenticated ÷ plain TCP."""
    lines = []
    for fig, n, op, bound, what in (
            ("up", 32, "<=", 1.15, "bring-up of 32 procs"),
            ("rtt", 32, "<=", 1.10, "round trip"),
            ("cast_1m", 32, ">=", 0.90, "1 MiB cast throughput")):
        a, b = suite.median(fig, n, tls), suite.median(fig, n, plain)
        if not a or not b:
            lines.append(f"* {what}: not measured")
            continue
        ratio = a / b
        ok = ratio <= bound if op == "<=" else ratio >= bound
        lines.append(f"* {what} (N={n}), mutual TLS ÷ plain TCP: "
                     f"{ratio:.2f}× (budget {op} {bound:.2f}×): "
                     f"{'met' if ok else 'MISSED'}")
    return "\n".join(lines)


def async_table(suite, sizes, name="libmesh"):
    """Issue 14: the non-blocking call against the blocking one, p50 and
    p99, with their ratios."""
    rows = ["| call | N | blocking p50 | non-blocking p50 | ÷ p50 "
            "| blocking p99 | non-blocking p99 | ÷ p99 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, unit, figs, _ in ASYNC_PAIRS:
        for n in sizes:
            b50, b99, a50, a99 = (suite.median(f, n, name) for f in figs)
            if b50 is None and a50 is None:
                continue
            ratios = [f"**{a / b:.2f}×**" if a and b else ""
                      for a, b in ((a50, b50), (a99, b99))]
            rows.append(f"| {label} ({unit}) | {n} | {fmt(b50)} | {fmt(a50)} "
                        f"| {ratios[0]} | {fmt(b99)} | {fmt(a99)} "
                        f"| {ratios[1]} |")
    return "\n".join(rows)


def async_verdict(suite, sizes, name="libmesh"):
    """Whether the non-blocking call is slower than the blocking one
    anywhere (p50 beyond ASYNC_TOLERANCE)."""
    ratios = []
    for label, _, figs, _ in ASYNC_PAIRS:
        for n in sizes:
            b50, a50 = suite.median(figs[0], n, name), \
                suite.median(figs[2], n, name)
            if a50 and b50:
                ratios.append((a50 / b50, f"{label}, N={n}"))
    if not ratios:
        return "* non-blocking ÷ blocking: not measured"
    worst = max(ratios)
    middle = statistics.median(r for r, _ in ratios)
    # One row of a loaded machine can stray either way: the verdict is on
    # the median row, and on the worst.
    return (f"* non-blocking ÷ blocking, p50: median of the rows "
            f"{middle:.2f}×, from {min(ratios)[0]:.2f}× to {worst[0]:.2f}× "
            f"({worst[1]}); not slower (p50 within {ASYNC_TOLERANCE:.2f}×): "
            f"{'met' if middle <= ASYNC_TOLERANCE else 'MISSED'} by the "
            f"median row, {'met' if worst[0] <= ASYNC_TOLERANCE else 'missed'}"
            " by the worst")


def growth_table(suite, sizes):
    rows = ["| N | bring-up (ms) | × per doubling | gather (ms) "
            "| × per doubling |", "|---:|---:|---:|---:|---:|"]
    prev = (None, None)
    for n in sizes:
        up = suite.median("scale_up", n, "libmesh")
        ga = suite.median("scale_gather", n, "libmesh")
        grow = [f"{cur / old:.2f}×" if cur and old else ""
                for cur, old in zip((up, ga), prev)]
        rows.append(f"| {n} | {fmt(up)} | {grow[0]} | {fmt(ga)} | {grow[1]} |")
        prev = (up, ga)
    return "\n".join(rows)


def memory_table(suite, sizes, launchers):
    rows = ["| launcher | N | small client (ms) | 1 GiB client (ms) "
            "| 1 GiB ÷ small |", "|---|---:|---:|---:|---:|"]
    for launcher, title in launchers:
        for n in sizes:
            small = suite.median("mem_up", n, (launcher, "small"))
            big = suite.median("mem_up", n, (launcher, "1GiB"))
            ratio = f"{big / small:.2f}×" if small and big else ""
            rows.append(f"| {title} | {n} | {fmt(small)} | {fmt(big)} "
                        f"| {ratio} |")
    return "\n".join(rows)


def targets(suite, mem_n):
    m = suite.median
    out = []

    def line(text, ok):
        verdict = "—" if ok is None else ("met" if ok else "**missed**")
        out.append(f"| {text} | {verdict} |")

    up, fl = m("up", 32, "libmesh"), m("up", 32, "floor")
    peers = {x: m("up", 32, x) for x in ("caf", "erlang", "mpi", "python")}
    if up and fl:
        line(f"32 procs ready {up:.0f} ms = {up / fl:.1f}× the floor "
             f"({fl:.1f} ms; budget 2×)", up <= 2 * fl)
    for x, t in peers.items():
        if up and t:
            line(f"32 procs ready vs {TITLES[x]}: {up:.0f} vs {t:.0f} ms "
                 f"({up / t:.2f}×; budget < 1×)", up < t)
    rtt, caf = m("rtt", 1, "libmesh"), m("rtt", 1, "caf")
    if rtt and caf:
        line(f"round trip {rtt:.0f} µs vs plain CAF {caf:.0f} µs "
             f"({rtt / caf:.2f}×; budget 1.1×)", rtt <= 1.1 * caf)
    ga, di = m("gather", 32, "libmesh"), m("direct", 32, "libmesh")
    if ga and di:
        line(f"call+gather over 32: {ga:.2f} ms vs 32 direct requests "
             f"{di:.2f} ms ({ga / di:.2f}×; budget 2×)", ga <= 2 * di)
    down, left = m("down", 32, "libmesh"), m("left", 32, "libmesh")
    if down is not None:
        line(f"shutdown of 32 procs {down:.0f} ms, {int(left or 0)} left "
             "(budget 250 ms, none left)", down <= 250 and not left)
    rss, cpu = m("idle_rss", 32, "libmesh"), m("idle_cpu", 32, "libmesh")
    if rss is not None:
        line(f"idle proc {rss:.1f} MB RSS, {cpu:.2f}% CPU "
             "(budget 10 MB, no measurable CPU)", rss <= 10 and cpu == 0)
    small = m("mem_up", mem_n, ("libmesh", "small"))
    big = m("mem_up", mem_n, ("libmesh", "1GiB"))
    if small and big:
        line(f"bring-up of {mem_n} from a 1 GiB client {big:.1f} ms vs "
             f"{small:.1f} ms ({big / small:.2f}×; budget 1.2×)",
             big <= 1.2 * small)
    return "| target | |\n|---|---|\n" + "\n".join(out)


# --- main --------------------------------------------------------------------------


def run_auth_section(suite, runner, log, mesh_env):
    suite.note("authentication cost")
    auth = {}
    for key, env in (("mutual TLS", mesh_env),
                     ("plain TCP", dict(mesh_env, MESH_TRANSPORT_INSECURE="1"))):
        auth[key] = Runner(key, [runner, "--contender", "libmesh"], log,
                           env=env, features=("rtt_api", "direct"))
    try:
        suite.run_auth(auth, AUTH_SIZES)
    finally:
        for c in auth.values():
            c.close()
    return auth


def only_async(suite, runner, log, mesh_env, contenders, sizes):
    for c in contenders.values():
        c.close()
    suite.note("blocking and non-blocking calls")
    c = Runner("libmesh", [runner, "--contender", "libmesh"], log,
               env=mesh_env, features=("rtt_api", "async"))
    try:
        suite.run_async("libmesh", c, sizes)
    finally:
        c.close()
    report = "\n".join([
        f"libmesh alone; medians of {suite.args.reps} repetitions after a "
        "warm-up, each a fresh local() + spawn of N procs; in each, "
        f"{suite.args.round_trips // 3} round trips and "
        "max(20, min(200, 400 / N)) call+gathers through each face, in "
        "alternating blocks.", "",
        async_table(suite, sizes), "",
        async_verdict(suite, sizes), "",
        f"Suite run time: {suite.elapsed():.0f} s."])
    print(report)
    if suite.args.markdown:
        with open(suite.args.markdown, "w") as f:
            f.write(report + "\n")


INTROSPECT_PAIR = (("intro_gather", "intro_gather_p99", "introspect",
                    "introspect_p99"), "ms")


def introspect_report(suite, sizes, name="libmesh"):
    rows = ["| N | call+gather over N (ms) | p99 | introspection of the "
            "mesh (ms) | p99 | introspection / call+gather | worker CPU "
            "idle (ms/s per proc) | with a 1 s introspection (ms/s per "
            "proc) |", "|---|---|---|---|---|---|---|---|"]
    verdict = []

    def f(x, fmt="{:.2f}"):
        return fmt.format(x) if x is not None else "—"
    for n in sizes:
        g = suite.median("intro_gather", n, name)
        gp = suite.median("intro_gather_p99", n, name)
        i = suite.median("introspect", n, name)
        ip = suite.median("introspect_p99", n, name)
        idle = suite.median("idle_cpu", n, name)
        polled = suite.median("polled_cpu", n, name)
        ratio = i / g if i is not None and g else None
        rows.append(f"| {n} | {f(g)} | {f(gp)} | {f(i)} | {f(ip)} | "
                    f"{f(ratio, '{:.2f}×')} | {f(idle, '{:.3f}')} | "
                    f"{f(polled, '{:.3f}')} |")
        if n == 32 and ratio is not None:
            verdict.append(f"N = 32: introspection {ratio:.2f}× a "
                           f"call+gather (budget ≤ 2×): "
                           f"{'met' if ratio <= 2 else 'missed'}.")
    return "\n".join(rows + [""] + verdict)


def only_introspect(suite, runner, log, mesh_env, contenders, sizes):
    for c in contenders.values():
        c.close()
    suite.note("introspection")
    c = Runner("libmesh", [runner, "--contender", "libmesh"], log,
               env=mesh_env, features=("rtt_api",))
    idle_s = 5
    try:
        suite.run_introspect("libmesh", c, sizes, idle_s)
    finally:
        c.close()
    report = "\n".join([
        f"libmesh alone; medians of {suite.args.reps} repetitions after a "
        "warm-up, each a fresh local() + spawn of N procs with one actor "
        "each; in each, max(20, min(200, 400 / N)) call+gathers over all N "
        "and as many introspections of the whole tree (hosts, procs with "
        "their /proc figures, actors), in alternating blocks. Worker CPU: "
        f"run time of all N procs' threads (schedstat) over {idle_s} s, divided by "
        f"{idle_s} s and N, once with the client asking nothing, once with "
        "the client introspecting every second (what meshctl top costs).",
        "", introspect_report(suite, sizes), "",
        f"Suite run time: {suite.elapsed():.0f} s."])
    print(report)
    if suite.args.markdown:
        with open(suite.args.markdown, "w") as f:
            f.write(report + "\n")


def only_auth(suite, runner, log, mesh_env, contenders):
    for c in contenders.values():
        c.close()
    run_auth_section(suite, runner, log, mesh_env)
    report = "\n".join([
        f"Medians of {suite.args.reps} alternating repetitions after a "
        "warm-up; mutual TLS is libmesh's default transport, plain TCP is "
        "MESH_TRANSPORT_INSECURE=1.", "",
        auth_table(suite, ["mutual TLS", "plain TCP"]), "",
        auth_targets(suite, "mutual TLS", "plain TCP"), "",
        f"Suite run time: {suite.elapsed():.0f} s."])
    print(report)
    if suite.args.markdown:
        with open(suite.args.markdown, "w") as f:
            f.write(report + "\n")


# --- Slurm bring-up (issue 16) ----------------------------------------------------

SLURM_SHAPES = [1, 2, 4]  # hosts (meshd daemons, srun tasks) on the one node
# The allocator's poll_interval: its default, and a tighter one.
SLURM_POLLS_MS = [500, 100]
SLURM_FLOOR_POLL_S = 0.01
SLURM_CONTENDERS = ["libmesh 500", "libmesh 100", "srun", "sbatch floor"]
SLURM_TITLES = {
    "libmesh 500": "libmesh, poll 500 ms (default)",
    "libmesh 100": "libmesh, poll 100 ms",
    "srun": "`srun hostname`",
    "sbatch floor": "sbatch + srun floor",
}
SLURM_SEED = 16  # of the contenders' order: the same in every run
SLURM_ENDED = ("COMPLETED", "")  # "": slurmctld no longer knows the job


class SlurmUnavailable(Exception):
    pass


class SlurmLocal:
    """test/slurm_local: the tests' private one-node Slurm (munged,
    slurmctld, slurmd on ports of its own) for the time of the benchmark.
    Closing its stdin stops it and everything its jobs left."""

    def __init__(self, exe, workdir):
        self.exe = exe
        self.err_path = os.path.join(workdir, "slurm_local.err")
        self.proc = None
        self.info = {}

    def start(self, timeout=120):
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [self.exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, text=True, bufsize=1)
        lines = queue.Queue()
        out = self.proc.stdout

        def pump():
            for line in out:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + bounded(timeout)
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ContenderError(f"slurm_local not ready in {timeout} s")
            if line is None:
                rc = self.proc.wait()
                self.proc = None
                with open(self.err_path) as f:
                    why = f.read().strip()
                if rc == 77:
                    raise SlurmUnavailable(why)
                raise ContenderError(f"slurm_local exited {rc}: {why}")
            line = line.strip()
            if line == "ready":
                return self.info
            key, _, value = line.partition("=")
            self.info[key] = value

    def stop(self):
        if not self.proc:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        # Cancelling the jobs and stopping three daemons takes seconds.
        for sig, wait in ((None, 90), (signal.SIGTERM, 30),
                          (signal.SIGKILL, 10)):
            if sig is not None:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None


def slurm_run(argv, env, timeout=30):
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=bounded(timeout))


def slurm_job_state(job, env):
    """JobState of a job; "" once slurmctld no longer knows it."""
    r = slurm_run(["scontrol", "show", "job", "-o", job], env, 10)
    if r.returncode != 0:
        if "Invalid job id" in r.stderr:
            return ""
        raise ContenderError(f"scontrol show job {job}: {r.stderr.strip()}")
    for word in r.stdout.split():
        if word.startswith("JobState="):
            return word.split("=", 1)[1]
    raise ContenderError(f"scontrol show job {job}: no JobState")


def slurm_active_jobs(env):
    r = slurm_run(["squeue", "-h", "-o", "%i"], env, 10)
    return r.stdout.split() if r.returncode == 0 else None


def slurm_wait_idle(env, timeout=60):
    """Until no job is active and the node is idle again (it is
    'completing' for a moment after a job): untimed, before every
    measurement, so that each starts from the same state."""
    deadline = time.monotonic() + bounded(timeout)
    while True:
        jobs = slurm_active_jobs(env)
        r = slurm_run(["sinfo", "-h", "-o", "%T"], env, 10)
        if jobs == [] and r.stdout.strip() == "idle":
            return
        if time.monotonic() >= deadline:
            raise ContenderError(
                f"the node is not idle after {timeout} s (jobs {jobs}, "
                f"sinfo '{r.stdout.strip()}')")
        time.sleep(0.05)


def slurm_reconfigure(conf, env, scheduler_parameters):
    """Sets SchedulerParameters in the private cluster's slurm.conf and has
    slurmctld read it again."""
    with open(conf, "a") as f:
        f.write(f"SchedulerParameters={scheduler_parameters}\n")
    r = slurm_run(["scontrol", "reconfigure"], env, 30)
    if r.returncode != 0:
        raise ContenderError(f"scontrol reconfigure: {r.stderr.strip()}")
    r = slurm_run(["scontrol", "show", "config"], env, 30)
    if scheduler_parameters not in r.stdout:
        raise ContenderError("slurmctld did not take SchedulerParameters="
                             + scheduler_parameters)


def slurm_cancel_all(env):
    """Recovery after a failed measurement: the cluster is private, every
    job in it is the benchmark's."""
    jobs = slurm_active_jobs(env) or []
    if jobs:
        slurm_run(["scancel"] + jobs, env, 10)


def slurm_log_time(line):
    """The time slurmctld stamped a log line with ("[2026-12-07T19:02:06.744]
    ..."), in seconds since the epoch."""
    return datetime.datetime.fromisoformat(line[1:line.index("]")]).timestamp()


def slurm_sched_wait_ms(log_path, job):
    """Slurm's own wait before a batch job runs: from slurmctld taking the
    submission to it allocating the job, as its log stamps both (ms)."""
    needle = f"JobId={job} "
    submitted = allocated = None
    with open(log_path, errors="replace") as f:
        for line in f:
            if needle not in line or not line.startswith("["):
                continue
            if "_slurm_rpc_submit_batch_job" in line:
                submitted = slurm_log_time(line)
            elif allocated is None and ("sched: Allocate" in line
                                        or "Started JobId" in line):
                allocated = slurm_log_time(line)
    if submitted is None or allocated is None:
        raise ContenderError(f"slurmctld's log has no submission or "
                             f"allocation of job {job}")
    return (allocated - submitted) * 1e3


def pids_mentioning(text):
    """Processes whose command line holds `text` (a spool path: meshd's
    --address-file, the task wrappers, the job script's srun)."""
    needle = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


class SlurmBench:
    """libmesh's allocator (bench/slurm_bringup) against plain srun and an
    sbatch + srun floor of the same shape, interleaved, on one node."""

    def __init__(self, suite, cluster, runner, env, workdir, spool_root):
        self.suite = suite
        self.ctld_log = os.path.join(os.path.dirname(cluster["SLURM_CONF"]),
                                     "log", "slurmctld.log")
        self.partition = cluster["partition"]
        self.node = cluster["node"]
        self.runner = runner
        self.env = env
        self.workdir = workdir
        self.spool_root = spool_root
        # The allocator removes a job's spool when it cancels the job, its
        # daemons' output (job.out) with it: kept here while jobs run, for
        # the report of a failed bring-up.
        self.outputs = os.path.join(workdir, "outputs")
        os.mkdir(self.outputs)
        self.watching = True
        self.watcher = threading.Thread(target=self.keep_outputs, daemon=True)
        self.watcher.start()

    def keep_outputs(self):
        while self.watching:
            try:
                spools = os.listdir(self.spool_root)
            except OSError:
                spools = []
            for spool in spools:
                try:
                    shutil.copyfile(
                        os.path.join(self.spool_root, spool, "job.out"),
                        os.path.join(self.outputs, spool + ".out"))
                except OSError:
                    pass
            time.sleep(0.1)

    def close(self):
        self.watching = False
        self.watcher.join()

    def last_output(self):
        """The end of the newest job's output: "; its daemons wrote: ..." """
        time.sleep(0.3)  # a last copy
        outs = [os.path.join(self.outputs, f)
                for f in os.listdir(self.outputs)]
        if not outs:
            return ""
        with open(max(outs, key=os.path.getmtime), errors="replace") as f:
            lines = [ln.strip() for ln in f.read().splitlines()
                     if ln.strip()]
        return "; its daemons wrote: " + " / ".join(lines[-8:])

    def libmesh(self, hosts, poll_ms, name, keep):
        r = self.runner.command(f"up {hosts} {poll_ms}", timeout=120)
        if int(r["hosts"]) != hosts:
            raise ContenderError(f"{r['hosts']} of {hosts} hosts attached")
        d = self.runner.command("down", timeout=120)
        left = pids_mentioning(self.spool_root)
        state = slurm_job_state(r["job"], self.env)
        put = self.suite.put
        up = float(r["ms"])
        put("up", hosts, name, up, keep)
        put("running", hosts, name, float(r["running_ms"]), keep)
        put("ready", hosts, name, float(r["ready_ms"]), keep)
        put("attach", hosts, name, up - float(r["ready_ms"]), keep)
        put("down", hosts, name, float(d["ms"]), keep)
        self.put_sched(hosts, name, r["job"], up, keep)
        put("left", hosts, name, len(left), keep)
        put("ended", hosts, name, 1 if state in SLURM_ENDED else 0, keep)
        if state not in SLURM_ENDED:
            self.suite.note(f"{name} H={hosts}: job {r['job']} is {state} "
                            "after shutdown")
        if left:
            self.suite.note(f"{name} H={hosts}: processes left {left}")

    def srun(self, hosts, name, keep):
        argv = ["srun", f"--partition={self.partition}", "--nodes=1",
                f"--ntasks-per-node={hosts}", f"--ntasks={hosts}", "hostname"]
        t0 = time.perf_counter()
        r = slurm_run(argv, self.env, 60)
        ms = (time.perf_counter() - t0) * 1e3
        if r.returncode != 0 or r.stdout.split() != [self.node] * hosts:
            raise ContenderError(f"srun exited {r.returncode}: "
                                 f"{r.stdout.strip()} {r.stderr.strip()}")
        self.suite.put("up", hosts, name, ms, keep)

    def sbatch_floor(self, hosts, name, keep):
        """What the allocator does with `hostname` in meshd's place: sbatch
        of a script whose srun tasks each write a file (written aside and
        renamed, as meshd writes its address), polled every 10 ms."""
        spool = tempfile.mkdtemp(prefix="floor-", dir=self.workdir)
        try:
            script = os.path.join(spool, "job.sh")
            task = ('hostname > "$0/.$SLURM_PROCID" && '
                    'mv "$0/.$SLURM_PROCID" "$0/$SLURM_PROCID"')
            with open(script, "w") as f:
                f.write("#!/bin/bash\nset -u\n"
                        f"exec srun --nodes=1 --ntasks-per-node={hosts} "
                        f"--ntasks={hosts} --kill-on-bad-exit=0 "
                        f"bash -c {shlex.quote(task)} {shlex.quote(spool)}\n")
            os.chmod(script, 0o700)
            files = [os.path.join(spool, str(i)) for i in range(hosts)]
            deadline = time.monotonic() + bounded(60)
            t0 = time.perf_counter()
            r = slurm_run(["sbatch", "--parsable", "--job-name=floor",
                           "--nodes=1", f"--ntasks-per-node={hosts}",
                           f"--partition={self.partition}",
                           f"--output={spool}/job.out", script], self.env)
            if r.returncode != 0:
                raise ContenderError(f"sbatch: {r.stderr.strip()}")
            while not all(os.path.exists(p) for p in files):
                if time.monotonic() >= deadline:
                    raise ContenderError("the floor's tasks wrote no files "
                                         "in 60 s")
                time.sleep(SLURM_FLOOR_POLL_S)
            ms = (time.perf_counter() - t0) * 1e3
            job = r.stdout.strip().split(";")[0]
            # Untimed: the job ends by itself once its tasks did.
            end = time.monotonic() + bounded(30)
            while slurm_job_state(job, self.env) not in SLURM_ENDED:
                if time.monotonic() >= end:
                    raise ContenderError(f"floor job {job} did not end")
                time.sleep(0.05)
            self.suite.put("up", hosts, name, ms, keep)
            self.put_sched(hosts, name, job, ms, keep)
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def put_sched(self, hosts, name, job, up, keep):
        """Splits a batch job's bring-up into Slurm's scheduling wait and
        the rest (sbatch, the job's start, the tasks, finding them)."""
        wait = slurm_sched_wait_ms(self.ctld_log, job)
        self.suite.put("sched", hosts, name, wait, keep)
        self.suite.put("rest", hosts, name, up - wait, keep)

    def measure(self, hosts, name, keep):
        if name == "srun":
            self.srun(hosts, name, keep)
        elif name == "sbatch floor":
            self.sbatch_floor(hosts, name, keep)
        else:
            self.libmesh(hosts, int(name.split()[1]), name, keep)

    def run(self, reps):
        """Repetition 0 is a warm-up. The contenders' order is shuffled for
        every shape of every repetition: when a batch job starts depends on
        when slurmctld last scheduled, so on what ran just before it (a
        rotation would give each contender the same predecessor every
        time)."""
        order = list(SLURM_CONTENDERS)
        shuffle = random.Random(SLURM_SEED).shuffle
        for rep in range(reps + 1):
            for hosts in SLURM_SHAPES:
                if time_left() < 60:
                    self.suite.note("out of time")
                    return
                shuffle(order)
                self.suite.note(f"rep {rep}, {hosts} host(s): "
                                + ", ".join(order))
                for name in order:
                    try:
                        slurm_wait_idle(self.env)
                        self.measure(hosts, name, keep=rep > 0)
                    except (ContenderError, OSError, KeyError, ValueError,
                            subprocess.TimeoutExpired) as err:
                        self.suite.put("failed", hosts, name, 1, True)
                        if name.startswith("libmesh"):
                            err = f"{err}{self.last_output()}"
                        self.suite.errors.setdefault((hosts, name), str(err))
                        self.suite.note(f"{name} H={hosts}: {err}")
                        if name.startswith("libmesh"):
                            try:
                                self.runner.command("down", timeout=60)
                            except (ContenderError, OSError):
                                self.runner.kill()
                        slurm_cancel_all(self.env)


def spread(xs):
    """median (min–max) of a list of ms."""
    if not xs:
        return "—"
    return (f"{statistics.median(xs):.0f} ({min(xs):.0f}–{max(xs):.0f})")


def slurm_report(suite, reps):
    s = suite.samples
    lm = SLURM_CONTENDERS[:2]
    batch = lm + ["sbatch floor"]

    def xs(fig, n, name):
        return s.get((fig, n, name), [])

    def ratio(fig, a, b, n):
        x, y = suite.median(fig, n, a), suite.median(fig, n, b)
        return f"{x / y:.2f}×" if x is not None and y else "—"

    def title(c):
        return SLURM_TITLES[c] + " (ms)"

    pairs = [(a, b) for b in ("srun", "sbatch floor") for a in lm]
    total = ["| hosts | " + " | ".join(title(c) for c in SLURM_CONTENDERS)
             + " | " + " | ".join(f"{a} ÷ {b}" for a, b in pairs) + " |",
             "|---:|" + "---:|" * (len(SLURM_CONTENDERS) + len(pairs))]
    rest = ["| hosts | " + " | ".join(
        f"{SLURM_TITLES[c]}: Slurm's wait (ms) | the rest (ms)"
        for c in batch) + " | " + " | ".join(
            f"rest {a} ÷ floor" for a in lm) + " |",
        "|---:|" + "---:|" * (2 * len(batch) + len(lm))]
    phases = ["| hosts | poll | RUNNING seen (ms) | every address seen "
              "(ms) | attach (ms) | bring-up (ms) | shutdown (ms) | job "
              "ended after shutdown | processes left | failed |",
              "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for n in SLURM_SHAPES:
        total.append(f"| {n} | " + " | ".join(
            spread(xs("up", n, c)) for c in SLURM_CONTENDERS) + " | "
            + " | ".join(ratio("up", a, b, n) for a, b in pairs) + " |")
        rest.append(f"| {n} | " + " | ".join(
            f"{spread(xs('sched', n, c))} | {spread(xs('rest', n, c))}"
            for c in batch) + " | " + " | ".join(
                ratio("rest", a, "sbatch floor", n) for a in lm) + " |")
        for c in lm:
            ended = xs("ended", n, c)
            phases.append(
                f"| {n} | {c.split()[1]} ms | {spread(xs('running', n, c))} "
                f"| {spread(xs('ready', n, c))} | "
                f"{spread(xs('attach', n, c))} | {spread(xs('up', n, c))} | "
                f"{spread(xs('down', n, c))} | {sum(ended)} of "
                f"{len(ended)} | {sum(xs('left', n, c))} | "
                f"{len(xs('failed', n, c))} |")
    return "\n".join([
        f"One node, 1 × H hosts; {reps} repetitions after a warm-up, "
        "interleaved in a shuffled order; median (min–max) in ms, ÷ are "
        "ratios of medians. libmesh: host_mesh::allocate of "
        "mesh::slurm::job, from the call (spool, sbatch) until it returned "
        "with every host attached. srun: `srun --nodes=1 "
        "--ntasks-per-node=H hostname`, its own allocation, until it "
        "exited. sbatch + srun floor: the allocator's path with `hostname` "
        "in meshd's place (sbatch of a script running srun, each task "
        "writing a file), until every file was there, polled every 10 ms.",
        "", "\n".join(total), "",
        "The batch jobs' bring-up split into Slurm's scheduling wait (from "
        "slurmctld taking the submission to it allocating the job, as its "
        "log stamps both) and the rest (sbatch, the batch script, srun's "
        "step, the tasks, and finding them):",
        "", "\n".join(rest), "",
        "libmesh's bring-up as its progress reports saw it (times from the "
        "call, at the allocator's polls), the attach after the last poll, "
        "and the shutdown (host_mesh::shutdown() until it returned: daemons "
        "stopped, the job seen ended by the allocation's release); failed: "
        "bring-ups that failed, warm-up included (the notes say why):",
        "", "\n".join(phases)])


def only_slurm(args, log):
    # SIGTERM (bench/run's time limit, or anyone's) unwinds through the
    # finally below: the runner quits, the cluster stops, the files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    bench_dir = os.path.join(args.build, "bench")
    suite = Suite(args, {}, {})
    exe = os.path.join(args.build, "test", "slurm_local")
    bringup = os.path.join(bench_dir, "slurm_bringup")
    missing = [p for p in (exe, bringup,
                           os.path.join(args.build, "tools", "meshd"))
               if not os.path.exists(p)]
    why = None
    if os.geteuid() != 0:
        why = ("not root: slurmctld and slurmd run as root, as in the "
               "Slurm tests")
    elif missing:
        why = "not built: " + ", ".join(missing)
    report = None
    workdir = tempfile.mkdtemp(prefix="libmesh-slurm-bench-")
    cluster = SlurmLocal(exe, workdir)
    runner = None
    cluster_dir = None
    try:
        if why is None:
            suite.note("starting the one-node Slurm (test/slurm_local)")
            try:
                info = cluster.start()
                cluster_dir = os.path.dirname(info["SLURM_CONF"])
            except SlurmUnavailable as err:
                why = str(err)
        if why is None:
            spool_root = os.path.join(workdir, "spool")
            runtime = os.path.join(workdir, "runtime")
            os.mkdir(runtime, 0o700)
            env = dict(os.environ, SLURM_CONF=info["SLURM_CONF"],
                       SBATCH_OUTPUT=info["SBATCH_OUTPUT"],
                       MESH_SLURM_SPOOL=spool_root,
                       MESH_RUNTIME_DIR=runtime)
            if args.slurm_scheduler_parameters:
                slurm_reconfigure(info["SLURM_CONF"], env,
                                  args.slurm_scheduler_parameters)
                suite.note("SchedulerParameters="
                           + args.slurm_scheduler_parameters)
            runner = Runner("libmesh", [bringup, "--partition",
                                        info["partition"]], log, env=env)
            bench = SlurmBench(suite, info, runner, env, workdir, spool_root)
            try:
                bench.run(args.reps)
            finally:
                bench.close()
            report = slurm_report(suite, args.reps)
    finally:
        if runner:
            runner.close()
        cluster.stop()
        # Everything the run started names the directory: the cluster's
        # daemons (slurm.conf), the jobs' scripts and daemons (spools).
        left = pids_mentioning(workdir)
        if cluster_dir:
            left += pids_mentioning(cluster_dir)
        shutil.rmtree(workdir, ignore_errors=True)
    if report is None:
        report = f"Slurm bring-up skipped: {why}"
    else:
        if args.slurm_scheduler_parameters:
            report += ("\n\nThe cluster ran with SchedulerParameters="
                       + args.slurm_scheduler_parameters + ".")
        report += ("\n\nProcesses of the run left once the cluster was "
                   f"stopped: {len(left)}.")
    notes = [f"* {name} H={n} failed: {err}"
             for (n, name), err in sorted(suite.errors.items(),
                                          key=lambda kv: str(kv[0]))]
    report = "\n".join([report] + ([""] + notes if notes else [])
                       + ["", f"Suite run time: {suite.elapsed():.0f} s."])
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="the Meson build dir")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sizes", default="1,8,32,128")
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--deadline", type=float, default=520,
                        help="no repetition of N >= 128 starts if it would "
                        "end past this many seconds")
    parser.add_argument("--time-limit", type=float, default=550,
                        help="stop measuring after this many seconds and "
                        "print what there is (bench/run ends the suite at "
                        "590 s)")
    parser.add_argument("--only-async", action="store_true",
                        help="measure only libmesh's non-blocking calls "
                        "against its blocking ones (issue 14)")
    parser.add_argument("--only-introspect", action="store_true",
                        help="measure only introspection against "
                        "call+gather, and the workers' idle CPU (issue 15)")
    parser.add_argument("--markdown", help="also write the report here")
    parser.add_argument("--skip", default="", help="contenders to leave out")
    parser.add_argument("--only-auth", action="store_true",
                        help="measure only the cost of authentication "
                        "(mutual TLS against plain TCP)")
    parser.add_argument("--only-slurm", action="store_true",
                        help="measure only the bring-up of host meshes on "
                        "Slurm against srun of the same shape, on a private "
                        "one-node Slurm (issue 16; needs root)")
    parser.add_argument("--slurm-scheduler-parameters", default="",
                        help="with --only-slurm: SchedulerParameters= for "
                        "the private cluster (e.g. batch_sched_delay=0), "
                        "set with scontrol reconfigure before measuring")
    args = parser.parse_args()
    global HARD_DEADLINE
    HARD_DEADLINE = time.monotonic() + args.time_limit

    bench_dir = os.path.join(args.build, "bench")
    src_dir = os.path.dirname(os.path.abspath(__file__))
    log = open(os.path.join(bench_dir, "suite.log"), "w")
    if args.only_slurm:
        return only_slurm(args, log)
    runner = os.path.join(bench_dir, "runner")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable
    contenders, skipped = {}, {}
    for name in args.skip.split(","):
        if name:
            skipped[name] = "left out (--skip)"

    def runner_of(name, features=(), env=None):
        return Runner(name, [runner, "--contender", name], log, env=env,
                      features=features)

    # These bound what a failure costs (a proc that never answers fails a
    # spawn after call_timeout, 30 s by default, and is then stopped after
    # terminate_timeout, 10 s) without touching any timed path: the longest
    # call here takes well under a second, a polite stop ~0.1 s.
    mesh_env = dict(os.environ, MESH_CALL_TIMEOUT="5s",
                    MESH_TERMINATE_TIMEOUT="2s")
    contenders["libmesh"] = runner_of("libmesh",
                                      ("rtt_api", "direct", "async"), mesh_env)
    contenders["floor"] = runner_of("floor")
    contenders["caf"] = runner_of("caf")
    epmd = None
    beam = os.path.join(bench_dir, "bench_erlang.beam")
    if "erlang" in skipped:
        pass
    elif not (shutil.which("erl") and shutil.which("epmd")
              and os.path.exists(beam)):
        skipped["erlang"] = "erl/epmd or bench_erlang.beam missing"
    else:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        epmd_port = probe.getsockname()[1]
        probe.close()
        epmd = subprocess.Popen(["epmd", "-address", "127.0.0.1", "-port",
                                 str(epmd_port)], stdout=log, stderr=log)
        env = dict(os.environ, ERL_EPMD_PORT=str(epmd_port))
        contenders["erlang"] = Runner(
            "erlang", ["erl", "-noshell", "-start_epmd", "false",
                       "-name", "bench_runner@127.0.0.1",
                       "-connect_all", "false",
                       "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                       "-pa", bench_dir, "-run", "bench_erlang", "main"],
            log, env=env)
    mpi_exe = os.path.join(bench_dir, "mpi_ready")
    if "mpi" in skipped:
        pass
    elif not (shutil.which("mpirun") and os.path.exists(mpi_exe)):
        skipped["mpi"] = "mpirun or mpi_ready missing"
    else:
        contenders["mpi"] = MpiContender(mpi_exe, log)
    if "python" not in skipped:
        contenders["python"] = Runner(
            "python", [python, os.path.join(src_dir, "python_runner.py")], log)
    for name in skipped:
        contenders.pop(name, None)
    for c in contenders.values():
        if isinstance(c, Runner):
            c.start()

    sizes = [int(x) for x in args.sizes.split(",")]
    suite = Suite(args, contenders, skipped)
    scale_sizes = [1, 2, 4, 8, 16, 32, 64, 128]
    mem_sizes = [1, 8]
    mem_launchers = [("libmesh", "libmesh (zygote fork)"),
                     ("floor", "floor (posix_spawn)"),
                     ("floor-fork", "floor (fork + exec)")]
    # libmesh sets middleman.workers=0 (mesh::configure): this shows what
    # that choice is worth against CAF's default.
    tuning = {"default": [], "middleman.workers=1":
              ["--caf", "middleman.workers=1"]}
    extra = {}  # runners of the side experiments
    small = [n for n in sizes if n < 128]
    large = [n for n in sizes if n >= 128]
    if args.only_auth:
        return only_auth(suite, runner, log, mesh_env, contenders)
    if args.only_introspect:
        return only_introspect(suite, runner, log, mesh_env, contenders,
                               sizes)
    if args.only_async:
        return only_async(suite, runner, log, mesh_env, contenders, sizes)
    try:
        suite.run_main(small)
        suite.note("scaling")
        suite.run_scaling(scale_sizes)
        suite.note("spawn cost vs client memory")
        for launcher, _ in mem_launchers:
            for client, ballast in (("small", "0"), ("1GiB", "1024")):
                extra[(launcher, client)] = Runner(
                    launcher, [runner, "--contender", launcher,
                               "--ballast", ballast], log, env=mesh_env)
        suite.run_memory({k: extra[k] for k in extra}, mem_sizes,
                         2 * args.reps)
        for c in extra.values():
            c.close()
        suite.note("CAF options for libmesh")
        for key, options in tuning.items():
            extra[key] = Runner(key, [runner, "--contender", "libmesh"]
                                + options, log, env=mesh_env,
                                features=("rtt_api", "direct"))
        suite.run_tuning({k: extra[k] for k in tuning}, TUNING_SIZES)
        for k in tuning:
            extra[k].close()
        extra.update(run_auth_section(suite, runner, log, mesh_env))
        # The binaries and caches are warm by now: N=128 has no warm-up,
        # and it stops early rather than overrun the run's time limit.
        suite.run_main(large, warm_up=False, deadline=args.deadline)
    finally:
        for c in list(contenders.values()) + list(extra.values()):
            c.close()
        if epmd:
            epmd.send_signal(signal.SIGTERM)
            epmd.wait()

    warm = ", ".join(str(n) for n in large)
    parts = [
        f"Medians of {args.reps} repetitions after a warm-up"
        + (f" (N = {warm}: no warm-up, the binaries are warm by then)"
           if large else "")
        + "; ÷ columns are libmesh ÷ baseline (for MB/s higher is better, "
        "for everything else lower is better).",
        "",
        main_table(suite, sizes),
        "",
        "Non-blocking calls (issue 14): mesh::async::call from an "
        "event-based actor of the client, each call started from the "
        "previous one's continuation, against actor_mesh::call from the "
        "runner's thread; same mesh, message and sample count, in "
        "alternating blocks (the blocking half is the main table's round "
        "trip via actor_mesh::call and call+gather):",
        "",
        async_table(suite, sizes),
        "",
        async_verdict(suite, sizes),
        "",
        "Scaling of libmesh (bring-up to ready, call+gather):",
        "",
        growth_table(suite, scale_sizes),
        "",
        f"Spawn cost vs client memory (bring-up to ready, medians of "
        f"{2 * args.reps} alternating repetitions):",
        "",
        memory_table(suite, mem_sizes, mem_launchers),
        "",
        "libmesh with a CAF option changed in client and procs "
        "(interleaved with libmesh's defaults, which set "
        "middleman.workers=0):",
        "",
        tuning_table(suite, list(tuning)),
        "",
        "Authentication (issue 12): libmesh with its default transport, "
        "mutual TLS 1.3 with the mesh key, against plain TCP "
        "(MESH_TRANSPORT_INSECURE=1), alternating:",
        "",
        auth_table(suite, ["mutual TLS", "plain TCP"]),
        "",
        auth_targets(suite, "mutual TLS", "plain TCP"),
        "",
        "Targets (architecture §9, issue 7):",
        "",
        targets(suite, mem_sizes[-1]),
    ]
    notes = [f"* {TITLES.get(k, k)} skipped: {v}" for k, v in skipped.items()]
    notes += [f"* N={n}: only {k} repetitions fitted in the time budget"
              for n, k in suite.short_sizes.items()]
    if time_left() <= 0:
        notes.append(f"* measuring stopped at the time limit "
                     f"({args.time_limit:.0f} s); later figures are missing")
    notes += [f"* {name} N={n} failed: {err}"
              for (n, name), err in sorted(suite.errors.items(),
                                           key=lambda kv: str(kv[0]))]
    if notes:
        parts += ["", *notes]
    parts += ["", f"Suite run time: {suite.elapsed():.0f} s."]
    report = "\n".join(parts)
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
