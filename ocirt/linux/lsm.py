"""AppArmor and SELinux: the label a process gets at its next execve.

Written through the runtime's own procfs (linux/procfs.py). A profile or a
label asked for on a host without that LSM is an error, not silently dropped:
the container would otherwise run unconfined."""

import os


def apparmor_enabled():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled():
    return os.path.exists("/sys/fs/selinux/enforce")


def check(process):
    """Before the root switch: the host must have what the process asks for."""
    if process.get("apparmorProfile") and not apparmor_enabled():
        raise ValueError("process.apparmorProfile: AppArmor is not enabled on this host")
    if process.get("selinuxLabel") and not selinux_enabled():
        raise ValueError("process.selinuxLabel: SELinux is not enabled on this host")


def set_exec_labels(proc, process):
    """proc: a linux.procfs.PrivateProc of the process's pid namespace."""
    pid = os.getpid()
    profile = process.get("apparmorProfile")
    if profile:
        try:
            proc.write(f"{pid}/attr/apparmor/exec", f"exec {profile}".encode())
        except FileNotFoundError:  # kernels before the per-LSM attr directories
            proc.write(f"{pid}/attr/exec", f"exec {profile}".encode())
    label = process.get("selinuxLabel")
    if label:
        proc.write(f"{pid}/attr/exec", label.encode())


def label_mounts(mounts, mount_label):
    """linux.mountLabel: where SELinux is on, every new filesystem is mounted
    with context="<label>" (bind mounts keep their source's labels). Where it
    is off there is nothing to label, and the field is ignored, as by runc."""
    if not mount_label or not selinux_enabled():
        return mounts
    labelled = []
    for mount in mounts:
        options = mount.get("options", [])
        if mount.get("type") != "bind" and "bind" not in options and "rbind" not in options:
            mount = dict(mount, options=options + [f'context="{mount_label}"'])
        labelled.append(mount)
    return labelled
