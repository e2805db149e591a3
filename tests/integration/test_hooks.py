"""Hooks in a real lifecycle: each kind at its moment, in the namespace the
runtime-spec gives it, with the state on stdin; and what a failure does."""

import json
import os

from .conftest import wait_status

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def hook(log, kind, fail=False):
    """A hook that appends: kind, the status and pid from its stdin, its
    mount namespace. startContainer runs inside the container: there the log
    is the bind-mounted /hooklog."""
    target = "/hooklog/log" if kind == "startContainer" else str(log)
    script = (f'state=$(cat); status=$(echo "$state" | sed \'s/.*"status": "\\([a-z]*\\)".*/\\1/\'); '
              f'echo "{kind} $status $(readlink /proc/self/ns/mnt)" >> {target}')
    if fail:
        script += "; echo hook-broke >&2; exit 4"
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def config_with_hooks(env, log, failing=None, args=("sleep", "100")):
    cfg = env.config(args=list(args))
    cfg["hooks"] = {kind: [hook(log, kind, fail=kind == failing)] for kind in KINDS}
    cfg["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(log.parent),
                          "options": ["rbind"]})
    return cfg


def entries(log):
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def test_every_hook_at_its_moment(env, tmp_path):
    log = tmp_path / "hooks" / "log"
    log.parent.mkdir()
    cid = env.create(config_with_hooks(env, log))
    pid = env.state(cid)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    host_mnt = os.readlink("/proc/self/ns/mnt")
    assert [e[0] for e in entries(log)] == ["prestart", "createRuntime", "createContainer"]
    env.ok("start", cid)
    assert [e[0] for e in entries(log)] == list(KINDS[:5])
    env.ok("kill", cid, "KILL")
    wait_status(env, cid, "stopped")
    env.ok("delete", cid)
    got = {e[0]: e[1:] for e in entries(log)}
    assert list(got) == list(KINDS)
    # Runtime namespace for prestart, createRuntime, poststart, poststop;
    # the container's for createContainer and startContainer.
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        assert got[kind][1] == host_mnt, kind
    for kind in ("createContainer", "startContainer"):
        assert got[kind][1] == container_mnt, kind
    assert [got[k][0] for k in KINDS] == ["creating", "creating", "creating", "created", "running", "stopped"]


def test_failing_create_runtime_hook_fails_create(no_leftovers, tmp_path):
    env = no_leftovers
    log = tmp_path / "hooks" / "log"
    log.parent.mkdir()
    cid = env.new_id()
    r = env.ocirt("create", "--bundle", env.bundle(config_with_hooks(env, log, failing="createRuntime")), cid)
    assert r.code == 1 and "hooks.createRuntime[0]: /bin/sh failed (exit status 4): hook-broke" in r.err, r
    assert [e[0] for e in entries(log)] == ["prestart", "createRuntime"]


def test_failing_create_container_hook_fails_create(no_leftovers, tmp_path):
    env = no_leftovers
    log = tmp_path / "hooks" / "log"
    log.parent.mkdir()
    cid = env.new_id()
    r = env.ocirt("create", "--bundle", env.bundle(config_with_hooks(env, log, failing="createContainer")), cid)
    assert r.code == 1 and "hooks.createContainer[0]" in r.err, r


def test_failing_start_container_hook_fails_start(env, tmp_path):
    log = tmp_path / "hooks" / "log"
    log.parent.mkdir()
    cid = env.create(config_with_hooks(env, log, failing="startContainer"))
    r = env.ocirt("start", cid)
    assert r.code == 1 and "hooks.startContainer[0]" in r.err, r
    wait_status(env, cid, "stopped")
    assert "poststart" not in [e[0] for e in entries(log)]


def test_failing_poststart_hook_is_an_error_and_stops_the_container(env, tmp_path):
    log = tmp_path / "hooks" / "log"
    log.parent.mkdir()
    cid = env.create(config_with_hooks(env, log, failing="poststart"))
    r = env.ocirt("start", cid)
    assert r.code == 1 and "hooks.poststart[0]" in r.err and "was killed" in r.err, r
    wait_status(env, cid, "stopped")


def test_failing_poststop_hook_is_a_warning(no_leftovers, tmp_path):
    env = no_leftovers
    log = tmp_path / "hooks" / "log"
    log.parent.mkdir()
    cid = env.create(config_with_hooks(env, log, failing="poststop"))
    env.ok("start", cid)
    r = env.ocirt("delete", "--force", cid)
    assert r.code == 0 and "hooks.poststop[0]" in r.err and "warning" in r.err, r
    assert not os.path.exists(os.path.join(env.root, cid))


def test_hook_gets_the_state_on_stdin(env, tmp_path):
    out = tmp_path / "state.json"
    cfg = env.config(args=["true"])
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}"]}]}
    cfg["annotations"] = {"org.example/key": "value"}
    cid = env.create(cfg)
    state = json.loads(out.read_text())
    assert state["id"] == cid and state["status"] == "creating"
    assert state["pid"] == env.state(cid)["pid"] and state["annotations"] == {"org.example/key": "value"}
    assert state["bundle"].startswith(str(env.tmp))
