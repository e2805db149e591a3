"""The systemd cgroup driver: the container's cgroup is a transient scope
with its limits as unit properties. Runs where systemd is PID 1
(`../shared/vm/vm-run --systemd`); elsewhere only the clear refusal is checked.

The containers are made through the library (Container.create with
systemd_cgroup=True); every other command goes through the CLI, which finds
the driver in the container's state.
"""

import os
import subprocess
import sys

import pytest

from ocirt.linux.cgroups import CgroupError
from ocirt.linux.cgroups.systemd import properties, slice_path, unit_of

from .conftest import cgroup_dirs

SYSTEMD = os.path.isdir("/run/systemd/system")
needs_systemd = pytest.mark.skipif(not SYSTEMD, reason="systemd is not PID 1 here")
MiB = 1 << 20


def create_systemd(env, cfg):
    """Returns (container id or None, stderr)."""
    cid = env.new_id("sd")
    bundle = env.bundle(cfg)
    code = ("import sys\nfrom ocirt.container import Container\nfrom ocirt.errors import OcirtError\n"
            f"try:\n    Container.create({cid!r}, {bundle!r}, {env.root!r}, systemd_cgroup=True)\n"
            "except OcirtError as e:\n    sys.exit(str(e))\n")
    with open(env.tmp / f"{cid}.out", "w") as out, open(env.tmp / f"{cid}.err", "w") as err:
        code = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                              timeout=60).returncode
    return (cid if code == 0 else None), (env.tmp / f"{cid}.err").read_text()


def unit_property(unit, name):
    path = subprocess.run(["busctl", "--system", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                           "org.freedesktop.systemd1.Manager", "GetUnit", "s", unit],
                          capture_output=True, text=True)
    if path.returncode != 0:
        return None
    out = subprocess.run(["busctl", "--system", "get-property", "org.freedesktop.systemd1",
                          path.stdout.split('"')[1], "org.freedesktop.systemd1.Scope"
                          if name in ("MemoryMax", "TasksMax", "ControlGroup") else
                          "org.freedesktop.systemd1.Unit", name], capture_output=True, text=True)
    return out.stdout.split(None, 1)[1].strip().strip('"') if out.returncode == 0 else None


@pytest.mark.parametrize("path, slice_name, unit", [
    ("", "system.slice", "ocirt-c1.scope"),
    ("machine.slice:libpod:c1", "machine.slice", "libpod-c1.scope"),
    (":ocirt:c1", "system.slice", "ocirt-c1.scope"),
    ("user-1000.slice:x:c1", "user-1000.slice", "x-c1.scope"),
])
def test_unit_names(path, slice_name, unit):
    assert unit_of(path, "c1") == (slice_name, unit)


@pytest.mark.parametrize("path", ["a:b", "nota-slice:x:c1", "system.slice:x:c+1"])
def test_bad_unit_names(path):
    with pytest.raises(CgroupError, match="^linux.cgroupsPath: "):
        unit_of(path, "c1")


def test_properties_for_the_limits_systemd_knows():
    assert properties({"memory": {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": MiB},
                       "pids": {"limit": -1}, "cpu": {"shares": 1024, "quota": 50000, "period": 100000}}) == [
        ("MemoryMax", "t", 64 * MiB), ("MemorySwapMax", "t", 32 * MiB), ("MemoryLow", "t", MiB),
        ("TasksMax", "t", 2 ** 64 - 1), ("CPUWeight", "t", 100), ("CPUQuotaPerSecUSec", "t", 500000),
        ("CPUQuotaPeriodUSec", "t", 100000)]
    assert properties({"pids": {"limit": 0}}) == [], "systemd refuses TasksMax=0: the file gets it"


def test_slice_paths():
    assert slice_path("system.slice") == "/system.slice"
    assert slice_path("user-1000.slice") == "/user.slice/user-1000.slice"
    assert slice_path("-.slice") == "/"


@pytest.mark.skipif(SYSTEMD, reason="systemd is here")
def test_without_systemd_create_says_so(no_leftovers):
    env = no_leftovers
    cid, err = create_systemd(env, env.config(args=["true"]))
    assert cid is None and "--systemd-cgroup" in err and len(err.strip().splitlines()) == 1, err


@needs_systemd
def test_scope_with_limits(no_leftovers):
    env = no_leftovers
    cfg = env.config(args=["sleep", "100"])
    cfg["linux"]["resources"] = {"memory": {"limit": 64 * MiB}, "pids": {"limit": 30},
                                 "cpu": {"shares": 1024}}
    name = f"ocirt-test-{os.getpid()}"
    cfg["linux"]["cgroupsPath"] = f"system.slice:ocirt-test:{name}"
    cid, err = create_systemd(env, cfg)
    assert cid, err
    unit = f"ocirt-test-{name}.scope"
    pid = env.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f.read().strip() == f"0::/system.slice/{unit}"
    assert unit_property(unit, "ActiveState") == "active"
    assert unit_property(unit, "MemoryMax") == str(64 * MiB)
    assert unit_property(unit, "TasksMax") == "30"
    scope = f"/sys/fs/cgroup/system.slice/{unit}"
    assert open(f"{scope}/memory.max").read().strip() == str(64 * MiB)
    assert open(f"{scope}/pids.max").read().strip() == "30"
    env.ok("start", cid)
    env.ok("update", "--memory", "96m", cid)
    assert unit_property(unit, "MemoryMax") == str(96 * MiB), "the property follows, or a reload undoes it"
    assert open(f"{scope}/memory.max").read().strip() == str(96 * MiB)
    env.ok("pause", cid)
    assert env.state(cid)["status"] == "paused"
    env.ok("resume", cid)
    assert env.ok("ps", "--format", "json", cid).out.strip() == f"[{pid}]"
    env.ok("delete", "--force", cid)
    assert unit_property(unit, "ActiveState") is None, "the scope is gone"
    assert not os.path.exists(scope) and cgroup_dirs(cid) == []


@needs_systemd
def test_a_running_scope_is_not_taken_twice(no_leftovers):
    env = no_leftovers
    cfg = env.config(args=["sleep", "100"])
    cfg["linux"]["cgroupsPath"] = f"system.slice:ocirt-test:twice-{os.getpid()}"
    first, err = create_systemd(env, cfg)
    assert first, err
    second, err = create_systemd(env, cfg)
    assert second is None and "linux.cgroupsPath" in err and "already has processes" in err, err
    assert env.state(first)["status"] == "created"
    env.ok("delete", first)
