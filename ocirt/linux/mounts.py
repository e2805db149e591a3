"""Mount options of the runtime-spec mapped to mount(2) flags, and one mount
of config.json's `mounts[]` carried out inside a rootfs."""

import os

from . import syscalls as sc
from .cgroups.mount import mount_cgroup_fs
from .paths import create_in_root, fd_path, open_in_root, open_plain_dir_in_root

# option -> (flag, set?)
FLAG_OPTIONS = {
    "ro": (sc.MS_RDONLY, True), "rw": (sc.MS_RDONLY, False),
    "nosuid": (sc.MS_NOSUID, True), "suid": (sc.MS_NOSUID, False),
    "nodev": (sc.MS_NODEV, True), "dev": (sc.MS_NODEV, False),
    "noexec": (sc.MS_NOEXEC, True), "exec": (sc.MS_NOEXEC, False),
    "sync": (sc.MS_SYNCHRONOUS, True), "async": (sc.MS_SYNCHRONOUS, False),
    "dirsync": (sc.MS_DIRSYNC, True),
    "remount": (sc.MS_REMOUNT, True),
    "mand": (sc.MS_MANDLOCK, True), "nomand": (sc.MS_MANDLOCK, False),
    "atime": (sc.MS_NOATIME, False), "noatime": (sc.MS_NOATIME, True),
    "diratime": (sc.MS_NODIRATIME, False), "nodiratime": (sc.MS_NODIRATIME, True),
    "relatime": (sc.MS_RELATIME, True), "norelatime": (sc.MS_RELATIME, False),
    "strictatime": (sc.MS_STRICTATIME, True), "nostrictatime": (sc.MS_STRICTATIME, False),
    "iversion": (sc.MS_I_VERSION, True), "noiversion": (sc.MS_I_VERSION, False),
    "lazytime": (sc.MS_LAZYTIME, True), "nolazytime": (sc.MS_LAZYTIME, False),
    "silent": (sc.MS_SILENT, True), "loud": (sc.MS_SILENT, False),
    "nosymfollow": (sc.MS_NOSYMFOLLOW, True), "symfollow": (sc.MS_NOSYMFOLLOW, False),
    "bind": (sc.MS_BIND, True), "rbind": (sc.MS_BIND | sc.MS_REC, True),
    "defaults": (0, True),
}
PROPAGATION_OPTIONS = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# Options of the spec that need more than flags; refused until implemented
# rather than passed to the filesystem, where they would fail obscurely.
UNSUPPORTED_OPTIONS = frozenset((
    "tmpcopyup", "idmap", "ridmap", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev",
    "rnoexec", "rexec", "rnodiratime", "rdiratime", "rrelatime", "rnorelatime",
    "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow",
))
# Flags a bind remount must keep or the kernel refuses it (locked mount flags).
_STATVFS_FLAGS = ((os.ST_RDONLY, sc.MS_RDONLY), (os.ST_NOSUID, sc.MS_NOSUID),
                  (os.ST_NODEV, sc.MS_NODEV), (os.ST_NOEXEC, sc.MS_NOEXEC),
                  (os.ST_NOATIME, sc.MS_NOATIME), (os.ST_NODIRATIME, sc.MS_NODIRATIME),
                  (os.ST_RELATIME, sc.MS_RELATIME))


class MountOptions:
    __slots__ = ("flags", "propagation", "data")

    def __init__(self, options):
        flags, data, self.propagation = 0, [], []
        for opt in options:
            if opt in FLAG_OPTIONS:
                flag, on = FLAG_OPTIONS[opt]
                flags = flags | flag if on else flags & ~flag
            elif opt in PROPAGATION_OPTIONS:
                self.propagation.append(PROPAGATION_OPTIONS[opt])
            elif opt in UNSUPPORTED_OPTIONS:
                raise ValueError(f"mount option {opt!r} is not supported yet")
            else:
                data.append(opt)
        self.flags = flags
        self.data = ",".join(data) or None

    @property
    def is_bind(self):
        return bool(self.flags & sc.MS_BIND)


def locked_flags(path):
    """The flags of the mount at path that a bind remount has to repeat."""
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in _STATVFS_FLAGS if f_flag & st)


def remount_bind(target, flags):
    """Apply flags (ro, nosuid, ...) to a bind mount, keeping its locked flags."""
    keep = locked_flags(target) & ~sc.MS_RDONLY
    sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | keep | flags)


def mount_one(root_fd, mount, bundle):
    """Carry out one entry of mounts[] below the rootfs open as root_fd."""
    opts = MountOptions(mount.get("options", []))
    fstype = mount.get("type")
    source = mount.get("source")
    dest = mount["destination"]
    if fstype == "cgroup":
        mount_cgroup_fs(root_fd, dest, opts.flags)
        return
    if opts.is_bind or fstype == "bind":
        opts.flags |= sc.MS_BIND
        if not source:
            raise ValueError("a bind mount needs a source")
        source = os.path.join(bundle, source)
        want_dir = os.path.isdir(source)
        if not os.path.exists(source):
            raise FileNotFoundError(2, f"bind source {source} does not exist")
        fd = create_in_root(root_fd, dest, want_dir)
    elif fstype in ("proc", "sysfs"):
        fd = open_plain_dir_in_root(root_fd, dest)
    else:
        fd = create_in_root(root_fd, dest, want_dir=True)
    try:
        target = fd_path(fd)
        if opts.flags & sc.MS_BIND:
            sc.mount(source, target, None, opts.flags & (sc.MS_BIND | sc.MS_REC))
        else:
            sc.mount(source or fstype, target, fstype, opts.flags, opts.data)
    finally:
        os.close(fd)
    extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    bind_flags = extra if opts.flags & sc.MS_BIND else 0
    if bind_flags or opts.propagation:
        # An fd opened before the mount names what lies underneath it: reopen
        # the path to reach the new mount on top.
        fd = open_in_root(root_fd, dest)
        try:
            if bind_flags:
                remount_bind(fd_path(fd), bind_flags)
            for propagation in opts.propagation:
                sc.mount(None, fd_path(fd), None, propagation)
        finally:
            os.close(fd)
