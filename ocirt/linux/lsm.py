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
        # Kernels before the per-LSM attr directories have only attr/exec.
        _write_attr(proc, (f"{pid}/attr/apparmor/exec", f"{pid}/attr/exec"), f"exec {profile}",
                    "process.apparmorProfile", profile, "is the profile loaded?")
    label = process.get("selinuxLabel")
    if label:
        _write_attr(proc, (f"{pid}/attr/exec",), label, "process.selinuxLabel", label, "is it a valid context?")


def _write_attr(proc, paths, text, field, value, hint):
    """Write text to the first of paths that exists; the kernel refusing it
    (an unknown profile: ENOENT) is an error that names the field."""
    for path in paths:
        try:
            fd = proc.open(path, os.O_WRONLY)
        except FileNotFoundError:
            continue
        try:
            os.write(fd, text.encode())
        except OSError as e:
            raise OSError(e.errno, f"{field} {value!r}: the kernel refused it ({e.strerror}); {hint}") from None
        finally:
            os.close(fd)
        return
    raise OSError(2, f"{field}: this kernel has no {paths[-1].split('/', 1)[1]} to set it")


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
