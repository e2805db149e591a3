"""mounts[] to the letter of runtime-spec 1.3, and the rest of the rootfs:
every option family of the Linux mount option table, bind mounts of every
kind of source, tmpcopyup, idmapped mounts, rootfsPropagation, root.readonly,
maskedPaths, readonlyPaths, linux.devices and linux.sysctl.

Real containers, real mounts. What a container sees is read from inside it
(/proc/self/mountinfo, stat); what it must not touch is checked on the host.
Tests that put things into the rootfs use a private copy of it.
"""

import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from .conftest import REPO

TMPFS = {"type": "tmpfs", "source": "tmpfs"}


# -- helpers (also used by test_rootfs_security.py) ---------------------------

def private_bundle(env, cfg, prepare=None):
    """A bundle with its own copy of the busybox rootfs at <bundle>/rootfs;
    prepare(rootfs_path) may change the copy before config.json is written."""
    env._bundles += 1
    bundle = env.tmp / f"pbundle{env._bundles}"
    bundle.mkdir()
    subprocess.run(["cp", "-a", env.rootfs, str(bundle / "rootfs")], check=True)
    if prepare:
        prepare(str(bundle / "rootfs"))
    cfg["root"]["path"] = "rootfs"
    (bundle / "config.json").write_text(json.dumps(cfg))
    return str(bundle)


def config(env, script, mounts=(), **linux):
    cfg = env.config(args=["sh", "-c", script])
    cfg["mounts"] += list(mounts)
    cfg["linux"].update(linux)
    return cfg


def run(env, bundle):
    return env.ocirt("run", "-b", bundle, env.new_id())


def run_ok(env, bundle):
    r = run(env, bundle)
    assert r.code == 0, r
    return r.out


def run_error(env, bundle):
    """Run must fail with a one-line error and leave nothing behind."""
    r = run(env, bundle)
    assert r.code != 0, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert not os.path.exists(os.path.join(env.root, env.ids[-1])), "the state dir is gone"
    return lines[0]


class Mount:
    def __init__(self, line):
        fields = line.split()
        sep = fields.index("-")
        self.id, self.parent = fields[0], fields[1]
        self.root, self.point = fields[3], fields[4]
        self.opts = set(fields[5].split(","))
        self.optional = fields[6:sep]
        self.fstype, self.source = fields[sep + 1], fields[sep + 2]
        self.super = set(fields[sep + 3].split(","))


def mountinfo(text):
    """{mount point: the topmost Mount there} from mountinfo lines in text."""
    found = {}
    for line in text.splitlines():
        if " - " in line:
            m = Mount(line)
            found[m.point] = m
    return found


MOUNTINFO = "cat /proc/self/mountinfo"


# -- flags, data, and what they do -------------------------------------------

@pytest.mark.parametrize("options, present, absent, super_present", [
    (["ro"], {"ro"}, {"rw"}, set()),
    (["ro", "rw"], {"rw"}, {"ro"}, set()),
    (["nosuid", "nodev", "noexec"], {"nosuid", "nodev", "noexec"}, set(), set()),
    (["nosuid", "suid", "noexec", "exec", "nodev", "dev"], set(), {"nosuid", "noexec", "nodev"}, set()),
    (["noatime"], {"noatime"}, {"relatime"}, set()),
    (["strictatime"], set(), {"noatime", "relatime"}, set()),
    (["noatime", "relatime"], {"relatime"}, {"noatime"}, set()),
    (["strictatime", "nostrictatime"], {"relatime"}, {"noatime"}, set()),
    (["nodiratime"], {"nodiratime"}, set(), set()),
    (["nodiratime", "diratime"], set(), {"nodiratime"}, set()),
    (["nosymfollow"], {"nosymfollow"}, set(), set()),
    (["sync", "dirsync"], set(), set(), {"sync", "dirsync"}),
    (["sync", "async"], set(), set(), set()),
    (["lazytime"], set(), set(), {"lazytime"}),
    (["defaults", "silent", "loud", "iversion", "noiversion", "nomand", "nolazytime"], {"rw"}, set(), set()),
    (["size=1m", "mode=0701", "nr_inodes=99"], set(), set(), {"size=1024k", "mode=701", "nr_inodes=99"}),
])
def test_flag_options_and_filesystem_data(env, options, present, absent, super_present):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/mnt/t", options=options)])
    m = mountinfo(run_ok(env, private_bundle(env, cfg)))["/mnt/t"]
    assert present <= m.opts and not absent & m.opts, m.opts
    assert super_present <= m.super, m.super
    assert not {"sync", "async", "lazytime"} & m.super - super_present


