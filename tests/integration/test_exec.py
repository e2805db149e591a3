"""ocirt exec: a new process in every namespace and the cgroup of a running
container, with its own or the container's process settings."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from .conftest import wait_status


@pytest.fixture
def running(env):
    """A running container (sleeping) whose id the test gets."""
    cfg = env.config(args=["sleep", "1000"])
    cfg["hostname"] = "exec-target"
    cid = env.create(cfg)
    env.ok("start", cid)
    return cid


def test_exec_joins_every_namespace_and_the_cgroup(env, running):
    init = env.state(running)["pid"]
    r = env.ocirt("exec", running, "sh", "-c",
                  "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; "
                  "hostname; cat /proc/self/cgroup")
    assert r.code == 0, r
    lines = r.out.splitlines()
    for line, kind in zip(lines, ("pid", "net", "ipc", "uts", "mnt", "cgroup")):
        assert line == os.readlink(f"/proc/{init}/ns/{kind}"), kind
    assert lines[6] == "exec-target"
    with open(f"/proc/{init}/cgroup") as f:
        init_cgroups = {line.split(":")[1] for line in f}
    assert {line.split(":")[1] for line in lines[7:]} == init_cgroups
    assert all(line.endswith(":/") for line in lines[7:]), "the cgroup namespace's root is the container's"


def test_exit_status_and_stdio(env, running):
    assert env.ocirt("exec", running, "sh", "-c", "exit 9").code == 9
    r = env.ocirt("exec", running, "sh", "-c", "cat; echo err >&2", stdin=open("/etc/hostname"))
    with open("/etc/hostname") as f:
        assert (r.out, r.err) == (f.read(), "err\n")


def test_flags_change_the_process(env, running):
    r = env.ocirt("exec", "--cwd", "/tmp", "-e", "FOO=bar baz", "-u", "65534:65534", "-g", "10",
                  "--no-new-privs", running, "sh", "-c", "pwd; echo $FOO; id -u; id -G; grep NoNewPrivs /proc/self/status")
    assert r.out.splitlines() == ["/tmp", "bar baz", "65534", "65534 10", "NoNewPrivs:\t1"], r


def test_process_file(env, running, tmp_path):
    process = {"args": ["sh", "-c", "echo from-file $X; id -u"], "cwd": "/", "env": ["X=1", "PATH=/bin"],
               "user": {"uid": 1000, "gid": 1000}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    r = env.ocirt("exec", "--process", str(path), running)
    assert (r.code, r.out) == (0, "from-file 1\n1000\n"), r
    path.write_text(json.dumps(dict(process, cwd="relative")))
    r = env.ocirt("exec", "--process", str(path), running)
    assert r.code != 0 and "cwd: must be an absolute path" in r.err, r


def test_detach_and_pid_file(env, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    r = env.ocirt("exec", "-d", "--pid-file", str(pid_file), running, "sleep", "100")
    assert r.code == 0, r
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    assert pid in json.loads(env.ok("ps", "--format", "json", running).out)


def test_missing_program(env, running):
    r = env.ocirt("exec", running, "nosuchprogram")
    assert r.code != 0 and 'exec: "nosuchprogram": executable file not found in $PATH' in r.err


def test_exec_in_a_stopped_container(env):
    cid = env.create(args=["true"])
    env.ok("start", cid)
    wait_status(env, cid, "stopped")
    r = env.ocirt("exec", cid, "true")
    assert r.code == 1 and "it is stopped, not running" in r.err


def exec_in_background(env, *args):
    """`ocirt exec ARGS` started, not waited for; its stderr is a file."""
    err = tempfile.TemporaryFile("w+", dir=env.tmp)
    proc = subprocess.Popen([sys.executable, "-m", "ocirt", "--root", env.root, "exec"] + list(args),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    return proc, err


def wait_frozen_in(env, cid, count):
    """Until the container's cgroup holds count processes: a process that
    joined the paused container's cgroup is frozen there."""
    deadline = time.monotonic() + 20
    while len(json.loads(env.ok("ps", "--format", "json", cid).out)) < count:
        assert time.monotonic() < deadline, "the exec'd process never joined the cgroup"
        time.sleep(0.05)


