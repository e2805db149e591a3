"""What the container's process sees: namespaces (new and joined by path),
hostname, the rootfs (pivot and chroot), masked and read-only paths, process
settings, its own cgroup, and no fd or ptrace handle on the runtime."""

import os

import pytest

from .conftest import cgroup_dirs


def run_in(env, script, cfg=None, extra=()):
    cfg = cfg or env.config()
    cfg["process"]["args"] = ["sh", "-c", script]
    r = env.ocirt("run", *extra, "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0, r
    return r.out


def test_new_namespaces_differ_from_the_host(env):
    out = run_in(env, "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; echo $$")
    lines = out.split()
    for line, kind in zip(lines, ("pid", "net", "ipc", "uts", "mnt", "cgroup")):
        assert line != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert lines[-1] == "1", "the program is pid 1 of its pid namespace"


def test_hostname_and_domainname(env):
    cfg = env.config()
    cfg["hostname"], cfg["domainname"] = "box", "example.org"
    assert run_in(env, "hostname; cat /proc/sys/kernel/domainname", cfg) == "box\nexample.org\n"


def test_join_namespaces_by_path(env):
    first = env.create(args=["sleep", "100"])
    env.ok("start", first)
    pid = env.state(first)["pid"]
    cfg = env.config()
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] in ("network", "ipc", "uts"):
            ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else ns['type']}"
    cfg.pop("hostname")
    out = run_in(env, "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done", cfg)
    net, ipc, uts, pidns = out.split()
    assert net == os.readlink(f"/proc/{pid}/ns/net")
    assert ipc == os.readlink(f"/proc/{pid}/ns/ipc")
    assert uts == os.readlink(f"/proc/{pid}/ns/uts")
    assert pidns != os.readlink(f"/proc/{pid}/ns/pid"), "pid was not joined: a new one"


@pytest.mark.parametrize("no_pivot", [False, True])
def test_rootfs_is_the_bundles(env, no_pivot):
    out = run_in(env, "ls /; cat /etc/passwd | head -1", extra=["--no-pivot"] if no_pivot else [])
    assert "root:x:0:0:root:/root:/bin/sh" in out
    assert "work" not in out.split(), "the host's / is not visible"


def test_readonly_root_masked_and_readonly_paths(env):
    out = run_in(env, "touch /x 2>/dev/null && echo root-writable; "
                      "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
                      "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable; "
                      "touch /dev/shm/ok && echo shm-writable")
    assert out.split() == ["0", "0", "shm-writable"]


def test_default_devices(env):
    out = run_in(env, "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | "
                      "awk '{print $1, $5, $6}'; readlink /dev/ptmx; readlink /dev/fd")
    lines = out.splitlines()
    # ls sorts: full null random tty urandom zero
    assert lines[:6] == ["crw-rw-rw- 1, 7", "crw-rw-rw- 1, 3", "crw-rw-rw- 1, 8",
                         "crw-rw-rw- 5, 0", "crw-rw-rw- 1, 9", "crw-rw-rw- 1, 5"]
    assert lines[6:] == ["pts/ptmx", "/proc/self/fd"]


def test_process_user_env_cwd_umask_rlimits(env):
    cfg = env.config(user={"uid": 65534, "gid": 65534, "additionalGids": [10, 20], "umask": 0o077},
                     cwd="/tmp", env=["PATH=/bin", "FOO=bar baz"],
                     rlimits=[{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}])
    out = run_in(env, "id -u; id -g; id -G; pwd; echo $FOO; echo $HOME; umask; ulimit -n; ulimit -Hn", cfg)
    assert out.splitlines() == ["65534", "65534", "65534 10 20", "/tmp", "bar baz", "/home",
                                "0077", "123", "456"]


def test_capabilities_are_limited(env):
    out = run_in(env, "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; "
                      "grep NoNewPrivs /proc/self/status")
    caps = dict(line.split(":\t") for line in out.splitlines())
    expected = hex((1 << 29) | (1 << 5) | (1 << 10))[2:].rjust(16, "0")  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert caps["CapBnd"] == caps["CapPrm"] == caps["CapEff"] == expected
    assert caps["CapInh"] == caps["CapAmb"] == "0" * 16
    assert caps["NoNewPrivs"] == "1"


def test_container_is_in_its_own_cgroup(no_leftovers):
    """Without a cgroupsPath, as runc: <id> below the runtime's own cgroup
    in each hierarchy (a supervisor's limits and accounting cover it)."""
    env = no_leftovers
    cid = env.create(args=["sleep", "100"])
    pid = env.state(cid)["pid"]

    def paths(of):
        """{controllers: path} of /proc/<of>/cgroup."""
        with open(f"/proc/{of}/cgroup") as f:
            return {fields[1]: fields[2] for fields in (line.rstrip("\n").split(":", 2) for line in f)}
    ours = paths("self")
    assert paths(pid) == {kind: os.path.join(path, cid) for kind, path in ours.items()}
    assert len(cgroup_dirs(cid)) == len(ours)
    env.ok("delete", cid)


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_cgroups_path(no_leftovers, kind):
    env = no_leftovers
    cid = env.new_id()
    path = f"/ocirt-test-parent-{cid}/{cid}" if kind == "absolute" else f"ocirt-test-rel/{cid}"
    cfg = env.config(args=["sleep", "100"])
    cfg["linux"]["cgroupsPath"] = path
    env.ok("create", "--bundle", env.bundle(cfg), cid)
    pid = env.state(cid)["pid"]
    with open("/proc/self/cgroup") as f:
        own = {line.split(":")[1]: line.strip().split(":", 2)[2] for line in f}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, actual = line.strip().split(":", 2)
            expected = path if kind == "absolute" else os.path.join(own[controllers], path)
            assert actual == expected, controllers
    env.ok("delete", cid)
    parent = f"/sys/fs/cgroup/pids/ocirt-test-parent-{cid}" if kind == "absolute" else \
        f"/sys/fs/cgroup/memory{own['memory']}/ocirt-test-rel"
    assert not os.path.exists(parent), "the parents we created are removed too"


