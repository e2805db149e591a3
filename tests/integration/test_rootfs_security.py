"""One regression test per known attack on a runtime's path handling
(runc/crun/youki CVEs). Each builds the hostile rootfs itself, runs real
containers, and proves the host untouched: a marker directory or file on
the host, which every symlink in the image points at, stays as it was.
"""

import ctypes
import os
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from .conftest import REPO
from .test_mounts import MOUNTINFO, TMPFS, config, mountinfo, private_bundle, run, run_error, run_ok


@pytest.fixture
def marker(tmp_path):
    """A host directory the hostile images aim at; must stay empty."""
    path = tmp_path / "host-marker-dir"
    path.mkdir()
    yield str(path)
    assert os.listdir(path) == [], f"the host's {path} was written to"


def symlink(root, path, target):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def escaping_targets(marker):
    """Ways for a link in the image to point at the host's marker."""
    return {"absolute": marker, "relative": "../" * 12 + marker.lstrip("/")}


# -- CVE-2021-30465: mount destinations through symlinks ------------------------

@pytest.mark.parametrize("how", ["absolute", "relative"])
@pytest.mark.parametrize("kind", ["tmpfs", "bind-dir", "bind-file"])
def test_symlinked_destination_lands_inside_the_rootfs(env, marker, how, kind):
    target = escaping_targets(marker)[how]
    mount = dict(TMPFS, destination="/mnt/link") if kind == "tmpfs" else \
        {"destination": "/mnt/link" + ("/file" if kind == "bind-file" else ""),
         "source": "/etc/hostname" if kind == "bind-file" else "/etc", "options": ["bind"]}
    cfg = config(env, MOUNTINFO, [mount])
    bundle = private_bundle(env, cfg, lambda root: symlink(root, "/mnt/link", target))
    info = mountinfo(run_ok(env, bundle))
    inside = marker + ("/file" if kind == "bind-file" else "")
    assert inside in info, "the mount is where the link leads inside the rootfs"
    assert os.path.lexists(os.path.join(bundle, "rootfs", inside.lstrip("/")))


def _renameat2_exchange():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    at_fdcwd, rename_exchange = -100, 2

    def exchange(a, b):
        libc.renameat2(at_fdcwd, a.encode(), at_fdcwd, b.encode(), rename_exchange)
    return exchange


def test_destination_swapped_during_create(no_leftovers, marker):
    """The real race: a process outside (here a thread of the test) swaps a
    directory of the image with a symlink to the host, atomically and over
    and over, while containers mount below it and create missing parts."""
    env = no_leftovers
    cfg = config(env, "true", [{"destination": "/mnt/swap/sub/file", "source": "/etc/hostname",
                                "options": ["bind"]},
                               dict(TMPFS, destination="/mnt/swap/tmp/dir")])

    def prepare(root):
        os.makedirs(os.path.join(root, "mnt/swap"))
        os.symlink(marker, os.path.join(root, "mnt/swap.alt"))
    bundle = private_bundle(env, cfg, prepare)
    a, b = os.path.join(bundle, "rootfs/mnt/swap"), os.path.join(bundle, "rootfs/mnt/swap.alt")
    exchange = _renameat2_exchange()
    stop = threading.Event()

    def swapper():
        while not stop.is_set():
            exchange(a, b)
    thread = threading.Thread(target=swapper)
    thread.start()
    outcomes = []
    try:
        for _ in range(15):
            r = run(env, bundle)
            outcomes.append(r.code)
            assert r.code == 0 or len(r.err.strip().splitlines()) == 1, r
    finally:
        stop.set()
        thread.join()
    assert os.listdir(marker) == [], "a mount point was created through the swapped link"
    assert len(outcomes) == 15


# -- CVE-2019-19921 family: procfs and sysfs only on real directories -------------

