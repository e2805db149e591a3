"""Where ocirt's start-up goes: `python -X importtime` on the `create`,
`start` and `state` paths. The launcher (.venv/bin/ocirt) is a script for
`python3 -IS` that sets sys.path itself, so running its interpreter with
the launcher's flags plus `-X importtime` on the launcher file takes the
very same path. Lines that the forked stage 1 and init print before
`create` returns count for `create`; lines the init prints between `start`
and its exec count for `start`."""

import os
import statistics
import sys

from .harness import CommandFailed, attempt_twice

RUNS = 5
TOP = 10
PATHS = ("create", "start", "state")


def launcher_argv(launcher):
    with open(launcher) as f:
        shebang = f.readline()
    if not shebang.startswith("#!"):
        raise ValueError(f"{launcher}: no #! line")
    interpreter, *flags = shebang[2:].split()
    return [interpreter, *flags, "-X", "importtime", launcher]


def parse(text):
    """{module: (self us, cumulative us)} from -X importtime output."""
    modules = {}
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header
        own, cumulative, name = int(fields[0]), int(fields[1]), fields[2].strip()
        had = modules.get(name, (0, 0))
        modules[name] = (had[0] + own, max(had[1], cumulative))
    return modules


def text(f, start=0, end=None):
    f.seek(start)
    return (f.read() if end is None else f.read(end - start)).decode(errors="replace")


def once(rt, ctx, cid):
    """One create, start and state under -X importtime: {path: modules}."""
    base = launcher_argv(rt.binary)
    files = {p: open(os.path.join(ctx.tmp, f"importtime-{p}"), "w+b") for p in PATHS}
    rt.pending.add(cid)
    try:
        ctx.runner([*base, "--root", rt.root, "create", "--bundle", ctx.bundles["sleep"], cid],
                   stderr=files["create"])
        created = files["create"].seek(0, os.SEEK_END)
        try:
            ctx.runner([*base, "--root", rt.root, "start", cid], stderr=files["start"])
        except CommandFailed as e:
            # what the init said, apart from its imports, is in create's file
            said = [line for line in text(files["create"]).splitlines() if not line.startswith("import time:")]
            raise CommandFailed(e.argv, e.rc, e.stderr + "\ninit's stderr: ".encode()
                                + "\n".join(said).encode()) from None
        ctx.runner([*base, "--root", rt.root, "state", cid], stderr=files["state"])
        return {"create": parse(text(files["create"], 0, created)),
                "start": {**parse(text(files["start"])), **parse(text(files["create"], created))},
                "state": parse(text(files["state"]))}
    finally:
        ctx.runner(rt.cmd("delete", "--force", cid))
        rt.pending.discard(cid)
        for f in files.values():
            f.close()
            os.unlink(f.name)


def summarise(runs):
    """Medians over runs: {"total_ms", "modules", "top": [(name, cum ms, self ms)]}"""
    names = set().union(*runs)
    cum = {n: statistics.median(r.get(n, (0, 0))[1] for r in runs) / 1000 for n in names}
    own = {n: statistics.median(r.get(n, (0, 0))[0] for r in runs) / 1000 for n in names}
    top = sorted(names, key=lambda n: -cum[n])[:TOP]
    return {"total_ms": statistics.median(sum(v[0] for v in r.values()) for r in runs) / 1000,
            "modules": statistics.median(len(r) for r in runs),
            "top": [(n, cum[n], own[n]) for n in top]}


def profile(rt, ctx, runs=RUNS):
    """{path: summary}, ocirt only (the others are not Python)."""
    per_path = {p: [] for p in PATHS}
    for i in range(runs):
        print(f"\rimport time: run {i + 1}/{runs}   ", end="", file=sys.stderr, flush=True)
        run = attempt_twice(ctx, rt, "imports", lambda cid: once(rt, ctx, cid), f"{ctx.tag}-imports-{i}")
        for path, modules in run.items():
            per_path[path].append(modules)
    print(file=sys.stderr)
    return {p: summarise(per_path[p]) for p in PATHS}
