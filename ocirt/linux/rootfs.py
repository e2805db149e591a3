"""Building the container's filesystem view inside its new mount namespace:
propagation, the rootfs bind, mounts[], devices, pivot_root (or chroot),
masked and read-only paths, and the read-only root."""

import errno
import os
import stat

from . import syscalls as sc
from .devices import create_devices
from .mounts import PROPAGATION_OPTIONS, locked_flags, mount_one, remount_bind
from .paths import fd_path, open_in_root


def prepare(rootfs, mounts, bundle, devices, propagation=None):
    """Everything before the root switch. Runs in the container's mount
    namespace, still seeing the host's filesystem."""
    # Our mounts must not leak to the host: / becomes at most a slave of it
    # until the root switch (pivot_root refuses shared parents).
    flags = PROPAGATION_OPTIONS.get(propagation or "rslave")
    if flags & sc.MS_SHARED:
        flags = sc.MS_SLAVE | sc.MS_REC
    sc.mount(None, "/", None, flags | sc.MS_REC)
    # pivot_root needs the new root to be a mount point.
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, mount in enumerate(mounts):
            try:
                mount_one(root_fd, mount, bundle)
            except (OSError, ValueError) as e:
                raise MountError(i, mount, e) from None
        create_devices(root_fd, devices)
    finally:
        os.close(root_fd)


def set_root_propagation(propagation):
    """linux.rootfsPropagation on the new root, after the switch."""
    if propagation:
        sc.mount(None, "/", None, PROPAGATION_OPTIONS[propagation])


class MountError(Exception):
    def __init__(self, index, mount, cause):
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        super().__init__(f"mounts[{index}] ({mount.get('type', 'bind')} on {mount['destination']}): {reason}")


def switch_root(rootfs, no_pivot=False):
    os.chdir(rootfs)
    if no_pivot:
        sc.mount(rootfs, "/", None, sc.MS_MOVE)
        os.chroot(".")
    else:
        # pivot_root(".", ".") stacks the old root under the new one; detach it.
        sc.pivot_root(".", ".")
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def _is_devnull(fd):
    st = os.fstat(fd)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def mask_paths(paths):
    """Hide each path: directories under a read-only tmpfs, anything else under
    /dev/null, which is checked to be the real 1:3 device (CVE-2025-31133)."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    null_fd = None
    try:
        for path in paths:
            try:
                fd = open_in_root(root_fd, path)
            except FileNotFoundError:
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    sc.mount("tmpfs", fd_path(fd), "tmpfs", sc.MS_RDONLY, None)
                else:
                    if null_fd is None:
                        null_fd = open_in_root(root_fd, "/dev/null")
                        if not _is_devnull(null_fd):
                            raise OSError(errno.EPERM, "/dev/null is not the null device, refusing to mask with it")
                    sc.mount(fd_path(null_fd), fd_path(fd), None, sc.MS_BIND)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
        if null_fd is not None:
            os.close(null_fd)


def readonly_paths(paths):
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path in paths:
            try:
                fd = open_in_root(root_fd, path)
            except FileNotFoundError:
                continue
            try:
                sc.mount(fd_path(fd), fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
            finally:
                os.close(fd)
            fd = open_in_root(root_fd, path)
            try:
                remount_bind(fd_path(fd), sc.MS_RDONLY | sc.MS_REC)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def readonly_root():
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | locked_flags("/"))
