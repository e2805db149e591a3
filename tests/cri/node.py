"""A throwaway Kubernetes node's runtime side: containerd with its CRI plugin,
its own root, state and socket, a runtime handler "ocirt" whose BinaryName
is ocirt (what a RuntimeClass selects), and CNI bridge networking.

containerd runs in a network and a mount namespace of its own (unshare), so
the CNI bridge, the pods' veths and every mount containerd and its shims make
(rootfs overlays, /dev/shm of pods, pod network namespaces) exist only there
and vanish with its processes: the host's network and mount table are never
touched. stop() kills what was started, by pid, and removes the cgroups."""

import json
import os
import shutil
import signal
import subprocess
import time
import uuid

from ocirt.linux import cgroups

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
HANDLER = "ocirt"
SUBNET = "10.217.33.0/24"  # only ever inside containerd's own netns


class Node:
    def __init__(self, base, ocirt):
        self.base = base
        suffix = uuid.uuid4().hex[:8]
        self.socket = os.path.join(base, "containerd.sock")
        self.cgroup_parent = f"/ocirt-cri-{suffix}"
        self.network = f"ocirt-cri-{suffix}"
        self.bridge = f"ocirt{suffix}"  # at most 15 characters, as interface names are
        self.runtime_root = os.path.join(base, "ocirt-root")  # ocirt's --root is this/k8s.io
        self.calls_log = os.path.join(base, "ocirt-calls")
        self.ipam_dir = os.path.join(base, "ipam")
        self.log_path = os.path.join(base, "containerd.log")
        self._write_wrapper(ocirt)
        self._write_cni()
        self._write_config()
        self.daemon = None

    # -- configuration ---------------------------------------------------------

    def _write_wrapper(self, ocirt):
        """BinaryName: logs each invocation, then is ocirt."""
        self.wrapper = os.path.join(self.base, "ocirt-logged")
        with open(self.wrapper, "w") as f:
            f.write(f'#!/bin/sh\necho "$*" >> {self.calls_log}\nexec {ocirt} "$@"\n')
        os.chmod(self.wrapper, 0o755)

    def _write_cni(self):
        self.cni_conf_dir = os.path.join(self.base, "cni")
        os.makedirs(self.cni_conf_dir)
        conflist = {
            "cniVersion": "1.0.0", "name": self.network,
            "plugins": [{
                "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": self.ipam_dir},
            }],
        }
        with open(os.path.join(self.cni_conf_dir, "10-ocirt.conflist"), "w") as f:
            json.dump(conflist, f)

    def _write_config(self, sandbox_image="localhost/ocirt-pause:1"):
        self.sandbox_image = sandbox_image
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        self.config = os.path.join(self.base, "config.toml")
        with open(self.config, "w") as f:
            f.write(f'''version = 2
root = "{self.base}/root"
state = "{self.base}/state"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.base}/opt"
[{cri}]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  # Root here may lack CAP_SYS_RESOURCE, which lowering oom_score_adj needs
  # (the pause's -998): clamp to containerd's own, as on such hosts.
  restrict_oom_score_adj = true
[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{self.cni_conf_dir}"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.{HANDLER}]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.{HANDLER}.options]
  BinaryName = "{self.wrapper}"
  Root = "{self.runtime_root}"
  SystemdCgroup = false
''')

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout=60):
        # lo up: the CRI stream server listens on 127.0.0.1 of this netns.
        with open(self.log_path, "w") as log:
            self.daemon = subprocess.Popen(
                ["unshare", "--net", "--mount", "--propagation", "private", "--",
                 "sh", "-c", 'ip link set lo up && exec containerd --config "$0"', self.config],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"containerd did not start: {self.log()}")
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def ctr(self, *args, timeout=60):
        return subprocess.run(["ctr", "-a", self.socket, "-n", "k8s.io"] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def cri_plugin_status(self):
        """The CRI plugin's status in `ctr plugins ls` ('ok', 'error', ...), or
        None when this containerd has no CRI plugin."""
        r = self.ctr("plugins", "ls")
        assert r.returncode == 0, r.stderr
        for line in r.stdout.splitlines():
            fields = line.split()
            if fields[:2] == ["io.containerd.grpc.v1", "cri"]:
                return fields[-1]
        return None

    def import_image(self, archive):
        r = self.ctr("images", "import", archive, timeout=120)
        assert r.returncode == 0, r.stderr

    def in_netns(self, *cmd):
        """Run cmd in containerd's network namespace."""
        return subprocess.run(["nsenter", "--target", str(self.daemon.pid), "--net", "--"] + list(cmd),
                              capture_output=True, text=True, timeout=30)

    def mounts_under_base(self):
        """Mount points under this node's directory, as containerd sees them."""
        with open(f"/proc/{self.daemon.pid}/mountinfo") as f:
            return [line.split()[4] for line in f if line.split()[4].startswith(self.base + "/")]

    def calls(self):
        try:
            with open(self.calls_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def cgroup_dirs(self):
        """The cgroup directories under the pods' cgroup parent, every hierarchy."""
        found = []
        for h in cgroups.hierarchies():
            top = os.path.join(h.mountpoint, self.cgroup_parent.lstrip("/"))
            for base, dirs, _ in os.walk(top):
                found += [os.path.join(base, d) for d in dirs]
        return found

    def stop(self):
        """Kill containerd, its shims and anything left in the pods' cgroups
        (all started by this node, found by pid), then remove the cgroups."""
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        for pid in self._shim_pids() + self._cgroup_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        hierarchies = [os.path.join(h.mountpoint, self.cgroup_parent.lstrip("/")) for h in cgroups.hierarchies()]
        deadline = time.monotonic() + 10
        for top in hierarchies:
            for base, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):  # leaves first
                while os.path.isdir(base):
                    try:
                        os.rmdir(base)
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)  # killed processes take a moment to leave
        shutil.rmtree(os.path.join(self.base, "root"), ignore_errors=True)

    def _shim_pids(self):
        """containerd-shim-runc-v2 processes serving this node's containerd."""
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if argv[0].endswith(b"containerd-shim-runc-v2") and self.socket.encode() in argv:
                    pids.append(int(name))
        return pids

    def _cgroup_pids(self):
        pids = set()
        for h in cgroups.hierarchies():
            top = os.path.join(h.mountpoint, self.cgroup_parent.lstrip("/"))
            for base, _, files in os.walk(top):
                if "cgroup.procs" in files:
                    with open(os.path.join(base, "cgroup.procs")) as f:
                        pids.update(int(p) for p in f.read().split())
        return sorted(pids)