def test_flags_take_effect(env):
    cfg = config(env, "cp /bin/busybox /x/true && /x/true && echo exec-ok; "
                      "cp /bin/busybox /nx/true; /nx/true 2>/dev/null || echo noexec-ok; "
                      "touch /ro/f 2>/dev/null || echo ro-ok; "
                      "ln -s /etc/passwd /nosym/l; cat /nosym/l >/dev/null 2>&1 || echo nosymfollow-ok", [
                          dict(TMPFS, destination="/x", options=["exec"]),
                          dict(TMPFS, destination="/nx", options=["noexec"]),
                          dict(TMPFS, destination="/ro", options=["ro"]),
                          dict(TMPFS, destination="/nosym", options=["nosymfollow"])])
    assert run_ok(env, private_bundle(env, cfg)).split() == ["exec-ok", "noexec-ok", "ro-ok", "nosymfollow-ok"]


def test_unknown_option_is_the_filesystems_and_its_error_names_the_mount(no_leftovers):
    env = no_leftovers
    cfg = config(env, "true", [dict(TMPFS, destination="/t", options=["nosuid", "no-such-option"])])
    line = run_error(env, private_bundle(env, cfg))
    assert line == ("ocirt: mounts[7] (tmpfs on /t): fsconfig no-such-option: Invalid argument: "
                    "tmpfs: Unknown parameter 'no-such-option'"), line


def test_unknown_filesystem_type(no_leftovers):
    env = no_leftovers
    cfg = config(env, "true", [{"destination": "/t", "type": "nosuchfs", "source": "x"}])
    assert run_error(env, private_bundle(env, cfg)) == "ocirt: mounts[7] (nosuchfs on /t): unknown filesystem type 'nosuchfs'"


def test_mount_without_type_or_bind_is_refused(no_leftovers):
    env = no_leftovers
    cfg = config(env, "true", [{"destination": "/t", "source": "x"}])
    assert "mounts[7] (bind on /t): type is required for a mount that is not a bind mount" in \
        run_error(env, private_bundle(env, cfg))


def test_relative_destination_is_taken_from_root(env):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="mnt/rel")])
    assert "/mnt/rel" in mountinfo(run_ok(env, private_bundle(env, cfg)))


def test_missing_destination_directories_are_created_in_the_rootfs(env):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/new/a/b")])
    bundle = private_bundle(env, cfg)
    assert "/new/a/b" in mountinfo(run_ok(env, bundle))
    assert os.path.isdir(os.path.join(bundle, "rootfs/new/a/b"))


def test_tmpfs_over_a_directory_keeps_its_mode(env):
    def prepare(root):
        os.mkdir(os.path.join(root, "sticky"))
        os.chmod(os.path.join(root, "sticky"), 0o1733)
    cfg = config(env, "stat -c %a /sticky /given", [dict(TMPFS, destination="/sticky"),
                                                     dict(TMPFS, destination="/given", options=["mode=700"])])
    assert run_ok(env, private_bundle(env, cfg, prepare)).split() == ["1733", "700"]


# -- bind mounts ----------------------------------------------------------------

def test_bind_sources_of_every_kind(env):
    """Directories, files, fifos and sockets; relative sources against the
    bundle; missing destinations created as a directory or a file to match."""
    sock = socket.socket(socket.AF_UNIX)
    cfg = config(env, "test -d /b/dir && cat /b/dir/f && cat /b/file && test -p /b/fifo && "
                      "test -S /b/sock && echo all-ok", [
                          {"destination": "/b/dir", "source": "src", "options": ["rbind"]},
                          {"destination": "/b/file", "source": "src/f", "options": ["bind"]},
                          {"destination": "/b/fifo", "source": "fifo", "type": "bind"},
                          {"destination": "/b/sock", "source": "sock", "options": ["bind"]}])
    bundle = private_bundle(env, cfg)
    os.mkdir(os.path.join(bundle, "src"))
    with open(os.path.join(bundle, "src/f"), "w") as f:
        f.write("from-source\n")
    os.mkfifo(os.path.join(bundle, "fifo"))
    try:
        sock.bind(os.path.join(bundle, "sock"))
        assert run_ok(env, bundle) == "from-source\nfrom-source\nall-ok\n"
    finally:
        sock.close()
    made = os.path.join(bundle, "rootfs/b")
    assert os.path.isdir(os.path.join(made, "dir"))
    for name in ("file", "fifo", "sock"):
        st = os.lstat(os.path.join(made, name))
        assert stat.S_ISREG(st.st_mode) and st.st_size == 0, name


