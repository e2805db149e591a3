"""Reliability: many ocirt processes at once on one root, concurrent commands
on one container, stale state, a read-only root, and the bad-config corpus
through the real command line. Each ends with nothing of ours left."""

import concurrent.futures
import os
import subprocess
import sys
import threading
import time

import pytest

from ocirt import jsonio

from .conftest import assert_nothing_left, cgroup_dirs

BAD_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "bad-configs")


def _lifecycle(env, cid, bundle):
    """create, start, kill, delete --force: each step's exit code."""
    steps = [("create", "--bundle", bundle, cid), ("start", cid), ("kill", cid, "KILL"),
             ("delete", "--force", cid)]
    results = [env.ocirt(*step) for step in steps]
    return [r.code if r.code == 0 else (r.code, r.err) for r in results]


@pytest.mark.slow
def test_many_containers_concurrently(no_leftovers):
    """100 lifecycles, 16 ocirt processes at a time on one root."""
    env = no_leftovers
    bundle = env.bundle(args=["sleep", "100"])
    ids = [env.new_id(f"par{i}") for i in range(100)]
    done = threading.Event()
    listings = []

    def list_meanwhile():  # list sees containers come and go; it must never fail
        while not done.is_set():
            listings.append(env.ocirt("list", "--format", "json"))

    lister = threading.Thread(target=list_meanwhile)
    lister.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda cid: _lifecycle(env, cid, bundle), ids))
    finally:
        done.set()
        lister.join()
    assert results == [[0, 0, 0, 0]] * len(ids)
    assert listings and all(r.code == 0 and r.err == "" for r in listings), [r for r in listings if r.code]
    seen = [s for r in listings for s in jsonio.loads(r.out)]
    assert seen and {s["id"] for s in seen} <= set(ids)
    assert {s["status"] for s in seen} <= {"created", "running", "stopped"}
    assert env.ok("list", "-q").out == ""
    assert os.listdir(env.root) == []
    assert_nothing_left(env, ids)


def test_concurrent_commands_on_one_container(no_leftovers):
    """The per-container lock serialises them: exactly one start wins."""
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda _: env.ocirt("start", cid).code, range(6)))
    assert sorted(codes) == [0, 1, 1, 1, 1, 1]
    assert env.state(cid)["status"] == "running"
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(lambda _: env.ocirt("delete", "--force", cid).code, range(4)))
    assert codes == [0, 0, 0, 0], "delete --force of a gone container is no error"
    assert not os.path.exists(os.path.join(env.root, cid))


_FAILURES = {  # what each command may rightly say when another one got there first
    "start": ("is stopped, not created", "is running, not created", "container does not exist",
              "init is gone", "its init refused or died"),
    "kill": ("container not running", "container does not exist"),
    "state": ("container does not exist",),
    "delete": (),
}


@pytest.mark.parametrize("round", range(3))
def test_mixed_commands_race_on_one_container(no_leftovers, round):
    """start, kill, state and delete --force, three of each at once: each
    ends with success or with the one-line error its loser's status calls
    for; at most one start wins; and nothing is left."""
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    commands = [("start", cid), ("kill", cid, "KILL"), ("state", cid), ("delete", "--force", cid)] * 3
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(commands)) as pool:
        results = list(pool.map(lambda args: (args[0], env.ocirt(*args)), commands))
    for name, r in results:
        if r.code != 0:
            lines = r.err.strip().splitlines()
            assert r.code == 1 and len(lines) == 1 and any(text in lines[0] for text in _FAILURES[name]), \
                (name, r)
        elif name == "state":
            assert jsonio.loads(r.out)["status"] in ("created", "running", "stopped"), r
    assert sum(name == "start" and r.code == 0 for name, r in results) <= 1
    assert all(r.code == 0 for name, r in results if name == "delete")
    assert_nothing_left(env, [cid])


def test_stale_state_with_a_reused_pid_is_stopped(no_leftovers):
    """state.json names a pid that now belongs to another process (here: one
    we start). It must read as stopped, and neither kill nor delete may touch
    that process."""
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    pid = env.state(cid)["pid"]
    os.kill(pid, 9)
    bystander = subprocess.Popen(["sleep", "100"])
    try:
        path = os.path.join(env.root, cid, "state.json")
        with open(path) as f:
            record = jsonio.loads(f.read())
        record["pid"] = bystander.pid  # same pid, different start time
        with open(path, "w") as f:
            f.write(jsonio.dumps(record))
        assert env.state(cid)["status"] == "stopped"
        r = env.ocirt("kill", cid, "KILL")
        assert r.code == 1 and "container not running" in r.err
        env.ok("delete", cid)
        assert bystander.poll() is None, "the bystander was not killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_read_only_state_root(env, tmp_path):
    root = tmp_path / "ro-root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(root)], check=True)
    try:
        cid = env.new_id()
        r = subprocess.run([sys.executable, "-m", "ocirt", "--root", str(root), "create", "--bundle",
                            env.bundle(), cid], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Read-only file system" in r.stderr and str(root) in r.stderr, r.stderr
        assert os.listdir(root) == []
        assert cgroup_dirs(cid) == []
    finally:
        subprocess.run(["umount", str(root)], check=True)


def _corpus():
    names = sorted(n[:-5] for n in os.listdir(BAD_CONFIGS) if n.endswith(".json"))
    return names


@pytest.mark.slow
@pytest.mark.parametrize("name", _corpus())
def test_bad_config_corpus_through_the_cli(no_leftovers, name, tmp_path):
    env = no_leftovers
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with open(os.path.join(BAD_CONFIGS, name + ".json"), "rb") as f:
        data = f.read()
    (bundle / "config.json").write_bytes(data)
    os.symlink(env.rootfs, bundle / "rootfs")
    with open(os.path.join(BAD_CONFIGS, name + ".expect")) as f:
        expected = f.read().strip()
    cid = env.new_id()
    r = env.ocirt("create", "--bundle", str(bundle), cid)
    assert r.code == 1, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r
    assert r.out == ""


def test_an_unreadable_state_file_breaks_nothing_else(env):
    """state.json empty (a crash on a disk root, with no fsync): that
    container reads as stopped and is deleted; list still shows the rest."""
    other = env.create(args=["sleep", "100"])
    broken = env.create(args=["sleep", "100"])
    init = env.state(broken)["pid"]
    with open(os.path.join(env.root, broken, "state.json"), "w"):
        pass
    listed = {s["id"]: s["status"] for s in jsonio.loads(env.ok("list", "--format", "json").out)}
    assert listed == {other: "created", broken: "stopped"}
    env.ok("delete", "--force", broken)
    assert not os.path.exists(os.path.join(env.root, broken))
    assert env.state(other)["status"] == "created"
    # Its record is gone, so delete knew neither its init nor its cgroups:
    # what only the record could name stays, as the docstring of read() says.
    os.kill(init, 9)
    for path in cgroup_dirs(broken):
        for _ in range(500):
            try:
                os.rmdir(path)
                break
            except OSError:  # EBUSY until the killed init has left
                time.sleep(0.01)
    assert cgroup_dirs(broken) == []
    env.ok("delete", "--force", other)
