"""Building the container's filesystem view inside its new mount namespace:
propagation, the rootfs bind, mounts[], devices, sysctl, pivot_root (or
chroot), masked and read-only paths, and the read-only root.

    session = Session()
    prepare(session, ...)            before the switch: sees the host
    apply_sysctl(session, ...)
    switch_root(...); set_root_propagation(...)
    mask_paths(...); readonly_paths(...)
    session.finish(readonly_root)    read-only last; closes every fd we hold

After the switch nothing goes through a path of the container's /proc: the
objects are handled by fd (mountapi), and the runtime's own procfs serves
the writes (procfs.PrivateProc).
"""

import errno
import os
import stat

from . import mountapi, sysctl as sysctls, syscalls as sc
from .devices import DeviceError, create_devices
from .idmap import UsernsCache
from .mountopts import PROPAGATION_OPTIONS
from .mounts import MountContext, is_dev_bind, mount_one
from .paths import open_in_root
from .procfs import PrivateProc


class RootfsError(Exception):
    """One line naming the config field that failed and why."""


class MountError(RootfsError):
    def __init__(self, index, mount, cause):
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        kind = mount.get("type") or "bind"
        super().__init__(f"mounts[{index}] ({kind} on {mount['destination']}): {reason}")


def _reason(e):
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


class Session:
    """The fds the rootfs set-up holds from prepare() to finish(): the
    runtime's procfs, id-mapping user namespaces, mounts made read-only
    last. close() drops them all, so none can reach the container."""

    def __init__(self):
        self._proc = None
        self._userns = None
        self.mounts = None

    @property
    def proc(self):
        if self._proc is None:
            self._proc = PrivateProc()
        return self._proc

    @property
    def userns(self):
        if self._userns is None:
            self._userns = UsernsCache(lambda: self.proc)
        return self._userns

    def finish(self, readonly_root=False):
        """Deferred read-only mounts, then root.readonly; then close all."""
        try:
            if self.mounts is not None:
                try:
                    self.mounts.finish()
                except OSError as e:
                    raise RootfsError(f"mounts: making a read-only tmpfs read-only: {_reason(e)}") from None
            if readonly_root:
                fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    # Only the root mount, keeping its other flags (runc's root.readonly).
                    sc.mount_setattr(fd, attr_set=sc.MOUNT_ATTR_RDONLY)
                except OSError as e:
                    raise RootfsError(f"root.readonly: {_reason(e)}") from None
                finally:
                    os.close(fd)
        finally:
            self.close()

    def close(self):
        if self.mounts is not None:
            self.mounts.close()
        if self._userns is not None:
            self._userns.close()
        if self._proc is not None:
            self._proc.close()


def _isolate(rootfs, propagation):
    """Before anything is mounted: our mounts must never reach the host, and
    pivot_root refuses shared mounts. / becomes a recursive slave (private if
    asked); the mount holding the rootfs becomes private, or a slave when the
    container is to receive the host's mounts (runc's semantics). Shared and
    unbindable are applied to the new root only after the switch."""
    private = propagation in ("private", "rprivate")
    sc.mount(None, "/", None, (sc.MS_PRIVATE if private else sc.MS_SLAVE) | sc.MS_REC)
    parent_flag = sc.MS_SLAVE if propagation in ("slave", "rslave") else sc.MS_PRIVATE
    path = os.path.realpath(rootfs)
    while True:
        try:
            sc.mount(None, path, None, parent_flag)
            return
        except OSError as e:
            # EINVAL: not a mount point; the mount holding it is further up.
            if e.errno != errno.EINVAL or path == "/":
                raise RootfsError(f"linux.rootfsPropagation: making the rootfs's parent mount "
                                  f"{'slave' if parent_flag == sc.MS_SLAVE else 'private'}: {_reason(e)}") from None
            path = os.path.dirname(path)


def prepare(session, rootfs, mounts, bundle, devices, propagation=None):
    """Everything before the root switch. Runs in the container's mount
    namespace, still seeing the host's filesystem."""
    _isolate(rootfs, propagation)
    # pivot_root needs the new root to be a mount point.
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        session.mounts = MountContext(root_fd, bundle, session.userns)
        for i, mount in enumerate(mounts):
            try:
                mount_one(session.mounts, mount)
            except (OSError, ValueError) as e:
                raise MountError(i, mount, e) from None
        if not any(is_dev_bind(m) for m in mounts):
            try:
                create_devices(root_fd, devices)
            except OSError as e:
                raise DeviceError(f"linux.devices: {_reason(e)}") from None
    finally:
        if session.mounts is not None:
            session.mounts.root_fd = None
        os.close(root_fd)


