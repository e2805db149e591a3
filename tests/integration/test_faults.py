"""Faults: `create` or one of its processes dies by SIGKILL at a chosen stage
of the set-up, the init dies after create or during start, and the state root
is full. No hooks in the product: strace delivers the signal at the entry of
a precise system call of a precise process (`-e inject=SYSCALL:signal=...`,
counted per process; `-P PATH` counts only calls naming PATH), and its log
proves that the kill happened there, so no test passes without its fault.

Where each stage's system call is made (see runtime/launch.py and init.py):
  create     mkdir of the cgroup dirs, rename of state.json, clone of stage 1,
             clone3 (posix_spawn) of a prestart hook while the init waits
  stage 1    unshare (the only caller)
  init       setsid (its first call, in the new namespaces), pivot_root,
             capset (the last step before "created"), accept4 (waits for
             start), execve (of the user's program)

After each fault `state` tells the truth, `delete --force` removes all, and
nothing of ours is left: state dir, cgroup, process, mount.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ocirt.linux.cgroups import Placement

from .conftest import assert_nothing_left

pytestmark = pytest.mark.skipif(subprocess.run(["which", "strace"], capture_output=True).returncode != 0,
                                reason="strace is not installed (scripts/install-test-deps)")

_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


class Traced:
    """`ocirt ARGS` under `strace -f`: `sig` goes to the process that makes
    the `when`-th call of `syscall` (with `path`: of those naming it)."""

    def __init__(self, env, args, syscall, sig="SIGKILL", when=1, path=None, trace=()):
        env._calls += 1
        self.log = env.tmp / f"strace{env._calls}"
        self.err = env.tmp / f"err{env._calls}"
        traced = ",".join(("clone", syscall) + tuple(trace)) if not path else syscall
        cmd = ["strace", "-f", "-q", "-o", str(self.log), "-e", f"trace={traced}",
               "-e", f"inject={syscall}:signal={sig}:when={when}"]
        cmd += ["-P", path] if path else []
        # The shell writes down its pid, which the exec'd ocirt keeps.
        pid_file = env.tmp / f"pid{env._calls}"
        cmd += ["sh", "-c", f'echo $$ > {pid_file}; exec "$@"', "sh",
                sys.executable, "-m", "ocirt", "--root", env.root] + list(args)
        with open(env.tmp / f"out{env._calls}", "w") as out, open(self.err, "w") as err:
            # No .pyc written: Python's own renames would shift the count.
            self.strace = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                           env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.pid = self._pid(pid_file)

    def _pid(self, pid_file):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = pid_file.read_text() if pid_file.exists() else ""
            if text.endswith("\n"):
                return int(text)
            time.sleep(0.005)
        raise AssertionError("strace started no command")

    def lines(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def _wait_for(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            ended = self.strace.poll() is not None  # before reading: its last line is in
            for line in self.lines():
                m = re.match(pattern, line)
                if m:
                    return m
            if ended or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        raise AssertionError(f"no {pattern!r} in the strace log: {self.lines()[-20:]}")

    def exit_of(self, pid):
        """How pid ended: an exit code, or "SIGKILL"."""
        m = self._wait_for(rf"^{pid}\s+\+\+\+ (?:exited with (\d+)|killed by (SIG\w+)) ")
        return int(m.group(1)) if m.group(1) is not None else m.group(2)

    def last_calls(self):
        """{pid: (syscall, rest of the line)} of each pid's last traced call."""
        last = {}
        for line in self.lines():
            m = _LINE.match(line)
            if m:
                last[int(m.group(1))] = (m.group(2) or m.group(3), m.group(4))
        return last

    def killed(self):
        """{pid: the system call it was killed at} for every SIGKILLed pid."""
        last = self.last_calls()
        pids = [int(line.split()[0]) for line in self.lines() if line.endswith(" +++ killed by SIGKILL +++")]
        return {pid: last.get(pid, (None,))[0] for pid in pids}

    def forked(self, parent):
        """The pids `parent` made with clone."""
        found = []
        for line in self.lines():
            m = re.match(rf"^{parent}\s+(?:clone3?\(|<\.\.\. clone3? resumed>).*\) = (\d+)$", line)
            if m:
                found.append(int(m.group(1)))
        return found

    def held(self):
        """The pid that the injected SIGSTOP stopped, once it has."""
        return int(self._wait_for(r"^(\d+)\s+--- stopped by SIGSTOP ---").group(1))

    def finish(self, timeout=30):
        """Wait for strace, i.e. for every traced process to be gone."""
        try:
            self.strace.wait(timeout)
        except subprocess.TimeoutExpired:
            self.strace.kill()  # detaches; the test fails on what it left
            self.strace.wait()
            raise AssertionError(f"a traced process outlived the test: {self.lines()[-10:]}") from None