@pytest.mark.parametrize("dest, kind, what", [
    ("/proc", "proc", "symlink"), ("/proc", "proc", "file"),
    ("/sys", "sysfs", "symlink"), ("/sys", "sysfs", "relative-symlink"),
])
def test_proc_and_sys_refuse_symlinks_and_files(no_leftovers, marker, dest, kind, what):
    env = no_leftovers

    def prepare(root):
        path = os.path.join(root, dest.lstrip("/"))
        os.rmdir(path)
        if what == "file":
            open(path, "w").close()
        else:
            os.symlink(escaping_targets(marker)["relative" if what.startswith("relative") else "absolute"], path)
    cfg = config(env, "true")
    index = next(i for i, m in enumerate(cfg["mounts"]) if m["destination"] == dest)
    line = run_error(env, private_bundle(env, cfg, prepare))
    reason = f"{dest} is a symlink, refusing to mount there" if what != "file" else \
        f"{dest} is not a directory, refusing to mount there"
    assert line == f"ocirt: mounts[{index}] ({kind} on {dest}): {reason}"


@pytest.mark.parametrize("mount, message", [
    (dict(TMPFS, destination="/proc/sys"), "/proc/sys is inside /proc: refusing to mount there"),
    (dict(TMPFS, destination="/proc/self/attr"), "is inside /proc: refusing to mount there"),
    ({"destination": "/proc", "source": "/etc", "options": ["rbind"]}, "only a procfs may be mounted on /proc"),
    (dict(TMPFS, destination="/proc"), "only a procfs may be mounted on /proc"),
])
def test_nothing_may_cover_proc(no_leftovers, mount, message):
    """A mount over (parts of) /proc could redirect the runtime's own writes
    there or hide what masking protects (CVE-2019-16884, CVE-2025-52881)."""
    env = no_leftovers
    assert message in run_error(env, private_bundle(env, config(env, "true", [mount])))


def test_lxcfs_files_may_cover_proc_entries(env):
    cfg = config(env, "cat /proc/uptime", [{"destination": "/proc/uptime", "source": "fake-uptime",
                                            "options": ["bind", "ro"]}])
    bundle = private_bundle(env, cfg)
    with open(os.path.join(bundle, "fake-uptime"), "w") as f:
        f.write("42.00 42.00\n")
    assert run_ok(env, bundle) == "42.00 42.00\n"


# -- CVE-2024-45310: creating what is missing never follows a link out -------------

@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_missing_directories_are_never_created_outside(env, marker, how):
    target = escaping_targets(marker)[how]
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/link/a/b/c"),
                                  {"destination": "/link/f/file", "source": "/etc/hostname", "options": ["bind"]}])
    cfg["linux"]["devices"] = [{"path": "/link/dev/null0", "type": "c", "major": 1, "minor": 3}]
    bundle = private_bundle(env, cfg, lambda root: symlink(root, "/link", target))
    info = mountinfo(run_ok(env, bundle))
    assert marker + "/a/b/c" in info and marker + "/f/file" in info
    inside = os.path.join(bundle, "rootfs", marker.lstrip("/"))
    assert sorted(os.listdir(inside)) == ["a", "dev", "f"]
    assert stat.S_ISCHR(os.lstat(os.path.join(inside, "dev/null0")).st_mode)


def test_links_and_dotdot_are_resolved_inside(env, marker):
    """A chain of links with ".." beyond the root and absolute targets: every
    step stays inside; what is missing at the end is made inside."""
    def prepare(root):
        symlink(root, "/a/hop1", "../../../../b/hop2")
        symlink(root, "/b/hop2", "/x/../../..//../c")
        os.makedirs(os.path.join(root, "c"))
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/a/hop1/made/here")])
    bundle = private_bundle(env, cfg, prepare)
    assert "/c/made/here" in mountinfo(run_ok(env, bundle))
    assert os.path.isdir(os.path.join(bundle, "rootfs/c/made/here"))


def test_symlink_loop_is_an_error(no_leftovers):
    env = no_leftovers
    cfg = config(env, "true", [dict(TMPFS, destination="/loop/x")])
    bundle = private_bundle(env, cfg, lambda root: symlink(root, "/loop", "/loop"))
    line = run_error(env, bundle)
    assert line.startswith("ocirt: mounts[7] (tmpfs on /loop/x): ") and "oo many levels of symbolic links" in line