def test_missing_bind_source_names_the_mount(no_leftovers):
    env = no_leftovers
    cfg = config(env, "true", [{"destination": "/x", "source": "no/such", "options": ["bind"]}])
    bundle = private_bundle(env, cfg)
    assert run_error(env, bundle) == f"ocirt: mounts[7] (bind on /x): bind source {bundle}/no/such does not exist"


def _fs_then_bind(bind_options, source_options=("nosuid", "nodev", "noexec")):
    """A tmpfs at /src with some flags, then a bind of it (through the
    bundle: <bundle>/rootfs/src shows the tmpfs in the container's mount
    namespace) at /dst."""
    return [dict(TMPFS, destination="/src", options=list(source_options)),
            {"destination": "/dst", "source": "rootfs/src", "options": ["bind"] + bind_options}]


def test_bind_ro_keeps_the_source_flags(env):
    cfg = config(env, MOUNTINFO + "; touch /dst/x 2>/dev/null || echo read-only", _fs_then_bind(["ro"]))
    out = run_ok(env, private_bundle(env, cfg))
    m = mountinfo(out)["/dst"]
    assert {"ro", "nosuid", "nodev", "noexec"} <= m.opts, m.opts
    assert out.endswith("read-only\n")
    assert "ro" not in mountinfo(out)["/src"].opts, "the source mount stays writable"


def test_bind_flags_set_and_clear_only_what_they_name(env):
    cfg = config(env, MOUNTINFO, _fs_then_bind(["suid", "noatime", "nosymfollow"]))
    m = mountinfo(run_ok(env, private_bundle(env, cfg)))["/dst"]
    assert "nosuid" not in m.opts, "suid cleared it"
    assert {"nodev", "noexec", "noatime", "nosymfollow"} <= m.opts, m.opts


