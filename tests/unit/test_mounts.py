"""Mount options -> flags, and the rootfs steps, with the kernel faked at the
syscalls seam."""

import pytest

from ocirt.linux import rootfs, syscalls as sc
from ocirt.linux.mounts import MountOptions


def test_flags_set_and_clear_in_order():
    opts = MountOptions(["ro", "nosuid", "rw", "noexec", "mode=755", "size=1m"])
    assert opts.flags == sc.MS_NOSUID | sc.MS_NOEXEC
    assert opts.data == "mode=755,size=1m"


def test_bind_and_propagation():
    opts = MountOptions(["rbind", "rprivate", "ro"])
    assert opts.is_bind and opts.flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert opts.propagation == [sc.MS_PRIVATE | sc.MS_REC]
    assert opts.data is None


def test_unsupported_options_are_refused_not_passed_on():
    with pytest.raises(ValueError, match="tmpcopyup"):
        MountOptions(["tmpcopyup"])


@pytest.fixture
def kernel(monkeypatch):
    calls = []
    for name in ("mount", "umount2", "pivot_root"):
        monkeypatch.setattr(sc, name, lambda *a, _n=name: calls.append((_n,) + a))
    monkeypatch.setattr(rootfs.os, "chdir", lambda p: calls.append(("chdir", p)))
    monkeypatch.setattr(rootfs.os, "chroot", lambda p: calls.append(("chroot", p)))
    return calls


def test_switch_root_pivots_and_detaches_the_old_root(kernel):
    rootfs.switch_root("/r")
    assert kernel == [("chdir", "/r"), ("pivot_root", ".", "."),
                      ("mount", None, ".", None, sc.MS_SLAVE | sc.MS_REC),
                      ("umount2", ".", sc.MNT_DETACH), ("chdir", "/")]


def test_switch_root_without_pivot_moves_and_chroots(kernel):
    rootfs.switch_root("/r", no_pivot=True)
    assert kernel == [("chdir", "/r"), ("mount", "/r", "/", None, sc.MS_MOVE),
                      ("chroot", "."), ("chdir", "/")]


@pytest.mark.parametrize("propagation, flags", [
    (None, sc.MS_SLAVE | sc.MS_REC), ("private", sc.MS_PRIVATE | sc.MS_REC),
    ("rshared", sc.MS_SLAVE | sc.MS_REC),  # shared only after the switch
])
def test_prepare_never_lets_mounts_reach_the_host(kernel, monkeypatch, tmp_path, propagation, flags):
    monkeypatch.setattr(rootfs, "create_devices", lambda fd, devices: None)
    rootfs.prepare(str(tmp_path), [], "/bundle", [], propagation)
    assert kernel[0] == ("mount", None, "/", None, flags)
    assert kernel[1] == ("mount", str(tmp_path), str(tmp_path), None, sc.MS_BIND | sc.MS_REC)
