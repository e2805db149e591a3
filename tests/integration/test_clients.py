"""The real clients drive ocirt exactly as they drive runc: podman (through
conmon, with --runtime) and containerd (containerd-shim-runc-v2 with
BinaryName, via ctr --runc-binary). Each runs with private storage and state;
every test checks that its containers leave no ocirt state and no cgroup."""

import contextlib
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from .conftest import REPO, cgroup_dirs

OCIRT = os.path.join(REPO, ".venv", "bin", "ocirt")
DEFAULT_ROOT = "/run/ocirt"
IMAGE = "localhost/ocirt-test:latest"
MiB = 1 << 20

pytestmark = pytest.mark.skipif(not os.path.exists(OCIRT), reason="run scripts/setup first (.venv/bin/ocirt)")


def wait_until(check, what, timeout=10):
    """Poll `check` until it returns something true; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def read_line(proc, timeout=10):
    """One line of a child's stdout pipe, without blocking past `timeout`."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no output from the container"
    return proc.stdout.readline()


# A container that reports its signals: a trap prints and exits with a code
# of its own, so the exit status proves which signal arrived.
TRAPS = "trap 'echo caught USR1; exit 42' USR1; trap 'echo caught TERM; exit 43' TERM; echo ready; " \
        "while :; do sleep 0.1; done"


@pytest.fixture(scope="module")
def image_tar(rootfs, tmp_path_factory):
    tar = tmp_path_factory.mktemp("image") / "rootfs.tar"
    subprocess.run(["tar", "-C", rootfs, "-cf", str(tar), "."], check=True)
    return str(tar)


# -- podman -------------------------------------------------------------------

def private_podman(base):
    """podman with storage, run and tmp dirs of its own: the tmp dir (else the
    shared /run/libpod) holds conmon's exit files and the events log, which
    another podman's `system reset` would delete."""
    return ["podman", "--root", str(base / "storage"), "--runroot", str(base / "run"),
            "--tmpdir", str(base / "tmp")]


@pytest.fixture(scope="module")
def podman(image_tar, tmp_path_factory):
    if not shutil.which("podman"):
        pytest.fail("podman is missing: scripts/install-test-deps installs it")
    base = tmp_path_factory.mktemp("podman")
    conf = base / "containers.conf"
    # runtime_supports_json makes podman pass --log-format=json --log; the
    # ulimits fit hosts without CAP_SYS_RESOURCE (podman's default of 1048576
    # fails there with runc too).
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        '[engine]\nruntime_supports_json = ["ocirt"]\nevents_logger = "file"\n'
        f'[engine.runtimes]\nocirt = ["{OCIRT}"]\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    cmd = private_podman(base) + ["--cgroup-manager", "cgroupfs", "--runtime", "ocirt"]

    def run(*args, timeout=60, input=None):
        return subprocess.run(cmd + list(args), env=env, capture_output=True, text=True, timeout=timeout,
                              input=input)

    r = run("import", image_tar, IMAGE)
    assert r.returncode == 0, r.stderr
    yield run
    run("rm", "--all", "--force")
    subprocess.run(private_podman(base) + ["system", "reset", "--force"], env=env, capture_output=True)


def podman_created(podman):
    """Every container id this podman made (its events log)."""
    r = podman("events", "--stream=false", "--filter", "event=create", "--format", "{{.ID}}")
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


@pytest.fixture
def podman_clean(podman):
    """After the test, nothing of its containers is left: no ocirt state, no
    cgroup (podman puts them at /libpod_parent/libpod-<id>)."""
    before = podman_created(podman)
    yield podman
    created = podman_created(podman) - before
    assert created, "podman's events log names no container of this test"
    for cid in created:
        assert not os.path.exists(os.path.join(DEFAULT_ROOT, cid)), f"ocirt state of {cid} left behind"
        assert cgroup_dirs(f"libpod-{cid}") == [], f"cgroups of {cid} left behind"


@contextlib.contextmanager
def podman_detached(podman, *command, flags=()):
    """A detached podman container with a unique name, removed afterwards."""
    name = f"ocirt-bg-{uuid.uuid4().hex[:8]}"
    r = podman("run", "-d", "--name", name, *flags, IMAGE, *command)
    assert r.returncode == 0, r.stderr
    try:
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name)


def podman_state(podman, name, fmt="{{.State.Status}}"):
    return podman("inspect", "--format", fmt, name).stdout.strip()


def test_podman_run(podman_clean):
    r = podman_clean("run", "--rm", IMAGE, "sh", "-c", "echo hello from $(cat /proc/1/comm)")
    assert (r.returncode, r.stdout) == (0, "hello from sh\n"), r.stderr


