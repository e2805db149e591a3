"""The only ctypes boundary of ocirt: thin wrappers over the Linux system calls
that Python 3.11's os module lacks.

Every wrapper raises OSError with errno and a message naming the call and its
target, so callers can wrap it in an ocirt error without losing the cause.
Unit tests fake the kernel by replacing functions of this module.
"""

import _signal
import ctypes
import os

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86_64 and aarch64 share these numbers (the "generic" table for new calls).
_NR = {
    "x86_64": {"pivot_root": 155, "close_range": 436, "openat2": 437,
               "setns": 308, "unshare": 272, "sched_setattr": 314, "ioprio_set": 251,
               "set_mempolicy": 238, "keyctl": 250, "clone3": 435},
    "aarch64": {"pivot_root": 41, "close_range": 436, "openat2": 437,
                "setns": 268, "unshare": 97, "sched_setattr": 274, "ioprio_set": 30,
                "set_mempolicy": 237, "keyctl": 219, "clone3": 435},
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


class _CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size",
        "tls", "set_tid", "set_tid_size", "cgroup")]


CLONE_INTO_CGROUP = 0x200000000
# Through PyDLL, which keeps the GIL across the call: the child must come
# back into the interpreter exactly as os.fork()'s child does.
_syscall_holding_gil = ctypes.PyDLL("libc.so.6", use_errno=True).syscall
_syscall_holding_gil.restype = ctypes.c_long


def fork_into_cgroup(cgroup_fd):
    """os.fork(), with the child born in the cgroup v2 directory cgroup_fd
    (clone3 with CLONE_INTO_CGROUP). Moving a process into a cgroup takes
    the kernel's cgroup-wide write lock, whose RCU grace period costs 7 ms on
    a quiet host and far more in a VM; a child born there takes none.
    The interpreter's own fork hooks run around it, as os.fork() runs them."""
    args = _CloneArgs(flags=CLONE_INTO_CGROUP, exit_signal=_signal.SIGCHLD, cgroup=cgroup_fd)
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _syscall_holding_gil(_NR["clone3"], ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd, path, flags, resolve, mode=0):
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _syscall(_NR["openat2"], ctypes.c_int(dirfd), _b(path), ctypes.byref(how),
                  ctypes.c_size_t(ctypes.sizeof(how)))
    return _check(fd, f"openat2 {path}")


# bpf(2): just what a cgroup v2 device filter needs.
_NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


