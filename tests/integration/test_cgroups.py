"""Cgroups on the real kernel: every resource where the host has it (and a
one-line error naming field and file where it has not), update, pause and
resume, ps, kill --all, events with OOM, and nothing left behind.

The same tests run on this hybrid host (v1 controllers + unified) and on a
pure v2 host (../shared/vm/vm-run): `knob()` reads the v1 or the v2 file.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from ocirt.linux import cgroups

from .conftest import cgroup_dirs, wait_for_text, wait_status

HIERARCHIES = cgroups.hierarchies()
PURE_V2 = len(HIERARCHIES) == 1 and HIERARCHIES[0].is_v2
MiB = 1 << 20


def cgroup_of(pid, controller=None):
    """The directory of pid's cgroup: in the v1 hierarchy of `controller`, or
    in the unified one (controller None, or any controller on pure v2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        paths = {}
        for line in f:
            hid, names, path = line.rstrip("\n").split(":", 2)
            paths["" if hid == "0" else names] = path
    for h in HIERARCHIES:
        if (h.is_v2 and (controller is None or PURE_V2)) or (controller and controller in h.controllers):
            key = "" if h.is_v2 else ",".join(h.controllers)
            return h.mountpoint + paths[key]
    raise AssertionError(f"no hierarchy for {controller}")


def knob(pid, v1, v2):
    """Read a control file: v1 = (controller, file) on v1/hybrid, v2 = file on pure v2."""
    path = os.path.join(cgroup_of(pid, v2.split(".")[0]), v2) if PURE_V2 else \
        os.path.join(cgroup_of(pid, v1[0]), v1[1])
    with open(path) as f:
        return f.read().strip()


def with_resources(env, resources, args=("sleep", "100"), **linux):
    cfg = env.config(args=list(args))
    cfg["linux"]["resources"] = resources
    cfg["linux"].update(linux)
    return cfg


def one_line_error(r, *parts):
    assert r.code != 0, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    for part in parts:
        assert part in lines[0], (part, r.err)
    return lines[0]


def shared_dir(env, cfg, name="out"):
    """Bind a host directory at /out in the container."""
    host = env.tmp / name
    host.mkdir(exist_ok=True)
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(host),
                          "options": ["rbind", "rw"]})
    return host