def test_bind_and_rbind_and_recursive_options(env):
    """bind copies one mount, rbind the tree; ro is for the top mount only,
    rro (and every r-option) for all of them."""
    mounts = [dict(TMPFS, destination="/tree"), dict(TMPFS, destination="/tree/sub")]
    for dest, options in (("/b", ["bind"]), ("/rb", ["rbind", "ro"]),
                          ("/rro", ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime",
                                    "rnodiratime", "rnosymfollow"])):
        mounts.append({"destination": dest, "source": "rootfs/tree", "options": options})
    out = run_ok(env, private_bundle(env, config(env, MOUNTINFO, mounts)))
    info = mountinfo(out)
    assert "/b" in info and "/b/sub" not in info
    assert "ro" in info["/rb"].opts and "rw" in info["/rb/sub"].opts
    recursive = {"ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "nosymfollow"}
    assert recursive <= info["/rro"].opts and recursive <= info["/rro/sub"].opts


@pytest.mark.parametrize("option, expected", [
    ("rrelatime", "relatime"), ("rstrictatime", None), ("ratime", "relatime")])
def test_recursive_atime(env, option, expected):
    mounts = [dict(TMPFS, destination="/tree", options=["noatime"]),
              dict(TMPFS, destination="/tree/sub", options=["noatime"]),
              {"destination": "/t", "source": "rootfs/tree", "options": ["rbind", option]}]
    info = mountinfo(run_ok(env, private_bundle(env, config(env, MOUNTINFO, mounts))))
    for point in ("/t", "/t/sub"):
        atime = info[point].opts & {"noatime", "relatime"}
        assert atime == ({expected} if expected else set()), (point, info[point].opts)


def test_recursive_clear_options(env):
    mounts = [dict(TMPFS, destination="/tree", options=["ro", "nosuid", "noexec"]),
              dict(TMPFS, destination="/tree/sub", options=["nodev", "nosymfollow", "nodiratime"]),
              {"destination": "/t", "source": "rootfs/tree",
               "options": ["rbind", "rrw", "rsuid", "rexec", "rdev", "rsymfollow", "rdiratime"]}]
    info = mountinfo(run_ok(env, private_bundle(env, config(env, MOUNTINFO, mounts))))
    for point in ("/t", "/t/sub"):
        assert not info[point].opts & {"ro", "nosuid", "noexec", "nodev", "nosymfollow", "nodiratime"}, \
            (point, info[point].opts)


@pytest.mark.parametrize("options, top, sub", [
    (["shared"], "shared", None), (["rshared"], "shared", "shared"),
    (["unbindable"], "unbindable", None), (["runbindable"], "unbindable", "unbindable"),
    (["shared", "private"], None, None), (["rshared", "rprivate"], None, None),
    (["rshared", "slave"], None, "shared"),  # no other peer: slave means private
])
def test_propagation_options(env, options, top, sub):
    mounts = [dict(TMPFS, destination="/tree"), dict(TMPFS, destination="/tree/sub"),
              {"destination": "/t", "source": "rootfs/tree", "options": ["rbind"] + options}]
    info = mountinfo(run_ok(env, private_bundle(env, config(env, MOUNTINFO, mounts))))
    for point, kind in (("/t", top), ("/t/sub", sub)):
        kinds = {o.split(":")[0] for o in info[point].optional}
        assert kinds == ({kind} if kind else set()), (point, info[point].optional)


def test_slave_of_a_shared_mount(env):
    """A bind of a shared mount joins its peer group; slave makes it receive only."""
    mounts = [dict(TMPFS, destination="/tree", options=["shared"]),
              {"destination": "/peer", "source": "rootfs/tree", "options": ["bind"]},
              {"destination": "/slave", "source": "rootfs/tree", "options": ["bind", "slave"]}]
    info = mountinfo(run_ok(env, private_bundle(env, config(env, MOUNTINFO, mounts))))
    group = info["/tree"].optional
    assert len(group) == 1 and group[0].startswith("shared:")
    assert info["/peer"].optional == group
    assert info["/slave"].optional == ["master:" + group[0].split(":")[1]]


def test_propagation_on_cgroup_and_remount(env):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/r"),
                                  dict(TMPFS, destination="/r", options=["remount", "nosuid", "shared"])])
    cfg["mounts"][6]["options"] = cfg["mounts"][6].get("options", []) + ["rshared"]  # the cgroup mount
    info = mountinfo(run_ok(env, private_bundle(env, cfg)))
    assert info["/r"].optional[0].startswith("shared:")
    cgroup = [m for point, m in info.items() if point.startswith("/sys/fs/cgroup")]
    assert cgroup and all(m.optional and m.optional[0].startswith("shared:") for m in cgroup)


def test_propagation_on_a_new_filesystem(env):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/s", options=["shared"]),
                                  dict(TMPFS, destination="/u", options=["unbindable"])])
    info = mountinfo(run_ok(env, private_bundle(env, cfg)))
    assert info["/s"].optional[0].startswith("shared:") and info["/u"].optional == ["unbindable"]


def test_remount(env):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/a"),
                                  dict(TMPFS, destination="/a", options=["remount", "ro", "size=2m"]),
                                  dict(TMPFS, destination="/b"),
                                  {"destination": "/b", "options": ["bind", "remount", "ro", "nosuid"]}])
    info = mountinfo(run_ok(env, private_bundle(env, cfg)))
    assert "ro" in info["/a"].super and "size=2048k" in info["/a"].super, "remounted: the superblock"
    assert {"ro", "nosuid"} <= info["/b"].opts and "rw" in info["/b"].super, "bind remount: the mount only"


# -- tmpcopyup -------------------------------------------------------------------

def _image_run(root):
    run = os.path.join(root, "run")
    os.makedirs(os.path.join(run, "sub/deep"))
    with open(os.path.join(run, "sub/deep/file"), "w") as f:
        f.write("from-the-image\n")
    os.chown(os.path.join(run, "sub/deep/file"), 65534, 65534)
    os.chmod(os.path.join(run, "sub/deep/file"), 0o604)
    os.symlink("/etc/passwd", os.path.join(run, "link"))
    os.symlink("../../..", os.path.join(run, "sub/up"))
    os.mkfifo(os.path.join(run, "fifo"))


