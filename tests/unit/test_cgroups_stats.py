"""Statistics in runc's shape from cgroup files, and the parsing of the
update/events command lines."""

import pytest

from ocirt.cli.events import parse_duration
from ocirt.cli.update import parse_size, resources_from_flags
from ocirt.errors import UsageError
from ocirt.linux.cgroups import Placement
from ocirt.linux.cgroups.stats import v1_stats, v2_stats
from ocirt.linux.cgroups.v2 import V2Manager


def write(d, **files):
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name.replace("__", ".")).write_text(text)


def test_v2_stats(tmp_path):
    write(tmp_path, cpu__stat="usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\n"
                              "nr_throttled 1\nthrottled_usec 20\n",
          memory__current="4096\n", memory__max="max\n", memory__peak="8192\n", memory__stat="anon 10\nfile 20\n",
          memory__events="low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n", memory__swap__current="0\n",
          memory__swap__max="0\n", pids__current="2\n", pids__max="max\n",
          io__stat="8:0 rbytes=100 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
    s = v2_stats(str(tmp_path))
    assert s["cpu"] == {"usage": {"total": 1500000, "kernel": 500000, "user": 1000000},
                        "throttling": {"periods": 3, "throttledPeriods": 1, "throttledTime": 20000}}
    assert s["memory"]["usage"] == {"limit": 2 ** 64 - 1, "usage": 4096, "max": 8192, "failcnt": 2}
    assert s["memory"]["cache"] == 20 and s["memory"]["raw"] == {"anon": 10, "file": 20}
    assert s["memory"]["swap"]["usage"] == 4096, "v1's memory+swap, as runc reports it"
    assert s["pids"] == {"current": 2}, "no limit: omitted, as Go's omitempty does"
    assert s["blkio"] == {"ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 100},
                                                      {"major": 8, "op": "Write"}],
                          "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1},
                                                  {"major": 8, "op": "Write"}]}


def test_v1_stats_with_hugetlb_from_the_unified_hierarchy(tmp_path):
    write(tmp_path / "cpuacct", cpuacct__usage="900\n", cpuacct__usage_percpu="600 300 \n",
          cpuacct__stat="user 0\nsystem 0\n")
    write(tmp_path / "memory", memory__limit_in_bytes="1048576\n", memory__usage_in_bytes="4096\n",
          memory__max_usage_in_bytes="8192\n", memory__failcnt="0\n", memory__stat="cache 5\nrss 6\n")
    write(tmp_path / "pids", pids__current="1\n", pids__max="10\n")
    write(tmp_path / "u", cgroup__controllers="hugetlb\n")
    placement = Placement([str(tmp_path / n) for n in ("cpuacct", "memory", "pids", "u")], [],
                          [["cpuacct"], ["memory"], ["pids"], []])
    s = v1_stats(placement, V2Manager(placement, str(tmp_path / "u")))
    assert s["cpu"]["usage"]["total"] == 900 and s["cpu"]["usage"]["percpu"] == [600, 300]
    assert s["memory"]["usage"] == {"limit": 1048576, "usage": 4096, "max": 8192, "failcnt": 0}
    assert s["memory"]["cache"] == 5
    assert s["pids"] == {"current": 1, "limit": 10}
    assert s["blkio"] == {}


@pytest.mark.parametrize("text, seconds", [("5s", 5), ("100ms", 0.1), ("1m30s", 90), ("2", 2), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "s", "10 s", "1m30"])
def test_bad_durations(text):
    with pytest.raises(UsageError, match="--interval"):
        parse_duration(text)


@pytest.mark.parametrize("text, size", [("1024", 1024), ("100k", 102400), ("64m", 64 << 20), ("1.5g", 3 << 29),
                                        ("2GiB", 2 << 30), ("1024b", 1024), ("10MB", 10 << 20), ("-1", -1)])
def test_sizes(text, size):
    assert parse_size(text, "--memory") == size


def test_flags_become_linux_resources():
    opts = {name: None for name in ("memory", "memory_swap", "memory_reservation", "kernel_memory",
                                    "kernel_memory_tcp", "cpu_share", "cpu_shares", "cpu_quota", "cpu_period",
                                    "cpu_burst", "cpu_rt_period", "cpu_rt_runtime", "cpu_idle", "cpuset_cpus",
                                    "cpuset_mems", "pids_limit", "blkio_weight")}
    opts.update(memory="64m", memory_swap="-1", cpu_share="512", cpuset_cpus="0-1", pids_limit="-1",
                blkio_weight="300")
    assert resources_from_flags(opts) == {"memory": {"limit": 64 << 20, "swap": -1},
                                          "cpu": {"shares": 512, "cpus": "0-1"}, "pids": {"limit": -1},
                                          "blockIO": {"weight": 300}}
    opts["cpu_quota"] = "lots"
    with pytest.raises(UsageError, match="--cpu-quota"):
        resources_from_flags(opts)