# -- resources are in place before the container's program runs ----------------------------
def test_limits_are_set_at_create(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {
        "memory": {"limit": 64 * MiB, "swap": 64 * MiB, "reservation": 32 * MiB},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 50},
    }))
    pid = env.state(cid)["pid"]  # the init, waiting for start: nothing of the user's ran yet
    expected = {
        (("memory", "memory.limit_in_bytes"), "memory.max"): str(64 * MiB),
        (("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max"): str(64 * MiB) if not PURE_V2 else "0",
        (("memory", "memory.soft_limit_in_bytes"), "memory.low"): str(32 * MiB),
        (("cpu", "cpu.shares"), "cpu.weight"): "512" if not PURE_V2 else "59",
        (("cpu", "cpu.cfs_quota_us"), "cpu.max"): "20000" if not PURE_V2 else "20000 100000",
        (("cpuset", "cpuset.cpus"), "cpuset.cpus"): "0",
        (("cpuset", "cpuset.mems"), "cpuset.mems"): "0",
        (("pids", "pids.max"), "pids.max"): "50",
    }
    for (v1, v2), value in expected.items():
        assert knob(pid, v1, v2) == value, (v1, v2)
    env.ok("delete", cid)


@pytest.mark.parametrize("cgroupns", [True, pytest.param(False, marks=pytest.mark.skipif(
    PURE_V2, reason="without a cgroup namespace cgroup2 shows the whole tree (runc too)"))])
def test_the_container_sees_its_own_limit(env, cgroupns):
    """Without a cgroup namespace (podman on v1) each v1 hierarchy is the
    container's own cgroup bound in, as runc does, not the host's root."""
    cfg = with_resources(env, {"memory": {"limit": 48 * MiB}},
                         args=["cat", "/sys/fs/cgroup/memory.max" if PURE_V2
                               else "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
    if not cgroupns:
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "cgroup"]
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0 and r.out.strip() == str(48 * MiB), r


@pytest.mark.skipif(PURE_V2, reason="a cgroup2 mount without a cgroup namespace shows the whole tree, as runc's")
def test_without_a_cgroup_namespace_only_the_own_cgroup_is_seen_read_only(env):
    """containerd's CRI on v1 hosts asks for no cgroup namespace: each
    hierarchy is then the container's own cgroup bound read-only (as runc),
    nothing of the host's tree around it."""
    cfg = with_resources(env, {"memory": {"limit": 48 * MiB}},
                         args=["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
                                           "find /sys/fs/cgroup/memory /sys/fs/cgroup/pids -mindepth 1 -type d; "
                                           "mkdir /sys/fs/cgroup/pids/x || echo read-only"])
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "cgroup"]
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0 and r.out.split() == [str(48 * MiB), "read-only"], r


@pytest.mark.skipif(PURE_V2, reason="cgroup2 has one mount; this is about the v1 layout")
def test_a_joined_cgroup_namespace_shows_its_root(no_leftovers):
    """Joined by path, a cgroup namespace's root is what /sys/fs/cgroup shows
    (runc's choice too), not the joining container's own cgroup."""
    env = no_leftovers
    first = env.create(with_resources(env, {"memory": {"limit": 48 * MiB}}))
    env.ok("start", first)
    cfg = with_resources(env, {"memory": {"limit": 32 * MiB}},
                         args=["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "cgroup":
            ns["path"] = f"/proc/{env.state(first)['pid']}/ns/cgroup"
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0 and r.out.strip() == str(48 * MiB), r
    env.ok("delete", "--force", first)


@pytest.mark.parametrize("limit, file_value", [(-1, "max"), (0, "0"), (2, "2")])
def test_pids_limit(env, limit, file_value):
    """-1 is no limit; 0 is a real limit (the spec says so): no fork at all."""
    cfg = with_resources(env, {"pids": {"limit": limit}},
                         args=["sh", "-c", f"read v < /sys/fs/cgroup/{'' if PURE_V2 else 'pids/'}pids.max; "
                                           "echo $v; (true) && echo forked"])  # read, echo: no fork
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    lines = r.out.split()
    assert lines[0] == file_value, r
    if limit == 0:
        assert "forked" not in lines and "can't fork" in r.err, r
    else:
        assert lines[1:] == ["forked"], r


# -- devices ---------------------------------------------------------------------------
PROBE = {"path": "/dev/probe", "type": "c", "major": 60, "minor": 1, "fileMode": 0o666}
# 60 is a major for "local/experimental use" that no driver takes: opening it fails
# with ENXIO once the cgroup lets it through, and with EPERM while the
# allow-list (v1 devices.allow, v2 eBPF) does not.
DENIED, ALLOWED = "Operation not permitted", "No such device or address"


@pytest.mark.parametrize("rules, expected", [
    ([{"allow": False, "access": "rwm"}], DENIED),
    ([{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 60, "minor": 1, "access": "r"}],
     ALLOWED),
    ([{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 60, "access": "rwm"}], DENIED),
])
def test_device_rules(env, rules, expected):
    cfg = with_resources(env, {"devices": rules},
                         args=["sh", "-c", "cat /dev/probe; echo null-ok > /dev/null && echo null-ok; "
                                           "head -c 3 /dev/zero | wc -c"], devices=[PROBE])
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert expected in r.err, r
    assert r.out.split() == ["null-ok", "3"], "the default devices work whatever the config says"


def test_read_only_device_access(env):
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 60, "minor": 1, "access": "r"}]
    cfg = with_resources(env, {"devices": rules}, args=["sh", "-c", "echo x > /dev/probe"], devices=[PROBE])
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert DENIED in r.err, r


def test_update_devices(no_leftovers):
    env = no_leftovers
    cfg = with_resources(env, {"devices": [{"allow": False, "access": "rwm"}]},
                         args=["sh", "-c", "while true; do cat /dev/probe 2>>/out/log; sleep 0.05; done"],
                         devices=[PROBE])
    out = shared_dir(env, cfg)
    (out / "log").write_text("")
    cid = env.create(cfg)
    env.ok("start", cid)
    wait_for_text(out / "log", DENIED)
    rules = env.tmp / "devices.json"
    rules.write_text(json.dumps({"devices": [
        {"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 60, "minor": 1, "access": "r"}]}))
    env.ok("update", "--resources", str(rules), cid)
    wait_for_text(out / "log", ALLOWED)
    env.ok("delete", "--force", cid)


# -- update ----------------------------------------------------------------------------
def test_update_with_flags_file_and_stdin(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {"memory": {"limit": 64 * MiB, "swap": 128 * MiB}}))
    env.ok("start", cid)
    pid = env.state(cid)["pid"]
    env.ok("update", "--memory", "96m", "--memory-swap", "256m", "--cpu-share", "1024", "--cpu-quota", "30000",
           "--cpu-period", "100000", "--pids-limit", "20", "--cpuset-cpus", "0", cid)
    assert knob(pid, ("memory", "memory.limit_in_bytes"), "memory.max") == str(96 * MiB)
    assert knob(pid, ("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max") == \
        str(256 * MiB if not PURE_V2 else 160 * MiB)
    assert knob(pid, ("cpu", "cpu.shares"), "cpu.weight") == ("1024" if not PURE_V2 else "100")
    assert knob(pid, ("cpu", "cpu.cfs_quota_us"), "cpu.max").split()[0] == "30000"
    assert knob(pid, ("pids", "pids.max"), "pids.max") == "20"
    resources = env.tmp / "r.json"
    resources.write_text(json.dumps({"memory": {"limit": 80 * MiB}, "cpu": {"period": 200000}}))
    env.ok("update", "--resources", str(resources), cid)
    assert knob(pid, ("memory", "memory.limit_in_bytes"), "memory.max") == str(80 * MiB)
    # memory+swap stays 256 MiB: on v2 the swap part grows as the limit shrinks
    assert knob(pid, ("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max") == \
        str(256 * MiB if not PURE_V2 else 176 * MiB)
    assert knob(pid, ("cpu", "cpu.cfs_period_us"), "cpu.max").split()[-1] == "200000"
    assert knob(pid, ("cpu", "cpu.cfs_quota_us"), "cpu.max").split()[0] == "30000", "quota kept"
    with open(env.tmp / "stdin.json", "w") as f:
        f.write('{"pids": {"limit": 30}}')
    with open(env.tmp / "stdin.json") as f:
        env.ok("update", "-r", "-", cid, stdin=f)
    assert knob(pid, ("pids", "pids.max"), "pids.max") == "30"
    env.ok("delete", "--force", cid)


def test_update_errors(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {}))
    env.ok("start", cid)
    one_line_error(env.ocirt("update", "--cpuset-cpus", "99", cid), "linux.resources.cpu.cpus", "cpuset.cpus")
    bad = env.tmp / "bad.json"
    bad.write_text('{"memory": {"limit": "lots"}}')
    one_line_error(env.ocirt("update", "-r", str(bad), cid), str(bad), "memory.limit")
    bad.write_text("[1, 2")
    one_line_error(env.ocirt("update", "-r", str(bad), cid), str(bad), "not valid JSON")
    one_line_error(env.ocirt("update", "-r", str(bad), "--memory", "1m", cid), "cannot be combined")
    env.ok("kill", cid, "9")
    wait_status(env, cid, "stopped")
    one_line_error(env.ocirt("update", "--memory", "1m", cid), "container not running")
    env.ok("delete", cid)


# -- a value the host cannot apply: create fails, names field and file, leaves nothing --------
@pytest.mark.parametrize("resources, field, file", [
    ({"cpu": {"cpus": "99"}}, "linux.resources.cpu.cpus", "cpuset.cpus"),
    ({"memory": {"swappiness": 201}}, "linux.resources.memory.swappiness", "memory.swappiness"),
    ({"pids": {"limit": -2}}, "linux.resources.pids.limit", "pids.max"),  # set after the init forked
    ({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}, "linux.resources.hugepageLimits", "hugetlb"),
    ({"network": {"classID": 1}}, "linux.resources.network", "net_cls"),
    ({"unified": {"nosuch.file": "1"}}, "linux.resources.unified", "nosuch"),
])
def test_unappliable_values_fail_create(no_leftovers, resources, field, file):
    env = no_leftovers
    cid = env.new_id()
    r = env.ocirt("create", "-b", env.bundle(with_resources(env, resources)), cid)
    one_line_error(r, field, file)
    assert env.ocirt("state", cid).code != 0


def test_host_specific_resources(env):
    """What only one kind of host has: v1's swappiness, OOM-killer switch and
    classful net; v2's unified keys. The other kind refuses them clearly."""
    cases = [
        ({"memory": {"swappiness": 10}}, ("memory", "memory.swappiness"), "10"),
        ({"memory": {"disableOOMKiller": True}}, ("memory", "memory.oom_control"), "oom_kill_disable 1"),
    ]
    for resources, (controller, name), value in cases:
        cfg = with_resources(env, resources)
        cid = env.new_id()
        r = env.ocirt("create", "-b", env.bundle(cfg), cid)
        if PURE_V2:
            one_line_error(r, "linux.resources.memory.", "cgroup v2")
            continue
        assert r.code == 0, r
        with open(os.path.join(cgroup_of(env.state(cid)["pid"], controller), name)) as f:
            assert f.read().split("\n")[0] == value
        env.ok("delete", cid)
    cfg = with_resources(env, {"unified": {"memory.high": str(40 * MiB)}})
    cid = env.new_id()
    r = env.ocirt("create", "-b", env.bundle(cfg), cid)
    if PURE_V2:
        assert r.code == 0, r
        assert knob(env.state(cid)["pid"], None, "memory.high") == str(40 * MiB)
        env.ok("delete", cid)
    else:
        one_line_error(r, "linux.resources.unified['memory.high']", "memory controller is not available")


def test_hugetlb(env):
    """hugetlb: v1's hugetlb.*.limit_in_bytes, else v2's hugetlb.*.max (on a
    hybrid host only if the unified hierarchy has the controller enabled)."""
    cfg = with_resources(env, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    cid = env.new_id()
    r = env.ocirt("create", "-b", env.bundle(cfg), cid)
    v1 = any("hugetlb" in h.controllers for h in HIERARCHIES)
    unified = next((h for h in HIERARCHIES if h.is_v2), None)
    # The container's cgroup is /<id>: under the root, which on pure v2 we may
    # enable controllers in, while a hybrid host's unified root stays as it is.
    root_file = "cgroup.controllers" if PURE_V2 else "cgroup.subtree_control"
    enabled = unified and "hugetlb" in open(os.path.join(unified.mountpoint, root_file)).read().split()
    if not v1 and not enabled:
        one_line_error(r, "linux.resources.hugepageLimits", "no hugetlb controller")
        return
    assert r.code == 0, r
    pid = env.state(cid)["pid"]
    path = os.path.join(cgroup_of(pid, "hugetlb"), "hugetlb.2MB.limit_in_bytes") if v1 else \
        os.path.join(cgroup_of(pid), "hugetlb.2MB.max")
    assert open(path).read().strip() == str(4 * MiB)
    env.ok("delete", cid)


def block_device():
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram", "nbd")):
            return tuple(int(n) for n in open(f"/sys/block/{name}/dev").read().split(":"))
    return None


def test_block_io(env):
    device = block_device()
    if device is None:
        pytest.skip("no block device on this host")
    major, minor = device
    cfg = with_resources(env, {"blockIO": {
        "weight": 300, "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}})
    cid = env.create(cfg)
    pid = env.state(cid)["pid"]
    if PURE_V2:
        io_max = knob(pid, None, "io.max")
        assert f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100" in io_max
        d = cgroup_of(pid)
        weight = open(os.path.join(d, "io.bfq.weight")).read() if os.path.exists(os.path.join(d, "io.bfq.weight")) \
            else open(os.path.join(d, "io.weight")).read()
        assert weight.split()[1] in ("300", "2930")  # BFQ takes blkio's range; io.weight: 1 + 290 * 9999 // 990
    else:
        d = cgroup_of(pid, "blkio")
        assert open(os.path.join(d, "blkio.throttle.read_bps_device")).read().split() == [f"{major}:{minor}", "1048576"]
        assert open(os.path.join(d, "blkio.throttle.write_iops_device")).read().split() == [f"{major}:{minor}", "100"]
        name = "blkio.weight" if os.path.exists(os.path.join(d, "blkio.weight")) else "blkio.bfq.weight"
        assert open(os.path.join(d, name)).read().split()[-1] == "300"
    env.ok("delete", cid)


# -- the cgroup must be ours ------------------------------------------------------------------
def test_a_cgroup_in_use_is_refused(no_leftovers):
    env = no_leftovers
    path = f"/ocirt-test-shared-{env.new_id('p')}"
    first = env.create(with_resources(env, {}, cgroupsPath=path))
    second = env.new_id()
    r = env.ocirt("create", "-b", env.bundle(with_resources(env, {}, cgroupsPath=path)), second)
    one_line_error(r, "linux.cgroupsPath", "already has processes")
    assert env.state(first)["status"] == "created", "the first container is untouched"
    env.ok("delete", first)
    assert not any(os.path.exists(h.mountpoint + path) for h in HIERARCHIES)


def test_a_frozen_cgroup_is_refused(no_leftovers):
    env = no_leftovers
    name = f"ocirt-test-frozen-{env.new_id('f')}"
    freezer = next((h for h in HIERARCHIES if "freezer" in h.controllers), None)
    h = freezer or next(h for h in HIERARCHIES if h.is_v2)
    made = os.path.join(h.mountpoint, name)
    os.mkdir(made)
    try:
        with open(os.path.join(made, "freezer.state" if freezer else "cgroup.freeze"), "w") as f:
            f.write("FROZEN" if freezer else "1")
        r = env.ocirt("create", "-b", env.bundle(with_resources(env, {}, cgroupsPath="/" + name)), env.new_id())
        one_line_error(r, "linux.cgroupsPath", "frozen")
        assert os.path.isdir(made), "not ours: left alone"
        assert [x for x in HIERARCHIES if os.path.exists(os.path.join(x.mountpoint, name))] == [h]
    finally:
        with open(os.path.join(made, "freezer.state" if freezer else "cgroup.freeze"), "w") as f:
            f.write("THAWED" if freezer else "0")
        os.rmdir(made)


def test_child_cgroups_made_inside_go_on_delete(no_leftovers):
    env = no_leftovers
    cfg = with_resources(env, {}, args=["sh", "-c", "mkdir -p /sys/fs/cgroup/%s/inner/deeper && echo made" %
                                        ("" if PURE_V2 else "pids")])
    for m in cfg["mounts"]:
        if m["destination"] == "/sys/fs/cgroup":
            m["options"] = [o for o in m["options"] if o != "ro"]
    cid = env.new_id()
    r = env.ocirt("run", "--keep", "-b", env.bundle(cfg), cid)
    assert r.out.strip() == "made", r
    assert any(os.path.isdir(os.path.join(d, "inner", "deeper")) for d in cgroup_dirs(cid))
    env.ok("delete", cid)


# -- pause and resume -----------------------------------------------------------------------
def wait_for_count(path, at_least, timeout=10):
    deadline = time.monotonic() + timeout
    while int(path.read_text()) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} stayed at {path.read_text()!r}, below {at_least}")
        time.sleep(0.02)


def test_pause_and_resume(no_leftovers):
    env = no_leftovers
    # The counter is renamed into place: a reader never sees a half-written file.
    cfg = with_resources(env, {}, args=["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /out/n.new; "
                                                    "mv /out/n.new /out/n; sleep 0.02; done"])
    out = shared_dir(env, cfg)
    (out / "n").write_text("0\n")
    cid = env.create(cfg)
    env.ok("start", cid)
    wait_for_count(out / "n", 3)
    pid = env.state(cid)["pid"]
    env.ok("pause", cid)
    assert env.state(cid)["status"] == "paused"
    assert knob(pid, ("freezer", "freezer.state"), "cgroup.freeze") == ("1" if PURE_V2 else "FROZEN")
    before = (out / "n").read_text()
    time.sleep(0.3)
    assert (out / "n").read_text() == before, "a frozen container does not run"
    one_line_error(env.ocirt("pause", cid), "container not running", "paused")
    one_line_error(env.ocirt("start", cid), "paused")
    env.ok("resume", cid)
    assert env.state(cid)["status"] == "running"
    wait_for_count(out / "n", int(before) + 3)
    one_line_error(env.ocirt("resume", cid), "container not paused")
    env.ok("pause", cid)
    env.ok("delete", "--force", cid)  # thaws, kills, removes


def test_pause_a_created_container(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {}))
    env.ok("pause", cid)
    assert env.state(cid)["status"] == "paused"
    env.ok("resume", cid)
    assert env.state(cid)["status"] == "created"
    env.ok("start", cid)
    assert env.state(cid)["status"] == "running"
    env.ok("delete", "--force", cid)


def test_kill_a_paused_container(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {}))
    env.ok("start", cid)
    env.ok("pause", cid)
    env.ok("kill", cid, "KILL")
    if env.state(cid)["status"] == "paused":
        env.ok("resume", cid)  # v1: a frozen task dies once thawed (v2's freezer lets SIGKILL through)
    wait_status(env, cid, "stopped")
    env.ok("delete", cid)


# -- ps and kill --all ---------------------------------------------------------------------
def wait_for_pids(env, cid, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = json.loads(env.ok("ps", "--format", "json", cid).out)
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"{cid} never had {count} processes: {pids}")


def test_ps(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {}, args=["sh", "-c", "sleep 100 & sleep 101 & wait"]))
    assert json.loads(env.ok("ps", "--format", "json", cid).out) == [env.state(cid)["pid"]]
    env.ok("start", cid)
    pids = wait_for_pids(env, cid, 3)  # sh and its two sleeps
    r = env.ok("ps", cid)
    header, *rows = r.out.splitlines()
    assert "PID" in header.split() and r.err == ""
    column = header.split().index("PID")
    assert sorted(int(row.split()[column]) for row in rows) == sorted(pids)
    assert any("sleep 101" in row for row in rows)
    r = env.ok("ps", cid, "-o", "pid,comm")
    assert r.out.split()[:2] == ["PID", "COMMAND"] and len(r.out.splitlines()) == 4
    one_line_error(env.ocirt("ps", "--format", "yaml", cid), "--format")
    env.ok("delete", "--force", cid)


@pytest.mark.parametrize("own_pid_namespace", [True, False])
def test_kill_all(no_leftovers, own_pid_namespace):
    env = no_leftovers
    cfg = with_resources(env, {}, args=["sh", "-c", "sleep 100 & sleep 100 & wait"])
    if not own_pid_namespace:
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    cid = env.create(cfg)
    env.ok("start", cid)
    pids = wait_for_pids(env, cid, 3)
    env.ok("kill", "--all", cid, "9")
    wait_status(env, cid, "stopped")
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split(")")[-1].split()[0] != "Z"
              for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert json.loads(env.ok("ps", "--format", "json", cid).out) == []
    one_line_error(env.ocirt("kill", "--all", cid, "9"), "container not running")
    env.ok("delete", cid)


# -- events -------------------------------------------------------------------------------
def test_events_stats(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {"memory": {"limit": 64 * MiB}, "pids": {"limit": 40}}))
    env.ok("start", cid)
    r = env.ok("events", "--stats", cid)
    lines = r.out.splitlines()
    assert len(lines) == 1 and r.err == ""
    event = json.loads(lines[0])
    assert (event["type"], event["id"]) == ("stats", cid)
    data = event["data"]
    assert data["memory"]["usage"]["limit"] == 64 * MiB
    assert data["memory"]["usage"]["usage"] > 0
    assert data["pids"] == {"current": 1, "limit": 40}
    assert data["cpu"]["usage"]["total"] > 0, "the init ran in the cgroup"
    assert set(data) >= {"cpu", "memory", "pids", "blkio", "hugetlb"}
    env.ok("kill", cid, "9")
    wait_status(env, cid, "stopped")
    one_line_error(env.ocirt("events", "--stats", cid), "container not running")
    env.ok("delete", cid)


def start_events(env, cid, interval="100ms"):
    out = open(env.tmp / f"events-{cid}", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "ocirt", "--root", env.root, "events", "--interval",
                             interval, cid], stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_for_text(env.tmp / f"events-{cid}", '"type":"stats"')  # it is watching
    return proc, env.tmp / f"events-{cid}"


def test_events_stream_ends_with_the_container(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {}))
    env.ok("start", cid)
    proc, path = start_events(env, cid)
    env.ok("kill", cid, "9")
    assert proc.wait(timeout=20) == 0, proc.stderr.read()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert events and all(e["type"] == "stats" and e["id"] == cid for e in events)
    env.ok("delete", cid)


def test_oom_kill_is_an_event(no_leftovers):
    """A container that exceeds its memory limit is OOM-killed and `events` says so."""
    env = no_leftovers
    cfg = with_resources(env, {"memory": {"limit": 24 * MiB, "swap": 24 * MiB}},
                         args=["sh", "-c", "while [ ! -e /out/go ]; do sleep 0.02; done; "
                                           "dd if=/dev/zero of=/dev/null bs=96M count=1; echo dd=$? > /out/done"])
    out = shared_dir(env, cfg)
    cid = env.create(cfg)
    env.ok("start", cid)
    proc, path = start_events(env, cid)
    (out / "go").write_text("")
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"type": "oom", "id": cid} in events, events
    assert (out / "done").read_text().strip() == "dd=137", "dd was killed by SIGKILL"
    env.ok("delete", cid)


# -- delete and the hot path ------------------------------------------------------------------
def test_delete_force_of_a_paused_container_leaves_nothing(no_leftovers):
    env = no_leftovers
    cid = env.create(with_resources(env, {"memory": {"limit": 64 * MiB}},
                                    args=["sh", "-c", "sleep 100 & sleep 100 & wait"]))
    env.ok("start", cid)
    wait_for_pids(env, cid, 3)
    env.ok("pause", cid)
    env.ok("delete", "--force", cid)
    assert cgroup_dirs(cid) == []


def test_state_loads_no_resource_code(env):
    cid = env.create(with_resources(env, {"memory": {"limit": 64 * MiB}}))
    code = ("import sys; from ocirt.cli import main; main(['--root', %r, 'state', %r]); "
            "print(sorted(m for m in sys.modules if m.startswith('ocirt.linux.cgroups')), file=sys.stderr)"
            % (env.root, cid))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "created", r
    assert r.stderr.strip() == "['ocirt.linux.cgroups']", r.stderr
    env.ok("delete", cid)


# -- side by side with runc -------------------------------------------------------------------
RUNC_KNOBS = [  # (v1, v2) files that runc and ocirt must write alike
    (("memory", "memory.limit_in_bytes"), "memory.max"),
    (("memory", "memory.memsw.limit_in_bytes"), "memory.swap.max"),
    (("memory", "memory.soft_limit_in_bytes"), "memory.low"),
    (("cpu", "cpu.cfs_quota_us"), "cpu.max"),
    (("cpu", "cpu.cfs_period_us"), "cpu.max"),
    (("cpuset", "cpuset.cpus"), "cpuset.cpus"),
    (("pids", "pids.max"), "pids.max"),
]


@pytest.mark.skipif(not os.path.exists("/usr/sbin/runc") and not os.path.exists("/usr/bin/runc"),
                    reason="runc is not installed")
def test_same_files_as_runc(env):
    resources = {"memory": {"limit": 72 * MiB, "swap": 100 * MiB, "reservation": 50 * MiB},
                 "cpu": {"quota": 40000, "period": 80000, "cpus": "0"}, "pids": {"limit": 33},
                 "devices": [{"allow": False, "access": "rwm"}]}
    cfg = with_resources(env, resources)
    bundle = env.bundle(cfg)
    ours = env.create(cfg)
    theirs = env.new_id("runc")
    runc_root = str(env.tmp / "runc")
    subprocess.run(["runc", "--root", runc_root, "create", "--bundle", bundle, theirs], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    try:
        runc_pid = json.loads(subprocess.run(["runc", "--root", runc_root, "state", theirs], capture_output=True,
                                             check=True).stdout)["pid"]
        our_pid = env.state(ours)["pid"]
        for v1, v2 in RUNC_KNOBS:
            assert knob(our_pid, v1, v2) == knob(runc_pid, v1, v2), (v1, v2)
        ours_stats = json.loads(env.ok("events", "--stats", ours).out)
        runc_stats = json.loads(subprocess.run(["runc", "--root", runc_root, "events", "--stats", theirs],
                                               capture_output=True, check=True).stdout)
        assert set(ours_stats) == set(runc_stats) == {"type", "id", "data"}
        assert set(ours_stats["data"]) == set(runc_stats["data"])
        for section in ("memory", "pids"):
            for key in ("usage", "swap", "limit"):
                ours_value = ours_stats["data"][section].get(key)
                theirs_value = runc_stats["data"][section].get(key)
                if isinstance(ours_value, dict):
                    assert ours_value["limit"] == theirs_value["limit"], (section, key)
                else:
                    assert ours_value == theirs_value, (section, key)
        if not PURE_V2:
            ours_list = set(open(os.path.join(cgroup_of(our_pid, "devices"), "devices.list")).read().split("\n"))
            runc_list = set(open(os.path.join(cgroup_of(runc_pid, "devices"), "devices.list")).read().split("\n"))
            # runc also keeps /dev/net/tun (10:200) for old clients; we do not.
            assert runc_list - ours_list == {"c 10:200 rwm"} and ours_list - runc_list == set()
    finally:
        subprocess.run(["runc", "--root", runc_root, "delete", "--force", theirs], timeout=30)
    env.ok("delete", ours)


def test_a_child_is_born_in_a_cgroup_v2_placement(tmp_path):
    """Placement.fork() on cgroup v2 (the unified hierarchy of a hybrid host
    counts): the child starts in the cgroup, so it never has to move there."""
    v2 = [h for h in cgroups.hierarchies() if h.is_v2]
    if not v2:
        pytest.skip("no cgroup v2 hierarchy on this host")
    directory = os.path.join(v2[0].mountpoint, f"ocirt-test-fork-{os.getpid()}")
    os.mkdir(directory)
    report = tmp_path / "cgroup"
    try:
        pid, inside = cgroups.Placement([directory], [directory], controllers=[()]).fork()
        if pid == 0:
            with open("/proc/self/cgroup") as f:
                report.write_text(f.read())
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert inside
        own = [line.split(":", 2)[2] for line in report.read_text().splitlines() if line.startswith("0::")]
        assert own == ["/" + os.path.relpath(directory, v2[0].mountpoint)]
    finally:
        os.rmdir(directory)


def test_containers_under_a_parent_one_of_them_made(no_leftovers):
    """cgroupsPath /parent/a, then /parent/b: a's create made the parent.
    Deleting a leaves b's cgroup alone (the parent is not empty); the
    parent goes once nothing is in it."""
    env = no_leftovers
    parent = f"ocirt-test-parent-{uuid.uuid4().hex[:8]}"
    a = env.create(with_resources(env, {}, cgroupsPath=f"/{parent}/a"))
    b = env.create(with_resources(env, {}, cgroupsPath=f"/{parent}/b"))
    env.ok("start", b)
    b_dir = cgroup_of(env.state(b)["pid"], "pids")
    try:
        env.ok("delete", "--force", a)
        assert env.state(b)["status"] == "running" and os.path.isdir(b_dir)
        assert cgroup_of(env.state(b)["pid"], "pids") == b_dir
        env.ok("delete", "--force", b)
        assert not os.path.exists(b_dir)
    finally:
        for h in HIERARCHIES:  # made by a, so left by b's delete (as runc leaves parents)
            path = os.path.join(h.mountpoint, parent)
            if os.path.isdir(path):
                os.rmdir(path)


def test_a_threaded_caller_gets_a_plain_fork(tmp_path):
    """With another thread running, Placement.fork() does not clone3
    (libc's fork handling is what keeps the child's locks sane)."""
    import threading
    v2 = [h for h in cgroups.hierarchies() if h.is_v2]
    if not v2:
        pytest.skip("no cgroup v2 hierarchy on this host")
    directory = os.path.join(v2[0].mountpoint, f"ocirt-test-fork-threaded-{os.getpid()}")
    os.mkdir(directory)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        pid, inside = cgroups.Placement([directory], [directory], controllers=[()]).fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        assert not inside
    finally:
        stop.set()
        thread.join()
        os.rmdir(directory)