def test_tmpcopyup_copies_the_image_under_the_tmpfs(env):
    cfg = config(env, "cat /run/sub/deep/file; stat -c '%u %g %a' /run/sub/deep/file; readlink /run/link; "
                      "test -p /run/fifo && echo fifo; readlink /run/sub/up; echo new > /run/sub/deep/file; "
                      + MOUNTINFO, [dict(TMPFS, destination="/run", options=["tmpcopyup", "nosuid", "size=1m"])])
    bundle = private_bundle(env, cfg, _image_run)
    out = run_ok(env, bundle)
    assert out.splitlines()[:5] == ["from-the-image", "65534 65534 604", "/etc/passwd", "fifo", "../../.."]
    m = mountinfo(out)["/run"]
    assert m.fstype == "tmpfs" and "nosuid" in m.opts
    with open(os.path.join(bundle, "rootfs/run/sub/deep/file")) as f:
        assert f.read() == "from-the-image\n", "the write went to the tmpfs, not the image"


def test_tmpcopyup_read_only(env):
    cfg = config(env, "cat /run/sub/deep/file; touch /run/x 2>/dev/null || echo read-only",
                 [dict(TMPFS, destination="/run", options=["tmpcopyup", "ro"])])
    assert run_ok(env, private_bundle(env, cfg, _image_run)) == "from-the-image\nread-only\n"


def test_tmpcopyup_needs_tmpfs(no_leftovers):
    env = no_leftovers
    cfg = config(env, "true", [{"destination": "/x", "source": "/etc", "options": ["bind", "tmpcopyup"]}])
    assert run_error(env, private_bundle(env, cfg)) == \
        "ocirt: mounts[7] (bind on /x): tmpcopyup needs type tmpfs, not a bind mount"


def test_read_only_tmpfs_can_hold_mounts_below_it(env):
    cfg = config(env, MOUNTINFO, [dict(TMPFS, destination="/ro", options=["ro"]),
                                  dict(TMPFS, destination="/ro/below/it")])
    info = mountinfo(run_ok(env, private_bundle(env, cfg)))
    assert "ro" in info["/ro"].opts and "rw" in info["/ro/below/it"].opts


# -- idmapped mounts ---------------------------------------------------------------

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _idmap_source(bundle):
    src = os.path.join(bundle, "idsrc")
    os.makedirs(os.path.join(src, "sub"))
    for path, owner in ((src, 0), (os.path.join(src, "f"), 1000)):
        if path.endswith("f"):
            open(path, "w").close()
        os.chown(path, owner, owner)


@pytest.mark.parametrize("option", ["idmap", "ridmap", None])
def test_idmapped_bind_mount(env, option):
    mount = {"destination": "/id", "source": "idsrc", "options": ["bind"] + ([option] if option else []),
             "uidMappings": MAP, "gidMappings": MAP}
    cfg = config(env, "stat -c '%u %g' /id /id/f; " + MOUNTINFO, [mount])
    bundle = private_bundle(env, cfg)
    _idmap_source(bundle)
    out = run_ok(env, bundle)
    assert out.splitlines()[:2] == ["100000 100000", "101000 101000"]
    assert "idmapped" in mountinfo(out)["/id"].opts
    assert os.stat(os.path.join(bundle, "idsrc/f")).st_uid == 1000, "the files themselves are unchanged"


@pytest.mark.parametrize("option, sub_mapped", [("idmap", False), ("ridmap", True)])
def test_ridmap_maps_submounts(env, option, sub_mapped):
    mounts = [dict(TMPFS, destination="/tree"), dict(TMPFS, destination="/tree/sub"),
              {"destination": "/id", "source": "rootfs/tree", "options": ["rbind", option],
               "uidMappings": MAP, "gidMappings": MAP}]
    info = mountinfo(run_ok(env, private_bundle(env, config(env, MOUNTINFO, mounts))))
    assert "idmapped" in info["/id"].opts
    assert ("idmapped" in info["/id/sub"].opts) == sub_mapped


def test_idmapped_tmpfs(env):
    cfg = config(env, "stat -c %u /t; " + MOUNTINFO, [dict(TMPFS, destination="/t", options=["idmap"],
                                                           uidMappings=MAP, gidMappings=MAP)])
    out = run_ok(env, private_bundle(env, cfg))
    assert out.splitlines()[0] == "100000" and "idmapped" in mountinfo(out)["/t"].opts


@pytest.mark.parametrize("mount, message", [
    ({"destination": "/id", "source": "/etc", "options": ["bind", "idmap"]},
     "mounts[7] (bind on /id): idmap: needs both uidMappings and gidMappings"),
    ({"destination": "/id", "source": "/sys/kernel", "options": ["rbind", "ridmap"],
      "uidMappings": MAP, "gidMappings": MAP},
     "mounts[7] (bind on /id): ridmap: the filesystem or the kernel cannot idmap this mount (Invalid argument)"),
    ({"destination": "/id", "source": "/etc", "options": ["bind", "idmap"], "gidMappings": MAP,
      "uidMappings": MAP + [{"containerID": 10, "hostID": 5, "size": 10}]},
     "mounts[7] (bind on /id): uidMappings: the kernel refused the mapping"),
])
def test_idmap_errors(no_leftovers, mount, message):
    env = no_leftovers
    assert message in run_error(env, private_bundle(env, config(env, "true", [mount])))


