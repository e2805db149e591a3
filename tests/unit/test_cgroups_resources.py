"""linux.resources -> cgroup files, v1 and v2, against directories of plain
files laid out like cgroupfs (the kernel's own checks are the integration
tests' business): which file, which value, which conversion, which error."""

import pytest

from ocirt.linux.cgroups import CgroupError, Placement, convert
from ocirt.linux.cgroups.manager import for_placement
from ocirt.linux.cgroups.v1 import V1Manager
from ocirt.linux.cgroups.v2 import V2Manager

V2_FILES = ["cgroup.controllers", "cgroup.freeze", "cgroup.events", "memory.max", "memory.swap.max",
            "memory.low", "memory.current", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle",
            "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max", "hugetlb.2MB.max",
            "hugetlb.2MB.rsvd.max", "memory.high"]


def fake_v2(tmp_path, controllers="cpuset cpu io memory hugetlb pids"):
    d = tmp_path / "c"
    d.mkdir()
    for name in V2_FILES:
        (d / name).write_text("")
    (d / "cgroup.controllers").write_text(controllers + "\n")
    (d / "cpu.max").write_text("max 100000\n")
    return V2Manager(Placement([str(d)], [], [[]]), str(d)), d


def read(d, name):
    return (d / name).read_text()


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 100), (512, 59), (262144, 10000), (1, 1)])
def test_shares_to_weight(shares, weight):
    assert convert.shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (1000, 10000), (500, 4950)])
def test_blkio_weight_to_io_weight(blkio, io):
    assert convert.blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize("swap, limit, expected", [
    (None, None, None), (None, -1, -1), (-1, 100, -1), (300, 100, 200), (100, 100, 0), (300, -1, 300)])
def test_swap_to_v2(swap, limit, expected):
    assert convert.swap_to_v2(swap, limit, "f") == expected


@pytest.mark.parametrize("swap, limit, message", [
    (100, None, "needs memory.limit"), (50, 100, "less than memory.limit")])
def test_swap_to_v2_errors(swap, limit, message):
    with pytest.raises(CgroupError, match=f"^f: .*{message}"):
        convert.swap_to_v2(swap, limit, "f")


