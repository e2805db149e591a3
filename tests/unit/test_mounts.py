"""Mount options, sysctl rules, and the rootfs steps with the kernel faked at
the syscalls seam: a "detached mount" is a fresh temporary directory, and
the mount calls are recorded, so what ocirt asks of the kernel (and in which
order) is checked without root. Path resolution is real."""

import errno
import os
import stat

import pytest

from ocirt.linux import mounts, rootfs, sysctl, syscalls as sc
from ocirt.linux.mountopts import KNOWN_OPTIONS, MountOptions

# Every option of runtime-spec 1.3's "Linux mount options" table.
SPEC_TABLE = """async atime bind defaults dev diratime dirsync exec iversion lazytime loud mand
noatime nodev nodiratime noexec noiversion nolazytime nomand norelatime nostrictatime nosuid
nosymfollow private ratime rbind rdev rdiratime relatime remount rexec rnoatime rnodiratime
rnoexec rnorelatime rnostrictatime rnosuid rnosymfollow ro rprivate rrelatime rro rrw rshared
rslave rstrictatime rsuid rsymfollow runbindable rw shared silent slave strictatime suid
symfollow sync tmpcopyup unbindable idmap ridmap""".split()


# -- options -------------------------------------------------------------------

def test_every_option_of_the_spec_table_is_known():
    assert set(SPEC_TABLE) <= set(KNOWN_OPTIONS)
    for option in SPEC_TABLE:
        assert MountOptions([option]).data == [], f"{option} must not be passed on as data"


def test_flags_set_and_clear_in_order():
    opts = MountOptions(["ro", "nosuid", "rw", "noexec", "mode=755", "size=1m"])
    assert opts.flags == sc.MS_NOSUID | sc.MS_NOEXEC
    assert opts.cleared == sc.MS_RDONLY
    assert opts.data == ["mode=755", "size=1m"] and opts.data_string() == "mode=755,size=1m"


def test_bind_and_propagation():
    opts = MountOptions(["rbind", "rprivate", "ro", "shared"])
    assert opts.is_bind and opts.is_recursive_bind and opts.readonly
    assert opts.propagation == [sc.MS_PRIVATE | sc.MS_REC, sc.MS_SHARED]
    assert opts.data == []


def test_bind_attributes_name_only_what_the_options_name():
    opts = MountOptions(["bind", "ro", "nosuid", "dev", "exec", "nosymfollow", "diratime"])
    attr_set, attr_clr = opts.attr_change()
    assert attr_set == sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOSYMFOLLOW
    assert attr_clr == sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC | sc.MOUNT_ATTR_NODIRATIME
    assert MountOptions(["bind"]).attr_change() == (0, 0), "no option: the source's flags stay"


@pytest.mark.parametrize("options, atime", [
    ([], None), (["noatime"], sc.MOUNT_ATTR_NOATIME), (["strictatime"], sc.MOUNT_ATTR_STRICTATIME),
    (["relatime"], sc.MOUNT_ATTR_RELATIME), (["noatime", "strictatime"], sc.MOUNT_ATTR_STRICTATIME),
    (["noatime", "atime"], sc.MOUNT_ATTR_RELATIME), (["strictatime", "atime"], sc.MOUNT_ATTR_STRICTATIME),
    (["strictatime", "nostrictatime"], sc.MOUNT_ATTR_RELATIME), (["noatime", "norelatime"], sc.MOUNT_ATTR_NOATIME),
])
def test_atime_is_an_enum_and_the_last_word_wins(options, atime):
    opts = MountOptions(options)
    assert opts.atime == atime
    attr_set, attr_clr = opts.attr_change()
    if atime is None:
        assert not attr_clr & sc.MOUNT_ATTR__ATIME
    else:
        assert attr_clr & sc.MOUNT_ATTR__ATIME and attr_set & sc.MOUNT_ATTR__ATIME == atime


def test_recursive_options():
    opts = MountOptions(["rro", "rnosuid", "rsuid", "rnoexec", "rdev", "rnoatime", "rnosymfollow"])
    assert opts.recursive_change() == (
        sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOEXEC | sc.MOUNT_ATTR_NOATIME | sc.MOUNT_ATTR_NOSYMFOLLOW,
        sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR__ATIME)
    assert MountOptions(["ro", "nosuid"]).recursive_change() is None
    assert MountOptions(["ratime"]).recursive_change() == (sc.MOUNT_ATTR_RELATIME, sc.MOUNT_ATTR__ATIME)