# -- the root, masked and read-only paths -------------------------------------------

def test_root_readonly(env):
    cfg = config(env, "touch /x 2>/dev/null || echo root-ro; touch /t/x && echo tmpfs-rw; " + MOUNTINFO,
                 [dict(TMPFS, destination="/t")])
    cfg["root"]["readonly"] = True
    out = run_ok(env, private_bundle(env, cfg))
    assert out.startswith("root-ro\ntmpfs-rw\n")
    assert "ro" in mountinfo(out)["/"].opts


def test_root_writable_when_not_readonly(env):
    cfg = config(env, "touch /x && echo root-rw && rm /x")
    cfg["root"]["readonly"] = False
    assert run_ok(env, private_bundle(env, cfg)) == "root-rw\n"


def test_masked_paths(env):
    def prepare(root):
        os.makedirs(os.path.join(root, "secret/dir"))
        with open(os.path.join(root, "secret/file"), "w") as f:
            f.write("secret\n")
        with open(os.path.join(root, "secret/dir/inner"), "w") as f:
            f.write("secret\n")
    cfg = config(env, "cat /secret/file; ls -A /secret/dir; stat -c '%F %t:%T' /secret/file; "
                      "touch /secret/dir/x 2>/dev/null || echo dir-ro; echo done",
                 maskedPaths=["/secret/file", "/secret/dir", "/no/such/path"])
    assert run_ok(env, private_bundle(env, cfg, prepare)) == \
        "character special file 1:3\ndir-ro\ndone\n"


def test_readonly_paths_are_recursive(env):
    cfg = config(env, MOUNTINFO + "; touch /w/x 2>/dev/null || echo top-ro; "
                                  "touch /w/sub/x 2>/dev/null || echo sub-ro",
                 [dict(TMPFS, destination="/w"), dict(TMPFS, destination="/w/sub", options=["nosuid"])],
                 readonlyPaths=["/w", "/no/such/path"])
    out = run_ok(env, private_bundle(env, cfg))
    info = mountinfo(out)
    assert "ro" in info["/w"].opts and {"ro", "nosuid"} <= info["/w/sub"].opts
    assert out.endswith("top-ro\nsub-ro\n")


# -- rootfsPropagation -------------------------------------------------------------------

@pytest.fixture
def shared_rootfs(env):
    """A private rootfs copy that is a shared mount point on the host, so
    that propagation between host and container can be observed. Unmounted
    afterwards."""
    cfg = config(env, "sleep 100")
    bundle = private_bundle(env, cfg)
    root = os.path.join(bundle, "rootfs")
    os.makedirs(os.path.join(root, "mnt/probe"))
    subprocess.run(["mount", "--bind", root, root], check=True)
    try:
        subprocess.run(["mount", "--make-shared", root], check=True)
        yield bundle, root
    finally:
        subprocess.run(["umount", "-R", "-l", root], check=True)


def _wait_for_mount(pid, point, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/mountinfo") as f:
            info = mountinfo(f.read())
        if point in info:
            return info
        time.sleep(0.02)
    raise AssertionError(f"{point} never got mounted in the container")


@pytest.mark.parametrize("propagation, receives, shared", [
    ("slave", True, False), ("rslave", True, False), ("private", False, False),
    ("rprivate", False, False), ("shared", False, True), ("rshared", False, True),
    (None, False, False),
])
def test_rootfs_propagation(env, shared_rootfs, propagation, receives, shared):
    """runc's semantics: slave receives the host's mounts; private and the
    default do not; shared makes the root a new peer group (receives nothing
    from the host, gives nothing to it). No container mount reaches the host."""
    bundle, root = shared_rootfs
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["sh", "-c", "mount -t tmpfs from-container /mnt/out; sleep 100"]
    for kind in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][kind].append("CAP_SYS_ADMIN")
    os.makedirs(os.path.join(root, "mnt/out"))
    if propagation:
        cfg["linux"]["rootfsPropagation"] = propagation
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    cid = env.new_id()
    env.ok("create", "--bundle", bundle, cid)
    pid = env.state(cid)["pid"]
    probe = os.path.join(root, "mnt/probe")
    subprocess.run(["mount", "-t", "tmpfs", "from-host", probe], check=True)
    try:
        env.ok("start", cid)
        info = _wait_for_mount(pid, "/mnt/out")
        assert ("/mnt/probe" in info) == receives, "the host's new mount reached the container"
        root_kinds = {o.split(":")[0] for o in info["/"].optional}
        assert ("shared" in root_kinds) == shared, info["/"].optional
        with open("/proc/self/mountinfo") as f:
            assert os.path.join(root, "mnt/out") not in mountinfo(f.read()), "a container mount reached the host"
    finally:
        subprocess.run(["umount", "-l", probe], check=False)
        env.ocirt("delete", "--force", cid)


