"""The timed benchmarks. Each times one operation as wall time around the
runtime's own commands; its rounds run with the runtimes interleaved
(ocirt, runc, crun, ocirt, ...) after warm-up rounds that are not kept, so
slow drift on the machine affects every runtime alike."""

import json
import os
import select
import sys
import time

from .harness import CommandFailed, attempt_twice, reap


class Timed:
    def __init__(self, key, label, once, setup=None, teardown=None):
        self.key, self.label, self.once = key, label, once
        self.setup, self.teardown = setup, teardown


def run_true(rt, cid, ctx, bundle="true"):
    rt.pending.add(cid)
    elapsed, _ = ctx.runner(rt.cmd("run", "--bundle", ctx.bundles[bundle], cid))
    rt.pending.discard(cid)  # an attached run deletes its container
    return elapsed


def run_seccomp(rt, cid, ctx):
    return run_true(rt, cid, ctx, bundle="seccomp")


IDLE_PAUSE = 0.25  # seconds: many RCU grace periods, even in the emulated VM


def run_after_a_pause(rt, cid, ctx):
    """`run` as containers are made now and then. Back to back, each create
    finds the kernel's cgroup-wide lock still in its fast mode from the last
    one; after a pause the first move into a cgroup waits for an RCU grace
    period (7-16 ms here; crun avoids it on cgroup v2 by clone3 into the
    cgroup, and so does ocirt)."""
    time.sleep(IDLE_PAUSE)
    return run_true(rt, cid, ctx)


def wait_exit(rt, cid, pid, timeout):
    """Wait for a container's init to exit, and reap it (we are its subreaper)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            raise CommandFailed([rt.name, "init of", cid], "timeout",
                                f"init {pid} still running {timeout}s after start".encode())
        try:
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        except ChildProcessError:
            pass
    finally:
        os.close(pidfd)


LIFECYCLE_STEPS = ("create", "start", "wait", "delete")


def lifecycle(rt, cid, ctx):
    """{"total", and each step}: ns."""
    runner = ctx.runner
    pid_file = os.path.join(ctx.tmp, f"{cid}.pid")
    rt.pending.add(cid)
    clock = time.perf_counter_ns
    t0 = clock()
    runner(rt.cmd("create", "--bundle", ctx.bundles["true"], "--pid-file", pid_file, cid))
    t1 = clock()
    with open(pid_file) as f:
        pid = int(f.read().strip())
    t2 = clock()
    runner(rt.cmd("start", cid))
    t3 = clock()
    wait_exit(rt, cid, pid, runner.timeout)
    t4 = clock()
    runner(rt.cmd("delete", cid))
    t5 = clock()
    rt.pending.discard(cid)
    os.unlink(pid_file)
    return {"total": t5 - t0, "create": t1 - t0, "start": t3 - t2, "wait": t4 - t3, "delete": t5 - t4}


def state(rt, cid, ctx):
    argv = rt.cmd("state", ctx.sleepers[rt.name])
    elapsed, out = ctx.runner(argv, capture=True)
    status = json.loads(out).get("status")
    if status != "running":
        raise CommandFailed(argv, 0, f"status is {status!r}, not 'running'".encode())
    return elapsed


def start_sleeper(rt, ctx):
    cid = f"{ctx.tag}-{rt.name}-sleeper"
    rt.pending.add(cid)
    ctx.runner(rt.cmd("create", "--bundle", ctx.bundles["sleep"], cid))
    ctx.runner(rt.cmd("start", cid))
    ctx.sleepers[rt.name] = cid


def stop_sleeper(rt, ctx):
    cid = ctx.sleepers.pop(rt.name)
    ctx.runner(rt.cmd("delete", "--force", cid))
    rt.pending.discard(cid)
    reap()


def list_ids(rt, ctx):
    return [f"{ctx.tag}-{rt.name}-listed-{i}" for i in range(ctx.containers)]


def create_listed(rt, ctx):
    ids = list_ids(rt, ctx)
    rt.pending.update(ids)
    ctx.runner.pool([rt.cmd("create", "--bundle", ctx.bundles["true"], cid) for cid in ids])


def delete_listed(rt, ctx):
    ids = list_ids(rt, ctx)
    ctx.runner.pool([rt.cmd("delete", "--force", cid) for cid in ids])
    rt.pending.difference_update(ids)
    reap()


def list_created(rt, cid, ctx):
    argv = rt.cmd("list", "--format", "json")
    elapsed, out = ctx.runner(argv, capture=True)
    listed = {s["id"]: s["status"] for s in json.loads(out) or []}
    wrong = [i for i in list_ids(rt, ctx) if listed.get(i) != "created"]
    if wrong or len(listed) != ctx.containers:
        raise CommandFailed(argv, 0, f"{len(listed)} listed; not 'created': {wrong[:3]}".encode())
    return elapsed


def benchmarks(containers):
    return [
        Timed("run", "`run` /bin/true", run_true),
        Timed("run-seccomp", "`run` /bin/true, default seccomp profile", run_seccomp),
        Timed("run-idle", f"`run` /bin/true, each after {IDLE_PAUSE * 1000:.0f} ms idle", run_after_a_pause),
        Timed("lifecycle", "create + start + wait + delete", lifecycle),
        Timed("state", "`state` of a running container", state, start_sleeper, stop_sleeper),
        Timed("list", f"`list --format json` of {containers} created containers", list_created,
              create_listed, delete_listed),
    ]


def measure(bench, runtimes, ctx, rounds, warmup):
    """({runtime name: [ns per kept round]}, {runtime name: [{step: ns}]}),
    the second empty unless the benchmark times its steps."""
    samples = {rt.name: [] for rt in runtimes}
    steps = {}
    if bench.setup:
        for rt in runtimes:
            bench.setup(rt, ctx)
    total = warmup + rounds
    for i in range(total):
        print(f"\r{bench.key}: round {i + 1}/{total}{' (warm-up)' if i < warmup else ''}   ",
              end="", file=sys.stderr, flush=True)
        for rt in runtimes:
            got = attempt_twice(ctx, rt, bench.key, lambda cid: bench.once(rt, cid, ctx),
                                f"{ctx.tag}-{rt.name}-{bench.key}-{i}")
            reap()
            if i >= warmup:
                if isinstance(got, dict):
                    steps.setdefault(rt.name, []).append(got)
                    got = got["total"]
                samples[rt.name].append(got)
    print(file=sys.stderr)
    if bench.teardown:
        for rt in runtimes:
            bench.teardown(rt, ctx)
    return samples, steps