def test_podman_exit_codes(podman_clean):
    assert podman_clean("run", "--rm", IMAGE, "sh", "-c", "exit 7").returncode == 7
    r = podman_clean("run", "--rm", IMAGE, "nosuchcommand")
    assert r.returncode == 127, "podman maps 'executable file not found' to 127"
    assert "executable file not found" in r.stderr
    r = podman_clean("run", "--rm", IMAGE, "/etc/passwd")
    assert r.returncode == 126, "a file that cannot be executed: podman's other failures are 126"
    assert "Permission denied" in r.stderr, r.stderr


def test_podman_detached_stop_rm(podman_clean):
    with podman_detached(podman_clean, "sleep", "1000") as name:
        cid = podman_state(podman_clean, name, "{{.Id}}")
        assert os.path.isdir(os.path.join(DEFAULT_ROOT, cid)), "podman uses the default root"
        assert podman_state(podman_clean, name) == "running"
        assert podman_clean("stop", "-t", "1", name).returncode == 0
        assert podman_state(podman_clean, name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137", \
            "sleep as pid 1 ignores TERM: stop falls back to KILL"
        assert podman_clean("rm", name).returncode == 0


def test_podman_logs_and_kill_signal(podman_clean):
    with podman_detached(podman_clean, "sh", "-c", "echo to-stderr >&2; " + TRAPS) as name:
        wait_until(lambda: "ready" in podman_clean("logs", name).stdout, "the container's first output")
        assert podman_clean("kill", "--signal", "USR1", name).returncode == 0
        assert podman_clean("wait", name).stdout.strip() == "42", "the trap's own exit code"
        logs = podman_clean("logs", name)
        assert (logs.stdout, logs.stderr) == ("ready\ncaught USR1\n", "to-stderr\n")


def test_podman_tty(podman_clean):
    r = podman_clean("run", "--rm", "-t", IMAGE, "sh", "-c", "tty; stty size")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/")


@pytest.mark.parametrize("flags, script, expected", [
    # Without a cgroup namespace (podman's default on v1) the container's own
    # cgroup is what /sys/fs/cgroup/<controller> shows.
    (["--memory", "64m", "--pids-limit", "50"],
     "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max", f"{64 * MiB}\n50\n"),
    # podman's --read-only keeps tmpfs on /tmp, /var/tmp and /run (--read-only-tmpfs).
    (["--read-only"], "touch /probe 2>&1; touch /tmp/probe && echo tmp-writable",
     "touch: /probe: Read-only file system\ntmp-writable\n"),
    (["--user", "1000:1000"], "id -u; id -g", "1000\n1000\n"),
    (["--cap-drop", "ALL"], "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | cut -f2 | sort -u",
     "0000000000000000\n"),
], ids=["memory-pids", "read-only", "user", "cap-drop-all"])
def test_podman_run_options(podman_clean, flags, script, expected):
    r = podman_clean("run", "--rm", *flags, IMAGE, "sh", "-c", script)
    assert (r.returncode, r.stdout, r.stderr) == (0, expected, ""), "podman logs cleanup errors on stderr"


def test_podman_exec(podman_clean):
    with podman_detached(podman_clean, "sleep", "1000") as name:
        r = podman_clean("exec", name, "sh", "-c", "echo in $(hostname); exit 3")
        assert r.returncode == 3 and r.stdout.startswith("in "), r.stderr
        r = podman_clean("exec", "-t", name, "tty")
        assert r.returncode == 0 and r.stdout.strip().startswith("/dev/pts/"), r.stderr
        r = podman_clean("exec", "-i", name, "sh", "-c", "read line; echo got $line", input="hello\n")
        assert (r.returncode, r.stdout) == (0, "got hello\n"), r.stderr
        # With -it the input goes through the terminal, which echoes it.
        r = podman_clean("exec", "-it", name, "sh", "-c", "read line; echo got $line; tty", input="hello\n")
        assert r.returncode == 0 and r.stdout.replace("\r", "").startswith("hello\ngot hello\n/dev/pts/"), r
        assert podman_clean("exec", name, "nosuchcommand").returncode == 127
        top = podman_clean("top", name, "pid", "args")
        assert top.returncode == 0 and "sleep 1000" in top.stdout, top.stderr
        assert podman_clean("pause", name).returncode == 0
        assert podman_state(podman_clean, name) == "paused"
        assert podman_clean("unpause", name).returncode == 0
        assert podman_state(podman_clean, name) == "running"


@pytest.fixture
def podman_update(podman):
    """podman update came with podman 4.3."""
    if podman("update", "--help").returncode != 0:
        pytest.skip(f"{podman('--version').stdout.strip()} has no `podman update`")


def test_podman_stats_and_update(podman_update, podman_clean):
    limit_file = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    with podman_detached(podman_clean, "sleep", "1000", flags=["--memory", "64m"]) as name:
        r = podman_clean("stats", "--no-stream", "--format", "json", name)
        assert r.returncode == 0, r.stderr
        [stats] = json.loads(r.stdout)
        assert stats["name"] == name and stats["pids"] == "1", stats
        assert stats["mem_usage"].endswith(" / 67.11MB"), "podman prints 64 MiB as 67.11MB"
        assert podman_clean("update", "--memory", "96m", name).returncode == 0
        assert podman_clean("exec", name, "cat", limit_file).stdout == f"{96 * MiB}\n"


# -- containerd ---------------------------------------------------------------

@pytest.fixture(scope="module")
def ctr(image_tar, tmp_path_factory):
    if not shutil.which("containerd"):
        pytest.fail("containerd is missing: scripts/install-test-deps installs it")
    base = tmp_path_factory.mktemp("containerd")
    sock = base / "containerd.sock"
    (base / "config.toml").write_text(
        f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n[grpc]\n  address = "{sock}"\n')
    daemon = subprocess.Popen(["containerd", "--config", str(base / "config.toml")],
                              stdout=subprocess.DEVNULL, stderr=open(base / "log", "w"))
    wait_until(sock.exists, "containerd's socket", timeout=30)
    # The namespace names the shim's runc root (/run/containerd/runc/<ns>)
    # and the cgroups (/<ns>/<id>): unique, so parallel runs never meet.
    namespace = f"ocirt-test-{uuid.uuid4().hex[:8]}"
    base_cmd = ["ctr", "-a", str(sock), "-n", namespace]

    def run(*args, timeout=60, popen=False):
        if popen:
            return subprocess.Popen(base_cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True)
        return subprocess.run(base_cmd + list(args), capture_output=True, text=True, timeout=timeout)
    run.command = base_cmd
    run.state_root = f"/run/containerd/runc/{namespace}"  # the --root the shim gives ocirt
    try:
        # ctr imports OCI archives: podman turns the rootfs tar into one.
        archive = base / "image.oci.tar"
        pod = private_podman(base)
        for args in (["import", image_tar, IMAGE], ["save", "--format", "oci-archive", "-o", str(archive), IMAGE]):
            r = subprocess.run(pod + args, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        subprocess.run(pod + ["system", "reset", "--force"], capture_output=True)
        r = run("images", "import", "--base-name", "localhost/ocirt-test", str(archive))
        assert r.returncode == 0, r.stderr
        yield run
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(run.state_root)  # fails if any container's state is left


def new_task_id(name):
    return f"ctd-{name}-{uuid.uuid4().hex[:8]}"


def task_status(ctr, tid):
    for line in ctr("task", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == tid:
            return fields[2]
    return None


def assert_task_gone(ctr, tid):
    assert tid not in ctr("container", "ls", "-q").stdout.split()
    assert not os.path.exists(os.path.join(ctr.state_root, tid)), f"ocirt state of {tid} left behind"
    assert cgroup_dirs(tid) == [], f"cgroups of {tid} left behind"


def remove_task(ctr, tid):
    """Kill, wait for the exit, delete task and container: nothing stays."""
    if task_status(ctr, tid) not in (None, "STOPPED"):
        ctr("task", "kill", "-s", "9", tid)
        wait_until(lambda: task_status(ctr, tid) == "STOPPED", f"{tid} to stop")
    ctr("task", "rm", "-f", tid)
    ctr("container", "rm", tid)
    assert_task_gone(ctr, tid)


@contextlib.contextmanager
def ctr_detached(ctr, *command, flags=()):
    """A detached ctr task with a unique id, removed afterwards."""
    tid = new_task_id("bg")
    r = ctr("run", "-d", "--runc-binary", OCIRT, *flags, IMAGE, tid, *command)
    assert r.returncode == 0, r.stderr
    try:
        yield tid
    finally:
        remove_task(ctr, tid)


def test_containerd_run(ctr):
    tid = new_task_id("run")
    r = ctr("run", "--rm", "--runc-binary", OCIRT, IMAGE, tid, "sh", "-c", "echo hello from containerd; exit 5")
    assert (r.returncode, r.stdout) == (5, "hello from containerd\n"), r.stderr
    assert_task_gone(ctr, tid)


def test_containerd_read_only_and_cap_drop(ctr):
    tid = new_task_id("opt")
    r = ctr("run", "--rm", "--runc-binary", OCIRT, "--read-only", "--cap-drop", "CAP_CHOWN", "--cap-drop",
            "CAP_NET_RAW", IMAGE, tid, "sh", "-c", "touch /probe 2>&1; grep CapEff /proc/self/status | cut -f2")
    assert r.returncode == 0, r.stderr
    assert_task_gone(ctr, tid)
    denied, caps = r.stdout.splitlines()
    assert denied == "touch: /probe: Read-only file system"
    caps = int(caps, 16)
    # CAP_CHOWN is bit 0, CAP_NET_RAW bit 13; CAP_KILL (5) stays.
    assert (caps & 1, caps & (1 << 13), caps & (1 << 5)) == (0, 0, 1 << 5), r.stdout


def test_containerd_detached_kill(ctr):
    with ctr_detached(ctr, "sleep", "1000") as tid:
        assert task_status(ctr, tid) == "RUNNING"
        assert ctr("task", "kill", "-s", "9", tid).returncode == 0
        wait_until(lambda: task_status(ctr, tid) == "STOPPED", "the killed task to stop")


@pytest.mark.parametrize("sig, status, output", [
    ("SIGUSR1", 42, "caught USR1\n"), ("SIGTERM", 43, "caught TERM\n"), ("SIGKILL", 128 + 9, ""),
], ids=["USR1", "TERM", "KILL"])
def test_containerd_kill_signal_exit_status(ctr, sig, status, output):
    """`ctr run` in the foreground exits with the task's status."""
    tid = new_task_id("sig")
    proc = ctr("run", "--runc-binary", OCIRT, IMAGE, tid, "sh", "-c", TRAPS, popen=True)
    try:
        assert read_line(proc) == "ready\n"
        assert ctr("task", "kill", "-s", sig, tid).returncode == 0
        out, _ = proc.communicate(timeout=30)
        assert (proc.returncode, out) == (status, output)
    finally:
        proc.kill()
        proc.wait()
        remove_task(ctr, tid)


def test_containerd_memory_limit_and_metrics(ctr):
    with ctr_detached(ctr, "sleep", "1000", flags=["--memory-limit", str(64 * MiB)]) as tid:
        # The shim reads the cgroup of the task's pid itself (v1 here): the
        # limit ocirt wrote is where containerd expects it.
        r = ctr("task", "metrics", "--format", "json", tid)
        assert r.returncode == 0, r.stderr
        metrics = json.loads(r.stdout)
        assert metrics["memory"]["usage"]["limit"] == 64 * MiB
        assert metrics["pids"]["current"] == 1 and metrics["memory"]["usage"]["usage"] > 0, metrics


def test_containerd_exec_and_ps(ctr):
    with ctr_detached(ctr, "sleep", "1000") as tid:
        r = ctr("task", "exec", "--exec-id", "e1", tid, "sh", "-c", "echo from-exec; exit 4")
        assert (r.returncode, r.stdout) == (4, "from-exec\n"), r.stderr
        r = ctr("task", "exec", "--exec-id", "e2", "--user", "1000", tid, "sh", "-c", "id -u; id -g")
        assert (r.returncode, r.stdout) == (0, "1000\n0\n"), r.stderr
        # ctr -t needs a terminal of its own: script(1) gives it one.
        exec_tty = shlex.join(ctr.command + ["task", "exec", "-t", "--exec-id", "e3", tid, "sh", "-c", "tty; exit 3"])
        r = subprocess.run(["script", "-qec", exec_tty, "/dev/null"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 3 and "/dev/pts/" in r.stdout, (r.stdout, r.stderr)  # after what the pty echoes
        ps = ctr("task", "ps", tid)
        assert ps.returncode == 0 and len(ps.stdout.splitlines()) >= 2, ps.stderr
        assert ctr("task", "pause", tid).returncode == 0
        assert task_status(ctr, tid) == "PAUSED"
        assert ctr("task", "resume", tid).returncode == 0
        assert task_status(ctr, tid) == "RUNNING"


@pytest.mark.parametrize("command, feature", [
    (("task", "--help"), "update"),
    (("run", "--help"), "--pids-limit"),
    (("run", "--help"), "--user"),
])
def test_containerd_features_ctr_lacks(ctr, command, feature):
    """ctr has no flags for these (podman's tests cover them): say so, and
    fail once a ctr version has them, so that they get tested here."""
    words = ctr(*command).stdout.split()
    version = subprocess.run(["ctr", "--version"], capture_output=True, text=True).stdout.split()[-1]
    wanted = f"`ctr {' '.join(command[:-1])} {feature}`"
    if feature in words:
        pytest.fail(f"ctr {version} now has {wanted}: drive it here")
    pytest.skip(f"ctr {version} has no {wanted}")
