"""The Kubernetes path: the kubelet's CRI calls, over gRPC, to containerd
whose runtime handler "ocirt" (what a RuntimeClass selects) runs pods and
containers with ocirt. Locally built images (a busybox pause), CNI bridge
networking in containerd's own network namespace (tests/cri/node.py)."""

import ipaddress
import os
import re
import shutil
import subprocess
import uuid

import pytest

from ..cri import api
from ..cri.image import write_archive
from ..cri.node import HANDLER, SUBNET, Node
from .conftest import REPO

OCIRT = os.path.join(REPO, ".venv", "bin", "ocirt")
PAUSE_IMAGE = "localhost/ocirt-pause:1"
IMAGE = "localhost/ocirt-busybox:1"
MiB = 1 << 20

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(OCIRT), reason="run scripts/setup first (.venv/bin/ocirt)")]


@pytest.fixture(scope="module")
def node(rootfs, tmp_path_factory):
    for tool in ("containerd", "ctr", "unshare", "nsenter"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: scripts/install-test-deps installs it")
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


@pytest.fixture
def cri(node):
    client = api.RuntimeService(node.socket)
    yield client
    client.close()


def ocirt_state(node, cid):
    """ocirt's own view of a container containerd made through it."""
    r = subprocess.run([OCIRT, "--root", os.path.join(node.runtime_root, "k8s.io"), "state", cid],
                       capture_output=True, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else None


def memory_limit(node, cid):
    """The memory limit of the container's cgroup, read on the host."""
    from ocirt.linux import cgroups
    for h in cgroups.hierarchies():
        if "memory" in h.controllers or h.is_v2:
            directory = os.path.join(h.mountpoint, node.cgroup_parent.lstrip("/"), cid)
            name = "memory.max" if h.is_v2 else "memory.limit_in_bytes"
            if os.path.exists(os.path.join(directory, name)):
                with open(os.path.join(directory, name)) as f:
                    return int(f.read())
    raise AssertionError(f"no memory cgroup for {cid} under {node.cgroup_parent}")


def calls_for(node, cid):
    """The ocirt commands containerd's shim ran for one container, in order."""
    commands = []
    for line in node.calls():
        words = line.split()
        i = 0
        while words[i].startswith("-"):  # global options: --root R --log L --log-format json
            i += 2 if words[i] in ("--root", "--log", "--log-format") else 1
        if cid in words[i + 1:]:
            commands.append(words[i])
    return commands


def test_version_and_images(node, cri):
    version = cri.version()
    assert version["runtime_name"] == "containerd", version
    assert version["runtime_api_version"] == "v1", version
    conditions = cri.status()
    assert conditions["RuntimeReady"][0] and conditions["NetworkReady"][0], conditions
    assert cri.image_id(PAUSE_IMAGE).startswith("sha256:")
    assert cri.image_id("localhost/no-such-image:1") == ""


def test_pod_lifecycle(node, cri):
    pod_uid = uuid.uuid4().hex
    pod = api.pod_config("web", pod_uid, "ocirt-test", hostname="ocirt-pod",
                         log_directory=os.path.join(node.base, "logs", pod_uid),
                         cgroup_parent=node.cgroup_parent)
    pod_id = cri.run_pod_sandbox(pod, HANDLER)
    try:
        status = cri.pod_sandbox_status(pod_id)
        assert status["state"] == api.SANDBOX_READY
        assert status["runtime_handler"] == HANDLER
        assert ipaddress.ip_address(status["ip"]) in ipaddress.ip_network(SUBNET), status
        assert '"status": "running"' in (ocirt_state(node, pod_id) or ""), "the sandbox is an ocirt container"

        command = ["sh", "-c", "echo started; trap 'exit 42' TERM; sleep 1000 & wait"]
        config = api.container_config("app", IMAGE, command, log_path="app.log",
                                      resources=api.linux_resources(memory_limit=128 * MiB))
        cid = cri.create_container(pod_id, config, pod)
        assert cri.container_status(cid)["state"] == api.CONTAINER_CREATED
        cri.start_container(cid)
        assert cri.container_status(cid)["state"] == api.CONTAINER_RUNNING
        assert '"status": "running"' in (ocirt_state(node, cid) or "")

        assert cri.exec_sync(cid, ["sh", "-c", "echo hi; echo oops >&2; exit 3"]) == (3, "hi\n", "oops\n")
        code, out, err = cri.exec_sync(cid, ["sh", "-c", "hostname; ip -4 -o addr show eth0; echo $OCIRT_CRI"])
        assert code == 0, err
        hostname, address, env = out.splitlines()
        assert (hostname, env) == ("ocirt-pod", "1")
        assert f"inet {status['ip']}/" in address, "the container is in the pod's network namespace"
        code, out, _ = cri.exec_sync(cid, ["cat", "/proc/1/cmdline"])
        assert out.startswith("sh\0-c\0echo started"), "a PID namespace of its own, the workload is pid 1"

        assert memory_limit(node, cid) == 128 * MiB
        cri.update_container_resources(cid, api.linux_resources(memory_limit=64 * MiB, cpu_shares=512))
        assert memory_limit(node, cid) == 64 * MiB
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
    finally:
        cri.stop_pod_sandbox(pod_id)
        cri.remove_pod_sandbox(pod_id)
    assert pod_id not in cri.list_pod_sandbox_ids()
    assert calls_for(node, pod_id)[:2] == ["create", "start"] and "delete" in calls_for(node, pod_id)

    # Nothing left: no ocirt state, no cgroup, no mount, no address lease,
    # and the host never saw the pods' bridge.
    assert os.listdir(os.path.join(node.runtime_root, "k8s.io")) == []
    assert node.cgroup_dirs() == []
    assert node.mounts_under_base() == []
    leases = [f for f in os.listdir(os.path.join(node.ipam_dir, node.network)) if f[0].isdigit()]
    assert leases == [], "CNI DEL released the pod's address"
    cni_cache = "/var/lib/cni/results"  # libcni's, on the host's disk
    assert not [f for f in (os.listdir(cni_cache) if os.path.isdir(cni_cache) else []) if node.network in f]
    assert node.in_netns("ip", "link", "show", node.bridge).returncode == 0
    assert subprocess.run(["ip", "link", "show", node.bridge], capture_output=True).returncode != 0