@pytest.fixture
def traced(env):
    started = []

    def run(*args, **kw):
        t = Traced(env, *args, **kw)
        started.append(t)
        return t
    yield run
    for t in started:  # a test that failed midway: its create must not hold the lock
        if t.strace.poll() is None:
            try:
                with open(f"/proc/{t.pid}/cmdline", "rb") as f:
                    if b"ocirt" in f.read():
                        os.kill(t.pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
            t.strace.terminate()  # detaches, and lets a held process go on
            t.strace.wait()


def _stage_pids(t):
    """(create, stage 1, init) pids as the log shows them (None where none)."""
    stage1 = (t.forked(t.pid) or [None])[0]
    init = (t.forked(stage1) or [None])[0] if stage1 else None
    return t.pid, stage1, init


def _cgroup_dirs_of(cid):
    """Where the container's cgroup goes in each hierarchy (no cgroupsPath)."""
    return Placement.plan("", cid).dirs


def _state(env, cid):
    r = env.ocirt("state", cid)
    if r.code != 0:
        assert r.code == 1 and r.err.strip() == f"ocirt: container does not exist: {cid}", r
        return None
    return json.loads(r.out)


def _delete_and_check(env, cid):
    env.ok("delete", "--force", cid)
    assert _state(env, cid) is None
    assert_nothing_left(env, [cid])


def _stopped_leftover(env, cid):
    """A create that died leaves a container that reads as stopped, pid 0."""
    st = _state(env, cid)
    assert st is not None and st["status"] == "stopped" and st["pid"] == 0, st
    assert cid in env.ok("list", "-q").out.split()


# -- create itself killed: its clean-up never runs ----------------------------

@pytest.mark.parametrize("which", [0, 1], ids=["first", "second"])
def test_create_killed_making_its_cgroup_dirs(env, traced, which):
    """The kill lands at the mkdir of a cgroup directory: the ones made so far
    must be known to delete although create never wrote them down after."""
    cid = env.new_id("mkdir")
    dirs = _cgroup_dirs_of(cid)
    if which >= len(dirs):
        pytest.skip("a single cgroup hierarchy here")
    t = traced(["create", "--bundle", env.bundle(args=["sleep", "100"]), cid], "mkdir", path=dirs[which])
    assert t.exit_of(t.pid) == "SIGKILL"
    assert t.killed() == {t.pid: "mkdir"} and f'"{dirs[which]}"' in t.last_calls()[t.pid][1]
    t.finish()
    assert [os.path.isdir(d) for d in dirs[:which + 1]] == [True] * which + [False]
    _stopped_leftover(env, cid)
    _delete_and_check(env, cid)


@pytest.mark.parametrize("when", [1, 2, 3], ids=["first-record", "cgroup-record", "init-record"])
def test_create_killed_writing_its_state(env, traced, when):
    """The kill lands at the rename that would put the 1st (nothing made
    yet), 2nd (cgroup made) or 3rd (init created and waiting for start)
    state.json in place. In the last case an init is left blocked on the start
    socket: it must read as stopped (start refuses it) and delete kills it."""
    cid = env.new_id("rename")
    state_file = os.path.join(env.root, cid, "state.json")
    t = traced(["create", "--bundle", env.bundle(args=["sleep", "100"]), cid], "rename", when=when)
    assert t.exit_of(t.pid) == "SIGKILL"
    assert t.killed() == {t.pid: "rename"} and f'"{state_file}"' in t.last_calls()[t.pid][1]
    assert sum(f'"{state_file}"' in line for line in t.lines()) == when, "only state.json is renamed"
    if when < 3:
        t.finish()  # nothing was forked
    else:
        orphans = Placement.from_record({"dirs": _cgroup_dirs_of(cid)}).pids()
        assert len(orphans) == 1, "the init waits for a start that cannot come"
        r = env.ocirt("start", cid)
        assert r.code == 1 and "it is stopped, not created" in r.err, r
    _stopped_leftover(env, cid)
    _delete_and_check(env, cid)
    t.finish()


def test_create_killed_before_it_forks(env, traced):
    cid = env.new_id("clone")
    t = traced(["create", "--bundle", env.bundle(args=["sleep", "100"]), cid], "clone")
    assert t.exit_of(t.pid) == "SIGKILL"
    assert t.killed() == {t.pid: "clone"} and t.forked(t.pid) == []
    t.finish()
    assert os.path.exists(os.path.join(env.root, cid, "start.sock"))
    _stopped_leftover(env, cid)
    _delete_and_check(env, cid)


def _bundle(env, userns=False):
    cfg = env.config(["sleep", "100"])
    if userns:  # stage 1 unshares the user namespace first and waits for its maps
        cfg["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            cfg["linux"][key] = [{"containerID": 0, "hostID": 400000, "size": 65536}]
    return env.bundle(cfg)


@pytest.mark.parametrize("syscall,userns", [("unshare", False), ("unshare", True), ("pivot_root", False),
                                            ("capset", False)],
                         ids=["unshare", "unshare-user-namespace", "pivot_root", "capset"])
def test_create_killed_while_its_child_is_at_a_stage(env, traced, syscall, userns):
    """strace stops stage 1 (after unshare; with a user namespace: in it,
    before its id maps) or the init (after pivot_root, in the middle of the
    rootfs; after capset, the last step before "created") with SIGSTOP; then
    create is SIGKILLed and the child let go. It must find the runtime gone
    and exit by itself, leaving what delete removes."""
    cid = env.new_id("held")
    t = traced(["create", "--bundle", _bundle(env, userns), cid], syscall, sig="SIGSTOP")
    held = t.held()
    create, stage1, init = _stage_pids(t)
    assert held == (stage1 if syscall == "unshare" else init) and held is not None
    assert t.last_calls()[held][0] == syscall
    if userns:
        assert "CLONE_NEWUSER" in t.last_calls()[held][1]
    os.kill(create, signal.SIGKILL)
    assert t.exit_of(create) == "SIGKILL"
    os.kill(held, signal.SIGCONT)
    t.finish()  # every process of the create is gone on its own
    assert list(t.killed()) == [create]
    _stopped_leftover(env, cid)
    _delete_and_check(env, cid)


def test_create_killed_as_it_spawns_a_prestart_hook(env, traced):
    """The init waits, mounts done, while create runs prestart hooks; create
    is killed as it spawns the first (posix_spawn: its only clone3). The
    hook never runs, and the init, told nothing, exits."""
    marker = env.tmp / "hook-ran"
    cfg = env.config(["sleep", "100"])
    cfg["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}"]}]}
    cid = env.new_id("hook")
    t = traced(["create", "--bundle", env.bundle(cfg), cid], "clone3", trace=["sendto"])
    assert t.exit_of(t.pid) == "SIGKILL"
    t.finish()
    create, stage1, init = _stage_pids(t)
    assert t.killed() == {create: "clone3"} and init is not None
    assert any(re.match(rf'^{init}\s+sendto\(.*hooks.*runtime', line) for line in t.lines()), \
        "the init was waiting for the hooks"
    assert not marker.exists()
    _stopped_leftover(env, cid)
    _delete_and_check(env, cid)