class _BpfProgLoadAttr(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _BpfAttachAttr(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


class _BpfQueryAttr(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
                ("_pad", ctypes.c_uint32)]


class _BpfGetFdAttr(ctypes.Structure):
    _fields_ = [("prog_id", ctypes.c_uint32), ("next_id", ctypes.c_uint32),
                ("open_flags", ctypes.c_uint32)]


def _bpf(cmd, attr):
    return _syscall(_NR_BPF, ctypes.c_int(cmd), ctypes.byref(attr),
                    ctypes.c_uint(ctypes.sizeof(attr)))


def bpf_prog_load(prog_type, insns, license="GPL", name=b"", expected_attach_type=0):
    """Load a program (insns: the raw struct bpf_insn bytes); returns its fd
    (close-on-exec). A rejected program's error carries the verifier's log."""
    code = ctypes.create_string_buffer(bytes(insns), len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    attr = _BpfProgLoadAttr(prog_type=prog_type, insn_cnt=len(insns) // 8,
                            insns=ctypes.addressof(code), license=ctypes.addressof(lic),
                            prog_name=name[:15], expected_attach_type=expected_attach_type)
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    log = ctypes.create_string_buffer(65536)
    attr.log_level, attr.log_size, attr.log_buf = 1, len(log), ctypes.addressof(log)
    fd = _bpf(BPF_PROG_LOAD, attr)  # again, only to get the verifier's words
    if fd >= 0:
        return fd
    detail = log.value.decode(errors="replace").strip().replace("\n", "; ")[-300:]
    raise OSError(err, f"bpf(BPF_PROG_LOAD): {os.strerror(err)}" + (f" ({detail})" if detail else ""))


def bpf_prog_attach(target_fd, prog_fd, attach_type, flags=0):
    attr = _BpfAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd,
                          attach_type=attach_type, attach_flags=flags)
    _check(_bpf(BPF_PROG_ATTACH, attr), "bpf(BPF_PROG_ATTACH)")


def bpf_prog_detach(target_fd, prog_fd, attach_type):
    attr = _BpfAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type)
    _check(_bpf(BPF_PROG_DETACH, attr), "bpf(BPF_PROG_DETACH)")


def bpf_prog_query(target_fd, attach_type, max_progs=64):
    """The ids of the programs attached directly to target_fd."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = _BpfQueryAttr(target_fd=target_fd, attach_type=attach_type,
                         prog_ids=ctypes.addressof(ids), prog_cnt=max_progs)
    _check(_bpf(BPF_PROG_QUERY, attr), "bpf(BPF_PROG_QUERY)")
    return list(ids[:attr.prog_cnt])


def bpf_prog_get_fd_by_id(prog_id):
    attr = _BpfGetFdAttr(prog_id=prog_id)
    return _check(_bpf(BPF_PROG_GET_FD_BY_ID, attr), f"bpf(BPF_PROG_GET_FD_BY_ID {prog_id})")


# --- The new mount API (Linux 5.2+, mount_setattr 5.12+) -------------------
# Mounts are built detached, behind a file descriptor, and attached with
# move_mount onto an fd that was checked: no path is looked up twice.
_NR.update({"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
            "fsmount": 432, "mount_setattr": 442})

AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC

MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_EMPTY_PATH = 0x40

FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000


def open_tree(dirfd, path, flags):
    """A new fd on the mount at path; with OPEN_TREE_CLONE a detached copy
    (a bind mount not attached anywhere yet; AT_RECURSIVE copies submounts)."""
    fd = _syscall(_NR["open_tree"], ctypes.c_int(dirfd), _b(path), ctypes.c_uint(flags | OPEN_TREE_CLOEXEC))
    return _check(fd, f"open_tree {path or f'fd {dirfd}'}")


def move_mount(from_fd, to_fd):
    """Attach the mount behind from_fd onto the object behind to_fd."""
    _check(_syscall(_NR["move_mount"], ctypes.c_int(from_fd), b"", ctypes.c_int(to_fd), b"",
                    ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)), "move_mount")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(fd, attr_set=0, attr_clr=0, propagation=0, userns_fd=0, recursive=False):
    """Change the attributes of the mount behind fd (and below it if
    recursive). Flags not named in attr_set/attr_clr are kept as they are."""
    attr = _MountAttr(attr_set, attr_clr, propagation, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_syscall(_NR["mount_setattr"], ctypes.c_int(fd), b"", ctypes.c_uint(flags),
                    ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))), "mount_setattr")


def fsopen(fstype):
    return _check(_syscall(_NR["fsopen"], _b(fstype), ctypes.c_uint(FSOPEN_CLOEXEC)), f"fsopen {fstype}")


def fsconfig(fs_fd, cmd, key=None, value=None):
    _check(_syscall(_NR["fsconfig"], ctypes.c_int(fs_fd), ctypes.c_uint(cmd), _b(key), _b(value),
                    ctypes.c_int(0)), f"fsconfig {key or 'create'}" + (f"={value}" if value else ""))


def fsmount(fs_fd, attr_flags=0):
    return _check(_syscall(_NR["fsmount"], ctypes.c_int(fs_fd), ctypes.c_uint(FSMOUNT_CLOEXEC),
                           ctypes.c_uint(attr_flags)), "fsmount")


class _Statfs(ctypes.Structure):
    # struct statfs on 64-bit Linux: f_type comes first; the rest is not read.
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 112)]


def fstatfs_type(fd):
    """The filesystem magic number (f_type) of the file behind fd."""
    buf = _Statfs()
    _check(_libc.fstatfs(ctypes.c_int(fd), ctypes.byref(buf)), f"fstatfs fd {fd}")
    return buf.f_type & 0xFFFFFFFF


# -- process attributes: personality, scheduling, I/O priority, NUMA, keyrings

def personality(persona):
    _libc.personality.restype = ctypes.c_int
    _check(_libc.personality(ctypes.c_ulong(persona)), "personality")


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
                ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32)]


def sched_setattr(policy, flags=0, nice=0, priority=0, runtime=0, deadline=0, period=0):
    attr = _SchedAttr(ctypes.sizeof(_SchedAttr), policy, flags, nice, priority, runtime, deadline, period, 0, 0)
    _check(_syscall(_NR["sched_setattr"], ctypes.c_int(0), ctypes.byref(attr), ctypes.c_uint(0)),
           "sched_setattr")


def ioprio_set(io_class, level):
    IOPRIO_WHO_PROCESS = 1
    _check(_syscall(_NR["ioprio_set"], ctypes.c_int(IOPRIO_WHO_PROCESS), ctypes.c_int(0),
                    ctypes.c_int((io_class << 13) | level)), "ioprio_set")


def set_mempolicy(mode, nodes):
    """nodes: node numbers; the mask is as long as the highest one needs."""
    maxnode = (max(nodes) + 1) if nodes else 0
    words = (maxnode + 63) // 64 or 1
    mask = (ctypes.c_ulong * words)()
    for node in nodes:
        mask[node // 64] |= 1 << (node % 64)
    _check(_syscall(_NR["set_mempolicy"], ctypes.c_int(mode), mask if nodes else None,
                    ctypes.c_ulong(maxnode + 1 if nodes else 0)), "set_mempolicy")


def join_session_keyring(name):
    KEYCTL_JOIN_SESSION_KEYRING = 1
    return _check(_syscall(_NR["keyctl"], ctypes.c_int(KEYCTL_JOIN_SESSION_KEYRING), _b(name)),
                  "keyctl(JOIN_SESSION_KEYRING)")
