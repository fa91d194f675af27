#!/usr/bin/env python3
"""Installs libmesh into a temporary directory and builds a consumer against it.

Registered as the `install` test in test/meson.build. Steps, each bounded in
time, the test failing at the first one that goes wrong:

  1. `meson install --no-rebuild --destdir TMP/dest` (the configured prefix
     cannot change after setup; DESTDIR moves the whole tree instead);
  2. CMake: `find_package(libmesh <version> EXACT CONFIG REQUIRED)` with
     CMAKE_PREFIX_PATH at TMP/dest/<prefix>, build test/install/consumer.cpp;
  3. pkg-config: `pkg-config --cflags --libs libmesh` with PKG_CONFIG_PATH
     at the installed .pc and PKG_CONFIG_SYSROOT_DIR=TMP/dest, build the same
     source with g++;
  4. compile every installed header alone (-fsyntax-only, strict warnings);
  5. run both consumers with LD_LIBRARY_PATH at the installed libdir and
     check they exit 0 having loaded the installed libmesh.so.

The consumer sources are copied to TMP first, so the only libmesh headers
they can see are the installed ones. The script makes itself a child
subreaper: a process the consumers leave behind (procs, a zygote) is found,
killed and reported as a failure; so is anything left when a step times out
or the test is terminated.
"""
import argparse
import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
STEP_TIMEOUT = 300   # seconds; one compile of the consumer is the slowest step
RUN_TIMEOUT = 120    # seconds for one run of a consumer
HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def set_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise Failure("prctl(PR_SET_CHILD_SUBREAPER): "
                      + os.strerror(ctypes.get_errno()))