# -- CVE-2025-31133: masking with something that is not /dev/null -------------------

@pytest.fixture
def host_secret(tmp_path):
    path = tmp_path / "host-secret"
    path.write_text("host secret\n")
    yield str(path)
    assert path.read_text() == "host secret\n"


@pytest.mark.parametrize("what", ["symlink", "file", "other-device"])
def test_fake_dev_null_in_the_image_is_refused(no_leftovers, host_secret, what):
    env = no_leftovers

    def prepare(root):
        null = os.path.join(root, "dev/null")
        if what == "symlink":
            os.symlink(host_secret, null)
        elif what == "file":
            with open(null, "w") as f:
                f.write("not null\n")
        else:
            os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    cfg = config(env, "true")
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]  # /dev from the image
    assert run_error(env, private_bundle(env, cfg, prepare)) == \
        "ocirt: default device /dev/null: exists and is not the device c 1:3"


_MASK_IN_NAMESPACE = """
import os, sys
from ocirt.linux import rootfs, syscalls as sc
sc.unshare(sc.CLONE_NEWNS)
sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC)
try:
    rootfs.mask_paths(["/secret"], root=sys.argv[1])
except rootfs.RootfsError as e:
    print("refused:", e)
else:
    print("masked:", open(os.path.join(sys.argv[1], "secret")).read())
"""


@pytest.mark.parametrize("null, expected", [
    ("symlink", "refused: linux.maskedPaths[0] (/secret): /dev/null is not the null device (1:3), "
                "refusing to mask with it"),
    ("host-symlink", "refused: linux.maskedPaths[0] (/secret): openat2 dev/null: No such file or directory"),
    ("file", "refused: linux.maskedPaths[0] (/secret): /dev/null is not the null device (1:3), "
             "refusing to mask with it"),
    ("device", "masked: "),
])
def test_masking_verifies_dev_null(tmp_path, host_secret, null, expected):
    """The masking step itself, on the real kernel in a private mount
    namespace: a /dev/null replaced after the devices were made (the race
    of CVE-2025-31133) is refused, never bound over a masked path."""
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "secret").write_text("container secret\n")
    (root / "core_pattern").write_text("stands for a sensitive file\n")
    if null == "symlink":
        os.symlink("/core_pattern", root / "dev/null")
    elif null == "host-symlink":
        os.symlink(host_secret, root / "dev/null")
    elif null == "file":
        (root / "dev/null").write_text("")
    else:
        os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    out = subprocess.run([sys.executable, "-c", _MASK_IN_NAMESPACE, str(root)], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected.strip()
    assert (root / "secret").read_text() == "container secret\n"


# -- CVE-2025-52565: /dev/console from the pty, by fd ---------------------------------

def _run_with_console(env, bundle, script_marker):
    sock_path = str(env.tmp / f"console{len(env.ids)}.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    server.settimeout(20)
    cid = env.new_id()
    try:
        r = env.ocirt("create", "--console-socket", sock_path, "--bundle", bundle, cid)
        assert r.code == 0, r
        conn, _ = server.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 4)
        conn.close()
        master = fds[0]
        env.ok("start", cid)
        output = b""
        deadline = time.monotonic() + 20
        while script_marker not in output and time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        os.close(master)
        return output.decode().replace("\r", "")
    finally:
        server.close()


def test_console_is_the_pty_peer(env):
    """/dev/console is bound from the pty's peer fd (TIOCGPTPEER), never from a
    /dev/pts path of the container."""
    script = "stat -L -c '%t:%T %i' /dev/console; stat -L -c '%t:%T %i' $(tty); echo end-of-test"
    cfg = config(env, script)
    cfg["process"]["terminal"] = True
    out = _run_with_console(env, private_bundle(env, cfg), b"end-of-test")
    lines = out.splitlines()
    assert lines[2] == "end-of-test", out
    assert lines[0] == lines[1], "/dev/console is the container's own terminal"
    assert lines[0].startswith("88:"), "a devpts slave (major 136 = 0x88)"


def test_console_symlink_in_the_image_is_refused(env, host_secret, tmp_path):
    """An image whose /dev/console links to a host path (no /dev tmpfs over
    it): create fails, and the console is never bound through the link."""
    cfg = config(env, "true")
    cfg["process"]["terminal"] = True
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]

    def prepare(root):
        os.symlink(host_secret, os.path.join(root, "dev/console"))
    bundle = private_bundle(env, cfg, prepare)
    sock_path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    try:
        cid = env.new_id()
        r = env.ocirt("create", "--console-socket", sock_path, "--bundle", bundle, cid)
        assert r.code == 1 and "/dev/console is a symlink" in r.err, r
        assert not os.path.exists(os.path.join(env.root, cid))
    finally:
        server.close()
    # host_secret checks on teardown that the host file is untouched.