# -- a child of create killed: create cleans up and says so --------------------

@pytest.mark.parametrize("syscall,role,when", [("unshare", 1, 1), ("unshare", 1, 2), ("setsid", 2, 1),
                                               ("pivot_root", 2, 1), ("capset", 2, 1)],
                         ids=["unshare", "unshare-after-id-maps", "setsid", "pivot_root", "capset"])
def test_create_fails_cleanly_when_its_child_is_killed(env, traced, syscall, role, when):
    """Stage 1 at its unshare (with a user namespace: the second one, once
    the runtime wrote the maps), or the init at a stage of its set-up."""
    cid = env.new_id("child")
    t = traced(["create", "--bundle", _bundle(env, userns=when == 2), cid], syscall, when=when)
    assert t.exit_of(t.pid) == 1
    t.finish()
    pids = _stage_pids(t)
    assert t.killed() == {pids[role]: syscall}
    if when == 2:
        assert "CLONE_NEWUSER" not in t.last_calls()[pids[role]][1]
        assert sum(re.match(rf"^{pids[role]}\s+unshare\(CLONE_NEWUSER\)\s+= 0$", line) is not None
                   for line in t.lines()) == 1
    err = t.err.read_text().strip().splitlines()
    assert err == ["ocirt: container init exited before it was created"], err
    assert _state(env, cid) is None
    assert_nothing_left(env, [cid])


def test_init_killed_while_waiting_for_start(env, traced):
    """Killed at its accept on the start socket, just after "created": create
    itself succeeds, and the container reads as stopped."""
    cid = env.new_id("accept")
    t = traced(["create", "--bundle", env.bundle(args=["sleep", "100"]), cid], "accept4")
    assert t.exit_of(t.pid) == 0
    t.finish()
    assert t.killed() == {_stage_pids(t)[2]: "accept4"}
    st = _state(env, cid)
    assert st["status"] == "stopped" and st["pid"] == 0
    r = env.ocirt("start", cid)
    assert r.code == 1 and "it is stopped, not created" in r.err, r
    _delete_and_check(env, cid)


