"""Running runtime commands, one at a time or a pool at once, and removing
everything a benchmark run made.

A runtime command is never killed half-way on Ctrl-C (a runtime killed in
the middle of `create` leaves half a container behind): each runs in its own
process group, so the terminal's SIGINT reaches only us, and we let the
command finish before cleaning up."""

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import time

TIMEOUT = 60          # seconds, for any single runtime command (Runner's default)
PR_SET_CHILD_SUBREAPER = 36


class CommandFailed(Exception):
    def __init__(self, argv, rc, stderr):
        self.argv, self.rc, self.stderr = argv, rc, stderr
        detail = stderr.decode(errors="replace").strip() or "(no stderr)"
        super().__init__(f"command failed (exit {rc}): {' '.join(argv)}\n{detail}")

    def first_line(self):
        return (self.stderr.decode(errors="replace").strip().splitlines() or ["(no stderr)"])[0]


class Runtime:
    def __init__(self, name, binary, root):
        self.name, self.binary, self.root = name, binary, root
        self.pending = set()   # ids that may exist: deleted with --force at the end
        self.version = None

    def cmd(self, *args):
        return [self.binary, "--root", self.root, *args]


def _wait_all(procs, timeout):
    """Wait for every process, up to timeout seconds; a Ctrl-C meanwhile is
    held until they have all exited, then raised. Returns the exit codes
    ("timeout" for one that had to be killed).

    Each exit is seen on a pidfd the moment it happens. Popen.wait(timeout)
    would poll with sleeps that double from 0.5 ms to 50 ms, and every time
    would come out rounded up to 1.5, 3.5, 7.5, 15.5, 31.5... ms."""
    deadline = time.monotonic() + timeout
    interrupted = False
    codes = []
    for proc in procs:
        pidfd = os.pidfd_open(proc.pid)
        try:
            while True:
                try:
                    if select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                        codes.append(proc.wait())
                    else:
                        proc.kill()
                        proc.wait()
                        codes.append("timeout")
                    break
                except KeyboardInterrupt:
                    interrupted = True
        finally:
            os.close(pidfd)
    if interrupted:
        raise KeyboardInterrupt
    return codes


class Runner:
    """Runs commands with stdin from /dev/null and stderr to a file (never a
    pipe: a created container's init inherits it and would hold it open),
    and checks the exit codes."""

    def __init__(self, workdir, timeout=TIMEOUT):
        self.workdir, self.timeout = workdir, timeout
        self.err = open(os.path.join(workdir, "stderr"), "w+b")
        self.out = open(os.path.join(workdir, "stdout"), "w+b")

    def close(self):
        self.err.close()
        self.out.close()

    def __call__(self, argv, capture=False, check=True, stderr=None):
        """Run argv; returns (elapsed ns, stdout bytes or None). With
        `stderr` (a file opened w+b), stderr goes there instead."""
        stderr = stderr or self.err
        for f in (stderr, self.out) if capture else (stderr,):
            f.seek(0)
            f.truncate()
        start = time.perf_counter_ns()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=self.out if capture else subprocess.DEVNULL,
                                stderr=stderr, close_fds=True, process_group=0)
        rc, = _wait_all([proc], self.timeout)
        elapsed = time.perf_counter_ns() - start
        if rc != 0 and check:
            stderr.seek(0)
            raise CommandFailed(argv, rc, stderr.read())
        out = None
        if capture:
            self.out.seek(0)
            out = self.out.read()
        return elapsed, out

    def pool(self, argvs, check=True):
        """Start every command at once, wait for all; returns the wall time
        in ns. Raises for the first that failed, once all have exited."""
        errs = [open(os.path.join(self.workdir, f"pool-{i}.err"), "w+b") for i in range(len(argvs))]
        procs = []
        try:
            start = time.perf_counter_ns()
            try:
                for argv, err in zip(argvs, errs):
                    procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                  stderr=err, close_fds=True, process_group=0))
            finally:
                codes = _wait_all(procs, self.timeout)
            elapsed = time.perf_counter_ns() - start
            for argv, err, rc in zip(argvs, errs, codes):
                if rc != 0 and check:
                    err.seek(0)
                    raise CommandFailed(argv, rc, err.read())
            return elapsed
        finally:
            for err in errs:
                err.close()
                os.unlink(err.name)