def test_superblock_flags_and_new_mount_attributes():
    opts = MountOptions(["ro", "sync", "dirsync", "lazytime", "mand", "silent", "nosuid", "noatime"])
    assert opts.sb_flags() == ["ro", "sync", "dirsync", "mand", "lazytime"]
    assert opts.new_mount_attrs() == sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOATIME
    assert opts.new_mount_attrs(readonly=False) == sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOATIME
    assert MountOptions(["sync", "async", "ro", "rw"]).sb_flags() == []


def test_extension_options():
    opts = MountOptions(["tmpcopyup", "ridmap", "idmap"])
    assert opts.tmpcopyup and opts.idmap == "idmap" and opts.data == []


# -- sysctl ---------------------------------------------------------------------

@pytest.mark.parametrize("key, path", [
    ("net.ipv4.ip_forward", "net/ipv4/ip_forward"),
    ("net/ipv4/ip_forward", "net/ipv4/ip_forward"),
    ("net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/conf/eth0.100/rp_filter"),
    ("net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter"),
])
def test_sysctl_names(key, path):
    assert sysctl.proc_path(key) == path


@pytest.mark.parametrize("key", ["net..x", ".net.x", "net/../kernel/x", "net.ipv4.", "net/./x"])
def test_sysctl_bad_names(key):
    with pytest.raises(sysctl.SysctlError, match="is not a valid sysctl name"):
        sysctl.proc_path(key)


ALL_NS = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")]


def _ns(*drop, net_path=None):
    spaces = [dict(ns) for ns in ALL_NS if ns["type"] not in drop]
    for ns in spaces:
        if ns["type"] == "network" and net_path:
            ns["path"] = net_path
    return spaces


def _never_called():
    raise AssertionError("only asked for a joined network namespace")


@pytest.mark.parametrize("key", ["kernel.shmmax", "kernel.sem", "fs.mqueue.msg_max", "net.core.somaxconn",
                                 "kernel.domainname", "user.max_user_namespaces", "net/ipv4/ip_forward"])
def test_sysctl_allowed_with_namespaces(key):
    sysctl.check({key: "1"}, _ns(), _never_called)


@pytest.mark.parametrize("key, drop, message", [
    ("kernel.shmmax", "ipc", "host's ipc namespace"),
    ("fs.mqueue.queues_max", "ipc", "host's ipc namespace"),
    ("net.ipv4.ip_forward", "network", "host's network namespace"),
    ("kernel.domainname", "uts", "not in a namespace of the container's own"),
    ("kernel.hostname", None, "conflicts with the hostname field"),
    ("user.max_user_namespaces", "user", "needs a user namespace"),
    ("vm.swappiness", None, "not in a namespace of the container's own"),
    ("kernel.core_pattern", None, "not in a namespace of the container's own"),
])
def test_sysctl_refused(key, drop, message):
    with pytest.raises(sysctl.SysctlError, match=message) as e:
        sysctl.check({key: "1"}, _ns(drop), _never_called)
    assert str(e.value).startswith(f"linux.sysctl[{key!r}]: ")


def test_sysctl_joined_network_namespace_is_compared_with_the_runtimes():
    sysctl.check({"net.ipv4.ip_forward": "1"}, _ns(net_path="/run/netns/x"), lambda: False)
    with pytest.raises(sysctl.SysctlError, match="host's network namespace"):
        sysctl.check({"net.ipv4.ip_forward": "1"}, _ns(net_path="/proc/1/ns/net"), lambda: True)


# -- the kernel, faked at the seam ---------------------------------------------------