def wait_stopped(env, cid):
    """The init was just killed; it is reaped a moment later."""
    deadline = time.monotonic() + 10
    while env.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert env.state(cid)["status"] == "stopped"


def test_init_killed_after_create(no_leftovers):
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    os.kill(env.state(cid)["pid"], signal.SIGKILL)
    wait_stopped(env, cid)
    r = env.ocirt("kill", cid, "KILL")
    assert r.code == 1 and "container not running" in r.err, r
    env.ok("delete", cid)
    assert_nothing_left(env, [cid])


def test_init_killed_at_the_exec_of_start(env, traced):
    """The init is traced from create on; `start` (not traced) has it exec
    the program, and the kill lands at that execve. start returns once the
    init took the request (as runc's does); state then says stopped."""
    cid = env.new_id("execve")
    t = traced(["create", "--bundle", env.bundle(args=["sleep", "100"]), cid], "execve", path="/bin/sleep")
    assert t.exit_of(t.pid) == 0
    assert _state(env, cid)["status"] == "created"
    env.ok("start", cid)
    t.finish()
    killed = t.killed()
    assert list(killed.values()) == ["execve"] and "/bin/sleep" in t.last_calls()[next(iter(killed))][1]
    assert _state(env, cid)["status"] == "stopped"
    _delete_and_check(env, cid)


@pytest.mark.parametrize("syscall", ["connect", "sendto"])
def test_start_killed_before_the_init_answers(env, traced, syscall):
    """`start` killed as it connects or sends the token: the init never
    got a whole request, so the container is still created (its program has
    not run) and the next start runs it."""
    cid = env.create(args=["sleep", "100"])
    t = traced(["start", cid], syscall)
    t.finish()
    assert t.killed() == {t.pid: syscall}
    assert _state(env, cid)["status"] == "created"
    assert b"sleep" not in _cmdline(_state(env, cid)["pid"])
    env.ok("start", cid)
    assert _state(env, cid)["status"] == "running"
    assert _cmdline(_state(env, cid)["pid"]) == b"sleep\x00100\x00"
    _delete_and_check(env, cid)


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def test_run_killed_while_its_container_runs(env):
    """`run` is the init's parent and waits for it; killed, it leaves the
    program running (as runc's does), which state says and delete ends."""
    cid = env.new_id("run")
    with open(env.tmp / "run.out", "w") as out:
        run = subprocess.Popen([sys.executable, "-m", "ocirt", "--root", env.root, "run", "--bundle",
                                env.bundle(args=["sleep", "100"]), cid],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while (_state(env, cid) or {}).get("status") != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == -signal.SIGKILL
    st = _state(env, cid)
    assert st["status"] == "running"
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"100"]
    _delete_and_check(env, cid)


# -- delete itself killed --------------------------------------------------------

@pytest.mark.parametrize("syscall,status", [("pidfd_send_signal", "created"), ("rmdir", "stopped"),
                                            ("unlink", "stopped")])
def test_delete_killed_midway(env, traced, syscall, status):
    """delete --force killed before it signals the init, at the rmdir of the
    first cgroup directory (the init is dead by then), or at the unlink of
    state.json (all but the directory gone): state tells which, and the next
    delete finishes the job."""
    cid = env.create(args=["sleep", "100"])
    path = {"rmdir": _cgroup_dirs_of(cid)[0], "unlink": os.path.join(env.root, cid, "state.json")}.get(syscall)
    t = traced(["delete", "--force", cid], syscall, path=path)
    assert t.exit_of(t.pid) == "SIGKILL"
    t.finish()
    assert t.killed() == {t.pid: syscall} and (path is None or f'"{path}"' in t.last_calls()[t.pid][1])
    st = _state(env, cid)
    assert st is not None and st["status"] == status, st
    _delete_and_check(env, cid)


# -- a full state root ---------------------------------------------------------

def _unmount(path):
    if subprocess.run(["umount", path]).returncode != 0:
        subprocess.run(["umount", "-l", path], check=True)  # busy after a failure: don't hide it


def _fill(directory, leave_a_page=False):
    """Write until the filesystem has not one byte left (or one page)."""
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == 28, e
    for i in range(1000):
        try:
            with open(os.path.join(directory, f"filler{i}"), "wb", buffering=0) as f:
                f.write(b"\0")
        except OSError as e:
            assert e.errno == 28, e
            os.unlink(os.path.join(directory, f"filler{i}"))  # it took no page
            if leave_a_page:
                filler = os.path.join(directory, "filler")
                os.truncate(filler, os.path.getsize(filler) - 4096)
            return
    raise AssertionError(f"{directory} never filled up")