def test_v2_memory(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_memory({"limit": 1 << 20, "swap": 3 << 20, "reservation": 1 << 19}, "r.memory", {})
    assert (read(d, "memory.max"), read(d, "memory.swap.max"), read(d, "memory.low")) == \
        (str(1 << 20), str(2 << 20), str(1 << 19))
    m.set_memory({"limit": -1}, "r.memory", {})
    assert (read(d, "memory.max"), read(d, "memory.swap.max")) == ("max", "max")


def test_v2_swap_alone_uses_the_recorded_limit(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_memory({"swap": 5 << 20}, "r.memory", {"limit": 1 << 20})
    assert read(d, "memory.swap.max") == str(4 << 20)


@pytest.mark.parametrize("memory, message", [
    ({"swappiness": 10}, r"^r\.memory\.swappiness: cgroup v2 has no per-cgroup swappiness"),
    ({"disableOOMKiller": True}, r"^r\.memory\.disableOOMKiller: cgroup v2 cannot disable"),
    ({"useHierarchy": False}, r"^r\.memory\.useHierarchy: "),
])
def test_v2_memory_settings_without_a_v2_file_are_errors(tmp_path, memory, message):
    m, _ = fake_v2(tmp_path)
    with pytest.raises(CgroupError, match=message):
        m.set_memory(memory, "r.memory", {})


def test_v2_kernel_memory_is_ignored_with_a_warning(tmp_path):
    m, d = fake_v2(tmp_path)
    warnings = []
    m.warn = warnings.append
    m.set_memory({"kernel": 1 << 20}, "r.memory", {})
    assert len(warnings) == 1 and warnings[0].startswith("r.memory.kernel: ignored")


def test_v2_check_before_update(tmp_path):
    m, d = fake_v2(tmp_path)
    (d / "memory.current").write_text("5000\n")
    with pytest.raises(CgroupError, match=r"^r\.memory\.limit: 4096 is below the current usage 5000"):
        m.set_memory({"limit": 4096, "checkBeforeUpdate": True}, "r.memory", {})
    assert read(d, "memory.max") == "", "nothing written"


def test_v2_cpu(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_cpu({"shares": 1024, "quota": 50000, "period": 200000, "burst": 1000, "idle": 1,
               "cpus": "0", "mems": "0"}, "r.cpu", {})
    assert [read(d, n) for n in ("cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus",
                                 "cpuset.mems")] == ["100", "50000 200000", "1000", "1", "0", "0"]


def test_v2_cpu_quota_alone_keeps_the_period(tmp_path):
    m, d = fake_v2(tmp_path)
    (d / "cpu.max").write_text("max 250000\n")
    m.set_cpu({"quota": 10000}, "r.cpu", {})
    assert read(d, "cpu.max") == "10000 250000"
    m.set_cpu({"quota": -1}, "r.cpu", {"period": 300000})
    assert read(d, "cpu.max") == "max 300000"


def test_v2_realtime_is_an_error(tmp_path):
    m, _ = fake_v2(tmp_path)
    with pytest.raises(CgroupError, match=r"^r\.cpu\.realtimeRuntime: cgroup v2 has no realtime"):
        m.set_cpu({"realtimeRuntime": 1000}, "r.cpu", {})


def test_v2_io(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_blkio({"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
                "r.blockIO", {})
    assert read(d, "io.weight") == "4950", "converted: no BFQ here"
    assert read(d, "io.max") == "8:0 rbps=1000"
    (d / "io.bfq.weight").write_text("default 100\n")
    m.set_blkio({"weight": 500}, "r.blockIO", {})
    assert read(d, "io.bfq.weight") == "500", "BFQ takes blkio's range as is"


def test_v2_pids(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_pids({"limit": -1}, "r.pids", {})
    assert read(d, "pids.max") == "max"
    m.set_pids({"limit": 0}, "r.pids", {})
    assert read(d, "pids.max") == "0", "0 is a limit, as the spec says"


def test_v2_hugetlb(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_hugetlb([{"pageSize": "2MB", "limit": 4 << 20}], "r.hugepageLimits", {})
    assert read(d, "hugetlb.2MB.max") == read(d, "hugetlb.2MB.rsvd.max") == str(4 << 20)
    with pytest.raises(CgroupError, match=r"^r\.hugepageLimits\[0\]\.pageSize: no hugetlb\.3MB\.max in .* \(this host has 2MB\)"):
        m.set_hugetlb([{"pageSize": "3MB", "limit": 1}], "r.hugepageLimits", {})


def test_v2_missing_controller(tmp_path):
    m, d = fake_v2(tmp_path, controllers="memory")
    with pytest.raises(CgroupError, match=rf"^r\.pids: the pids controller is not available in {d} "):
        m.set_pids({"limit": 10}, "r.pids", {})


def test_v2_network_is_an_error(tmp_path):
    m, _ = fake_v2(tmp_path)
    with pytest.raises(CgroupError, match=r"^r\.network: net_cls and net_prio exist only in cgroup v1"):
        m.set_network({"classID": 1}, "r.network", {})


def test_v2_unified(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_unified({"memory.high": "1000000"}, "r.unified", {})
    assert read(d, "memory.high") == "1000000"
    for key, message in (("rdma.max", "the rdma controller is not available"),
                         ("../x.y", "not a cgroup v2 file name"),
                         ("cgroup.procs", "managed by the runtime")):
        with pytest.raises(CgroupError, match=r"^r\.unified\[" + repr(key).replace(".", r"\.") + "]: " + message):
            m.set_unified({key: "1"}, "r.unified", {})


def test_a_missing_file_names_field_and_file(tmp_path):
    m, d = fake_v2(tmp_path)
    (d / "cpu.max.burst").unlink()
    with pytest.raises(CgroupError, match=rf"^r\.cpu\.burst: {d}/cpu\.max\.burst does not exist"):
        m.set_cpu({"burst": 10}, "r.cpu", {})


# -- v1 ---------------------------------------------------------------------------
V1_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.swappiness", "memory.oom_control", "memory.use_hierarchy", "memory.usage_in_bytes",
               "memory.kmem.limit_in_bytes"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us", "cpu.rt_runtime_us",
            "cpu.rt_period_us", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "blkio": ["blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.write_iops_device"],
    "freezer": ["freezer.state"],
}


def fake_v1(tmp_path, unified=None):
    dirs, controllers = [], []
    for controller, names in V1_FILES.items():
        d = tmp_path / controller / "c"
        d.mkdir(parents=True)
        for name in names:
            (d / name).write_text("")
        dirs.append(str(d))
        controllers.append([controller])
    if unified:
        dirs.append(str(unified))
        controllers.append([])
    return V1Manager(Placement(dirs, [], controllers)), tmp_path


def test_v1_memory(tmp_path):
    m, base = fake_v1(tmp_path)
    d = base / "memory" / "c"
    m.set_memory({"limit": 1 << 20, "swap": 2 << 20, "reservation": 1 << 19, "swappiness": 10,
                  "disableOOMKiller": True, "kernel": 1 << 21}, "r.memory", {})
    assert [read(d, n) for n in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                                 "memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control",
                                 "memory.kmem.limit_in_bytes")] == \
        [str(1 << 20), str(2 << 20), str(1 << 19), "10", "1", str(1 << 21)]


def test_v1_unlimited_memory_means_unlimited_swap(tmp_path):
    m, base = fake_v1(tmp_path)
    m.set_memory({"limit": -1}, "r.memory", {})
    assert read(base / "memory" / "c", "memory.memsw.limit_in_bytes") == "-1"


def test_v1_swap_without_accounting(tmp_path):
    m, base = fake_v1(tmp_path)
    (base / "memory" / "c" / "memory.memsw.limit_in_bytes").unlink()
    m.set_memory({"limit": -1}, "r.memory", {})  # unlimited: nothing to say
    with pytest.raises(CgroupError, match=r"^r\.memory\.swap: swap accounting is off on this host"):
        m.set_memory({"limit": 100, "swap": 200}, "r.memory", {})


def test_v1_cpu_and_cpuset(tmp_path):
    m, base = fake_v1(tmp_path)
    m.set_cpu({"shares": 512, "quota": 20000, "period": 100000, "burst": 1000, "realtimeRuntime": 5000,
               "realtimePeriod": 100000, "idle": 0, "cpus": "0", "mems": "0"}, "r.cpu", {})
    cpu = base / "cpu" / "c"
    assert [read(cpu, n) for n in ("cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us",
                                   "cpu.rt_runtime_us", "cpu.rt_period_us", "cpu.idle")] == \
        ["512", "20000", "100000", "1000", "5000", "100000", "0"]
    assert read(base / "cpuset" / "c", "cpuset.cpus") == "0"


def test_v1_blkio_uses_bfq_files_when_cfq_is_gone(tmp_path):
    m, base = fake_v1(tmp_path)
    m.set_blkio({"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                 "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 50}]}, "r.blockIO", {})
    d = base / "blkio" / "c"
    assert (read(d, "blkio.bfq.weight"), read(d, "blkio.bfq.weight_device"),
            read(d, "blkio.throttle.write_iops_device")) == ("300", "8:0 200", "8:0 50")
    with pytest.raises(CgroupError, match=r"^r\.blockIO\.leafWeight: .*blkio\.leaf_weight does not exist"):
        m.set_blkio({"leafWeight": 10}, "r.blockIO", {})


def test_v1_pids(tmp_path):
    m, base = fake_v1(tmp_path)
    m.set_pids({"limit": -1}, "r.pids", {})
    assert read(base / "pids" / "c", "pids.max") == "max"
    m.set_pids({"limit": 0}, "r.pids", {})
    assert read(base / "pids" / "c", "pids.max") == "0"


def test_v1_missing_controller_and_unified(tmp_path):
    m, _ = fake_v1(tmp_path)
    with pytest.raises(CgroupError, match=r"^r\.hugepageLimits: this host has no hugetlb controller: "
                                          r"it is not mounted as a cgroup v1 hierarchy$"):
        m.set_hugetlb([{"pageSize": "2MB", "limit": 1}], "r.hugepageLimits", {})
    with pytest.raises(CgroupError, match=r"^r\.network\.classID: this host has no net_cls controller"):
        m.set_network({"classID": 1}, "r.network", {})
    with pytest.raises(CgroupError, match=r"^r\.unified: needs cgroup v2"):
        m.set_unified({"memory.high": "1"}, "r.unified", {})


def test_hybrid_hands_v2_only_controllers_to_the_unified_directory(tmp_path):
    unified = tmp_path / "unified" / "c"
    unified.mkdir(parents=True)
    for name in ("cgroup.controllers", "hugetlb.2MB.max"):
        (unified / name).write_text("")
    (unified / "cgroup.controllers").write_text("hugetlb\n")
    m, _ = fake_v1(tmp_path / "v1", unified)
    m.set_hugetlb([{"pageSize": "2MB", "limit": 2 << 20}], "r.hugepageLimits", {})
    assert read(unified, "hugetlb.2MB.max") == str(2 << 20)
    with pytest.raises(CgroupError, match=r"nor enabled in .*/unified/c/cgroup\.controllers"):
        m.set_rdma({"mlx": {"hcaHandles": 1}}, "r.rdma", {})


def test_manager_kind_follows_the_placement(tmp_path):
    assert isinstance(for_placement(Placement([str(tmp_path)], [], [[]])), V2Manager)
    assert isinstance(for_placement(Placement([str(tmp_path)], [], [["memory"]])), V1Manager)


def test_v2_a_new_limit_keeps_the_recorded_memory_plus_swap(tmp_path):
    m, d = fake_v2(tmp_path)
    m.set_memory({"limit": 3 << 20}, "r.memory", {"limit": 1 << 20, "swap": 5 << 20})
    assert (read(d, "memory.max"), read(d, "memory.swap.max")) == (str(3 << 20), str(2 << 20))
