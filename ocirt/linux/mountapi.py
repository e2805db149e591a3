"""Mounts built behind file descriptors (the new mount API, Linux 5.12+).

A mount is made detached: a new filesystem with fsopen/fsconfig/fsmount, or a
copy of an existing tree with open_tree(OPEN_TREE_CLONE). Its attributes are
set with mount_setattr while nothing can see it, and move_mount attaches it
onto an O_PATH fd of the destination that was checked before. Afterwards the
same fd still names the attached mount, so propagation is changed on it
without looking the destination up again: there is no window in which a
swapped path could redirect any step.
"""

import errno
import os

from . import syscalls as sc

AT_FDCWD = -100


def _fs_log(fs_fd):
    """The error messages the filesystem left in its fs context."""
    messages = []
    while True:
        try:
            raw = os.read(fs_fd, 4096)
        except OSError:
            break
        if not raw:
            break
        text = raw.decode(errors="replace").strip()
        if text[:2] in ("e ", "w "):
            messages.append(text[2:])
    return "; ".join(messages)


def new_filesystem(fstype, source, sb_flags=(), data=(), attrs=0):
    """A detached mount of a new instance of fstype. sb_flags are superblock
    flag names ("ro", "sync", ...), data the filesystem's own options."""
    try:
        fs_fd = sc.fsopen(fstype)
    except OSError as e:
        if e.errno == errno.ENODEV:
            raise OSError(e.errno, f"unknown filesystem type {fstype!r}") from None
        raise
    try:
        sc.fsconfig(fs_fd, sc.FSCONFIG_SET_STRING, "source", source)
        for name in sb_flags:
            sc.fsconfig(fs_fd, sc.FSCONFIG_SET_FLAG, name)
        for item in data:
            key, sep, value = item.partition("=")
            if sep:
                sc.fsconfig(fs_fd, sc.FSCONFIG_SET_STRING, key, value)
            else:
                sc.fsconfig(fs_fd, sc.FSCONFIG_SET_FLAG, key)
        sc.fsconfig(fs_fd, sc.FSCONFIG_CMD_CREATE)
        return sc.fsmount(fs_fd, attrs)
    except OSError as e:
        # The kernel says which option it did not like in the fs context log.
        why = _fs_log(fs_fd)
        raise OSError(e.errno, f"{e.strerror}: {why}" if why else e.strerror) from None
    finally:
        os.close(fs_fd)


def clone_path(path, recursive):
    """A detached bind mount of a host path (rbind when recursive)."""
    return sc.open_tree(AT_FDCWD, path, sc.OPEN_TREE_CLONE | (sc.AT_RECURSIVE if recursive else 0))


def clone_fd(fd, recursive=False):
    """A detached bind mount of exactly the object behind fd."""
    return sc.open_tree(fd, "", sc.OPEN_TREE_CLONE | sc.AT_EMPTY_PATH
                        | (sc.AT_RECURSIVE if recursive else 0))


def attach(mount_fd, dst_fd):
    sc.move_mount(mount_fd, dst_fd)


def set_propagation(mount_fd, ms_flags):
    """mount(2)-style propagation flags (MS_SHARED|MS_REC, ...) on a mount."""
    kind = ms_flags & (sc.MS_SHARED | sc.MS_SLAVE | sc.MS_PRIVATE | sc.MS_UNBINDABLE)
    sc.mount_setattr(mount_fd, propagation=kind, recursive=bool(ms_flags & sc.MS_REC))
