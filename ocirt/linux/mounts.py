"""One entry of config.json's `mounts[]`, carried out inside the rootfs.

Every mount is built detached (mountapi): a new filesystem, or a copy of the
bind source. Its options are applied while nothing can see it, then it is
attached onto the destination's O_PATH fd, resolved inside the rootfs
(paths.py), and propagation is set through the same fd. Runs before the root
switch, in the container's mount namespace.
"""

import errno
import os
import stat

from . import copyup, mountapi, syscalls as sc
from .cgroups.mount import mount_cgroup_fs
from .mountopts import MountOptions
from .paths import fd_path, open_in_root, open_or_create_in_root, open_plain_dir_in_root, path_in_root
from .procfs import PROC_SUPER_MAGIC

# Files below /proc that lxcfs emulates: the only mounts allowed inside /proc
# (anything else there could hide or redirect what the runtime relies on).
_PROC_ALLOWED = frozenset(("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                           "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                           "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled"))


class MountContext:
    """What carrying out mounts[] needs besides the entry itself, and what it
    leaves to do at the end (tmpfs and /dev are made read-only last: the
    mounts and devices below them must be created first)."""

    def __init__(self, root_fd, bundle, userns):
        self.root_fd = root_fd
        self.bundle = bundle
        self.userns = userns        # idmap.UsernsCache
        self.deferred_readonly = []  # fds of attached mounts

    def close(self):
        for fd in self.deferred_readonly:
            os.close(fd)
        self.deferred_readonly.clear()

    def finish(self):
        """Make the mounts whose read-only state was deferred read-only."""
        while self.deferred_readonly:
            fd = self.deferred_readonly.pop()
            try:
                sc.mount_setattr(fd, attr_set=sc.MOUNT_ATTR_RDONLY)
            finally:
                os.close(fd)


def clean_destination(dest):
    """Relative destinations are deprecated and taken relative to /."""
    return os.path.normpath("/" + dest.lstrip("/"))


def _idmap(mount, opts):
    """(recursive, uidMappings, gidMappings) when the mount is to be idmapped."""
    uids, gids = mount.get("uidMappings"), mount.get("gidMappings")
    if opts.idmap is None and uids is None and gids is None:
        return None
    if not uids or not gids:
        raise ValueError(f"{opts.idmap or 'idmap'}: needs both uidMappings and gidMappings "
                         "(the container has no user namespace to take a mapping from)")
    return opts.idmap == "ridmap", uids, gids


def _check_proc_destination(ctx, dst_fd, fstype, tree_fd):
    """Nothing may cover /proc but a procfs, and nothing inside it but the
    files lxcfs emulates (the CVE-2019-16884 / CVE-2019-19921 family)."""
    where = path_in_root(ctx.root_fd, dst_fd)
    if where is None:
        raise OSError(1, "destination resolves outside the rootfs")
    if where == "/":
        raise ValueError("mounting over the container's / is not supported")
    if where == "/proc":
        is_proc = fstype == "proc" if tree_fd is None else sc.fstatfs_type(tree_fd) == PROC_SUPER_MAGIC
        if not is_proc:
            raise ValueError("only a procfs may be mounted on /proc")
    elif where.startswith("/proc/") and where not in _PROC_ALLOWED:
        raise ValueError(f"{where} is inside /proc: refusing to mount there")


def _set_attrs(tree_fd, opts, idmap, ctx, new):
    """Options of a detached mount: per-mount flags (bind mounts only: a new
    filesystem got them from fsmount), recursive ones, then the idmapping."""
    if not new:
        attr_set, attr_clr = opts.attr_change()
        if attr_set or attr_clr:
            sc.mount_setattr(tree_fd, attr_set=attr_set, attr_clr=attr_clr)
    rec = opts.recursive_change()
    if rec:
        sc.mount_setattr(tree_fd, attr_set=rec[0], attr_clr=rec[1], recursive=True)
    if idmap:
        recursive, uids, gids = idmap
        userns_fd = ctx.userns.get(uids, gids)
        try:
            sc.mount_setattr(tree_fd, attr_set=sc.MOUNT_ATTR_IDMAP, userns_fd=userns_fd, recursive=recursive)
        except OSError as e:
            raise OSError(e.errno, f"{'ridmap' if recursive else 'idmap'}: the filesystem or the kernel "
                                   f"cannot idmap this mount ({os.strerror(e.errno)})") from None


