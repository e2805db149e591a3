"""Resolving paths inside a container's rootfs without ever leaving it.

Every path the bundle or the image controls is resolved by openat2 with
RESOLVE_IN_ROOT (symlinks, including absolute ones and "..", are confined to
the rootfs) and RESOLVE_NO_MAGICLINKS, into an O_PATH fd. Mounts then target
/proc/self/fd/N: the exact object that was checked, so a symlink swapped in
between the check and the mount cannot redirect it (CVE-2021-30465).
"""

import errno
import os
import stat

from . import syscalls as sc

_IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
O_PATH = os.O_PATH


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


def open_in_root(root_fd, path, flags=O_PATH):
    return sc.openat2(root_fd, path.lstrip("/") or ".", flags, _IN_ROOT)


def mkdirs_in_root(root_fd, path, mode=0o755):
    """mkdir -p of path inside the root; returns an O_PATH fd of the directory.
    Each created component is reopened with RESOLVE_NO_SYMLINKS relative to its
    parent, so a component raced into a symlink is refused (CVE-2024-45310)."""
    parts = [p for p in path.split("/") if p and p != "."]
    fd = os.dup(root_fd)
    try:
        done = []
        for part in parts:
            done.append(part)
            try:
                nfd = sc.openat2(root_fd, "/".join(done), O_PATH | os.O_DIRECTORY, _IN_ROOT)
            except FileNotFoundError:
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = sc.openat2(fd, part, O_PATH | os.O_DIRECTORY,
                                 sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def create_in_root(root_fd, path, want_dir, mode=0o755):
    """Open the mount target `path` inside the root, creating it as a directory
    or an empty file when missing. Returns an O_PATH fd."""
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    if want_dir:
        return mkdirs_in_root(root_fd, path, mode)
    parent, name = os.path.split(path.rstrip("/"))
    pfd = mkdirs_in_root(root_fd, parent, mode)
    try:
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o644, dir_fd=pfd))
        except FileExistsError:
            pass
        return sc.openat2(pfd, name, O_PATH, sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)
    finally:
        os.close(pfd)


def open_plain_dir_in_root(root_fd, path):
    """Like create_in_root for a directory, but the last component must not be
    a symlink (procfs and sysfs are never mounted through one: CVE-2019-19921)."""
    parent, name = os.path.split(path.rstrip("/"))
    pfd = mkdirs_in_root(root_fd, parent)
    try:
        try:
            os.mkdir(name, 0o755, dir_fd=pfd)
        except FileExistsError:
            pass
        try:
            fd = sc.openat2(pfd, name, O_PATH | os.O_NOFOLLOW, sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise OSError(e.errno, f"{path} is a symlink, refusing to mount there") from None
            raise
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.ENOTDIR, f"{path} is not a directory, refusing to mount there")
        return fd
    finally:
        os.close(pfd)