class FakeKernel:
    """Records mount calls. open_tree gives a real O_PATH fd of the source
    (so fstat works); fsmount gives an fd of a new empty directory standing
    for the detached filesystem (so tmpcopyup can really copy into it)."""

    def __init__(self, tmp_path, mount_points=("/", ".")):
        self.calls = []
        self.tmp = tmp_path
        self.mount_points = set(mount_points)
        self.fs_dirs = []
        self.fsconfig_log = []

    def fd_name(self, fd):
        return os.readlink(f"/proc/self/fd/{fd}")

    def mount(self, source, target, fstype, flags=0, data=None):
        if flags & (sc.MS_PRIVATE | sc.MS_SLAVE | sc.MS_SHARED | sc.MS_UNBINDABLE) and \
                target not in self.mount_points:
            raise OSError(errno.EINVAL, f"mount {target}: not a mount point")
        self.calls.append(("mount", source, target, fstype, flags, data))

    def open_tree(self, dirfd, path, flags):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC) if path else os.dup(dirfd)
        self.calls.append(("open_tree", path or self.fd_name(dirfd), flags & ~sc.OPEN_TREE_CLOEXEC))
        return fd

    def mount_setattr(self, fd, attr_set=0, attr_clr=0, propagation=0, userns_fd=0, recursive=False):
        self.calls.append(("setattr", self.fd_name(fd), attr_set, attr_clr, propagation, recursive))

    def move_mount(self, from_fd, to_fd):
        self.calls.append(("move_mount", self.fd_name(from_fd), self.fd_name(to_fd)))

    def fsopen(self, fstype):
        self.fsconfig_log = [fstype]
        return os.open("/", os.O_PATH | os.O_CLOEXEC)

    def fsconfig(self, fs_fd, cmd, key=None, value=None):
        self.fsconfig_log.append((cmd, key, value))

    def fsmount(self, fs_fd, attr_flags=0):
        path = self.tmp / f"fs{len(self.fs_dirs)}"
        path.mkdir()
        self.fs_dirs.append(path)
        self.calls.append(("fsmount", tuple(self.fsconfig_log), attr_flags, str(path)))
        return os.open(path, os.O_PATH | os.O_CLOEXEC)


@pytest.fixture
def kernel(monkeypatch, tmp_path):
    fake = FakeKernel(tmp_path)
    for name in ("mount", "open_tree", "mount_setattr", "move_mount", "fsopen", "fsconfig", "fsmount"):
        monkeypatch.setattr(sc, name, getattr(fake, name))
    monkeypatch.setattr(sc, "umount2", lambda *a: fake.calls.append(("umount2",) + a))
    monkeypatch.setattr(sc, "pivot_root", lambda *a: fake.calls.append(("pivot_root",) + a))
    return fake


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "rootfs"
    (path / "etc").mkdir(parents=True)
    (path / "etc/hostname").write_text("image\n")
    return path


@pytest.fixture
def ctx(root):
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    c = mounts.MountContext(fd, str(root.parent), userns=None)
    yield c
    c.close()
    os.close(fd)


def test_bind_directory(kernel, ctx, root, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    mounts.mount_one(ctx, {"destination": "/data/x", "source": "src",
                           "options": ["rbind", "ro", "suid", "rnoexec", "rprivate", "shared"]})
    dst = str(root / "data/x")
    assert os.path.isdir(dst), "the missing destination was made as a directory"
    assert kernel.calls == [
        ("open_tree", str(src), sc.OPEN_TREE_CLONE | sc.AT_RECURSIVE),
        ("setattr", str(src), sc.MOUNT_ATTR_RDONLY, sc.MOUNT_ATTR_NOSUID, 0, False),
        ("setattr", str(src), sc.MOUNT_ATTR_NOEXEC, 0, 0, True),
        ("move_mount", str(src), dst),
        ("setattr", str(src), 0, 0, sc.MS_PRIVATE, True),
        ("setattr", str(src), 0, 0, sc.MS_SHARED, False),
    ]


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_bind_non_directory_makes_a_file(kernel, ctx, root, tmp_path, kind):
    src = tmp_path / "src"
    if kind == "file":
        src.write_text("x")
    else:
        os.mkfifo(src)
    mounts.mount_one(ctx, {"destination": "/etc/new", "source": str(src), "options": ["bind"]})
    st = os.lstat(root / "etc/new")
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    assert kernel.calls == [("open_tree", str(src), sc.OPEN_TREE_CLONE),
                            ("move_mount", str(src), str(root / "etc/new"))]


def test_new_filesystem(kernel, ctx, root):
    mounts.mount_one(ctx, {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "sync", "strictatime", "size=1m", "huge=never", "slave"]})
    (call, config, attrs, fs_dir), (move, _, dst), (setattr, *prop) = kernel.calls
    assert config == ("tmpfs", (sc.FSCONFIG_SET_STRING, "source", "tmpfs"), (sc.FSCONFIG_SET_FLAG, "sync", None),
                      (sc.FSCONFIG_SET_STRING, "size", "1m"), (sc.FSCONFIG_SET_STRING, "huge", "never"),
                      (sc.FSCONFIG_CMD_CREATE, None, None))
    assert attrs == sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_STRICTATIME
    assert dst == str(root / "run")
    assert prop == [fs_dir, 0, 0, sc.MS_SLAVE, False]


def test_tmpfs_over_an_existing_directory_gets_its_mode_first(kernel, ctx, root):
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    mounts.mount_one(ctx, {"destination": "/tmp", "type": "tmpfs", "options": ["mode=700"]})
    config = kernel.calls[0][1]
    assert config[2:4] == ((sc.FSCONFIG_SET_STRING, "mode", "1777"), (sc.FSCONFIG_SET_STRING, "mode", "700"))