def test_exec_in_a_paused_container(env, running):
    """Refused without --ignore-paused; with it, exec waits (as runc does)
    until the container is resumed and the process has exec'd, so that a
    failure after resume is still reported."""
    env.ok("pause", running)
    r = env.ocirt("exec", running, "true")
    assert r.code == 1 and "it is paused" in r.err
    proc, err = exec_in_background(env, "-d", "--ignore-paused", running, "nosuchprogram")
    try:
        wait_frozen_in(env, running, 2)
        assert proc.poll() is None, "exec still waits for its process, frozen before execve"
    finally:
        env.ok("resume", running)
    assert proc.wait(30) != 0
    err.seek(0)
    assert 'exec: "nosuchprogram": executable file not found in $PATH' in err.read()
    env.ok("pause", running)
    proc, err = exec_in_background(env, "-d", "--ignore-paused", running, "true")
    wait_frozen_in(env, running, 2)
    env.ok("resume", running)
    assert proc.wait(30) == 0


def test_only_stdio_reaches_the_process(env, running):
    r_fd, w_fd = os.pipe()
    os.set_inheritable(r_fd, True)
    try:
        r = env.ocirt("exec", running, "ls", "/proc/self/fd", pass_fds=(r_fd,))
        assert sorted(r.out.split()) == ["0", "1", "2", "3"], r
    finally:
        os.close(r_fd)
        os.close(w_fd)


def test_container_seccomp_applies_to_exec(env):
    cfg = env.config(args=["sleep", "1000"])
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    cid = env.create(cfg)
    env.ok("start", cid)
    r = env.ocirt("exec", cid, "sh", "-c", "mkdir /dev/shm/x; echo rc=$?")
    assert r.out == "rc=1\n" and "Operation not permitted" in r.err, r


def test_exec_with_a_terminal(env, running, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(20)
    r = env.ocirt("exec", "-d", "-t", "--console-socket", sock_path, running, "sh", "-c", "tty; echo done")
    assert r.code == 0, r
    conn, _ = server.accept()
    name, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    output = b""
    while b"done" not in output:
        try:
            chunk = os.read(fds[0], 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(fds[0])
    assert output.decode().replace("\r", "").splitlines()[0] == name.decode()


def test_exec_cpu_affinity(env, running, tmp_path):
    process = {"args": ["/bin/grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/",
               "user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"initial": "0", "final": "0"}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    r = env.ocirt("exec", "--process", str(path), running)
    assert r.code == 0 and r.out.split() == ["Cpus_allowed_list:", "0"], r


def test_exec_helper_is_not_dumpable_inside_the_container(env, running):
    """Caught before its execve (the container is paused, so the exec'd
    process freezes in its cgroup while it is still the runtime's Python):
    a process in the container's pid namespace can read neither its exe (the
    host's interpreter), its fds nor its environment."""
    init = env.state(running)["pid"]
    env.ok("pause", running)
    try:
        proc, _ = exec_in_background(env, "-d", "--ignore-paused", running, "true")
        wait_frozen_in(env, running, 2)
        probe = env.config(args=["sh", "-c",
            "for d in /proc/[0-9]*; do [ $d = /proc/$$ ] && continue; "
            "grep -q python $d/cmdline 2>/dev/null || continue; echo helper; "
            "readlink $d/exe >/dev/null 2>&1 && echo exe-readable; "
            "for f in $d/fd/*; do readlink $f >/dev/null 2>&1 && echo fd-readable; done; "
            "head -c1 $d/environ >/dev/null 2>&1 && echo environ-readable; done"])
        for ns in probe["linux"]["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{init}/ns/pid"
        r = env.ocirt("run", "-b", env.bundle(probe), env.new_id())
        assert r.code == 0, r
        assert r.out.split() == ["helper"], r.out
    finally:
        env.ok("resume", running)
    assert proc.wait(30) == 0
