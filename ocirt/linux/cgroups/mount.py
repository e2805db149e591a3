"""The `/sys/fs/cgroup` mount of type "cgroup" inside a container: cgroup2 on a
unified host; on v1 and hybrid hosts a tmpfs holding one mount per hierarchy,
as runc lays it out. Each shows the container's own cgroup as its root: inside
a cgroup namespace a new mount does; outside one (podman on v1) a new mount
would show the host's whole tree, so the container's directory is bound in."""

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


def _remount(root_fd, path, flags):
    fd = open_in_root(root_fd, path)  # opened anew: the mount now on top
    try:
        sc.mount(None, fd_path(fd), None, sc.MS_REMOUNT | sc.MS_BIND | flags)
    finally:
        os.close(fd)


def _bind_at(root_fd, path, source, flags):
    _mount_at(root_fd, path, source, None, sc.MS_BIND)
    _remount(root_fd, path, flags)  # a bind takes its flags only on remount


def _mount_roots():
    """{mountpoint: the mount's root as our cgroup namespace sees it}."""
    roots = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            roots[fields[4]] = fields[3]
    return roots


def mount_cgroup_fs(root_fd, dest, flags):
    flags &= _FLAG_MASK
    found = hierarchies()
    if len(found) == 1 and found[0].is_v2:
        _mount_at(root_fd, dest, "cgroup2", "cgroup2", flags)
        return
    base = flags & ~sc.MS_RDONLY
    _mount_at(root_fd, dest, "tmpfs", "tmpfs", base, "mode=755")
    roots = _mount_roots()
    for h in found:
        sub = f"{dest.rstrip('/')}/{os.path.basename(h.mountpoint)}"
        # The host's mount has "/" as its root when that is our cgroup
        # namespace's root too: own_path is then below its mountpoint. In a
        # new or joined namespace a new mount shows that one's root (as runc).
        if roots.get(h.mountpoint) == "/" and h.own_path != "/":
            _bind_at(root_fd, sub, h.mountpoint + h.own_path, flags)
        elif h.is_v2:
            _mount_at(root_fd, sub, "cgroup2", "cgroup2", flags)
        else:
            _mount_at(root_fd, sub, "cgroup", "cgroup", flags, h.mount_options)
    if flags & sc.MS_RDONLY:
        _remount(root_fd, dest, flags)
