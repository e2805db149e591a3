"""The Kubernetes path: the kubelet's CRI calls, over gRPC, to containerd
whose runtime handler "ocirt" (what a RuntimeClass selects) runs pods and
containers with ocirt. Locally built images (a busybox pause), CNI bridge
networking in containerd's own network namespace (tests/cri/node.py)."""

import contextlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from ocirt.linux import cgroups

from ..cri import api
from ..cri.image import write_archive
from ..cri.node import HANDLER, SUBNET, Node
from .conftest import REPO

OCIRT = os.path.join(REPO, ".venv", "bin", "ocirt")
PAUSE_IMAGE = "localhost/ocirt-pause:1"
IMAGE = "localhost/ocirt-busybox:1"
MiB = 1 << 20
PURE_V2 = [h.is_v2 for h in cgroups.hierarchies()] == [True]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(OCIRT), reason="run scripts/setup first (.venv/bin/ocirt)")]


@pytest.fixture(scope="module")
def node(rootfs, tmp_path_factory):
    for tool in ("containerd", "ctr", "unshare", "nsenter"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: scripts/install-test-deps installs it")
    try:
        import grpc  # noqa: F401
    except ImportError:
        pytest.fail("grpc is missing (python3-grpcio): scripts/install-test-deps installs it")
    base = tmp_path_factory.mktemp("cri")
    n = Node(str(base), OCIRT)
    try:
        n.start()
        status = n.cri_plugin_status()
        if status is None:
            pytest.skip("this containerd has no CRI plugin (io.containerd.grpc.v1.cri)")
        assert status == "ok", f"containerd's CRI plugin did not load ({status}): {n.log()}"
        # A pause that does what the real one must: stay, as the pod's first process.
        write_archive(str(base / "pause.tar"), rootfs, PAUSE_IMAGE, entrypoint=["/bin/sleep", "2147483647"])
        write_archive(str(base / "busybox.tar"), rootfs, IMAGE, entrypoint=[], cmd=["sh"])
        n.import_image(str(base / "pause.tar"))
        n.import_image(str(base / "busybox.tar"))
        yield n
    finally:
        n.stop()


def listing(directory):
    return os.listdir(directory) if os.path.isdir(directory) else []


@pytest.fixture
def cri(node):
    """A CRI client; after the test, proof that its pods left nothing behind."""
    client = api.RuntimeService(node.socket)
    yield client
    client.close()
    leftovers = listing(os.path.join(node.runtime_root, "k8s.io"))  # ocirt's --root
    leftovers += node.cgroup_dirs() + node.mounts_under_base()
    leftovers += [f"lease {f}" for f in listing(os.path.join(node.ipam_dir, node.network)) if f[0].isdigit()]
    leftovers += [f for f in listing("/var/lib/cni/results") if node.network in f]  # libcni's cache, on the host
    assert leftovers == [], "the pods left these behind"


@contextlib.contextmanager
def pod(node, cri, pid=api.CONTAINER):
    """A running pod of the "ocirt" RuntimeClass: (its id, its config)."""
    uid = uuid.uuid4().hex
    config = api.pod_config("web", uid, "ocirt-test", hostname="ocirt-pod",
                            log_directory=os.path.join(node.base, "logs", uid),
                            cgroup_parent=node.cgroup_parent, pid=pid)
    pod_id = cri.run_pod_sandbox(config, HANDLER)
    try:
        yield pod_id, config
    finally:
        cri.stop_pod_sandbox(pod_id)
        cri.remove_pod_sandbox(pod_id)
    assert pod_id not in cri.list_pod_sandbox_ids()


def ocirt_state(node, cid):
    """ocirt's own view of a container containerd made through it."""
    r = subprocess.run([OCIRT, "--root", os.path.join(node.runtime_root, "k8s.io"), "state", cid],
                       capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout) if r.returncode == 0 else None


def cgroup_value(node, cid, controller, v1_file, v2_file):
    """An integer file of the container's cgroup, read on the host."""
    for h in cgroups.hierarchies():
        if controller in h.controllers or h.is_v2:
            path = os.path.join(h.mountpoint, node.cgroup_parent.lstrip("/"), cid, v2_file if h.is_v2 else v1_file)
            if os.path.exists(path):
                with open(path) as f:
                    return int(f.read())
    raise AssertionError(f"no {controller} cgroup for {cid} under {node.cgroup_parent}")


def calls_for(node, cid):
    """The ocirt commands containerd's shim ran for one container, in order."""
    commands = []
    for line in node.calls():
        words = line.split()
        i = 0
        while i < len(words) and words[i].startswith("-"):  # global options: --root R --log L --log-format json
            i += 2 if words[i] in ("--root", "--log", "--log-format") else 1
        if i < len(words) and cid in words[i + 1:]:
            commands.append(words[i])
    return commands


def create(cri, pod_id, pod_config, name, command, **kw):
    config = api.container_config(name, IMAGE, command, log_path=f"{name}.log", **kw)
    return cri.create_container(pod_id, config, pod_config)


def wait_exited(cri, cid, timeout=30):
    deadline = time.monotonic() + timeout
    while (status := cri.container_status(cid))["state"] != api.CONTAINER_EXITED:
        assert time.monotonic() < deadline, f"{cid} still {status}"
        time.sleep(0.05)
    return status


def test_version_status_and_images(node, cri):
    version = cri.version()
    assert version["runtime_name"] == "containerd", version
    assert version["runtime_api_version"] == "v1", version
    conditions = cri.status()
    assert conditions["RuntimeReady"][0] and conditions["NetworkReady"][0], conditions
    assert cri.image_id(PAUSE_IMAGE).startswith("sha256:")
    assert cri.image_id("localhost/no-such-image:1") == ""


def test_pod_lifecycle(node, cri):
    with pod(node, cri) as (pod_id, pod_config):
        status = cri.pod_sandbox_status(pod_id)
        assert status["state"] == api.SANDBOX_READY
        assert status["runtime_handler"] == HANDLER
        assert ipaddress.ip_address(status["ip"]) in ipaddress.ip_network(SUBNET), status
        assert ocirt_state(node, pod_id)["status"] == "running", "the sandbox is an ocirt container"

        cid = create(cri, pod_id, pod_config, "app",
                     ["sh", "-c", "echo started; trap 'exit 42' TERM; sleep 1000 & wait"],
                     resources=api.linux_resources(memory_limit=128 * MiB, cpu_shares=256))
        assert cri.container_status(cid)["state"] == api.CONTAINER_CREATED
        cri.start_container(cid)
        assert cri.container_status(cid)["state"] == api.CONTAINER_RUNNING
        assert ocirt_state(node, cid)["status"] == "running"

        assert cri.exec_sync(cid, ["sh", "-c", "echo hi; echo oops >&2; exit 3"]) == (3, "hi\n", "oops\n")
        code, out, err = cri.exec_sync(cid, ["sh", "-c", "hostname; ip -4 -o addr show eth0; echo $OCIRT_CRI"])
        assert code == 0, err
        hostname, address, env = out.splitlines()
        assert (hostname, env) == ("ocirt-pod", "1")
        assert f"inet {status['ip']}/" in address, "the container is in the pod's network namespace"
        code, out, _ = cri.exec_sync(cid, ["cat", "/proc/1/cmdline"])
        assert out.startswith("sh\0-c\0echo started"), "a PID namespace of its own: the workload is pid 1"

        assert cgroup_value(node, cid, "memory", "memory.limit_in_bytes", "memory.max") == 128 * MiB
        assert cgroup_value(node, cid, "cpu", "cpu.shares", "cpu.weight") in (256, 10)
        cri.update_container_resources(cid, api.linux_resources(memory_limit=64 * MiB, cpu_shares=512))
        assert cgroup_value(node, cid, "memory", "memory.limit_in_bytes", "memory.max") == 64 * MiB
        assert cgroup_value(node, cid, "cpu", "cpu.shares", "cpu.weight") in (512, 20)
        inside = "/sys/fs/cgroup/memory.max" if PURE_V2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        assert cri.exec_sync(cid, ["cat", inside]) == (0, f"{64 * MiB}\n", ""), "it sees its own limit"
        assert cri.container_status(cid)["state"] == api.CONTAINER_RUNNING

        cri.stop_container(cid, timeout=20)
        stopped = cri.container_status(cid)
        assert (stopped["state"], stopped["exit_code"]) == (api.CONTAINER_EXITED, 42), \
            "TERM reached the workload's trap"
        with open(stopped["log_path"]) as f:
            assert re.search(r" stdout F started$", f.read(), re.M), "the CRI log has the workload's output"
        cri.remove_container(cid)
        assert ocirt_state(node, cid) is None
        assert calls_for(node, cid)[:2] == ["create", "start"]
        assert {"exec", "update", "kill", "delete"} <= set(calls_for(node, cid)), node.calls()
    assert calls_for(node, pod_id)[:2] == ["create", "start"] and "delete" in calls_for(node, pod_id)
    # The bridge lives in containerd's network namespace only.
    assert node.in_netns("ip", "link", "show", node.bridge).returncode == 0
    assert subprocess.run(["ip", "link", "show", node.bridge], capture_output=True).returncode != 0


def test_container_exits_by_itself(node, cri):
    with pod(node, cri) as (pod_id, pod_config):
        cid = create(cri, pod_id, pod_config, "job", ["sh", "-c", "echo bye >&2; exit 7"])
        cri.start_container(cid)
        status = wait_exited(cri, cid)
        assert (status["exit_code"], status["reason"]) == (7, "Error"), status
        with open(status["log_path"]) as f:
            assert re.search(r" stderr F bye$", f.read(), re.M)
        cri.remove_container(cid)


def test_shared_pid_namespace(node, cri):
    """shareProcessNamespace: the pod's containers join the pause's PID namespace."""
    with pod(node, cri, pid=api.POD) as (pod_id, pod_config):
        cid = create(cri, pod_id, pod_config, "app", ["sleep", "1000"], pid=api.POD)
        cri.start_container(cid)
        code, out, err = cri.exec_sync(cid, ["sh", "-c", "cat /proc/1/cmdline; echo; ps -o args"])
        assert code == 0, err
        first, *processes = out.splitlines()
        assert first == "/bin/sleep\x002147483647\x00", "pid 1 is the pod's pause"
        assert "sleep 1000" in processes, processes
        # A pod stops with its containers still running: all of them are killed.
        cri.stop_pod_sandbox(pod_id)
        assert wait_exited(cri, cid)["exit_code"] == 137


def test_start_failure_reports_and_cleans_up(node, cri):
    with pod(node, cri) as (pod_id, pod_config):
        cid = create(cri, pod_id, pod_config, "broken", ["/no/such/program"])
        import grpc
        with pytest.raises(grpc.RpcError) as failed:
            cri.start_container(cid)
        # runc's wording, which the kubelet shows as the container's StartError
        assert 'exec: "/no/such/program": stat /no/such/program: no such file or directory' \
            in failed.value.details(), failed.value.details()
        assert ocirt_state(node, cid) is None
        cri.remove_container(cid)
