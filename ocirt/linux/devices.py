"""Device nodes and the standard /dev symlinks inside a container's rootfs."""

import os
import stat

from .paths import mkdirs_in_root

# (name, major, minor): what runc and crun create in every container.
DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                   ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
DEFAULT_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                 ("ptmx", "pts/ptmx"))
_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def make_node(dir_fd, name, kind, major, minor, mode, uid, gid):
    """mknod name in dir_fd; an existing node of the same kind and number is
    kept, anything else there is an error (it is not ours to replace)."""
    fmt = _KINDS[kind]
    rdev = os.makedev(major, minor) if fmt != stat.S_IFIFO else 0
    try:
        os.mknod(name, fmt | mode, rdev, dir_fd=dir_fd)
    except FileExistsError:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_IFMT(st.st_mode) != fmt or st.st_rdev != rdev:
            raise FileExistsError(17, f"/dev/{name} exists and is not the device {kind} {major}:{minor}") from None
        return
    os.chmod(name, mode, dir_fd=dir_fd, follow_symlinks=False)
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


def create_devices(root_fd, devices):
    """The default devices, the /dev symlinks, then linux.devices."""
    for path_or_name, *rest in [(f"/dev/{n}", "c", ma, mi, 0o666, 0, 0) for n, ma, mi in DEFAULT_DEVICES] + [
            (d["path"], d["type"], d.get("major", 0), d.get("minor", 0),
             d.get("fileMode", 0o666), d.get("uid", 0), d.get("gid", 0)) for d in devices]:
        parent, name = os.path.split(path_or_name)
        dfd = mkdirs_in_root(root_fd, parent)
        try:
            make_node(dfd, name, *rest)
        finally:
            os.close(dfd)
    dfd = mkdirs_in_root(root_fd, "/dev")
    try:
        links = list(DEFAULT_LINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("core", "/proc/kcore"))
        for name, target in links:
            try:
                os.symlink(target, name, dir_fd=dfd)
            except FileExistsError:
                pass
    finally:
        os.close(dfd)
