"""State store: ids, atomic writes, locking, and the root's default."""

import fcntl
import os

import pytest

from ocirt.errors import ExistsError, InvalidIdError, NotFoundError
from ocirt.state import StateRootError, StateStore, default_root, validate_id, write_atomic


@pytest.mark.parametrize("good", ["a", "A-b_c.d+e", "0" * 64, "x.y"])
def test_valid_ids(good):
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "a b", "a\x00", "é", "x" * 1025])
def test_invalid_ids(bad):
    with pytest.raises(InvalidIdError):
        validate_id(bad)


def test_new_open_remove(tmp_path):
    store = StateStore(str(tmp_path / "root"))
    with store.new("c1") as cdir:
        cdir.write({"id": "c1", "pid": 5})
    assert store.ids() == ["c1"]
    with pytest.raises(ExistsError):
        store.new("c1")
    with store.open("c1") as cdir:
        assert cdir.read() == {"id": "c1", "pid": 5}
        cdir.remove()
    with pytest.raises(NotFoundError):
        store.open("c1")
    assert store.ids() == []


def test_ids_include_a_directory_not_yet_written(tmp_path):
    """A create killed before its first write leaves a taken id: list shows it."""
    store = StateStore(str(tmp_path / "root"))
    store.new("c1").close()
    (tmp_path / "root" / ".hidden").mkdir()
    (tmp_path / "root" / "stray-file").write_text("")
    assert store.ids() == ["c1"]
    with pytest.raises(ExistsError):
        store.new("c1")


def test_directory_is_private(tmp_path):
    store = StateStore(str(tmp_path / "root"))
    with store.new("c1") as cdir:
        assert os.stat(cdir.path).st_mode & 0o777 == 0o700


def test_lock_is_exclusive(tmp_path):
    store = StateStore(str(tmp_path))
    with store.new("c1") as cdir:
        other = os.open(cdir.path, os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(other)


def test_open_after_delete_while_waiting_reports_not_found(tmp_path):
    """A command that got the lock of a directory that delete just removed."""
    store = StateStore(str(tmp_path))
    with store.new("c1") as cdir:
        fd = os.open(cdir.path, os.O_RDONLY)
        cdir.remove()
    assert os.fstat(fd).st_nlink == 0
    os.close(fd)
    with pytest.raises(NotFoundError):
        store.open("c1")


def test_write_atomic_leaves_no_temporary(tmp_path):
    target = tmp_path / "f"
    write_atomic(str(target), b"one")
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f"]


def test_a_failed_state_write_names_the_file(tmp_path):
    store = StateStore(str(tmp_path / "root"))
    with store.new("c1") as cdir:
        cdir.remove()  # nowhere to write: as good as a full or read-only root here
        with pytest.raises(StateRootError) as e:
            cdir.write({"id": "c1"})
    assert str(e.value) == f"cannot write state file {tmp_path}/root/c1/state.json: No such file or directory"


def test_default_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_root() == "/run/ocirt"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert default_root() == "/run/user/1000/ocirt"
