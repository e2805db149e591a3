"""The real clients drive ocirt exactly as they drive runc: podman (through
conmon, with --runtime) and containerd (containerd-shim-runc-v2 with
BinaryName, via ctr --runc-binary). Each runs with private storage and state,
and leaves no ocirt state behind."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from .conftest import REPO

OCIRT = os.path.join(REPO, ".venv", "bin", "ocirt")
DEFAULT_ROOT = "/run/ocirt"

pytestmark = pytest.mark.skipif(not os.path.exists(OCIRT), reason="run scripts/setup first (.venv/bin/ocirt)")


def _ocirt_ids():
    try:
        return set(os.listdir(DEFAULT_ROOT))
    except FileNotFoundError:
        return set()


@pytest.fixture(scope="module")
def image_tar(rootfs, tmp_path_factory):
    tar = tmp_path_factory.mktemp("image") / "rootfs.tar"
    subprocess.run(["tar", "-C", rootfs, "-cf", str(tar), "."], check=True)
    return str(tar)


# -- podman -------------------------------------------------------------------

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
    cmd = ["podman", "--root", str(base / "storage"), "--runroot", str(base / "run"),
           "--cgroup-manager", "cgroupfs", "--runtime", "ocirt"]

    def run(*args, timeout=60):
        return subprocess.run(cmd + list(args), env=env, capture_output=True, text=True, timeout=timeout)

    r = run("import", image_tar, "localhost/ocirt-test:latest")
    assert r.returncode == 0, r.stderr
    yield run
    run("rm", "--all", "--force")
    subprocess.run(cmd[:5] + ["system", "reset", "--force"], env=env, capture_output=True)


@pytest.fixture
def podman_clean(podman):
    before = _ocirt_ids()
    yield podman
    assert _ocirt_ids() == before, "podman's containers left ocirt state behind"


def test_podman_run(podman_clean):
    r = podman_clean("run", "--rm", "localhost/ocirt-test", "sh", "-c", "echo hello from $(cat /proc/1/comm)")
    assert (r.returncode, r.stdout) == (0, "hello from sh\n"), r.stderr


def test_podman_exit_codes(podman_clean):
    assert podman_clean("run", "--rm", "localhost/ocirt-test", "sh", "-c", "exit 7").returncode == 7
    r = podman_clean("run", "--rm", "localhost/ocirt-test", "nosuchcommand")
    assert r.returncode == 127, "podman maps 'executable file not found' to 127"
    assert "executable file not found" in r.stderr


def test_podman_detached_stop_rm(podman_clean):
    r = podman_clean("run", "-d", "--name", "ocirt-detached", "localhost/ocirt-test", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert os.path.isdir(os.path.join(DEFAULT_ROOT, cid)), "podman uses the default root"
    r = podman_clean("inspect", "--format", "{{.State.Status}}", "ocirt-detached")
    assert r.stdout.strip() == "running"
    assert podman_clean("stop", "-t", "1", "ocirt-detached").returncode == 0
    r = podman_clean("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "ocirt-detached")
    assert r.stdout.strip() == "exited 137", "sleep as pid 1 ignores TERM: stop falls back to KILL"
    assert podman_clean("rm", "ocirt-detached").returncode == 0


def test_podman_tty(podman_clean):
    r = podman_clean("run", "--rm", "-t", "localhost/ocirt-test", "sh", "-c", "tty; stty size")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/")


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
    deadline = time.monotonic() + 30
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    def run(*args, timeout=60):
        return subprocess.run(["ctr", "-a", str(sock), "-n", "ocirt-test"] + list(args),
                              capture_output=True, text=True, timeout=timeout)
    try:
        # ctr imports OCI archives: podman turns the rootfs tar into one.
        archive = base / "image.oci.tar"
        pod = ["podman", "--root", str(base / "ps"), "--runroot", str(base / "pr")]
        subprocess.run(pod + ["import", image_tar, "localhost/ocirt-test:latest"], check=True, capture_output=True)
        subprocess.run(pod + ["save", "--format", "oci-archive", "-o", str(archive),
                              "localhost/ocirt-test:latest"], check=True, capture_output=True)
        r = run("images", "import", "--base-name", "localhost/ocirt-test", str(archive))
        assert r.returncode == 0, r.stderr
        yield run
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)


def test_containerd_run(ctr):
    before = _ocirt_ids()
    r = ctr("run", "--rm", "--runc-binary", OCIRT, "localhost/ocirt-test:latest", "ctd-run",
            "sh", "-c", "echo hello from containerd; exit 5")
    assert (r.returncode, r.stdout) == (5, "hello from containerd\n"), r.stderr
    assert _ocirt_ids() == before


def test_containerd_detached_kill(ctr):
    r = ctr("run", "-d", "--runc-binary", OCIRT, "localhost/ocirt-test:latest", "ctd-bg", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    try:
        tasks = ctr("task", "ls").stdout
        assert "ctd-bg" in tasks and "RUNNING" in tasks
        assert ctr("task", "kill", "-s", "9", "ctd-bg").returncode == 0
        deadline = time.monotonic() + 10
        while "STOPPED" not in ctr("task", "ls").stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "STOPPED" in ctr("task", "ls").stdout
    finally:
        ctr("task", "rm", "-f", "ctd-bg")
        ctr("container", "rm", "ctd-bg")
    assert "ctd-bg" not in ctr("container", "ls", "-q").stdout


def test_podman_exec(podman_clean):
    r = podman_clean("run", "-d", "--name", "ocirt-exec", "localhost/ocirt-test", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    try:
        r = podman_clean("exec", "ocirt-exec", "sh", "-c", "echo in $(hostname); exit 3")
        assert r.returncode == 3 and r.stdout.startswith("in "), r.stderr
        r = podman_clean("exec", "-t", "ocirt-exec", "tty")
        assert r.returncode == 0 and r.stdout.strip().startswith("/dev/pts/"), r.stderr
        assert podman_clean("exec", "ocirt-exec", "nosuchcommand").returncode == 127
        top = podman_clean("top", "ocirt-exec", "pid", "args")
        assert top.returncode == 0 and "sleep 1000" in top.stdout, top.stderr
        assert podman_clean("pause", "ocirt-exec").returncode == 0
        state = podman_clean("inspect", "--format", "{{.State.Status}}", "ocirt-exec").stdout.strip()
        assert state == "paused"
        assert podman_clean("unpause", "ocirt-exec").returncode == 0
    finally:
        podman_clean("rm", "-f", "-t", "0", "ocirt-exec")


def test_containerd_exec_and_ps(ctr):
    r = ctr("run", "-d", "--runc-binary", OCIRT, "localhost/ocirt-test:latest", "ctd-exec", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    try:
        r = ctr("task", "exec", "--exec-id", "e1", "ctd-exec", "sh", "-c", "echo from-exec; exit 4")
        assert (r.returncode, r.stdout) == (4, "from-exec\n"), r.stderr
        ps = ctr("task", "ps", "ctd-exec")
        assert ps.returncode == 0 and len(ps.stdout.splitlines()) >= 2, ps.stderr
        assert ctr("task", "pause", "ctd-exec").returncode == 0
        assert "PAUSED" in ctr("task", "ls").stdout
        assert ctr("task", "resume", "ctd-exec").returncode == 0
    finally:
        ctr("task", "kill", "-s", "9", "ctd-exec")
        deadline = time.monotonic() + 10
        while "STOPPED" not in ctr("task", "ls").stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        ctr("task", "rm", "-f", "ctd-exec")
        ctr("container", "rm", "ctd-exec")
