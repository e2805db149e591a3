"""`benchmarks/run --vm`: the same benchmark in vm-run's throwaway cgroup v2
VM, where crun runs. The guest shares the work tree at the same path; its
state dirs, sockets and bundles go on the guest's /run tmpfs (the shared
tree is 9p, which refuses unix sockets and fifos)."""

import os
import shutil
import signal
import subprocess

GUEST_WORK = "/run/ocirt-benchmarks"
GUEST_TIMEOUT = 3 * 3600   # seconds; vm-run's own default (600) is too short under TCG
GUEST_MEMORY = 4096        # MiB; `list` keeps 50 created containers per runtime at once


def find_vm_run(repo):
    """$OCIRT_VM_RUN, else shared/vm/vm-run beside the checkout or any of its
    parents (../shared/vm/vm-run for the main checkout), else on PATH."""
    if os.environ.get("OCIRT_VM_RUN"):
        return os.environ["OCIRT_VM_RUN"]
    d = os.path.dirname(repo)
    while True:
        candidate = os.path.join(d, "shared", "vm", "vm-run")
        if os.access(candidate, os.X_OK):
            return candidate
        if d == os.path.dirname(d):
            return shutil.which("vm-run")
        d = os.path.dirname(d)


def run_in_vm(repo, script, args):
    """Run `script --guest ARGS` in the VM; returns its exit status."""
    vm_run = find_vm_run(repo)
    if vm_run is None:
        raise FileNotFoundError("vm-run not found (set OCIRT_VM_RUN)")
    env = dict(os.environ)
    env.setdefault("VM_TIMEOUT", str(GUEST_TIMEOUT))
    env.setdefault("VM_MEM", str(GUEST_MEMORY))
    argv = [vm_run, "--", "/usr/bin/python3", script, "--guest", *args]
    proc = subprocess.Popen(argv, cwd=repo, env=env)
    # vm-run stops qemu itself on SIGINT or SIGTERM: pass ours on, and wait.
    forward = lambda signum, frame: proc.send_signal(signum)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return proc.wait()
