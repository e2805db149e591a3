"""The only ctypes boundary of ocirt: thin wrappers over the Linux system calls
that Python 3.11's os module lacks.

Every wrapper raises OSError with errno and a message naming the call and its
target, so callers can wrap it in an ocirt error without losing the cause.
Unit tests fake the kernel by replacing functions of this module.
"""

import ctypes
import os

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86_64 and aarch64 share these numbers (the "generic" table for new calls).
_NR = {
    "x86_64": {"pivot_root": 155, "close_range": 436, "openat2": 437,
               "setns": 308, "unshare": 272},
    "aarch64": {"pivot_root": 41, "close_range": 436, "openat2": 437,
                "setns": 268, "unshare": 97},
}[os.uname().machine]

# clone(2) namespace flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MS_I_VERSION = 1 << 23

MNT_DETACH = 0x2

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

CLOSE_RANGE_CLOEXEC = 1 << 2


def _check(result, what):
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(path):
    return None if path is None else os.fsencode(path)


def unshare(flags):
    _check(_syscall(_NR["unshare"], ctypes.c_int(flags)), "unshare")


def setns(fd, nstype=0):
    _check(_syscall(_NR["setns"], ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source, target, fstype, flags=0, data=None):
    res = _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    _check(res, f"mount {source or fstype or ''} on {target}")


def umount2(target, flags=0):
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root, put_old):
    _check(_syscall(_NR["pivot_root"], _b(new_root), _b(put_old)), "pivot_root")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    args = [ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5)]
    return _check(_libc.prctl(ctypes.c_int(option), *args), f"prctl({option})")


def set_dumpable(dumpable):
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0)


def is_dumpable():
    return prctl(PR_GET_DUMPABLE) == 1


def set_child_subreaper():
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_no_new_privs():
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def sethostname(name):
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def setdomainname(name):
    raw = name.encode()
    _check(_libc.setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname")


def close_range_cloexec(first):
    """Mark every fd >= first close-on-exec (the fds a caller leaked to us)."""
    _check(_syscall(_NR["close_range"], ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                    ctypes.c_uint(CLOSE_RANGE_CLOEXEC)), "close_range")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd, path, flags, resolve, mode=0):
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _syscall(_NR["openat2"], ctypes.c_int(dirfd), _b(path), ctypes.byref(how),
                  ctypes.c_size_t(ctypes.sizeof(how)))
    return _check(fd, f"openat2 {path}")