@pytest.mark.parametrize("room", ["none", "a-page"])
def test_full_state_root(env, tmp_path, room):
    """create on a full root fails with one line naming the state file and
    ENOSPC and leaves nothing; the container already there keeps working.
    With a page left the record (larger than a page here) is written in part
    before ENOSPC: that part must not become a state.json."""
    env.root = str(tmp_path / "full-root")
    os.mkdir(env.root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", env.root], check=True)
    cfg = env.config(["sleep", "100"])
    cfg["annotations"] = {"large": "x" * 6000}  # a record of two pages
    try:
        first = env.create(cfg)
        state_of_first = os.path.join(env.root, first, "state.json")
        with open(state_of_first, "rb") as f:
            record = f.read()
        _fill(env.root, leave_a_page=room == "a-page")
        before = sorted(os.listdir(env.root))
        # update writes the record last: a torn one would be all that is left.
        r = env.ocirt("update", "--pids-limit", "100", first)
        assert r.code == 1 and r.err.strip().splitlines() == [
            f"ocirt: cannot write state file {state_of_first}: No space left on device"], r
        cid = env.new_id("full")
        r = env.ocirt("create", "--bundle", env.bundle(cfg), cid)
        assert r.code == 1, r
        lines = r.err.strip().splitlines()
        state_file = os.path.join(env.root, cid, "state.json")
        assert lines == [f"ocirt: cannot write state file {state_file}: No space left on device"], r
        assert sorted(os.listdir(env.root)) == before
        assert_nothing_left(env, [cid], allowed_mounts=[env.root])
        with open(os.path.join(env.root, first, "state.json"), "rb") as f:
            assert f.read() == record, "the other container's state is intact"
        assert sorted(os.listdir(os.path.join(env.root, first))) == ["start.sock", "state.json"]
        assert env.state(first)["status"] == "created"
        env.ok("start", first)
        assert env.state(first)["status"] == "running"
        env.ok("kill", first, "KILL")
        env.ok("delete", "--force", first)
        assert_nothing_left(env, [first], allowed_mounts=[env.root])
    finally:
        for cid in env.ids:
            env.ocirt("delete", "--force", cid)
        _unmount(env.root)


def test_state_root_turned_read_only(env, tmp_path):
    """A root remounted read-only under a created container: state and kill
    work (they write nothing); create fails without a trace; start fails
    before the program runs (it could not record that it did); delete says
    why it cannot finish and loses nothing: the container still reads as
    stopped, and delete succeeds once the root is writable again."""
    env.root = str(tmp_path / "ro-root")
    os.mkdir(env.root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", env.root], check=True)
    try:
        first = env.create(args=["sleep", "100"])
        subprocess.run(["mount", "-o", "remount,ro", env.root], check=True)
        assert env.state(first)["status"] == "created"
        cid = env.new_id("ro")
        r = env.ocirt("create", "--bundle", env.bundle(), cid)
        assert r.code == 1 and r.err.strip().splitlines() == [
            f"ocirt: state root {env.root}: cannot create {cid}: Read-only file system"], r
        assert os.listdir(env.root) == [first]
        assert_nothing_left(env, [cid], allowed_mounts=[env.root])
        start_socket = os.path.join(env.root, first, "start.sock")
        r = env.ocirt("start", first)
        assert r.code == 1 and r.err.strip().splitlines() == [
            f"ocirt: cannot start container {first}: {start_socket}: Read-only file system"], r
        assert env.state(first)["status"] == "created", "and it is: its program never ran"
        with open(f"/proc/{env.state(first)['pid']}/cmdline", "rb") as f:
            assert b"sleep" not in f.read()
        env.ok("kill", first, "KILL")
        wait_stopped(env, first)
        r = env.ocirt("delete", first)
        lines = r.err.strip().splitlines()
        assert r.code == 1 and len(lines) == 1 and "Read-only file system" in lines[0] \
            and os.path.join(env.root, first) in lines[0], r
        assert env.state(first)["status"] == "stopped"
        subprocess.run(["mount", "-o", "remount,rw", env.root], check=True)
        env.ok("delete", first)
        assert_nothing_left(env, [first], allowed_mounts=[env.root])
    finally:
        subprocess.run(["mount", "-o", "remount,rw", env.root], check=False)
        for cid in env.ids:
            env.ocirt("delete", "--force", cid)
        _unmount(env.root)