def test_only_stdio_reaches_the_container(env):
    r_fd, w_fd = os.pipe()  # inheritable in the caller, must not leak through
    os.set_inheritable(r_fd, True)
    try:
        cid = env.new_id()
        cfg = env.config(args=["ls", "/proc/self/fd"])
        r = env.ocirt("run", "-b", env.bundle(cfg), cid, pass_fds=(r_fd,))
        assert r.code == 0, r
        assert sorted(r.out.split()) == ["0", "1", "2", "3"], "3 is ls's own directory fd"
    finally:
        os.close(r_fd)
        os.close(w_fd)


def test_preserve_fds(env):
    r_fd, w_fd = os.pipe()
    try:
        cfg = env.config(args=["sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd"])
        # ocirt gets the pipe as fd 3 (preserved) and as w_fd (not preserved).
        r = env.ocirt("run", "--preserve-fds", "1", "-b", env.bundle(cfg), env.new_id(),
                      pass_fds=(3, w_fd), preexec_fn=lambda: os.dup2(w_fd, 3))
        assert r.code == 0, r
        assert sorted(r.out.split()) == ["0", "1", "2", "3", "4"], "4 is ls's own directory fd"
        os.close(w_fd)
        w_fd = None
        assert os.read(r_fd, 100) == b"through-fd3\n"
    finally:
        os.close(r_fd)
        if w_fd is not None:
            os.close(w_fd)


def test_init_is_not_dumpable_while_in_the_container(env):
    """A process in the container's pid namespace, even as root with the
    default capabilities, cannot read the waiting init's exe, fds or memory:
    that init runs the host's Python interpreter (CVE-2019-5736 family)."""
    waiting = env.create(args=["true"])
    pid = env.state(waiting)["pid"]
    assert "python" in os.readlink(f"/proc/{pid}/exe")
    cfg = env.config()
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "pid":
            ns["path"] = f"/proc/{pid}/ns/pid"
    script = ("for f in exe cwd root; do readlink /proc/1/$f >/dev/null 2>&1 && echo $f-readable; done; "
              "for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 && echo fd-readable; done; "
              "head -c1 /proc/1/environ >/dev/null 2>&1 && echo environ-readable; "
              "cat /proc/1/cmdline | tr '\\0' ' '; echo")
    out = run_in(env, script, cfg)
    lines = out.splitlines()
    assert "python" in lines[-1], "/proc/1 is the waiting init"
    assert lines[:-1] == [], lines
    env.ok("delete", waiting)


def test_terminal_via_console_socket(env):
    import socket
    sock_path = str(env.tmp / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(20)
    cfg = env.config(args=["sh", "-c", "tty; stty size; echo done"], terminal=True,
                     consoleSize={"height": 33, "width": 120})
    cid = env.new_id()
    r = env.ocirt("create", "--console-socket", sock_path, "--bundle", env.bundle(cfg), cid)
    assert r.code == 0, r
    conn, _ = server.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 1024, 4)
    assert len(fds) == 1 and msg.startswith(b"/dev/pts/")
    master = fds[0]
    env.ok("start", cid)
    output = b""
    while b"done" not in output:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    lines = output.decode().replace("\r", "").splitlines()
    assert lines[:3] == [msg.decode(), "33 120", "done"]


def test_run_relays_a_terminal(env, tmp_path):
    """Attached run with terminal:true and no --console-socket, in a pty."""
    import pty
    import subprocess
    import sys
    cfg = env.config(args=["sh", "-c", "test -t 0 && echo stdin-is-a-tty; read x; echo got:$x"], terminal=True)
    bundle = env.bundle(cfg)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ocirt", "--root", env.root, "run", "-b", bundle,
                             env.new_id()], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    sent = False
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if b"stdin-is-a-tty" in out and not sent:
            os.write(master, b"hello\n")
            sent = True
    assert proc.wait(10) == 0
    os.close(master)
    assert b"got:hello" in out, out



def test_time_namespace_offsets(env):
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    cfg = env.config(args=["cat", "/proc/uptime"])
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0, r
    inside = float(r.out.split()[0])
    assert 86400 * 365 <= inside - host_uptime < 86400 * 365 + 60, "boottime moved by a year"


@pytest.mark.parametrize("no_new_keyring", [False, True])
def test_session_keyring(env, no_new_keyring):
    cfg = env.config(args=["cat", "/proc/keys"])
    cfg["linux"]["maskedPaths"].remove("/proc/keys")
    cid = env.new_id()
    extra = ["--no-new-keyring"] if no_new_keyring else []
    r = env.ocirt("run", *extra, "-b", env.bundle(cfg), cid)
    assert r.code == 0, r
    assert (f"_ses.{cid}" in r.out) != no_new_keyring, r.out
