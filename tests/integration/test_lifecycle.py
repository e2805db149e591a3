"""create -> start -> state -> kill -> delete, run, list, spec: the happy paths
and the status the kernel tells."""

import json
import os
import signal
import subprocess
import sys
import time

from ocirt.linux.proc import is_alive, start_time

from .conftest import wait_for_text, wait_status


def test_run_prints_from_inside_and_returns_exit_code(no_leftovers):
    env = no_leftovers
    cid = env.new_id()
    r = env.ocirt("run", "-b", env.bundle(args=["sh", "-c", "echo inside $(hostname); exit 3"]), cid)
    assert r.code == 3, r
    assert r.out == "inside ocirt\n"
    assert r.err == ""
    assert not os.path.exists(os.path.join(env.root, cid)), "run deletes the container when it exits"


def test_lifecycle_created_running_stopped(no_leftovers):
    env = no_leftovers
    cid = env.new_id()
    pid_file = env.tmp / "init.pid"
    bundle = env.bundle(args=["sleep", "100"])
    env.ok("create", "--bundle", bundle, "--pid-file", str(pid_file), cid)

    state = env.state(cid)
    assert state["status"] == "created"
    assert state["id"] == cid and state["bundle"] == bundle
    assert state["ociVersion"] == "1.3.0" and state["annotations"] == {}
    assert pid_file.read_text() == str(state["pid"]), "decimal pid, no newline"
    pid = state["pid"]
    assert is_alive(pid, start_time(pid))

    env.ok("start", cid)
    assert env.state(cid)["status"] == "running"
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep", "start returns once the program is exec'd"

    env.ok("kill", cid, "KILL")
    wait_status(env, cid, "stopped")
    assert env.state(cid)["pid"] == 0
    env.ok("delete", cid)
    assert not os.path.exists(f"/proc/{pid}") or not is_alive(pid, start_time(pid))
    assert env.ocirt("state", cid).code == 1


def test_signal_names_and_numbers(env):
    script = 'trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 0.05; done'
    for spelling in ("TERM", "SIGTERM", "15", "term"):
        output = env.tmp / f"out-{spelling}"
        cid = env.create(args=["sh", "-c", script], output=output)
        env.ok("start", cid)
        wait_for_text(output, "ready")
        env.ok("kill", cid, spelling)
        wait_status(env, cid, "stopped")
        assert output.read_text() == "ready\ngot TERM\n", spelling
        env.ok("delete", cid)
    r = env.ocirt("kill", env.create(args=["sleep", "10"]), "NOSUCHSIG")
    assert r.code != 0 and "unknown signal" in r.err


def test_kill_all_signals_every_process(no_leftovers):
    env = no_leftovers
    cid = env.create(args=["sh", "-c", "sleep 100 & sleep 100 & wait"])
    env.ok("start", cid)
    time.sleep(0.3)
    env.ok("kill", "--all", cid, "KILL")
    wait_status(env, cid, "stopped")
    env.ok("delete", cid)


def test_delete_created_container_kills_its_init(no_leftovers):
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    pid = env.state(cid)["pid"]
    started = start_time(pid)
    env.ok("delete", cid)
    assert not is_alive(pid, started)


def test_delete_force_running(no_leftovers):
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    env.ok("start", cid)
    pid = env.state(cid)["pid"]
    started = start_time(pid)
    r = env.ocirt("delete", cid)
    assert r.code == 1 and "not stopped: running" in r.err
    env.ok("delete", "--force", cid)
    assert not is_alive(pid, started)


def test_run_detach(no_leftovers):
    env = no_leftovers
    cid = env.new_id()
    env.ok("run", "--detach", "-b", env.bundle(args=["sleep", "100"]), cid)
    assert env.state(cid)["status"] == "running"
    env.ok("delete", "--force", cid)


def test_run_forwards_signals(env):
    cid = env.new_id()
    bundle = env.bundle(args=["sh", "-c", 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'])
    proc = subprocess.Popen([sys.executable, "-m", "ocirt", "--root", env.root, "run", "-b", bundle, cid],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 42


def test_run_reports_128_plus_signal(env):
    cid = env.new_id()
    bundle = env.bundle(args=["sh", "-c", "echo ready; sleep 100"])
    proc = subprocess.Popen([sys.executable, "-m", "ocirt", "--root", env.root, "run", "-b", bundle, cid],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout.readline() == b"ready\n"
    env.ok("kill", cid, "KILL")
    assert proc.wait(10) == 128 + signal.SIGKILL


def test_stdio_passes_through(env):
    cid = env.new_id()
    r = subprocess.run([sys.executable, "-m", "ocirt", "--root", env.root, "run", "-b",
                        env.bundle(args=["sh", "-c", "read line; echo got:$line; echo err >&2"]), cid],
                       input=b"hello\n", capture_output=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"got:hello\n", b"err\n")


def test_signals_start_default_inside(env):
    """Python ignores SIGPIPE and SIGXFSZ and the caller here ignores SIGHUP and
    blocks SIGUSR1: none of that may reach the container's program."""
    def ignore_and_block():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    cid = env.new_id()
    r = env.ocirt("run", "-b", env.bundle(args=["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]), cid,
                  preexec_fn=ignore_and_block)
    assert r.code == 0, r
    assert r.out.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]
    r = env.ocirt("run", "-b", env.bundle(args=["sh", "-c", "yes | head -n 1"]), env.new_id(), timeout=20)
    assert (r.code, r.out) == (0, "y\n")


def test_list_formats(env):
    a = env.create(args=["sleep", "100"])
    b = env.create(args=["sleep", "100"])
    env.ok("start", b)
    table = env.ok("list").out.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split()[2] for line in table[1:]}
    assert rows == {a: "created", b: "running"}
    states = json.loads(env.ok("list", "--format", "json").out)
    assert sorted(s["id"] for s in states) == sorted([a, b])
    assert sorted(env.ok("list", "-q").out.split()) == sorted([a, b])


def test_spec_writes_a_valid_default_config(env, tmp_path):
    from ocirt.spec import parse, validate
    env.ok("spec", "--bundle", str(tmp_path))
    config = parse((tmp_path / "config.json").read_bytes())
    validate(config)
    assert config["process"]["terminal"] is True and config["root"]["readonly"] is True
    r = env.ocirt("spec", "--bundle", str(tmp_path))
    assert r.code == 1 and "exists already" in r.err


def test_version_has_three_lines(env):
    lines = env.ok("--version").out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ocirt version ") and lines[1].startswith("commit: ")
    assert lines[2] == "spec: 1.3.0"


def test_library_api(env):
    from ocirt import Container
    cid = env.new_id()
    bundle = env.bundle(args=["sleep", "100"])
    c = Container.create(cid, bundle, env.root)
    assert c.status == "created"
    c.start()
    assert Container.load(cid, env.root).state()["status"] == "running"
    assert [s["id"] for s in Container.list(env.root)] == [cid]
    c.kill(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while c.status != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    c.delete()
    assert Container.list(env.root) == []