def children(pid):
    """Direct children of pid (every thread's)."""
    found = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
    return found


def reap():
    """Reap orphaned container inits: we are their subreaper. Only called
    while no command of ours is running, so it steals no exit status."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def set_subreaper():
    """Inits orphaned by `create` reparent to us instead of pid 1 (which may not
    reap them), as they would to a container engine's shim."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def forget(ctx, rt, prefix):
    """Delete, with --force, the containers of an attempt: the id `prefix`
    and the ids that begin with `prefix-`."""
    ids = sorted(c for c in rt.pending if c == prefix or c.startswith(prefix + "-"))
    if ids:
        ctx.runner.pool([rt.cmd("delete", "--force", cid) for cid in ids], check=False)
        rt.pending.difference_update(ids)
    reap()


def attempt_twice(ctx, rt, what, attempt, prefix):
    """attempt(prefix), whose containers are named after prefix. When it
    fails, the failure is noted in the results, its containers are deleted
    and it is repeated once under a fresh prefix; a second failure ends the
    run. (One failed command would otherwise lose a whole run.)"""
    try:
        return attempt(prefix)
    except CommandFailed as e:
        note = f"{rt.name}, {what}: one attempt failed and was repeated: `{e.first_line()}`"
        print(f"\nnote: {note}", file=sys.stderr)
        ctx.notes.append(note)
        forget(ctx, rt, prefix)
        return attempt(prefix + "r")


def interleaved(runtimes, ctx, rounds, what, attempt):
    """attempt(rt, prefix) for each round and runtime in turn, each through
    attempt_twice: {runtime name: [result per round]}."""
    results = {rt.name: [] for rt in runtimes}
    for i in range(rounds):
        print(f"\r{what}: round {i + 1}/{rounds}   ", end="", file=sys.stderr, flush=True)
        for rt in runtimes:
            results[rt.name].append(attempt_twice(ctx, rt, what, lambda prefix: attempt(rt, prefix),
                                                  f"{ctx.tag}-{rt.name}-{what}-{i}"))
    print(file=sys.stderr)
    return results


def cleanup(runtimes, runner, tag, tmp):
    """Delete every container we may have created, per runtime root, then the
    roots; kill and reap any process still left to us; remove leftover
    cgroups named after our tag. Ctrl-C is ignored meanwhile. Returns the
    problems found (empty: nothing is left)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    problems = []
    for rt in runtimes:
        ids = set(rt.pending)
        with contextlib.suppress(OSError):
            ids.update(os.listdir(rt.root))  # anything we did not track
        if ids:
            runner.pool([rt.cmd("delete", "--force", cid) for cid in sorted(ids)], check=False)
        left = []
        with contextlib.suppress(OSError):
            left = os.listdir(rt.root)
        if left:
            problems.append(f"{rt.name}: could not delete {', '.join(left)} (state kept in {rt.root})")
        else:
            shutil.rmtree(rt.root, ignore_errors=True)
    reap()
    # Every runtime command has exited: what is still our child is a
    # container process some runtime failed to remove.
    for pid in children(os.getpid()):
        problems.append(f"process {pid} was left running; killed")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    problems += remove_cgroups(tag)
    if not problems:
        shutil.rmtree(tmp, ignore_errors=True)
    return problems


def remove_cgroups(tag, base="/sys/fs/cgroup", depth=4):
    """rmdir (deepest first) cgroups whose name contains our tag."""
    found = []

    def walk(path, level):
        if level > depth:
            return
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if tag in e.name:
                    found.append(e.path)
                walk(e.path, level + 1)

    walk(base, 0)
    problems = []
    for path in sorted(found, key=lambda p: -p.count("/")):
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            problems.append(f"leftover cgroup {path}: {e.strerror}")
    return problems
