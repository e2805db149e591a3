"""Where a container's cgroup goes in each hierarchy."""

import pytest

from ocirt.linux.cgroups import Hierarchy, Placement, container_path

V1 = Hierarchy("/sys/fs/cgroup/memory", ("memory",), "/user.slice/me")
V2 = Hierarchy("/sys/fs/cgroup", (), "/user.slice/me")


@pytest.mark.parametrize("path, expected", [
    ("", "/c1"), ("/a/b", "/a/b"), ("a/b", "/user.slice/me/a/b"), ("/a/../b", "/b"),
])
@pytest.mark.parametrize("hierarchy", [V1, V2])
def test_container_path(hierarchy, path, expected):
    assert container_path(path, "c1", hierarchy) == expected


def test_mount_options():
    assert Hierarchy("/x", ("cpu", "cpuacct"), "/").mount_options == "cpu,cpuacct"
    assert Hierarchy("/x", ("name=systemd",), "/").mount_options == "none,name=systemd"


def test_record_round_trip():
    p = Placement(["/sys/fs/cgroup/pids/a"], ["/sys/fs/cgroup/pids/a"])
    q = Placement.from_record(p.to_record())
    assert (q.dirs, q.created) == (p.dirs, p.created)
    assert Placement.from_record(None).dirs == []


def test_create_and_remove_only_what_we_made(tmp_path):
    base = tmp_path / "pids"
    (base / "existing").mkdir(parents=True)
    p = Placement([str(base / "existing" / "new" / "leaf")], [])
    p.create()
    assert (base / "existing" / "new" / "leaf").is_dir()
    p.remove()
    assert (base / "existing").is_dir() and not (base / "existing" / "new").exists()
