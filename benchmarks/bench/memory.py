"""What a created container costs in memory while it waits for `start`:
PSS, RSS and USS (from /proc/PID/smaps_rollup) summed over every process the
runtime leaves resident. Those are found three ways, so that none hides:
the pid in `--pid-file`, the procs of every cgroup the container got for
itself, and any new child of ours (we are the subreaper, so a helper that a
runtime leaves behind, like a monitor, is re-parented to us); then all
their descendants."""

import os
import statistics

from .harness import children, interleaved, reap

ROUNDS = 5


def cgroup_dirs(pid):
    """The cgroups of pid, one per hierarchy: {hierarchy: (mount, path)}."""
    dirs = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hier, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers:
                base = os.path.join("/sys/fs/cgroup", controllers.removeprefix("name="))
            elif os.path.exists("/sys/fs/cgroup/cgroup.procs"):
                base = "/sys/fs/cgroup"          # pure cgroup v2
            else:
                base = "/sys/fs/cgroup/unified"  # hybrid
            dirs[hier] = (base, path)
    return dirs


def own_cgroup_procs(pid):
    """Processes in the cgroups where pid is but we are not (never a
    hierarchy's root, which holds every process of the host)."""
    ours = cgroup_dirs(os.getpid())
    procs = set()
    for hier, (base, path) in cgroup_dirs(pid).items():
        if path == "/" or ours.get(hier) == (base, path):
            continue
        try:
            with open(base + path + "/cgroup.procs") as f:
                procs.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return procs


def with_descendants(pids):
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children(pid)
    return found


KINDS = ("pss", "rss", "uss")


def rollup(pid):
    """{"pss", "rss", "uss"} in KiB (uss: its private pages, what its exit
    would free); None for a process that is gone or a zombie."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if rest.strip().endswith("kB"):
                    fields[key] = int(rest.split()[0])
    except (OSError, ValueError):
        return None
    if "Rss" not in fields:
        return None
    return {"pss": fields.get("Pss", 0), "rss": fields["Rss"],
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def resident(rt, cid, ctx):
    """Create one container, measure what stays resident, delete it."""
    pid_file = os.path.join(ctx.tmp, f"{cid}.pid")
    before = set(children(os.getpid()))
    rt.pending.add(cid)
    ctx.runner(rt.cmd("create", "--bundle", ctx.bundles["true"], "--pid-file", pid_file, cid))
    try:
        with open(pid_file) as f:
            init = int(f.read().strip())
        roots = {init} | own_cgroup_procs(init) | (set(children(os.getpid())) - before)
        procs = {pid: rollup(pid) for pid in with_descendants(roots)}
        procs = {pid: v for pid, v in procs.items() if v is not None}
        names = sorted({comm(pid) for pid in procs})
    finally:
        ctx.runner(rt.cmd("delete", "--force", cid))
        rt.pending.discard(cid)
        reap()
        os.unlink(pid_file)
    return {"procs": len(procs), "names": names,
            **{k: sum(v[k] for v in procs.values()) for k in KINDS}}


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def measure(runtimes, ctx, rounds=ROUNDS):
    """{runtime name: {"procs", "pss", "rss", "uss" (medians, KiB), "names"}}"""
    samples = interleaved(runtimes, ctx, rounds, "memory", lambda rt, cid: resident(rt, cid, ctx))
    return {name: {**{k: statistics.median(s[k] for s in got) for k in ("procs", *KINDS)},
                   "names": sorted({n for s in got for n in s["names"]})}
            for name, got in samples.items()}
