"""The Linux mount options of runtime-spec 1.3 (config.md, "Linux mount
options"), parsed once into what the kernel calls need.

Three kinds of flags come out of one option list, because the kernel keeps
them in three places:
  - superblock flags (ro, sync, dirsync, mand, lazytime, ...): options of the
    filesystem instance, given to a new filesystem only;
  - per-mount attributes (ro, nosuid, nodev, noexec, atime, nodiratime,
    nosymfollow): set on the new mount, or changed on a bind mount without
    touching the flags the options do not name (mount_setattr(2));
  - recursive attributes (rro, rnosuid, ...): the same, on every submount.
Anything unknown is filesystem data, as the spec asks.
"""

from . import syscalls as sc

# option -> (MS_ flag for mount(2), set?)
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
# Per-mount attributes: MS_ flag -> MOUNT_ATTR_ flag (atime is an enum, apart).
_ATTRS = ((sc.MS_RDONLY, sc.MOUNT_ATTR_RDONLY), (sc.MS_NOSUID, sc.MOUNT_ATTR_NOSUID),
          (sc.MS_NODEV, sc.MOUNT_ATTR_NODEV), (sc.MS_NOEXEC, sc.MOUNT_ATTR_NOEXEC),
          (sc.MS_NODIRATIME, sc.MOUNT_ATTR_NODIRATIME),
          (sc.MS_NOSYMFOLLOW, sc.MOUNT_ATTR_NOSYMFOLLOW))
# The atime options: a mode to set, or (for the negations) the mode they undo.
# Undoing a mode falls back to relatime, the kernel's default.
_ATIME_SET = {"noatime": sc.MOUNT_ATTR_NOATIME, "relatime": sc.MOUNT_ATTR_RELATIME,
              "strictatime": sc.MOUNT_ATTR_STRICTATIME}
_ATIME_UNDO = {"atime": sc.MOUNT_ATTR_NOATIME, "norelatime": sc.MOUNT_ATTR_RELATIME,
               "nostrictatime": sc.MOUNT_ATTR_STRICTATIME}
# Recursive options -> (MOUNT_ATTR_ flag, set?)
RECURSIVE_OPTIONS = {
    "rro": (sc.MOUNT_ATTR_RDONLY, True), "rrw": (sc.MOUNT_ATTR_RDONLY, False),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, True), "rsuid": (sc.MOUNT_ATTR_NOSUID, False),
    "rnodev": (sc.MOUNT_ATTR_NODEV, True), "rdev": (sc.MOUNT_ATTR_NODEV, False),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, True), "rexec": (sc.MOUNT_ATTR_NOEXEC, False),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, True), "rdiratime": (sc.MOUNT_ATTR_NODIRATIME, False),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, True), "rsymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, False),
}
_RATIME_SET = {"rnoatime": sc.MOUNT_ATTR_NOATIME, "rrelatime": sc.MOUNT_ATTR_RELATIME,
               "rstrictatime": sc.MOUNT_ATTR_STRICTATIME}
_RATIME_UNDO = {"ratime": sc.MOUNT_ATTR_NOATIME, "rnorelatime": sc.MOUNT_ATTR_RELATIME,
                "rnostrictatime": sc.MOUNT_ATTR_STRICTATIME}
# Superblock flags as fsconfig(2) names them. silent (kernel log only) and
# iversion (each filesystem decides since Linux 6.x) have no fsconfig name.
_SB_FLAGS = ((sc.MS_RDONLY, "ro"), (sc.MS_SYNCHRONOUS, "sync"), (sc.MS_DIRSYNC, "dirsync"),
             (sc.MS_MANDLOCK, "mand"), (sc.MS_LAZYTIME, "lazytime"))
EXTENSION_OPTIONS = ("tmpcopyup", "idmap", "ridmap")

KNOWN_OPTIONS = tuple(sorted(set(FLAG_OPTIONS) | set(PROPAGATION_OPTIONS) | set(RECURSIVE_OPTIONS)
                             | set(_RATIME_SET) | set(_RATIME_UNDO) | set(EXTENSION_OPTIONS)))