def _bind(ctx, mount, opts, dest, idmap):
    source = mount.get("source")
    if not source:
        raise ValueError("a bind mount needs a source")
    # The source is the bundle's to choose (relative paths are against it);
    # it is looked up on the host, as given.
    source = os.path.join(ctx.bundle, source)
    try:
        tree = mountapi.clone_path(source, opts.is_recursive_bind)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise OSError(e.errno, f"bind source {source} does not exist") from None
        raise OSError(e.errno, f"bind source {source}: {os.strerror(e.errno)}") from None
    try:
        want_dir = stat.S_ISDIR(os.fstat(tree).st_mode)
        dst, _ = open_or_create_in_root(ctx.root_fd, dest, want_dir)
        try:
            _check_proc_destination(ctx, dst, None, tree)
            _set_attrs(tree, opts, idmap, ctx, new=False)
            mountapi.attach(tree, dst)
        finally:
            os.close(dst)
        for propagation in opts.propagation:
            mountapi.set_propagation(tree, propagation)
    finally:
        os.close(tree)


def _new_filesystem(ctx, mount, opts, dest, idmap):
    fstype = mount.get("type")
    if not fstype:
        raise ValueError("type is required for a mount that is not a bind mount")
    if opts.tmpcopyup and fstype != "tmpfs":
        raise ValueError("tmpcopyup needs type tmpfs")
    if fstype in ("proc", "sysfs"):
        dst, created = open_plain_dir_in_root(ctx.root_fd, dest), False
    else:
        dst, created = open_or_create_in_root(ctx.root_fd, dest, want_dir=True)
    try:
        _check_proc_destination(ctx, dst, fstype, None)
        # Mounts below a read-only tmpfs or /dev still need to create their
        # mount points, and devices go into /dev: read-only comes at the end.
        defer_ro = opts.readonly and (fstype == "tmpfs" or dest == "/dev")
        sb_flags = [f for f in opts.sb_flags() if not (defer_ro and f == "ro")]
        data = list(opts.data)
        if fstype == "tmpfs" and not created:
            # A tmpfs over an existing directory keeps its mode (as runc does);
            # a mode= in the options still wins.
            data.insert(0, f"mode={stat.S_IMODE(os.fstat(dst).st_mode):04o}")
        tree = mountapi.new_filesystem(fstype, mount.get("source") or fstype, sb_flags, data,
                                       opts.new_mount_attrs(readonly=False if defer_ro else None))
        try:
            if opts.tmpcopyup:
                copyup.copy_tree(dst, tree)
            _set_attrs(tree, opts, idmap, ctx, new=True)
            mountapi.attach(tree, dst)
            for propagation in opts.propagation:
                mountapi.set_propagation(tree, propagation)
            if defer_ro:
                ctx.deferred_readonly.append(tree)
                tree = None
        finally:
            if tree is not None:
                os.close(tree)
    finally:
        os.close(dst)


def _propagate_at(ctx, dest, propagation):
    """Propagation for mounts made with mount(2) (remount, cgroup): on the
    mount now on top of the destination, looked up inside the root."""
    if not propagation:
        return
    fd = open_in_root(ctx.root_fd, dest)
    try:
        for flags in propagation:
            sc.mount(None, fd_path(fd), None, flags)
    finally:
        os.close(fd)


def _remount(ctx, mount, opts, dest):
    """"remount": change the mount already at the destination, with mount(2)
    semantics ("mount -o remount[,bind],..."), instead of adding one."""
    fd = open_in_root(ctx.root_fd, dest)
    try:
        if opts.is_bind:
            sc.mount(None, fd_path(fd), None, opts.flags & ~sc.MS_REC)
        else:
            sc.mount(mount.get("source"), fd_path(fd), mount.get("type"), opts.flags, opts.data_string())
    finally:
        os.close(fd)
    _propagate_at(ctx, dest, opts.propagation)


def mount_one(ctx, mount):
    """Carry out one entry of mounts[]. Raises OSError or ValueError."""
    opts = MountOptions(mount.get("options", []))
    dest = clean_destination(mount["destination"])
    if dest == "/":
        raise ValueError("mounting over the container's / is not supported")
    idmap = _idmap(mount, opts)
    if opts.is_remount:
        if idmap or opts.tmpcopyup:
            raise ValueError("remount cannot be combined with idmap or tmpcopyup")
        _remount(ctx, mount, opts, dest)
    elif opts.is_bind or mount.get("type") == "bind":
        if opts.tmpcopyup:
            raise ValueError("tmpcopyup needs type tmpfs, not a bind mount")
        _bind(ctx, mount, opts, dest, idmap)
    elif mount.get("type") == "cgroup":
        if idmap or opts.tmpcopyup:
            raise ValueError("a cgroup mount cannot be idmapped or copied up")
        mount_cgroup_fs(ctx.root_fd, dest, opts.flags)
        _propagate_at(ctx, dest, opts.propagation)
    else:
        _new_filesystem(ctx, mount, opts, dest, idmap)


def is_dev_bind(mount):
    """A bind mount onto /dev: the container brings its own devices."""
    opts = mount.get("options", [])
    is_bind = "bind" in opts or "rbind" in opts or mount.get("type") == "bind"
    return is_bind and clean_destination(mount["destination"]) == "/dev"
