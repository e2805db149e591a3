"""Where a container's cgroup goes in each hierarchy."""

import os

import pytest

from ocirt.linux.cgroups import CgroupError, Hierarchy, Placement, container_path

V1 = Hierarchy("/sys/fs/cgroup/memory", ("memory",), "/user.slice/me")
V2 = Hierarchy("/sys/fs/cgroup", (), "/user.slice/me")


@pytest.mark.parametrize("path, expected", [
    ("", "/user.slice/me/c1"), ("/a/b", "/a/b"), ("a/b", "/user.slice/me/a/b"), ("/a/../b", "/b"),
])
@pytest.mark.parametrize("hierarchy", [V1, V2])
def test_container_path(hierarchy, path, expected):
    assert container_path(path, "c1", hierarchy) == expected


def test_mount_options():
    assert Hierarchy("/x", ("cpu", "cpuacct"), "/").mount_options == "cpu,cpuacct"
    assert Hierarchy("/x", ("name=systemd",), "/").mount_options == "none,name=systemd"


def test_record_round_trip():
    p = Placement(["/sys/fs/cgroup/pids/a"], ["/sys/fs/cgroup/pids/a"], [["pids"]])
    q = Placement.from_record(p.to_record())
    assert (q.dirs, q.created, q.controllers) == (p.dirs, p.created, p.controllers)
    assert Placement.from_record(None).dirs == []


def test_claimed_directories_end_up_as_made(tmp_path):
    """create claims the directories before they exist (recorded, so that a
    killed runtime leaks none); one that appears meanwhile is not ours."""
    base = tmp_path / "pids"
    base.mkdir()
    p = Placement([str(base / "a" / "leaf"), str(base / "b")], [], [["pids"], ["pids"]])
    p.created = p.missing()
    assert p.created == [str(base / "a"), str(base / "a" / "leaf"), str(base / "b")]
    (base / "b").mkdir()  # someone else's
    p.create()
    assert p.created == [str(base / "a"), str(base / "a" / "leaf")]
    p.remove()
    assert sorted(os.listdir(base)) == ["b"]


def test_create_and_remove_only_what_we_made(tmp_path):
    base = tmp_path / "pids"
    (base / "existing").mkdir(parents=True)
    p = Placement([str(base / "existing" / "new" / "leaf")], [], [["pids"]])
    p.create()
    assert (base / "existing" / "new" / "leaf").is_dir()
    p.remove()
    assert (base / "existing").is_dir() and not (base / "existing" / "new").exists()


def test_removing_takes_child_cgroups_along(tmp_path):
    p = Placement([str(tmp_path / "pids" / "c")], [], [["pids"]])
    p.create()
    (tmp_path / "pids" / "c" / "made-inside" / "deeper").mkdir(parents=True)
    p.remove()
    assert not (tmp_path / "pids" / "c").exists()


def test_a_cgroup_with_processes_is_refused(tmp_path):
    d = tmp_path / "pids" / "c"
    (d / "child").mkdir(parents=True)
    (d / "cgroup.procs").write_text("")
    (d / "child" / "cgroup.procs").write_text("4242\n")
    with pytest.raises(CgroupError, match=rf"^linux\.cgroupsPath: cgroup {d} already has processes \(4242\)"):
        Placement([str(d)], [], [["pids"]]).check_unused()


@pytest.mark.parametrize("controllers, name, text, frozen", [
    (["freezer"], "freezer.state", "FROZEN\n", True),
    (["freezer"], "freezer.state", "FREEZING\n", True),
    (["freezer"], "freezer.state", "THAWED\n", False),
    ([], "cgroup.freeze", "1\n", True),
    ([], "cgroup.freeze", "0\n", False),
])
def test_frozen_is_read_from_the_kernel(tmp_path, controllers, name, text, frozen):
    (tmp_path / name).write_text(text)
    p = Placement([str(tmp_path)], [], [controllers])
    assert p.frozen() is frozen
    if frozen:
        with pytest.raises(CgroupError, match=r"^linux\.cgroupsPath: cgroup is frozen"):
            p.check_unused()


def test_hybrid_prefers_the_v1_freezer(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "u").mkdir()
    (tmp_path / "f" / "freezer.state").write_text("THAWED\n")
    (tmp_path / "u" / "cgroup.freeze").write_text("1\n")
    p = Placement([str(tmp_path / "f"), str(tmp_path / "u")], [], [["freezer"], []])
    assert p.freeze_file() == str(tmp_path / "f" / "freezer.state") and not p.frozen()
    assert Placement([str(tmp_path / "u")], [], [[]]).frozen()