def _atime(current, option, set_table, undo_table):
    if option in set_table:
        return set_table[option]
    undone = undo_table[option]
    return sc.MOUNT_ATTR_RELATIME if current in (None, undone) else current


class MountOptions:
    """One mount's options. Later options win over earlier ones."""

    __slots__ = ("flags", "cleared", "propagation", "data", "atime", "rec_set", "rec_clr",
                 "rec_atime", "tmpcopyup", "idmap")

    def __init__(self, options):
        flags = cleared = rec_set = rec_clr = 0
        data, self.propagation = [], []
        self.atime = self.rec_atime = self.idmap = None
        self.tmpcopyup = False
        for opt in options:
            if opt in FLAG_OPTIONS:
                flag, on = FLAG_OPTIONS[opt]
                if on:
                    flags, cleared = flags | flag, cleared & ~flag
                else:
                    flags, cleared = flags & ~flag, cleared | flag
                if opt in _ATIME_SET or opt in _ATIME_UNDO:
                    self.atime = _atime(self.atime, opt, _ATIME_SET, _ATIME_UNDO)
            elif opt in PROPAGATION_OPTIONS:
                self.propagation.append(PROPAGATION_OPTIONS[opt])
            elif opt in RECURSIVE_OPTIONS:
                attr, on = RECURSIVE_OPTIONS[opt]
                if on:
                    rec_set, rec_clr = rec_set | attr, rec_clr & ~attr
                else:
                    rec_set, rec_clr = rec_set & ~attr, rec_clr | attr
            elif opt in _RATIME_SET or opt in _RATIME_UNDO:
                self.rec_atime = _atime(self.rec_atime, opt, _RATIME_SET, _RATIME_UNDO)
            elif opt == "tmpcopyup":
                self.tmpcopyup = True
            elif opt in ("idmap", "ridmap"):
                self.idmap = opt
            else:
                data.append(opt)
        self.flags, self.cleared = flags, cleared
        self.rec_set, self.rec_clr = rec_set, rec_clr
        self.data = data

    @property
    def is_bind(self):
        return bool(self.flags & sc.MS_BIND)

    @property
    def is_recursive_bind(self):
        return bool(self.flags & sc.MS_REC)

    @property
    def is_remount(self):
        return bool(self.flags & sc.MS_REMOUNT)

    @property
    def readonly(self):
        return bool(self.flags & sc.MS_RDONLY)

    def data_string(self):
        """The filesystem data for mount(2): unknown options, comma-joined."""
        return ",".join(self.data) or None

    def attr_change(self):
        """(attr_set, attr_clr) for mount_setattr(2) on a bind mount: exactly
        the per-mount flags the options name; the others stay as the source
        mount has them (so locked flags are kept, never dropped)."""
        attr_set = attr_clr = 0
        for ms, attr in _ATTRS:
            if self.flags & ms:
                attr_set |= attr
            elif self.cleared & ms:
                attr_clr |= attr
        if self.atime is not None:
            attr_set |= self.atime
            attr_clr |= sc.MOUNT_ATTR__ATIME
        return attr_set, attr_clr

    def new_mount_attrs(self, readonly=None):
        """The attributes of a new filesystem's mount (fsmount(2)). atime
        defaults to relatime, as with mount(2)."""
        attr_set, _ = self.attr_change()
        if readonly is False:
            attr_set &= ~sc.MOUNT_ATTR_RDONLY
        return attr_set

    def sb_flags(self):
        """fsconfig(2) flag names of the superblock flags that end up set."""
        return [name for ms, name in _SB_FLAGS if self.flags & ms]

    def recursive_change(self):
        """(attr_set, attr_clr) of the recursive options, or None."""
        attr_set, attr_clr = self.rec_set, self.rec_clr
        if self.rec_atime is not None:
            attr_set |= self.rec_atime
            attr_clr |= sc.MOUNT_ATTR__ATIME
        if not attr_set and not attr_clr and self.rec_atime is None:
            return None
        return attr_set, attr_clr
