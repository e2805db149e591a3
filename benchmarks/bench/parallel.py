"""Many containers at once: N `create` calls started together (a pool of N
concurrent commands), then N `start`, then N `delete --force`, each phase
timed as wall time from the first command's start to the last one's exit.
The containers run `sleep 1000`, so `delete --force` has to kill them."""

from .harness import interleaved, reap

PHASES = ("create", "start", "delete")


def once(rt, ctx, prefix):
    ids = [f"{prefix}-{i}" for i in range(ctx.containers)]
    rt.pending.update(ids)
    pool = ctx.runner.pool
    times = {"create": pool([rt.cmd("create", "--bundle", ctx.bundles["sleep"], cid) for cid in ids]),
             "start": pool([rt.cmd("start", cid) for cid in ids]),
             "delete": pool([rt.cmd("delete", "--force", cid) for cid in ids])}
    rt.pending.difference_update(ids)
    reap()
    times["total"] = sum(times.values())
    return times


def measure(runtimes, ctx, rounds):
    """{runtime name: [{phase or "total": ns} per round]}; no warm-up round
    (the benchmarks before it have warmed every cache)."""
    return interleaved(runtimes, ctx, rounds, "parallel", lambda rt, prefix: once(rt, ctx, prefix))
