"""benchmarks/run for real, with tiny counts: every table comes out, and
nothing is left behind, after a full run and after Ctrl-C. Timings are
printed, never asserted."""

import os
import signal
import subprocess
import time

import pytest

from .conftest import REPO

RUN = os.path.join(REPO, "benchmarks", "run")
WORK = os.path.join(REPO, "benchmarks", "work")
TINY = ["--rounds", "1", "--containers", "2", "--parallel-rounds", "1"]


def work_entries():
    try:
        return set(os.listdir(WORK))
    except FileNotFoundError:
        return set()


def tagged_cgroups(tag):
    found = []
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(base, d) for d in dirs if tag in d]
        if base.count("/") >= 7:
            dirs[:] = []
    return found


def assert_nothing_left(pid, before):
    assert work_entries() <= before, f"left in {WORK}: {work_entries() - before}"
    assert tagged_cgroups(f"ocb{pid}") == []


def start(*args):
    return subprocess.Popen([RUN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_every_table_comes_out_and_nothing_is_left():
    before = work_entries()
    proc = start(*TINY)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    for row in ("| `run` /bin/true |", "| `run` /bin/true, default seccomp profile |",
                "| create + start + wait + delete |", "| `state` of a running container |",
                "| `list --format json` of 2 created containers |",
                "| 2 in parallel: create, start, delete --force |"):
        assert row in out
    header = next(line for line in out.splitlines() if line.startswith("| benchmark |"))
    assert header.endswith("| ocirt/runc |") or "| ocirt/runc | ocirt/crun |" in header
    memory_rows = {line.split("|")[1].strip(): line for line in out.splitlines()
                   if line.startswith(("| ocirt | 1 (", "| runc | 1 ("))}
    assert set(memory_rows) == {"ocirt", "runc"}, "one resident process each"
    for path in ("create", "start", "state"):
        assert f"**`{path}`**:" in out
    assert "- runc: runc version" in out and "- seccomp profile" in out
    assert_nothing_left(proc.pid, before)


@pytest.mark.slow
def test_ctrl_c_with_containers_alive_cleans_up():
    before = work_entries()
    proc = start(*TINY, "--only", "list", "--rounds", "50")
    deadline = time.monotonic() + 120
    seen = ""
    while "list: round 2/" not in seen:   # the listed containers exist
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "interrupted, cleaning up" in err and "warning" not in err
    assert_nothing_left(proc.pid, before)