def check_sysctl(sysctl, namespaces):
    """runc's rules for linux.sysctl; before the switch (reads the host's /proc)."""
    sysctls.check(sysctl, namespaces, sysctls.shares_runtime_netns)


def apply_sysctl(session, sysctl):
    if sysctl:
        sysctls.apply(session.proc, sysctl)


def set_root_propagation(propagation):
    """linux.rootfsPropagation on the new root, after the switch (so that a
    shared root is a new peer group, not the host's)."""
    if propagation:
        try:
            sc.mount(None, "/", None, PROPAGATION_OPTIONS[propagation])
        except OSError as e:
            raise RootfsError(f"linux.rootfsPropagation: {_reason(e)}") from None


def _unescape(field):
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for raw, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(raw, char)
    return field


def _full_host_mounts(fstypes, inside):
    """Mount points of whole (root "/") mounts of these types outside `inside`."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mountpoint = _unescape(fields[4])
            if fields[3] == "/" and fields[sep + 1] in fstypes and \
                    not (mountpoint + "/").startswith(inside.rstrip("/") + "/"):
                found.append(mountpoint)
    return found


def switch_root(rootfs, no_pivot=False):
    os.chdir(rootfs)
    if no_pivot:
        # chroot leaves the host's mounts in our namespace. The kernel lets a
        # new procfs or sysfs be mounted where a full one is visible, so take
        # the host's out of reach first (as runc does for --no-pivot).
        for mountpoint in sorted(_full_host_mounts(("proc", "sysfs"), os.path.realpath(rootfs)), reverse=True):
            try:
                sc.mount(None, mountpoint, None, sc.MS_SLAVE | sc.MS_REC)
                sc.umount2(mountpoint, sc.MNT_DETACH)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.EINVAL):
                    raise
        sc.mount(rootfs, "/", None, sc.MS_MOVE)
        os.chroot(".")
    else:
        old_root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # pivot_root(".", ".") stacks the old root on top of the new one.
            sc.pivot_root(".", ".")
            # Through an fd of the old root, so that the recursive slave (our
            # unmount must not reach the host) applies to its tree only, not
            # to the container's mounts (whose propagation is set already).
            os.fchdir(old_root)
        finally:
            os.close(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def _is_devnull(fd):
    st = os.fstat(fd)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def _open_root(root):
    return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def mask_paths(paths, root="/"):
    """Hide each path: directories under a read-only empty tmpfs, anything
    else under the container's /dev/null, checked to be the 1:3 device and
    bound from that very fd (CVE-2025-31133)."""
    root_fd = _open_root(root)
    null_fd = empty_fd = None
    try:
        for i, path in enumerate(paths):
            try:
                fd = open_in_root(root_fd, path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                raise RootfsError(f"linux.maskedPaths[{i}] ({path}): {_reason(e)}") from None
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    if empty_fd is None:
                        empty_fd = mountapi.new_filesystem(
                            "tmpfs", "tmpfs", ["ro"], ["nr_blocks=1", "nr_inodes=1", "mode=0555"],
                            sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV
                            | sc.MOUNT_ATTR_NOEXEC)
                        mountapi.attach(empty_fd, fd)
                    else:  # one tmpfs for all: later ones are binds of the first
                        tree = mountapi.clone_fd(empty_fd)
                        try:
                            mountapi.attach(tree, fd)
                        finally:
                            os.close(tree)
                else:
                    if null_fd is None:
                        null_fd = open_in_root(root_fd, "/dev/null")
                        if not _is_devnull(null_fd):
                            raise OSError(errno.EPERM, "/dev/null is not the null device (1:3), refusing to mask with it")
                    tree = mountapi.clone_fd(null_fd)
                    try:
                        mountapi.attach(tree, fd)
                    finally:
                        os.close(tree)
            except OSError as e:
                raise RootfsError(f"linux.maskedPaths[{i}] ({path}): {_reason(e)}") from None
            finally:
                os.close(fd)
    finally:
        for fd in (root_fd, null_fd, empty_fd):
            if fd is not None:
                os.close(fd)


def readonly_paths(paths, root="/"):
    """Each path becomes a read-only bind of itself, submounts included."""
    root_fd = _open_root(root)
    try:
        for i, path in enumerate(paths):
            try:
                fd = open_in_root(root_fd, path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                raise RootfsError(f"linux.readonlyPaths[{i}] ({path}): {_reason(e)}") from None
            try:
                tree = mountapi.clone_fd(fd, recursive=True)
                try:
                    sc.mount_setattr(tree, attr_set=sc.MOUNT_ATTR_RDONLY, recursive=True)
                    mountapi.attach(tree, fd)
                finally:
                    os.close(tree)
            except OSError as e:
                raise RootfsError(f"linux.readonlyPaths[{i}] ({path}): {_reason(e)}") from None
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