def test_rootfs_propagation_unbindable(env):
    cfg = config(env, MOUNTINFO)
    cfg["linux"]["rootfsPropagation"] = "unbindable"
    assert mountinfo(run_ok(env, private_bundle(env, cfg)))["/"].optional == ["unbindable"]


# -- linux.devices ---------------------------------------------------------------

def test_devices(env):
    cfg = config(env, "stat -c '%n %F %t:%T %a %u:%g' /dev/mydev /elsewhere/null2 /dev/myfifo /dev/myblk")
    cfg["linux"]["devices"] = [
        {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 12, "gid": 34},
        {"path": "/elsewhere/null2", "type": "u", "major": 1, "minor": 3},
        {"path": "/dev/myfifo", "type": "p", "fileMode": 0o600},
        {"path": "/dev/myblk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o660},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    ]
    assert run_ok(env, private_bundle(env, cfg)).splitlines() == [
        "/dev/mydev character special file 1:5 640 12:34",
        "/elsewhere/null2 character special file 1:3 666 0:0",
        "/dev/myfifo fifo 0:0 600 0:0",
        "/dev/myblk block special file 7:c8 660 0:0"]


@pytest.mark.parametrize("existing", ["file", "other-device", "symlink"])
def test_device_over_a_different_file_is_an_error(no_leftovers, existing):
    env = no_leftovers

    def prepare(root):
        path = os.path.join(root, "opt/dev0")
        os.makedirs(os.path.dirname(path))
        if existing == "file":
            open(path, "w").close()
        elif existing == "other-device":
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))
        else:
            os.symlink("/dev/null", path)
    cfg = config(env, "true")
    cfg["linux"]["devices"] = [{"path": "/opt/dev0", "type": "c", "major": 1, "minor": 3}]
    assert run_error(env, private_bundle(env, cfg, prepare)) == \
        "ocirt: linux.devices[0] (/opt/dev0): exists and is not the device c 1:3"


