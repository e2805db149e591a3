"""process.* and linux.* attributes of the program, observed from inside the
container (or from the host where the container has no tool to look)."""

import os

import pytest

from ocirt.linux import lsm


def run_out(env, script, linux=None, **process):
    cfg = env.config(args=["sh", "-c", script], **process)
    cfg["linux"].update(linux or {})
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    return r


def stat_fields(text):
    return text[text.rindex(")") + 2:].split()


def test_oom_score_adj(env):
    r = run_out(env, "cat /proc/self/oom_score_adj", oomScoreAdj=500)
    assert (r.code, r.out) == (0, "500\n"), r


def test_oom_score_adj_untouched_when_unset(env):
    with open("/proc/self/oom_score_adj") as f:
        ours = f.read()
    r = run_out(env, "cat /proc/self/oom_score_adj")
    assert r.out == ours, "inherited from the runtime's caller"


def test_lowering_oom_score_adj_without_cap_sys_resource_names_the_field(env):
    """Lowering needs CAP_SYS_RESOURCE, which root lacks on some hosts (this
    one). Either it works or the error names the field: never a crash."""
    r = run_out(env, "cat /proc/self/oom_score_adj", oomScoreAdj=-999)
    if r.code == 0:
        assert r.out == "-999\n"
    else:
        assert "process.oomScoreAdj: Permission denied" in r.err, r


@pytest.mark.parametrize("policy, number", [("SCHED_BATCH", 3), ("SCHED_IDLE", 5), ("SCHED_OTHER", 0)])
def test_scheduler_policy(env, policy, number):
    r = run_out(env, "cat /proc/self/stat", scheduler={"policy": policy, "nice": 0})
    assert r.code == 0, r
    assert stat_fields(r.out)[38] == str(number), "field 41 of stat: the policy"


def test_scheduler_rr_with_priority(env):
    r = run_out(env, "cat /proc/self/stat", scheduler={"policy": "SCHED_RR", "priority": 10})
    if r.code != 0:  # real-time may be forbidden by the host's cgroup (rt_runtime 0)
        assert "process.scheduler:" in r.err, r
        return
    fields = stat_fields(r.out)
    assert (fields[38], fields[37]) == ("2", "10"), "policy SCHED_RR, rt_priority 10"


def test_scheduler_unknown_flag(no_leftovers):
    env = no_leftovers
    r = run_out(env, "true", scheduler={"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"]})
    assert r.code == 1 and ("process.scheduler.flags" in r.err), r


def test_io_priority(env, tmp_path):
    """busybox has no ionice: the program reports its pid and the host asks."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    cfg = env.config(args=["sh", "-c", "cat /go >/dev/null"], ioPriority={"class": "IOPRIO_CLASS_IDLE", "priority": 0})
    cfg["mounts"].append({"destination": "/go", "type": "bind", "source": str(fifo), "options": ["bind"]})
    cid = env.create(cfg)
    env.ok("start", cid)
    pid = env.state(cid)["pid"]
    prio = libc.syscall(252, 1, pid)  # ioprio_get(IOPRIO_WHO_PROCESS, pid)
    with open(fifo, "w") as f:
        f.write("x")
    assert prio >> 13 == 3, "class IDLE"


def test_personality_linux32(env):
    r = run_out(env, "uname -m", linux={"personality": {"domain": "LINUX32"}})
    assert (r.code, r.out) == (0, "i686\n"), r


def test_memory_policy(env):
    r = run_out(env, "grep -c bind:0 /proc/self/numa_maps", linux={"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0"}})
    assert r.code == 0 and int(r.out) > 0, r


def test_lsm_asked_for_but_absent_is_an_error(no_leftovers):
    env = no_leftovers
    if lsm.apparmor_enabled():
        pytest.skip("AppArmor is enabled here: the error path cannot be shown")
    r = run_out(env, "true", apparmorProfile="ocirt-test")
    assert r.code == 1 and "process.apparmorProfile: AppArmor is not enabled on this host" in r.err, r


def test_selinux_label_asked_for_but_absent_is_an_error(no_leftovers):
    env = no_leftovers
    if lsm.selinux_enabled():
        pytest.skip("SELinux is enabled here: the error path cannot be shown")
    r = run_out(env, "true", selinuxLabel="system_u:system_r:container_t:s0")
    assert r.code == 1 and "process.selinuxLabel: SELinux is not enabled on this host" in r.err, r


def test_scheduler_deadline(env):
    """SCHED_DEADLINE needs real-time bandwidth the host may not grant: it is
    either in force, or refused with an error naming the field."""
    r = run_out(env, "cat /proc/self/stat", scheduler={
        "policy": "SCHED_DEADLINE", "runtime": 10_000_000, "deadline": 30_000_000, "period": 30_000_000})
    if r.code != 0:
        assert "process.scheduler:" in r.err, r
        return
    assert stat_fields(r.out)[38] == "6", "policy SCHED_DEADLINE"
