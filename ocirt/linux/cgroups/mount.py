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
        if h.own_path != "/":  # not a namespace root: we are in the host's view
            _bind_at(root_fd, sub, h.mountpoint + h.own_path, flags)
        elif h.is_v2:
            _mount_at(root_fd, sub, "cgroup2", "cgroup2", flags)
        else:
            _mount_at(root_fd, sub, "cgroup", "cgroup", flags, h.mount_options)
    if flags & sc.MS_RDONLY:
        _remount(root_fd, dest, flags)