def test_existing_matching_device_is_kept(env):
    def prepare(root):
        os.makedirs(os.path.join(root, "opt"))
        os.mknod(os.path.join(root, "opt/dev0"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
    cfg = config(env, "stat -c '%t:%T %a' /opt/dev0")
    cfg["linux"]["devices"] = [{"path": "/opt/dev0", "type": "c", "major": 1, "minor": 3}]
    assert run_ok(env, private_bundle(env, cfg, prepare)) == "1:3 600\n"


def test_dev_symlinks_and_ptmx(env):
    def prepare(root):
        os.mknod(os.path.join(root, "dev/ptmx"), stat.S_IFCHR | 0o666, os.makedev(5, 2))
    cfg = config(env, "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done")
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]  # /dev from the image
    assert run_ok(env, private_bundle(env, cfg, prepare)).split() == [
        "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"]


def test_dev_bind_brings_its_own_devices(env):
    """A bind mount on /dev: nothing is created in it (it is the host's)."""
    cfg = config(env, "ls /dev")
    cfg["mounts"] = [m for m in cfg["mounts"] if not m["destination"].startswith("/dev")]
    cfg["mounts"].append({"destination": "/dev", "source": "devdir", "options": ["bind"]})
    bundle = private_bundle(env, cfg)
    os.mkdir(os.path.join(bundle, "devdir"))
    os.mknod(os.path.join(bundle, "devdir/null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    assert run_ok(env, bundle) == "null\n"
    assert os.listdir(os.path.join(bundle, "devdir")) == ["null"]


_MKNOD_IN_USERNS = """
import os, sys
from ocirt.linux import devices
d = os.open(sys.argv[1], os.O_PATH | os.O_DIRECTORY)
devices.make_node(d, "null", "c", 1, 3, host_path="/dev/null")
st = os.stat(os.path.join(sys.argv[1], "null"))
print(os.major(st.st_rdev), os.minor(st.st_rdev))
try:
    devices.make_node(d, "zero", "c", 1, 5, host_path="/dev/null")
except OSError as e:
    print(e.strerror)
"""


def test_device_bound_from_the_host_where_mknod_is_not_allowed(tmp_path):
    """In a user namespace mknod fails: the host's node is bound instead,
    after checking it is the device asked for."""
    out = subprocess.run(["unshare", "-Urm", sys.executable, "-c", _MKNOD_IN_USERNS, str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["1 3", "mknod not permitted, and the host's /dev/null is not that device"]


# -- linux.sysctl ------------------------------------------------------------------

def _host_value_in(pid, key):
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "-i", "-u", "cat", "/proc/sys/" + key],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_sysctl_in_the_containers_namespaces(env):
    cfg = config(env, "sleep 100")
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "net/ipv4/conf/lo/forwarding": "1",
                              "kernel.shmmax": "123456789", "fs.mqueue.msg_max": "20",
                              "kernel.domainname": "sysctl.example"}
    cid = env.create(cfg)
    pid = env.state(cid)["pid"]
    assert _host_value_in(pid, "net/ipv4/ip_forward") == "1"
    assert _host_value_in(pid, "net/ipv4/conf/lo/forwarding") == "1"
    assert _host_value_in(pid, "kernel/shmmax") == "123456789"
    assert _host_value_in(pid, "fs/mqueue/msg_max") == "20"
    assert _host_value_in(pid, "kernel/domainname") == "sysctl.example"
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "123456789", "the host's value is untouched"
    env.ok("delete", "--force", cid)


def _drop_namespace(cfg, kind):
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != kind]


@pytest.mark.parametrize("key, drop, join_host_net, message", [
    ("net.ipv4.ip_forward", "network", False, "is not allowed in the host's network namespace"),
    ("net.ipv4.ip_forward", None, True, "is not allowed in the host's network namespace"),
    ("kernel.shmmax", "ipc", False, "is not allowed in the host's ipc namespace"),
    ("fs.mqueue.msg_max", "ipc", False, "is not allowed in the host's ipc namespace"),
    ("kernel.hostname", None, False, "conflicts with the hostname field"),
    ("kernel.domainname", "uts", False, "is not in a namespace of the container's own"),
    ("vm.swappiness", None, False, "is not in a namespace of the container's own"),
    ("user.max_user_namespaces", None, False, "needs a user namespace"),
    ("net.ipv4.no_such_sysctl", None, False, "no such sysctl"),
    ("net.ipv4..ip_forward", None, False, "is not a valid sysctl name"),
    ("net/../../kernel/x", None, False, "is not a valid sysctl name"),
])
def test_sysctl_refused(no_leftovers, key, drop, join_host_net, message):
    env = no_leftovers
    cfg = config(env, "true")
    cfg["linux"]["sysctl"] = {key: "1"}
    if drop:
        _drop_namespace(cfg, drop)
        if drop == "uts":
            cfg.pop("hostname")  # a hostname needs a uts namespace
    if join_host_net:
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = "/proc/self/ns/net"
    line = run_error(env, private_bundle(env, cfg))
    assert line.startswith(f"ocirt: linux.sysctl[{key!r}]: ") and message in line, line


def test_sysctl_in_a_joined_network_namespace(env):
    """Joined by path, a network namespace that is not the runtime's is fine."""
    first = env.create(config(env, "sleep 100"))
    pid = env.state(first)["pid"]
    cfg = config(env, "sleep 100")
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = f"/proc/{pid}/ns/net"
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    second = env.create(cfg)
    assert _host_value_in(pid, "net/ipv4/ip_forward") == "1", "set in the shared namespace"
    env.ok("delete", "--force", second)
    env.ok("delete", "--force", first)


def test_sysctl_does_not_need_the_containers_proc(env):
    """Written through the runtime's own procfs: the container may have no
    /proc at all, and /proc/sys is read-only in it by default."""
    cfg = config(env, "sleep 100")
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/proc"]
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    cid = env.create(cfg)
    assert _host_value_in(env.state(cid)["pid"], "net/ipv4/ip_forward") == "1"
    env.ok("delete", "--force", cid)