def test_read_only_tmpfs_is_made_read_only_last(kernel, ctx, root):
    mounts.mount_one(ctx, {"destination": "/ro", "type": "tmpfs", "options": ["ro", "nodev"]})
    _, config, attrs, fs_dir = kernel.calls[0]
    assert (sc.FSCONFIG_SET_FLAG, "ro", None) not in config and attrs == sc.MOUNT_ATTR_NODEV
    kernel.calls.clear()
    ctx.finish()
    assert kernel.calls == [("setattr", fs_dir, sc.MOUNT_ATTR_RDONLY, 0, 0, False)]


def test_tmpcopyup_copies_the_image(kernel, ctx, root):
    (root / "run/sub").mkdir(parents=True)
    (root / "run/sub/f").write_text("image\n")
    os.symlink("/etc/hostname", root / "run/link")
    mounts.mount_one(ctx, {"destination": "/run", "type": "tmpfs", "options": ["tmpcopyup"]})
    fs_dir = kernel.fs_dirs[0]
    assert (fs_dir / "sub/f").read_text() == "image\n"
    assert os.readlink(fs_dir / "link") == "/etc/hostname"
    assert [c[0] for c in kernel.calls] == ["fsmount", "move_mount"]


def test_remount_uses_mount2_on_the_existing_mount(kernel, ctx, root):
    (root / "sys").mkdir()
    mounts.mount_one(ctx, {"destination": "/sys", "type": "sysfs", "options": ["remount", "ro", "nosuid"]})
    mounts.mount_one(ctx, {"destination": "/sys", "options": ["bind", "remount", "ro"]})
    (_, src1, target1, type1, flags1, _), (_, _, target2, _, flags2, _) = kernel.calls
    assert type1 == "sysfs" and flags1 == sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID
    assert flags2 == sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
    assert target1.startswith("/proc/self/fd/") and target2.startswith("/proc/self/fd/")


@pytest.mark.parametrize("mount, message", [
    ({"destination": "/x", "source": "/etc", "options": ["bind", "tmpcopyup"]}, "tmpcopyup needs type tmpfs"),
    ({"destination": "/x", "type": "proc", "options": ["tmpcopyup"]}, "tmpcopyup needs type tmpfs"),
    ({"destination": "/x", "source": "x"}, "type is required"),
    ({"destination": "/", "type": "tmpfs"}, "mounting over the container's / is not supported"),
    ({"destination": "../..", "type": "tmpfs"}, "mounting over the container's / is not supported"),
    ({"destination": "/x", "type": "tmpfs", "options": ["idmap"]}, "needs both uidMappings and gidMappings"),
    ({"destination": "/x", "type": "tmpfs", "options": ["remount", "ridmap"]}, "needs both"),
    ({"destination": "/proc/sys", "type": "tmpfs"}, "/proc/sys is inside /proc"),
    ({"destination": "/proc", "type": "tmpfs"}, "only a procfs may be mounted on /proc"),
    ({"destination": "/proc", "source": "/etc", "options": ["bind"]}, "only a procfs may be mounted on /proc"),
    ({"destination": "/x", "source": "no/such", "options": ["bind"]}, "does not exist"),
])
def test_refused_before_anything_is_mounted(kernel, ctx, mount, message):
    with pytest.raises((ValueError, OSError), match=message):
        mounts.mount_one(ctx, mount)
    assert not [c for c in kernel.calls if c[0] in ("move_mount", "mount")]


def test_lxcfs_files_may_be_bound_inside_proc(kernel, ctx, root, tmp_path):
    (root / "proc").mkdir()
    (root / "proc/cpuinfo").write_text("")
    (tmp_path / "cpuinfo").write_text("fake")
    mounts.mount_one(ctx, {"destination": "/proc/cpuinfo", "source": str(tmp_path / "cpuinfo"),
                           "options": ["bind"]})
    assert kernel.calls[-1][0] == "move_mount"


def test_proc_is_never_mounted_on_a_symlink(kernel, ctx, root):
    os.symlink("/etc", root / "proc")
    with pytest.raises(OSError, match="/proc is a symlink, refusing to mount there"):
        mounts.mount_one(ctx, {"destination": "/proc", "type": "proc"})
    assert kernel.calls == []


# -- rootfs steps ----------------------------------------------------------------------

