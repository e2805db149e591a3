"""Device nodes and the standard /dev symlinks inside a container's rootfs.

Runs before the root switch (chmod and chown go through the host's /proc).
Every node is checked after mknod by an fd opened without following links,
so what gets its mode and owner changed is the node that was made.
"""

import errno
import os
import stat

from . import mountapi, syscalls as sc
from .paths import fd_path, mkdirs_in_root

# (name, major, minor): what runc and crun create in every container.
DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                   ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
DEFAULT_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))
_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
_BENEATH = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS


class DeviceError(Exception):
    """One line naming the device entry and what is wrong with it."""


def _describe(kind, major, minor):
    return "a fifo" if kind == "p" else f"the device {kind} {major}:{minor}"


def _matches(st, fmt, rdev):
    return stat.S_IFMT(st.st_mode) == fmt and (fmt == stat.S_IFIFO or st.st_rdev == rdev)


def _bind_host_node(dir_fd, name, host_path, fmt, rdev):
    """Where mknod is not allowed (a user namespace): bind the host's node,
    after checking it is the device asked for."""
    tree = mountapi.clone_path(host_path, recursive=False)
    try:
        if not _matches(os.fstat(tree), fmt, rdev):
            raise OSError(errno.ENODEV, f"mknod not permitted, and the host's {host_path} is not that device")
        fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0, dir_fd=dir_fd)
        os.close(fd)
        dst = sc.openat2(dir_fd, name, os.O_PATH, _BENEATH)
        try:
            mountapi.attach(tree, dst)
        finally:
            os.close(dst)
    finally:
        os.close(tree)


def make_node(dir_fd, name, kind, major, minor, mode=None, uid=None, gid=None, host_path=None):
    """The node name in dir_fd. An existing node of the same kind and number
    is kept (and gets the mode and owner if they are given); anything else
    there is an error: it is not ours to replace. mode/uid/gid None: 0666,
    root, for a new node."""
    fmt = _KINDS[kind]
    rdev = os.makedev(major, minor) if fmt != stat.S_IFIFO else 0
    created = True
    try:
        os.mknod(name, fmt | 0o600, rdev, dir_fd=dir_fd)
    except FileExistsError:
        created = False
    except PermissionError:
        if host_path is None:
            raise
        _bind_host_node(dir_fd, name, host_path, fmt, rdev)
        return
    wrong = FileExistsError(errno.EEXIST, f"exists and is not {_describe(kind, major, minor)}")
    try:
        fd = sc.openat2(dir_fd, name, os.O_PATH, _BENEATH)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink: never followed, never ours
            raise wrong from None
        raise
    try:
        if not _matches(os.fstat(fd), fmt, rdev):
            raise wrong
        if created:
            mode = 0o666 if mode is None else mode
            uid = 0 if uid is None else uid
            gid = 0 if gid is None else gid
        # Through the fd: the node just checked, even if the name was swapped.
        if mode is not None:
            os.chmod(fd_path(fd), mode & 0o7777)
        if uid is not None or gid is not None:
            os.chown(fd_path(fd), -1 if uid is None else uid, -1 if gid is None else gid)
    finally:
        os.close(fd)


def _make(root_fd, path, kind, major, minor, mode, uid, gid):
    parent, name = os.path.split(os.path.normpath(path))
    dfd = mkdirs_in_root(root_fd, parent)
    try:
        make_node(dfd, name, kind, major, minor, mode, uid, gid, host_path=path)
    finally:
        os.close(dfd)


def create_devices(root_fd, devices):
    """The default devices, the /dev symlinks, then linux.devices."""
    for name, major, minor in DEFAULT_DEVICES:
        try:
            _make(root_fd, f"/dev/{name}", "c", major, minor, None, None, None)
        except OSError as e:
            raise DeviceError(f"default device /dev/{name}: {e.strerror or e}") from None
    for i, d in enumerate(devices):
        path = os.path.normpath(d["path"])
        if path == "/dev/ptmx":
            continue  # always the link to the container's own devpts, below
        try:
            _make(root_fd, path, d["type"], d.get("major", 0), d.get("minor", 0),
                  d.get("fileMode"), d.get("uid"), d.get("gid"))
        except OSError as e:
            raise DeviceError(f"linux.devices[{i}] ({path}): {e.strerror or e}") from None
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
        # /dev/ptmx must be the container's devpts instance, whatever was there.
        try:
            os.unlink("ptmx", dir_fd=dfd)
        except FileNotFoundError:
            pass
        os.symlink("pts/ptmx", "ptmx", dir_fd=dfd)
    finally:
        os.close(dfd)
