"""LSM fields: mount labels where SELinux is on, nothing where it is off."""

from ocirt.linux import lsm

MOUNTS = [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
          {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]},
          {"destination": "/x", "type": "none", "source": "/srv", "options": ["bind"]}]


def test_mount_label_with_selinux(monkeypatch):
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: True)
    out = lsm.label_mounts(MOUNTS, "system_u:object_r:container_file_t:s0:c1,c2")
    assert out[0]["options"] == ["nosuid", 'context="system_u:object_r:container_file_t:s0:c1,c2"']
    assert out[1:] == MOUNTS[1:], "bind mounts keep their source's labels"
    assert MOUNTS[0]["options"] == ["nosuid"], "the config is not changed in place"


def test_mount_label_without_selinux_is_ignored(monkeypatch):
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)
    assert lsm.label_mounts(MOUNTS, "system_u:object_r:container_file_t:s0") is MOUNTS


def test_no_label():
    assert lsm.label_mounts(MOUNTS, None) is MOUNTS
