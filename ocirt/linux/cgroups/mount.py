"""The `/sys/fs/cgroup` mount of type "cgroup" inside a container: cgroup2 on a
unified host; on v1 and hybrid hosts a tmpfs holding one mount per hierarchy,
as runc lays it out. Inside a cgroup namespace each shows the container's own
cgroup as its root; without one (containerd's CRI on v1 hosts) a fresh v1
mount would show the host's whole tree, so, as runc, the container's own
cgroup directory is bound there instead."""

import os

from .. import syscalls as sc
from ..paths import create_in_root, fd_path, open_in_root
from . import hierarchies

_FLAG_MASK = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RELATIME


def _mount_at(root_fd, path, source, fstype, flags, data=None):
    fd = create_in_root(root_fd, path, want_dir=True)
    try:
        sc.mount(source, fd_path(fd), fstype, flags, data)
    finally:
        os.close(fd)


def _remount_bind(root_fd, path, flags):
    fd = open_in_root(root_fd, path)
    try:
        sc.mount(None, fd_path(fd), None, sc.MS_REMOUNT | sc.MS_BIND | flags)
    finally:
        os.close(fd)


def _own_directory(hierarchy):
    """Our cgroup's directory under the host's mount of the hierarchy, or None
    when we are at its root (as inside a cgroup namespace)."""
    if hierarchy.own_path == "/":
        return None
    mount_root = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == hierarchy.mountpoint:
                mount_root = fields[3]  # the mount may show a subtree only; the last is on top
    relative = os.path.relpath(hierarchy.own_path, mount_root)
    if relative == ".." or relative.startswith("../"):
        return None
    return os.path.join(hierarchy.mountpoint, relative)


def mount_cgroup_fs(root_fd, dest, flags):
    flags &= _FLAG_MASK
    found = hierarchies()
    if len(found) == 1 and found[0].is_v2:
        _mount_at(root_fd, dest, "cgroup2", "cgroup2", flags)
        return
    base = flags & ~sc.MS_RDONLY
    _mount_at(root_fd, dest, "tmpfs", "tmpfs", base, "mode=755")
    for h in found:
        sub = f"{dest.rstrip('/')}/{os.path.basename(h.mountpoint)}"
        own = _own_directory(h)
        if own:
            _mount_at(root_fd, sub, own, None, sc.MS_BIND)
            _remount_bind(root_fd, sub, flags)
        elif h.is_v2:
            _mount_at(root_fd, sub, "cgroup2", "cgroup2", flags)
        else:
            _mount_at(root_fd, sub, "cgroup", "cgroup", flags, h.mount_options)
    if flags & sc.MS_RDONLY:
        _remount_bind(root_fd, dest, flags)
