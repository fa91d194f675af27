"""The Python baseline of bench/suite.py: N multiprocessing workers, each
with a Pipe, started, messaged and stopped the obvious way (the platform's
default start method). Speaks the suite's runner protocol: one command per
line on stdin, one reply per line on stdout (see bench/suite.py)."""

import multiprocessing
import sys
import time


def worker(conn):
    """Echoes ints, counts the bytes of bytes payloads, answers 'get' with
    the count, ends on 'stop'."""
    received = 0
    conn.send("ready")
    while True:
        msg = conn.recv()
        if isinstance(msg, int):
            conn.send(msg)
        elif isinstance(msg, bytes):
            received += len(msg)
        elif msg == "get":
            conn.send(received)
        elif msg == "stop":
            return


def percentile(samples, p):
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


class Runner:
    def __init__(self):
        self.procs = []
        self.conns = []
        self.total = 0

    def up(self, n):
        t0 = time.perf_counter()
        for _ in range(n):
            parent, child = multiprocessing.Pipe()
            proc = multiprocessing.Process(target=worker, args=(child,))
            proc.start()
            child.close()
            self.procs.append(proc)
            self.conns.append(parent)
        for conn in self.conns:
            if conn.recv() != "ready":
                raise RuntimeError("a worker did not say ready")
        ms = (time.perf_counter() - t0) * 1e3
        self.total = 0
        pids = ",".join(str(p.pid) for p in self.procs)
        return f"ok ms={ms:.3f} pids={pids}"

    def rtt(self, k):
        conn = self.conns[0]
        samples = []
        for i in range(k):
            t0 = time.perf_counter()
            conn.send(i)
            if conn.recv() != i:
                raise RuntimeError("wrong echo")
            samples.append((time.perf_counter() - t0) * 1e6)
        return (f"ok med_us={percentile(samples, 50):.3f} "
                f"p99_us={percentile(samples, 99):.3f}")

    def gather(self, k):
        samples = []
        for i in range(k):
            t0 = time.perf_counter()
            for conn in self.conns:
                conn.send(i)
            for conn in self.conns:
                if conn.recv() != i:
                    raise RuntimeError("wrong echo")
            samples.append((time.perf_counter() - t0) * 1e3)
        return f"ok med_ms={percentile(samples, 50):.3f}"

    def cast(self, size, count):
        payload = bytes(size)
        t0 = time.perf_counter()
        for _ in range(count):
            for conn in self.conns:
                conn.send(payload)
        for conn in self.conns:
            conn.send("get")
        total = sum(conn.recv() for conn in self.conns)
        ms = (time.perf_counter() - t0) * 1e3
        delivered, self.total = total - self.total, total
        return f"ok ms={ms:.3f} bytes={delivered}"

    def down(self):
        t0 = time.perf_counter()
        for conn in self.conns:
            conn.send("stop")
        for proc in self.procs:
            proc.join()
        ms = (time.perf_counter() - t0) * 1e3
        for conn in self.conns:
            conn.close()
        self.procs, self.conns = [], []
        return f"ok ms={ms:.3f}"


def main():
    runner = Runner()
    commands = {
        "up": lambda n: runner.up(int(n)),
        "rtt": lambda k: runner.rtt(int(k)),
        "gather": lambda k: runner.gather(int(k)),
        "cast": lambda size, count: runner.cast(int(size), int(count)),
        "down": runner.down,
    }
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            reply = commands[words[0]](*words[1:])
        except Exception as ex:  # reported to the driver, which skips the cell
            reply = f"err {type(ex).__name__}: {ex}"
        print(reply, flush=True)
    if runner.procs:
        runner.down()


if __name__ == "__main__":
    main()