# -- CVE-2025-52881: writes under /proc through the runtime's own procfs ----------------

def test_sysctl_never_writes_through_the_containers_proc(env):
    """With no procfs mounted, the image's /proc is just files: a sysctl must
    reach the kernel, not a file that looks like /proc/sys."""
    fake = "proc/sys/net/ipv4/ip_forward"

    def prepare(root):
        os.makedirs(os.path.join(root, os.path.dirname(fake)))
        with open(os.path.join(root, fake), "w") as f:
            f.write("0\n")
    cfg = config(env, "sleep 100")
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "proc"]
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle = private_bundle(env, cfg, prepare)
    cid = env.new_id()
    env.ok("create", "--bundle", bundle, cid)
    pid = env.state(cid)["pid"]
    real = subprocess.run(["nsenter", "-t", str(pid), "-n", "cat", "/proc/sys/net/ipv4/ip_forward"],
                          capture_output=True, text=True, check=True).stdout
    assert real == "1\n"
    with open(os.path.join(bundle, "rootfs", fake)) as f:
        assert f.read() == "0\n", "the image's fake file was not written"
    env.ok("delete", "--force", cid)


# -- CVE-2024-21626: the cwd check, and no host fd in reach ------------------------------

def test_leaked_host_directory_as_cwd_is_refused(no_leftovers, marker):
    """A directory fd inherited by the runtime (not preserved) is still open
    in the init until exec; a cwd of /proc/self/fd/N through it would start
    the process outside the container."""
    env = no_leftovers
    dir_fd = os.open(marker, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.set_inheritable(dir_fd, True)
        bad = []
        for fd in sorted(set(range(3, 8)) | {dir_fd}):  # the leaked one, and whatever else the init holds
            cfg = config(env, "touch escaped; pwd")
            cfg["process"]["cwd"] = f"/proc/self/fd/{fd}"
            r = env.ocirt("run", "-b", private_bundle(env, cfg), env.new_id(), pass_fds=(dir_fd,))
            if r.code == 0:
                bad.append((fd, r.out))  # a cwd that worked would be inside: not expected either
            elif fd == dir_fd:
                assert f"process.cwd /proc/self/fd/{fd} is outside the container" in r.err, r
        assert bad == [], bad
    finally:
        os.close(dir_fd)


def test_created_init_holds_no_host_files(env):
    """While it waits for start, the init (the host's Python, ready to exec)
    holds nothing but its stdio and sockets: no directory, procfs or mount fd."""
    cfg = config(env, "true", [dict(TMPFS, destination="/t", options=["ro", "tmpcopyup"])])
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    cfg["mounts"].append({"destination": "/id", "source": "/etc", "options": ["bind", "idmap"],
                          "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                          "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]})
    bundle = private_bundle(env, cfg)
    cid = env.new_id()
    env.ok("create", "--bundle", bundle, cid)
    pid = env.state(cid)["pid"]
    links = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    extra = {fd: target for fd, target in links.items() if fd > 2 and not target.startswith("socket:")}
    assert extra == {}, links
    env.ok("delete", "--force", cid)
