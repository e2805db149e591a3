"""The results as markdown: one section per place the benchmark ran (this
host, the cgroup v2 VM). `--write` replaces only its own section of
RESULTS.md, so a host run and a VM run each keep the other's table."""

import contextlib
import datetime
import math
import os
import platform
import re
import statistics

from .parallel import PHASES
from .timed import LIFECYCLE_STEPS

TITLE = "# ocirt benchmarks"
INTRO = ("Written by `benchmarks/run --write` (see [README.md](README.md)). Wall times in "
         "milliseconds; a ratio is ocirt's median over the other runtime's, so above 1 "
         "means ocirt is slower (or, for memory, bigger).")
ORDER = ("host", "vm")


def p90(values):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def count(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def ms(ns):
    return f"{ns / 1e6:.1f}"


def table(head, rows, left=1):
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * left + ["---:"] * (len(head) - left)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def ratios(names, of):
    """ocirt's value over each other runtime's."""
    return [f"{of['ocirt'] / of[n]:.2f}" if of.get(n) else "-" for n in names if n != "ocirt"]


def timing_table(names, timed):
    """timed: [(key, label, {runtime: [ns]})]"""
    others = [n for n in names if n != "ocirt"]
    head = ["benchmark"] + [f"{n} {stat}" for n in names for stat in ("median", "p90")]
    head += [f"ocirt/{n}" for n in others]
    rows = []
    for _, label, samples in timed:
        medians = {n: statistics.median(samples[n]) for n in names}
        row = [label]
        for n in names:
            row += [ms(medians[n]), ms(p90(samples[n]))]
        rows.append(row + ratios(names, medians))
    return table(head, rows)


def steps_table(names, samples, steps):
    """samples: {runtime: [{step or "total": ns}]}; medians per step."""
    head = ["runtime", *[f"{step} (ms)" for step in steps], "total (ms)", "total: ocirt/this"]
    medians = {n: {k: statistics.median(s[k] for s in samples[n]) for k in (*steps, "total")}
               for n in names}
    rows = []
    for n in names:
        ratio = f"{medians['ocirt']['total'] / medians[n]['total']:.2f}" if n != "ocirt" else "-"
        rows.append([n, *[ms(medians[n][k]) for k in steps], ms(medians[n]["total"]), ratio])
    return table(head, rows)


def memory_table(names, memory):
    kinds = ("pss", "rss", "uss")
    mib = lambda kib: f"{kib / 1024:.1f}"
    head = ["runtime", "resident processes", *[f"{k.upper()} (MiB)" for k in kinds],
            *[f"{k.upper()}: ocirt/this" for k in kinds]]
    rows = []
    for n in names:
        m, o = memory[n], memory["ocirt"]
        rel = ["-"] * len(kinds) if n == "ocirt" else [f"{o[k] / m[k]:.2f}" for k in kinds]
        rows.append([n, f"{m['procs']:g} ({', '.join(m['names'])})", *[mib(m[k]) for k in kinds], *rel])
    return table(head, rows)


# Issue 7's targets: (benchmark key, other runtime, largest ratio of medians).
TARGETS = [("run", "runc", 1.0), ("lifecycle", "runc", 1.0), ("state", "runc", 1.0),
           ("run", "crun", 1.5), ("lifecycle", "crun", 1.5), ("state", "crun", 1.5)]


def targets_section(names, res):
    """How far ocirt is from issue 7's targets, where this run measured them."""
    rows = []
    labels = {key: label for key, label, _ in res.timed}
    medians = {key: {n: statistics.median(s[n]) for n in names} for key, _, s in res.timed}
    for key, other, limit in TARGETS:
        if key in medians and other in names:
            ratio = medians[key]["ocirt"] / medians[key][other]
            rows.append([f"{labels[key]}: ocirt <= {limit:.1f}x {other}", f"{ratio:.2f}x",
                         "yes" if ratio <= limit else "no"])
    if res.memory and "runc" in names:
        o, r = res.memory["ocirt"], res.memory["runc"]
        ratio = {k: o[k] / r[k] for k in ("pss", "rss", "uss")}
        rows.append(["resident memory of a created container: ocirt <= runc's",
                     ", ".join(f"{k.upper()} {v:.2f}x" for k, v in ratio.items()),
                     "yes" if max(ratio.values()) <= 1.0 else
                     "no" if min(ratio.values()) > 1.0 else "by " + ", ".join(
                         k.upper() for k, v in ratio.items() if v <= 1.0) + " only"])
    if not rows:
        return []
    return ["### Targets (issue 7)", ""] + table(["target", "measured", "met"], rows) + [""]


def imports_section(imports, runs):
    lines = [f"### Import time of ocirt's command paths (`python -X importtime`, median of {count(runs, 'run')})", "",
             "Cumulative time includes the modules a module imports; the total is the sum of "
             "every module's own time.", ""]
    for path, summary in imports.items():
        lines += [f"**`{path}`**: {summary['modules']:g} modules, {summary['total_ms']:.1f} ms of imports", ""]
        lines += table(["module", "cumulative (ms)", "self (ms)"],
                       [[f"`{name}`", f"{cum:.1f}", f"{own:.1f}"] for name, cum, own in summary["top"]])
        lines.append("")
    return lines


def cgroup_layout():
    if os.path.exists("/sys/fs/cgroup/cgroup.procs"):
        return "cgroup v2 only"
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        return "hybrid cgroups (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
    return "cgroup v1"


def machine():
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{len(os.sched_getaffinity(0))} CPUs ({model}), kernel {platform.release()}, {cgroup_layout()}"


def section(res):
    """res: the run's results (see benchmarks/run)."""
    names = [rt.name for rt in res.runtimes]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {res.title}", "", f"`{res.command}`: {count(res.rounds, 'round')} after "
             f"{count(res.warmup, 'warm-up round')}, runtimes interleaved. " + res.caveat, ""]
    timed = list(res.timed)
    if res.parallel:
        timed.append(("parallel", f"{res.containers} in parallel: create, start, delete --force",
                      {n: [s["total"] for s in res.parallel[n]] for n in names}))
    if timed:
        lines += timing_table(names, timed) + [""]
    if res.lifecycle_steps:
        lines += [f"### create + start + wait + delete, step by step (median of {count(res.rounds, 'round')})",
                  "", "`wait` is from `start`'s exit to the init's exit, seen on a pidfd.", ""]
        lines += steps_table(names, res.lifecycle_steps, LIFECYCLE_STEPS) + [""]
    if res.parallel:
        lines += [f"### {res.containers} containers in parallel (median of {count(res.parallel_rounds, 'round')})", "",
                  f"Each phase starts {res.containers} commands at once and lasts until the last exits; "
                  "the containers run `sleep 1000`.", ""]
        lines += steps_table(names, res.parallel, PHASES) + [""]
    if res.memory:
        lines += [f"### Memory of a created container, before `start` (median of {count(res.memory_rounds, 'round')})", "",
                  "Summed over every process the runtime leaves resident (the pid file's, the "
                  "container's cgroups', and any helper re-parented to the benchmark), from "
                  "/proc/PID/smaps_rollup. PSS shares each page among the processes that map it, "
                  "so a Python init counts less where other Python processes run (the benchmark "
                  "itself is one); USS is the private part, what the container's exit frees.", ""]
        lines += memory_table(names, res.memory) + [""]
    lines += targets_section(names, res)
    if res.imports:
        lines += imports_section(res.imports, res.import_runs)
    lines += [f"- date: {date}", f"- machine: {machine()}",
              *[f"- {rt.name}: {rt.version}" for rt in res.runtimes], *[f"- {n}" for n in res.notes]]
    return "\n".join(lines) + "\n"


def markers(key):
    return f"<!-- benchmarks/run: {key} -->", f"<!-- end of {key} -->"


def write_section(path, key, text):
    """Replace (or add) this key's section; other sections stay as they are."""
    sections = {}
    with contextlib.suppress(FileNotFoundError), open(path) as f:
        old = f.read()
        for k in ORDER:
            begin, end = markers(k)
            m = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), old, re.S)
            if m:
                sections[k] = m.group(1)
    sections[key] = text
    parts = [TITLE, "", INTRO, ""]
    for k in ORDER:
        if k in sections:
            begin, end = markers(k)
            parts += [begin, sections[k].rstrip("\n"), end, ""]
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(parts))
    os.replace(path + ".tmp", path)
