"""Container: the library API and the lifecycle state machine.

Which operation is legal in which status is decided here and only here:

    create -> created --start--> running --(process exits)--> stopped
    kill: created, running, paused      delete: stopped; created (kills it);
    start: created                      running/paused only with force

Status is derived from the kernel every time (init pid alive with the start
time we recorded; start socket still there = not started yet), never trusted
from a file.
"""

import os
import select
import signal
import time

from . import log
from .errors import NotRunningError, OcirtError, RuntimeFailure, StateError
from .state import START_SOCKET, StateStore, write_atomic, validate_id

CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"
_KILLABLE = (CREATED, RUNNING, PAUSED)


def _now_rfc3339():
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _owner(uid):
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Container:
    """A container known to a state root. Get one from Container.create() or
    Container.load(); each method locks the container while it runs."""

    def __init__(self, container_id, store, record):
        self.id = container_id
        self._store = store
        self._record = record

    # -- construction ------------------------------------------------------
    @classmethod
    def create(cls, container_id, bundle, root=None, *, console_socket=None, pid_file=None,
               no_pivot=False, preserve_fds=0):
        """Create the container from the bundle and leave it in `created`.
        On any failure nothing is left: no state, cgroup, mount or process."""
        from .linux.cgroups import Placement
        from .linux.proc import start_time
        from .runtime.launch import LaunchRequest, launch
        from .spec import OCI_VERSION, load_bundle

        validate_id(container_id)
        spec = load_bundle(bundle)
        store = StateStore(root)
        record = {
            "ociVersion": OCI_VERSION, "id": container_id, "pid": 0,
            "bundle": spec.bundle, "rootfs": spec.rootfs, "created": _now_rfc3339(),
            "owner": _owner(os.geteuid()), "annotations": spec.annotations,
        }
        with store.new(container_id) as cdir:
            placement = None
            pid = 0
            try:
                placement = Placement.plan(spec.linux.get("cgroupsPath", ""), container_id)
                record["cgroup"] = placement.to_record()
                cdir.write(record)  # before anything exists that delete must undo
                placement.create()
                record["cgroup"] = placement.to_record()
                cdir.write(record)
                pid = launch(LaunchRequest(spec, cdir.fd, placement, console_socket,
                                           no_pivot, preserve_fds, warn=log.warning))
                record["pid"] = pid
                record["init_start"] = start_time(pid)
                cdir.write(record)
                if pid_file:
                    write_atomic(os.path.abspath(pid_file), str(pid).encode(), 0o644)
            except BaseException as e:
                _undo_create(cdir, placement, pid)
                if isinstance(e, ValueError):
                    raise RuntimeFailure(str(e)) from None
                if isinstance(e, OSError) and not isinstance(e, OcirtError):
                    raise RuntimeFailure(f"create {container_id}: {e.strerror or e}") from None
                raise
        return cls(container_id, store, record)

    @classmethod
    def load(cls, container_id, root=None):
        store = StateStore(root)
        with store.open(container_id) as cdir:
            return cls(container_id, store, cdir.read() or {"id": container_id})

    @classmethod
    def list(cls, root=None):
        """The state of every container under the root."""
        store = StateStore(root)
        states = []
        for container_id in store.ids():
            try:
                states.append(cls.load(container_id, root).state())
            except OcirtError:
                continue  # deleted while we listed
        return states

    # -- queries -----------------------------------------------------------
    @property
    def pid(self):
        return self._record.get("pid", 0)

    def _status(self, record=None):
        from .linux.proc import is_alive
        record = record or self._record
        if not is_alive(record.get("pid"), record.get("init_start")):
            return STOPPED
        if os.path.exists(os.path.join(self._store.path(self.id), START_SOCKET)):
            return CREATED
        return RUNNING

    @property
    def status(self):
        return self._status()

    def state(self):
        """The runtime-spec state document (plus runc's rootfs, created, owner)."""
        r = self._record
        status = self._status()
        return {
            "ociVersion": r.get("ociVersion"), "id": self.id,
            "pid": r.get("pid", 0) if status != STOPPED else 0,
            "status": status, "bundle": r.get("bundle"), "rootfs": r.get("rootfs"),
            "created": r.get("created"), "owner": r.get("owner", ""),
            "annotations": r.get("annotations") or {},
        }

    # -- operations ----------------------------------------------------------
    def _locked(self):
        cdir = self._store.open(self.id)
        self._record = cdir.read() or self._record
        return cdir

    def start(self):
        """Make the init exec the user's program; returns once it has."""
        import socket
        with self._locked() as cdir:
            status = self._status()
            if status != CREATED:
                raise StateError(f"cannot start container {self.id}: it is {status}, not created", status)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(f"/proc/self/fd/{cdir.fd}/{START_SOCKET}")
                # The init closes the connection by exec (close-on-exec): EOF is
                # success; anything it sends first is why exec failed.
                chunks = []
                while chunk := sock.recv(4096):
                    chunks.append(chunk)
            except OSError as e:
                raise RuntimeFailure(f"cannot start container {self.id}: init is gone ({e.strerror})") from None
            finally:
                sock.close()
                try:
                    os.unlink(cdir.file(START_SOCKET))
                except FileNotFoundError:
                    pass
            if chunks:
                raise RuntimeFailure(b"".join(chunks).decode(errors="replace"))

    def kill(self, sig=signal.SIGTERM, all=False):
        from .linux.cgroups import Placement
        from .linux.proc import open_pidfd
        with self._locked():
            status = self._status()
            if status not in _KILLABLE:
                raise NotRunningError(self.id, status)
            if all:
                for pid in Placement.from_record(self._record.get("cgroup")).pids():
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                return
            pidfd = open_pidfd(self.pid, self._record.get("init_start"))
            if pidfd is None:
                raise NotRunningError(self.id, STOPPED)
            try:
                signal.pidfd_send_signal(pidfd, sig)
            finally:
                os.close(pidfd)

    def delete(self, force=False):
        """Remove the container. A created one is killed first (as runc does);
        a running or paused one only with force."""
        with self._locked() as cdir:
            status = self._status()
            if status in (RUNNING, PAUSED) and not force:
                raise StateError(f"cannot delete container {self.id} that is not stopped: {status}", status)
            _destroy(cdir, self._record, status)


def _destroy(cdir, record, status):
    from .linux.cgroups import Placement
    from .linux.proc import open_pidfd
    placement = Placement.from_record(record.get("cgroup"))
    if status != STOPPED:
        pidfd = open_pidfd(record.get("pid"), record.get("init_start"))
        if pidfd is not None:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                select.select([pidfd], [], [], 10)  # readable once it has exited
            finally:
                os.close(pidfd)
    # Processes that escaped the init's death (host pid namespace): kill them too.
    for pid in placement.pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    placement.remove()
    cdir.remove()


def _undo_create(cdir, placement, pid):
    from .linux.proc import start_time
    try:
        if pid:
            _destroy(cdir, {"pid": pid, "init_start": start_time(pid),
                            "cgroup": placement.to_record()}, RUNNING)
            return
        if placement is not None:
            placement.remove()
        cdir.remove()
    except OSError as e:
        log.warning(f"cleaning up after a failed create: {e}")
