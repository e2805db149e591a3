"""Every error: one line naming what is wrong, a non-zero exit code, and
nothing left behind (state dir, cgroup, mount, process)."""

import json
import os

import pytest

from .conftest import cgroup_dirs, wait_status


def mount_count():
    with open("/proc/self/mountinfo") as f:
        return sum(1 for _ in f)


def one_line(r):
    assert r.code != 0, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    return lines[0]


def assert_nothing_created(env, cid, mounts_before):
    assert not os.path.exists(os.path.join(env.root, cid))
    assert mount_count() == mounts_before
    assert cgroup_dirs(cid) == []


@pytest.mark.parametrize("bad_id", ["../x", "..", "a/b", "", "x y", "$(id)", "."])
def test_invalid_ids_are_refused_before_anything_exists(env, bad_id):
    r = env.ocirt("create", "--bundle", env.bundle(), bad_id)
    assert "invalid container id" in one_line(r)
    assert not os.path.exists(env.root) or os.listdir(env.root) == []
    assert not os.path.exists(os.path.join(os.path.dirname(env.root), "x")), "../x escaped the root"


@pytest.mark.parametrize("command", [["state"], ["start"], ["kill"], ["delete"]])
def test_unknown_container(env, command):
    r = env.ocirt(*command, "nosuch")
    assert one_line(r) == "ocirt: container does not exist: nosuch"
    assert r.code == 1 and r.out == ""


def test_delete_force_of_unknown_container_succeeds(env):
    r = env.ocirt("delete", "--force", "nosuch")
    assert (r.code, r.out, r.err) == (0, "", "")


def test_create_twice(env):
    cid = env.create(args=["sleep", "10"])
    r = env.ocirt("create", "--bundle", env.bundle(), cid)
    assert f"container with id exists: {cid}" in one_line(r)
    assert env.state(cid)["status"] == "created", "the first container is untouched"


def test_wrong_state_operations(env):
    cid = env.create(args=["sleep", "100"])
    env.ok("start", cid)
    r = env.ocirt("start", cid)
    assert f"cannot start container {cid}: it is running, not created" in one_line(r)
    env.ok("kill", cid, "KILL")
    wait_status(env, cid, "stopped")
    r = env.ocirt("kill", cid, "TERM")
    assert "container not running" in one_line(r)
    r = env.ocirt("kill", "--all", cid, "9")
    assert "container not running" in one_line(r)
    r = env.ocirt("start", cid)
    assert "it is stopped, not created" in one_line(r)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["process"].update(cwd="tmp"), 'config.json: process.cwd: must be an absolute path (got "tmp")'),
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[6].type: duplicate namespace"),
    (lambda c: c["process"]["user"].update(uid="0"), "process.user.uid: must be integer"),
    (lambda c: c.pop("ociVersion"), "ociVersion: is required"),
    (lambda c: c["mounts"][0].pop("destination"), "mounts[0].destination: is required"),
    (lambda c: c["linux"]["namespaces"][2].update(path="/proc/self/ns/net"),
     "linux.namespaces[2].path: /proc/self/ns/net is not a namespace of type ipc"),
    (lambda c: c["linux"]["namespaces"][1].update(path="/nonexistent/ns"),
     "linux.namespaces[1].path: cannot open /nonexistent/ns"),
])
def test_bad_config(no_leftovers, mutate, message):
    env = no_leftovers
    cfg = env.config()
    mutate(cfg)
    cid = env.new_id()
    before = mount_count()
    r = env.ocirt("create", "--bundle", env.bundle(cfg), cid)
    assert message in one_line(r), r
    assert_nothing_created(env, cid, before)


def test_malformed_json(no_leftovers, tmp_path):
    env = no_leftovers
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.3.0",')
    cid = env.new_id()
    line = one_line(env.ocirt("create", "--bundle", str(bundle), cid))
    assert f"{bundle}/config.json: not valid JSON" in line
    assert not os.path.exists(os.path.join(env.root, cid))


def test_missing_config(no_leftovers, tmp_path):
    env = no_leftovers
    cid = env.new_id()
    line = one_line(env.ocirt("create", "--bundle", str(tmp_path), cid))
    assert f"{tmp_path}/config.json: cannot read: No such file or directory" in line


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_rootfs(no_leftovers, kind):
    env = no_leftovers
    cfg = env.config()
    target = env.tmp / "not-a-rootfs"
    if kind == "file":
        target.write_text("")
    cfg["root"]["path"] = str(target)
    cid = env.new_id()
    before = mount_count()
    line = one_line(env.ocirt("create", "--bundle", env.bundle(cfg), cid))
    assert "root.path: rootfs" in line and ("does not exist" if kind == "missing" else "is not a directory") in line
    assert_nothing_created(env, cid, before)


def test_missing_executable(no_leftovers):
    env = no_leftovers
    cid = env.new_id()
    before = mount_count()
    line = one_line(env.ocirt("create", "--bundle", env.bundle(args=["nosuchprogram"]), cid))
    assert 'exec: "nosuchprogram": executable file not found in $PATH' in line
    assert_nothing_created(env, cid, before)
    line = one_line(env.ocirt("create", "--bundle", env.bundle(args=["/bin/nosuch"]), cid))
    assert "/bin/nosuch: no such file or directory" in line


def test_failing_mount_leaves_nothing(no_leftovers):
    env = no_leftovers
    cfg = env.config()
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": "/nonexistent/src",
                          "options": ["rbind"]})
    cid = env.new_id()
    before = mount_count()
    line = one_line(env.ocirt("create", "--bundle", env.bundle(cfg), cid))
    assert "bind source /nonexistent/src does not exist" in line
    assert_nothing_created(env, cid, before)


def test_run_failure_leaves_nothing(no_leftovers):
    env = no_leftovers
    cid = env.new_id()
    line = one_line(env.ocirt("run", "-b", env.bundle(args=["nosuchprogram"]), cid))
    assert "executable file not found" in line


def test_errors_go_to_the_json_log(env, tmp_path):
    log = tmp_path / "log.json"
    r = env.ocirt("--log", str(log), "--log-format", "json", "state", "nosuch")
    assert "container does not exist" in one_line(r)
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container does not exist: nosuch"
    assert entry["time"].endswith("Z")


def test_unknown_command_and_option(env):
    assert "unknown command" in one_line(env.ocirt("frobnicate"))
    assert "unknown option --nope" in one_line(env.ocirt("state", "--nope", "x"))
