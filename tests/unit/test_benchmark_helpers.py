"""The pure parts of benchmarks/run: parsing -X importtime output, the
RESULTS.md sections, the seccomp profile, smaps_rollup. No timing is ever
asserted."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

from bench import importtime, memory, report, seccomp_profile  # noqa: E402

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |     _io
import time:        30 |        150 |   io
import time:       200 |        350 | ocirt.cli
some other line on stderr
import time:         5 |          5 | ocirt.cli
"""


def test_importtime_parse_sums_own_times_and_keeps_the_largest_cumulative():
    modules = importtime.parse(IMPORTTIME)
    assert modules == {"_io": (120, 120), "io": (30, 150), "ocirt.cli": (205, 350)}


def test_importtime_summary_is_sorted_by_cumulative_median():
    runs = [importtime.parse(IMPORTTIME), {"io": (10, 1000)}]
    summary = importtime.summarise(runs)
    assert summary["top"][0][0] == "io"
    assert summary["modules"] == 2   # median of 3 and 1
    assert summary["total_ms"] == pytest.approx((355 + 10) / 2 / 1000)


def test_launcher_argv_takes_the_interpreter_and_flags_of_the_shebang(tmp_path):
    launcher = tmp_path / "ocirt"
    launcher.write_text("#!/usr/bin/python3.11 -IS\nimport sys\n")
    assert importtime.launcher_argv(str(launcher)) == [
        "/usr/bin/python3.11", "-IS", "-X", "importtime", str(launcher)]
    launcher.write_text("import sys\n")
    with pytest.raises(ValueError, match="no #! line"):
        importtime.launcher_argv(str(launcher))


def test_write_section_replaces_its_own_and_keeps_the_other(tmp_path):
    path = str(tmp_path / "RESULTS.md")
    report.write_section(path, "vm", "## VM\nfirst\n")
    report.write_section(path, "host", "## Host\nfirst\n")
    report.write_section(path, "vm", "## VM\nsecond\n")
    text = open(path).read()
    assert text.startswith(report.TITLE)
    assert "first" in text.split("## Host")[1].split("<!--")[0]
    assert "second" in text and text.count("## VM") == 1
    assert text.index("## Host") < text.index("## VM")


def test_p90_and_ratios():
    assert report.p90([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]) == 9
    assert report.p90([7]) == 7
    assert report.ratios(["ocirt", "runc", "crun"], {"ocirt": 3.0, "runc": 2.0, "crun": 0}) == ["1.50", "-"]


def test_seccomp_profile_denies_by_default_and_allows_the_ordinary():
    profile = seccomp_profile.default_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == 1
    allowed = set(profile["syscalls"][0]["names"])
    assert {"read", "write", "execve", "exit_group", "openat"} <= allowed
    assert not allowed & (seccomp_profile.DENIED | seccomp_profile.CONDITIONAL)
    clone = [r for r in profile["syscalls"] if r["names"] == ["clone"]]
    assert clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"


def test_ocirt_builds_the_seccomp_profile_without_a_warning():
    from ocirt.linux import seccomp
    warnings = []
    seccomp.build(seccomp_profile.default_profile(), warn=warnings.append)
    assert warnings == []


def test_rollup_of_this_process_and_of_no_process():
    got = memory.rollup(os.getpid())
    assert got["rss"] > 0 and got["rss"] >= got["pss"] >= got["uss"] > 0
    assert memory.rollup(2 ** 22 + 1) is None   # above pid_max's limit: never a process


def test_cgroup_dirs_of_this_process_exist_and_list_it():
    dirs = memory.cgroup_dirs(os.getpid())
    assert dirs
    for base, path in dirs.values():
        with open(base + path.rstrip("/") + "/cgroup.procs") as f:
            assert str(os.getpid()) in f.read().split()


def test_targets_compare_medians_with_issue_7s_limits():
    import types
    res = types.SimpleNamespace(
        timed=[("run", "`run`", {"ocirt": [10, 30, 20], "runc": [20, 20, 20], "crun": [10, 10, 10]}),
               ("state", "`state`", {"ocirt": [5], "runc": [4], "crun": [4]})],
        memory={"ocirt": {"pss": 8, "rss": 12, "uss": 6}, "runc": {"pss": 9, "rss": 10, "uss": 9},
                "crun": {"pss": 1, "rss": 2, "uss": 1}})
    rows = [line for line in report.targets_section(["ocirt", "runc", "crun"], res) if line.startswith("| `")]
    assert rows == ["| `run`: ocirt <= 1.0x runc | 1.00x | yes |",
                    "| `state`: ocirt <= 1.0x runc | 1.25x | no |",
                    "| `run`: ocirt <= 1.5x crun | 2.00x | no |",
                    "| `state`: ocirt <= 1.5x crun | 1.25x | yes |"]
    memory_row = report.targets_section(["ocirt", "runc"], res)[-2]
    assert memory_row.endswith("| PSS 0.89x, RSS 1.20x, USS 0.67x | by PSS, USS only |")


def test_a_failed_attempt_is_noted_its_containers_deleted_and_it_is_repeated_once():
    import types
    from bench import harness
    pools = []
    ctx = types.SimpleNamespace(notes=[], runner=types.SimpleNamespace(
        pool=lambda argvs, check: pools.append((argvs, check))))
    rt = harness.Runtime("ocirt", "ocirt", "/nonexistent-root")
    rt.pending.update({"t-par0-0", "t-par0-1", "t-par01-0", "t-sleeper"})
    tried = []

    def attempt(prefix):
        tried.append(prefix)
        if len(tried) == 1:
            raise harness.CommandFailed(["ocirt", "start"], 1, b"ocirt: it is stopped\nmore")
        return "second"

    assert harness.attempt_twice(ctx, rt, "parallel", attempt, "t-par0") == "second"
    assert tried == ["t-par0", "t-par0r"]
    assert ctx.notes == ["ocirt, parallel: one attempt failed and was repeated: `ocirt: it is stopped`"]
    assert pools == [([rt.cmd("delete", "--force", c) for c in ("t-par0-0", "t-par0-1")], False)]
    assert rt.pending == {"t-par01-0", "t-sleeper"}


def test_a_second_failure_ends_the_run():
    import types
    from bench import harness
    ctx = types.SimpleNamespace(notes=[], runner=None)
    rt = harness.Runtime("runc", "runc", "/nonexistent-root")

    def attempt(prefix):
        raise harness.CommandFailed(["runc", "run", prefix], 1, b"no")

    with pytest.raises(harness.CommandFailed, match="t-run-0r"):
        harness.attempt_twice(ctx, rt, "run", attempt, "t-run-0")
    assert len(ctx.notes) == 1
