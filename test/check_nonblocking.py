#!/usr/bin/env python3
"""Fails when library code can block a thread without saying why.

libmesh's actors never block (issue 14): an actor's thread is a scheduler
worker, and a client may have only one. Blocking is allowed only where the
caller is not an actor -- the blocking face of the API on an application
thread, a detached actor's own thread, a process's main thread -- and every
such place says so on its line or the three lines above with a comment
starting "// blocking:" (the reason follows).

Checked: actors/ and libmesh/src/client/ (bootstrap/ is the OS layer, whose
functions are called from those places and marked there). Blocking
primitives: caf::scoped_actor, a blocking receive, await_op (the blocking
face of an operation), the blocking gather, sleeps, joins, timed waits, and
bootstrap/network.hpp's blocking connects, knocks and publishes.

Usage: check_nonblocking.py SOURCE_ROOT   check the tree, list every site
       check_nonblocking.py --self-test   prove the check fails on a bad tree
"""
import os
import re
import sys
import tempfile

CHECKED = ("actors/", "libmesh/src/client/")
BLOCKING = re.compile(
    r"scoped_actor\s+\w+\s*\{|\.receive\(|\bawait_op<|\bgather<[^>]*>\(\s*\*?\w*sys"
    r"|sleep_for\(|\busleep\(|\.join\(\)|\bwait_for\("
    r"|\bnet::(knock|connect|connect_each|connect_all|publish)(<[^>]*>)?\("
    r"|\bpublish_host_agent\(")
MARK = re.compile(r"//\s*blocking:")


def violations(root):
    found = []
    for prefix in CHECKED:
        base = os.path.join(root, prefix)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith((".cpp", ".hpp")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                for i, line in enumerate(lines):
                    code = line.split("//", 1)[0]
                    if not BLOCKING.search(code):
                        continue
                    window = lines[max(0, i - 3):i + 1]
                    if not any(MARK.search(w) for w in window):
                        found.append(f"{rel}:{i + 1}: {line.strip()}")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "actors"))
        bad = os.path.join(root, "actors", "bad.cpp")
        with open(bad, "w") as f:
            f.write("void f(caf::actor_system& sys) {\n"
                    "  caf::scoped_actor self{sys};\n}\n")
        if not violations(root):
            print("self-test: an unmarked scoped_actor was not found")
            return 1
        with open(bad, "w") as f:
            f.write("void f(caf::actor_system& sys) {\n"
                    "  // blocking: called from main()\n"
                    "  caf::scoped_actor self{sys};\n}\n")
        if violations(root):
            print("self-test: a marked scoped_actor was refused")
            return 1
    print("self-test: ok")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    found = violations(argv[1])
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} unmarked blocking site(s): an actor must never "
              "block; mark a site that is not on an actor's thread with "
              "'// blocking: <why>'")
        return 1
    print("no unmarked blocking site")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
