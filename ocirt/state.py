"""On-disk state: one directory per container under the root, state.json written
atomically, and an flock on the container's directory so that concurrent
commands on one container run one after the other.

This module is the only writer of state.json.
"""

import fcntl
import os

from . import jsonio
from .errors import ExistsError, InvalidIdError, NotFoundError, OcirtError

STATE_FILE = "state.json"
START_SOCKET = "start.sock"


class StateRootError(OcirtError):
    """The state root cannot be written (read-only, full, no permission)."""


def default_root():
    if os.geteuid() == 0:
        return "/run/ocirt"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime_dir:
        return f"/tmp/ocirt-{os.geteuid()}"
    return os.path.join(runtime_dir, "ocirt")


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(container_id):
    """runc's rule: letters, digits and _ + - . only; not empty, not . or .."""
    if not container_id:
        raise InvalidIdError("invalid container id: must not be empty")
    if container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise InvalidIdError(
            f"invalid container id {container_id!r}: use letters, digits and _ + - . only")
    if len(container_id) > 1024:
        raise InvalidIdError("invalid container id: longer than 1024 characters")
    return container_id


def write_atomic(path, data, mode=0o600):
    """write + rename: a reader sees the old file or the new one, never a torn
    one. No fsync: the state root is a runtime directory (/run, a tmpfs, by
    default) that does not outlive a reboot, and neither do the containers it
    describes; on a disk root each fsync cost milliseconds per write."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:  # a nearly full disk takes part of it: the rest raises ENOSPC
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)  # no half-written file left to fill the disk further
        raise


class ContainerDir:
    """A locked container directory. The lock is held until close()."""

    def __init__(self, path, fd):
        self.path = path
        self.fd = fd

    def file(self, name):
        return os.path.join(self.path, name)

    def read(self):
        """The saved record, or None while create has not written it yet, or
        where it cannot be read back (empty after a crash on a disk root): the
        container then reads as stopped, and delete removes what is left."""
        try:
            with open(self.file(STATE_FILE), "rb") as f:
                return jsonio.loads(f.read())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, record):
        """Replace state.json; on failure the previous one is still in place."""
        try:
            write_atomic(self.file(STATE_FILE), jsonio.dumps(record).encode())
        except OSError as e:
            raise StateRootError(f"cannot write state file {self.file(STATE_FILE)}: {e.strerror}") from None

    def remove(self):
        for name in os.listdir(self.path):
            os.unlink(os.path.join(self.path, name))
        os.rmdir(self.path)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class StateStore:
    def __init__(self, root=None):
        self.root = os.path.abspath(root or default_root())

    def path(self, container_id):
        return os.path.join(self.root, validate_id(container_id))

    def ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        # Also a directory without state.json (its create was killed at
        # once): the id is taken until delete, so list shows it, as stopped.
        return sorted(n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(self.root, n)))

    def new(self, container_id):
        """Make and lock the directory of a new container; ExistsError if taken."""
        path = self.path(container_id)
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            raise ExistsError(container_id) from None
        except OSError as e:
            raise StateRootError(f"state root {self.root}: cannot create {container_id}: {e.strerror}") from None
        return ContainerDir(path, self._lock(path, container_id))

    def open(self, container_id):
        """Lock the directory of an existing container; NotFoundError if none."""
        path = self.path(container_id)
        return ContainerDir(path, self._lock(path, container_id))

    def _lock(self, path, container_id):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(container_id) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A delete may have removed the directory while we waited for the lock.
        if os.fstat(fd).st_nlink == 0:
            os.close(fd)
            raise NotFoundError(container_id)
        return fd