def children():
    """Pids whose parent is this process (orphans are reparented to us)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8",
                      errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me and fields[0] != "Z":
            found.append(int(entry))
        elif len(fields) > 1 and int(fields[1]) == me:
            os.waitpid(int(entry), os.WNOHANG)   # reap a zombie orphan
    return found


def describe(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f"{pid} " + f.read().replace(b"\0", b" ").decode(
                errors="replace").strip()
    except OSError:
        return str(pid)


def kill_leftovers(grace):
    """Waits up to `grace` s for our descendants to go, then kills them.
    Returns the descriptions of those that had to be killed."""
    deadline = time.monotonic() + grace
    left = children()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = children()
    killed = [describe(p) for p in left]
    while left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in left:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        left = children()   # their own children are reparented to us now
    return killed


def run(cmd, timeout=STEP_TIMEOUT, env=None, cwd=None):
    """Runs `cmd` in a session of its own; its output goes to our log.
    Returns its output; raises Failure on a non-zero exit or a timeout, after
    killing it and everything it started."""
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    start = time.monotonic()
    # A file, not a pipe: a descendant that escaped the session could hold
    # a pipe open, and reading it would outlast every timeout.
    with tempfile.TemporaryFile(mode="w+", errors="replace") as out:
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                 start_new_session=True)
        except OSError as e:   # e.g. cmake not installed
            raise Failure(f"cannot run {cmd[0]}: {e} (scripts/install-deps.sh "
                          "installs what the tests need)") from None
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:   # timed out, or interrupted: take everything down
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                kill_leftovers(grace=0)
                timeout = None
            out.seek(0)
            text = out.read()
            sys.stdout.write(text)
    if timeout is None:
        raise Failure(f"timed out after {time.monotonic() - start:.0f} s: "
                      + " ".join(cmd))
    log(f"  ({time.monotonic() - start:.1f} s, exit {p.returncode})")
    if p.returncode != 0:
        raise Failure(f"exit code {p.returncode}: {' '.join(cmd)}")
    return text


def check_runs(exe, root, libdir, env):
    """Runs a consumer; checks it used the installed library and left
    nothing behind."""
    env = dict(env, LD_LIBRARY_PATH=libdir)
    env.pop("MESH_BOOTSTRAP", None)
    ldd = run(["ldd", exe], timeout=30, env=env)
    lines = [l for l in ldd.splitlines() if "libmesh.so" in l]
    if not lines or not all(f"=> {root}/" in l for l in lines):
        raise Failure(f"{exe} does not load libmesh.so from {root}: {lines}")
    out = run([exe], timeout=RUN_TIMEOUT, env=env)
    if "consumer: ok" not in out:
        raise Failure(f"{exe} exited 0 without printing 'consumer: ok'")
    killed = kill_leftovers(grace=5)
    if killed:
        raise Failure(f"{exe} left processes behind: {killed}")


def test(args, tmp):
    dest = os.path.join(tmp, "dest")
    root = dest + args.prefix.rstrip("/")   # DESTDIR/<absolute prefix>

    def installed(d):   # meson keeps a dir outside the prefix absolute
        return dest + d if os.path.isabs(d) else os.path.join(root, d)
    libdir = installed(args.libdir)
    includedir = installed(args.includedir)
    env = dict(os.environ)
    for var in ("DESTDIR", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR",
                "PKG_CONFIG_SYSROOT_DIR", "CMAKE_PREFIX_PATH", "CPATH",
                "CPLUS_INCLUDE_PATH", "LIBRARY_PATH", "LD_LIBRARY_PATH"):
        env.pop(var, None)

    run([args.meson, "install", "-C", args.build_root, "--no-rebuild", "--quiet",
         "--destdir", dest], env=env)
    for path in (os.path.join(includedir, "mesh", "mesh.hpp"),
                 os.path.join(libdir, "libmesh.so"),
                 os.path.join(libdir, "pkgconfig", "libmesh.pc"),
                 os.path.join(libdir, "cmake", "libmesh", "libmeshConfig.cmake"),
                 os.path.join(libdir, "cmake", "libmesh",
                              "libmeshConfigVersion.cmake")):
        if not os.path.isfile(path):
            raise Failure(f"not installed: {path}")

    # The consumer sees nothing of the source tree: copy it out.
    src = os.path.join(tmp, "consumer")
    os.mkdir(src)
    for name in ("consumer.cpp", "CMakeLists.txt"):
        shutil.copy(os.path.join(HERE, name), src)

    # CMake, from the relocated package only (no registries, no system one).
    cmake_build = os.path.join(tmp, "cmake-build")
    run(["cmake", "-S", src, "-B", cmake_build, "-G", "Ninja",
         f"-DCMAKE_PREFIX_PATH={root}",
         f"-DLIBMESH_EXPECTED_VERSION={args.version}",
         "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF",
         "-DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF"], env=env)
    with open(os.path.join(cmake_build, "CMakeCache.txt"),
              encoding="utf-8") as cache:
        found = [l.strip() for l in cache if l.startswith("libmesh_DIR:")]
    want = os.path.join(libdir, "cmake", "libmesh")
    if found != [f"libmesh_DIR:PATH={want}"]:
        raise Failure(f"CMake found libmesh elsewhere: {found}, not {want}")
    run(["cmake", "--build", cmake_build, "-j", "1"], env=env)

    # pkg-config: the .pc names the configured prefix; the sysroot puts
    # DESTDIR in front of its -I and -L paths. (pkgconf does the same to the
    # paths of the packages it requires, openssl's /usr/include: directories
    # that do not exist under DESTDIR, so the compiler's defaults still apply.
    # --define-prefix cannot help: it assumes the .pc lies in <prefix>/lib/,
    # not in Debian's lib/x86_64-linux-gnu/.)
    pc_env = dict(env, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"),
                  PKG_CONFIG_SYSROOT_DIR=dest)
    version = run(["pkg-config", "--modversion", "libmesh"], env=pc_env).strip()
    if version != args.version:
        raise Failure(f"pkg-config says libmesh {version}, not {args.version}")
    flags = shlex.split(run(["pkg-config", "--cflags", "--libs", "libmesh"],
                            env=pc_env))
    for flag in (f"-I{includedir}", f"-L{libdir}"):
        if flag not in flags:
            raise Failure(f"pkg-config flags {flags} lack {flag}")

    pc_exe = os.path.join(tmp, "consumer-pc")
    run(["g++", "-std=c++17", "-o", pc_exe, os.path.join(src, "consumer.cpp")]
        + flags, env=env)

    # Each installed header on its own, under strict warnings: none relies
    # on another being included first, none warns in a strict consumer.
    headers = sorted(h for h in os.listdir(os.path.join(includedir, "mesh"))
                     if h.endswith(".hpp"))
    units = []
    for h in headers:
        unit = os.path.join(tmp, "headers", h[:-len(".hpp")] + ".cpp")
        os.makedirs(os.path.dirname(unit), exist_ok=True)
        with open(unit, "w", encoding="utf-8") as f:
            f.write(f"#include <mesh/{h}>\n")
        units.append(unit)
    run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic",
         "-Werror"] + [f for f in flags if f.startswith("-I")] + units, env=env)
    log(f"  {len(units)} headers compile alone")

    check_runs(os.path.join(cmake_build, "consumer"), root, libdir, env)
    check_runs(pc_exe, root, libdir, env)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meson", default="meson")
    parser.add_argument("--build-root", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--libdir", required=True)
    parser.add_argument("--includedir", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (printed)")
    args = parser.parse_args()

    # meson test ends a test that times out with SIGTERM: clean up then too.
    def terminated(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # once: let us clean up
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise Failure(f"terminated by signal {signum}")
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, terminated)

    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="libmesh-install-test-")
    status = 0
    try:
        set_subreaper()
        test(args, tmp)
    except Failure as e:
        log(f"FAILED: {e}")
        status = 1
    finally:
        killed = kill_leftovers(grace=0)
        if killed:
            log(f"FAILED: killed processes left behind: {killed}")
            status = 1
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"install test {'passed' if status == 0 else 'failed'} in "
        f"{time.monotonic() - start:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