@pytest.mark.parametrize("propagation, first, parent", [
    (None, sc.MS_SLAVE | sc.MS_REC, sc.MS_PRIVATE),
    ("private", sc.MS_PRIVATE | sc.MS_REC, sc.MS_PRIVATE),
    ("rprivate", sc.MS_PRIVATE | sc.MS_REC, sc.MS_PRIVATE),
    ("slave", sc.MS_SLAVE | sc.MS_REC, sc.MS_SLAVE),
    ("rslave", sc.MS_SLAVE | sc.MS_REC, sc.MS_SLAVE),
    ("shared", sc.MS_SLAVE | sc.MS_REC, sc.MS_PRIVATE),  # shared only after the switch
    ("runbindable", sc.MS_SLAVE | sc.MS_REC, sc.MS_PRIVATE),
])
def test_prepare_never_lets_mounts_reach_the_host(kernel, root, propagation, first, parent):
    """/ first (never shared before the switch), then the mount that holds the
    rootfs: EINVAL means "not a mount point", so each parent is tried."""
    kernel.mount_points.add(str(root.parent))
    session = rootfs.Session()
    try:
        rootfs.prepare(session, str(root), [{"destination": "/dev", "source": "/dev", "options": ["bind"]}],
                       str(root.parent), [], propagation)
    finally:
        session.close()
    mounts_called = [c for c in kernel.calls if c[0] == "mount"]
    assert mounts_called[:3] == [("mount", None, "/", None, first, None),
                                 ("mount", None, str(root.parent), None, parent, None),
                                 ("mount", str(root), str(root), None, sc.MS_BIND | sc.MS_REC, None)]


def test_switch_root_pivots_and_detaches_the_old_root(kernel, root, monkeypatch):
    monkeypatch.chdir(root)  # switch_root changes the cwd: restored afterwards
    rootfs.switch_root(str(root))
    assert kernel.calls == [("pivot_root", ".", "."),
                            ("mount", None, ".", None, sc.MS_SLAVE | sc.MS_REC, None),
                            ("umount2", ".", sc.MNT_DETACH)]


@pytest.mark.parametrize("propagation, flags", [
    ("shared", sc.MS_SHARED), ("rshared", sc.MS_SHARED | sc.MS_REC),
    ("unbindable", sc.MS_UNBINDABLE), ("rslave", sc.MS_SLAVE | sc.MS_REC)])
def test_root_propagation_after_the_switch(kernel, propagation, flags):
    rootfs.set_root_propagation(propagation)
    assert kernel.calls == [("mount", None, "/", None, flags, None)]


def test_masking(kernel, root, tmp_path):
    (root / "dev").mkdir()
    (root / "secret").mkdir()
    (root / "secret2").mkdir()
    (root / "file").write_text("x")
    os.symlink("/file", root / "dev/null")  # not the null device
    rootfs.mask_paths(["/secret", "/secret2", "/nope"], root=str(root))
    fs_dir = kernel.fs_dirs[0]
    assert kernel.calls == [
        ("fsmount", ("tmpfs", (sc.FSCONFIG_SET_STRING, "source", "tmpfs"), (sc.FSCONFIG_SET_FLAG, "ro", None),
                     (sc.FSCONFIG_SET_STRING, "nr_blocks", "1"), (sc.FSCONFIG_SET_STRING, "nr_inodes", "1"),
                     (sc.FSCONFIG_SET_STRING, "mode", "0555"), (sc.FSCONFIG_CMD_CREATE, None, None)),
         sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC, str(fs_dir)),
        ("move_mount", str(fs_dir), str(root / "secret")),
        ("open_tree", str(fs_dir), sc.OPEN_TREE_CLONE | sc.AT_EMPTY_PATH),
        ("move_mount", str(fs_dir), str(root / "secret2")),
    ]
    kernel.calls.clear()
    with pytest.raises(rootfs.RootfsError, match=r"linux.maskedPaths\[0\] \(/file\): /dev/null is not the null"):
        rootfs.mask_paths(["/file"], root=str(root))
    assert kernel.calls == []


def test_readonly_paths_are_recursive_binds(kernel, root):
    (root / "sys").mkdir()
    rootfs.readonly_paths(["/sys", "/nope"], root=str(root))
    assert kernel.calls == [
        ("open_tree", str(root / "sys"), sc.OPEN_TREE_CLONE | sc.AT_EMPTY_PATH | sc.AT_RECURSIVE),
        ("setattr", str(root / "sys"), sc.MOUNT_ATTR_RDONLY, 0, 0, True),
        ("move_mount", str(root / "sys"), str(root / "sys")),
    ]
