"""Container: the library API and the lifecycle state machine.

Which operation is legal in which status is decided here and only here:

    create -> created --start--> running --(process exits)--> stopped
    created/running --pause--> paused --resume--> created/running
    kill: created, running, paused      delete: stopped; created (kills it);
    start: created                      running/paused only with force
    update: created, running, paused    ps: any; events, stats: not stopped

Status is derived from the kernel every time (init pid alive with the start
time we recorded; cgroup frozen = paused; start socket still there = not
started yet), never trusted from a file.
"""

import os
import time

from . import log
from .errors import NotRunningError, OcirtError, RuntimeFailure, StateError
from .state import START_SOCKET, StateStore, write_atomic, validate_id

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"
_KILLABLE = (CREATED, RUNNING, PAUSED)


def _now_rfc3339():
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _owner(uid):
    if uid == 0:
        return "root"  # uid 0 is root everywhere; a lookup loads NSS (~0.5 ms)
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
               no_pivot=False, preserve_fds=0, systemd_cgroup=False, no_new_keyring=False):
        """Create the container from the bundle and leave it in `created`.
        On any failure nothing is left: no state, cgroup, mount or process.
        systemd_cgroup: the cgroup is a systemd scope (cgroupsPath slice:prefix:name).
        no_new_keyring: keep the caller's session keyring (runc's --no-new-keyring)."""
        from .linux.cgroups import CgroupError, Placement
        from .linux.cgroups.manager import for_placement
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
            # As created: exec's defaults and the hooks of later steps come
            # from here, not from a bundle that may have changed since.
            "config": spec.raw,
            # The secret `start` shows the waiting init (see runtime/init.py).
            "start_token": os.urandom(16).hex(),
        }
        with store.new(container_id) as cdir:
            placement = None
            pid = 0
            try:
                placement = Placement.plan(spec.linux.get("cgroupsPath", ""), container_id,
                                           systemd=systemd_cgroup)
                resources = spec.linux.get("resources") or {}
                if os.geteuid() != 0 and not placement.unit and not placement.writable():
                    # Rootless without delegated cgroups: run without one, as
                    # runc and crun do, rather than not at all.
                    log.warning(f"cgroups are not delegated to uid {os.geteuid()}: the container "
                                "gets no cgroup of its own" + (" and linux.resources is ignored" if resources else ""))
                    placement, resources = Placement([], []), {}
                if not placement.unit:  # a systemd scope's directories are systemd's
                    placement.created = placement.missing()  # claimed: see Placement.create
                record["cgroup"] = placement.to_record()
                cdir.write(record)  # before anything exists that delete must undo
                placement.check_unused()
                manager = for_placement(placement, log.warning)
                # Limits are in place before the init joins the cgroup. Two
                # things wait until it has built the rootfs and waits for
                # start (runc sets everything then), still before any user
                # code: the device rules, as the init mknods linux.devices
                # that they may deny; and pids, as the fork chain needs two.
                late = {"devices": resources.get("devices") or []}
                if "pids" in resources:
                    late["pids"] = resources["pids"]

                def make_cgroup(stage1_pid=None):
                    if placement.unit:  # systemd makes the scope around stage 1
                        from .linux.cgroups.systemd import start_scope
                        start_scope(placement.unit["slice"], placement.unit["unit"], stage1_pid,
                                    resources, placement.is_pure_v2)
                        placement.unit["started"] = True
                    placement.create()
                    record["cgroup"] = placement.to_record()
                    cdir.write(record)
                    if placement.dirs:  # none when rootless without delegation
                        manager.prepare()
                        manager.apply({k: v for k, v in resources.items() if k not in late})

                if not placement.unit:
                    make_cgroup()
                pid = launch(LaunchRequest(spec, cdir.fd, placement, console_socket,
                                           no_pivot, preserve_fds, warn=log.warning,
                                           enter_hook=make_cgroup if placement.unit else None,
                                           container_id=container_id, no_new_keyring=no_new_keyring,
                                           start_token=record["start_token"].encode()))
                record["pid"] = pid
                record["init_start"] = start_time(pid)
                record["resources"] = resources
                cdir.write(record)  # before the late limits: a killed create still names its init
                if placement.dirs:
                    manager.apply(late)
                if pid_file:
                    write_atomic(os.path.abspath(pid_file), str(pid).encode(), 0o644)
            except BaseException as e:
                _undo_create(cdir, placement, pid)
                if isinstance(e, (ValueError, CgroupError)):
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
        if _placement(record).frozen():
            return PAUSED
        if os.path.exists(os.path.join(self._store.path(self.id), START_SOCKET)):
            return CREATED
        return RUNNING

    @property
    def status(self):
        return self._status()

    @property
    def config(self):
        """The config.json the container was created from, as it was then."""
        config = self._record.get("config")
        if config is None and "bundle" not in self._record:
            return {}  # no record at all: its create was killed before the first write
        if config is None:  # a record older than the snapshot: the bundle's
            from .spec import parse
            with open(os.path.join(self._record["bundle"], "config.json"), "rb") as f:
                config = parse(f.read())
        return config

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
        from .linux import unixsock
        with self._locked() as cdir:
            status = self._status()
            if status != CREATED:
                raise StateError(f"cannot start container {self.id}: it is {status}, not created", status)
            path = cdir.file(START_SOCKET)
            # The socket goes once the program runs (its absence is what
            # "not created" means). Where it could not go, as on a read-only
            # root, refuse now: state would say "created" of a running
            # program. It goes only after the exchange, so a start killed
            # midway leaves the container created, and startable again.
            try:
                os.utime(path)
            except OSError as e:
                raise RuntimeFailure(f"cannot start container {self.id}: {path}: {e.strerror}") from None
            sock = unixsock.UnixSocket()
            reply, init_gone = b"", False
            try:
                sock.connect(f"/proc/self/fd/{cdir.fd}/{START_SOCKET}")
                sock.sendall(self._record.get("start_token", "").encode())
                # The init acknowledges, then closes the connection by exec
                # (close-on-exec): ack + EOF is success; anything after the
                # ack is why it failed; no ack means it refused or died.
                while chunk := sock.recv(4096):
                    reply += chunk
            except OSError as e:
                init_gone = True
                raise RuntimeFailure(f"cannot start container {self.id}: init is gone ({e.strerror})") from None
            finally:
                sock.close()
                # Interrupted before any answer, the init waits on: created still.
                if reply or init_gone:
                    _remove_start_socket(self.id, path)
            if not reply.startswith(b"\0"):
                raise RuntimeFailure(f"cannot start container {self.id}: its init refused or died")
            if reply[1:]:
                raise RuntimeFailure(reply[1:].decode(errors="replace"))
            self._poststart()

    def _poststart(self):
        """poststart hooks, in the runtime's namespaces. A failure is an error,
        and the container is stopped (as runc does) rather than left running
        in a state its owner did not get."""
        config_hooks = self.config.get("hooks", {})
        if not config_hooks.get("poststart"):
            return
        from .runtime import hooks
        # The program may be gone already: the hook still learns which it was.
        state = dict(self.state(), status=RUNNING, pid=self.pid)
        try:
            hooks.run_all("poststart", config_hooks, state)
        except hooks.HookError as e:
            import _signal as signal
            from .linux.proc import open_pidfd
            pidfd = open_pidfd(self.pid, self._record.get("init_start"))
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.close(pidfd)
            raise RuntimeFailure(f"{e} (container {self.id} was killed)") from None

    def kill(self, sig=15, all=False):
        """Send sig (default SIGTERM) to the init, or with all to every process
        in the container's cgroup."""
        import _signal as signal
        from .linux.proc import open_pidfd
        with self._locked():
            status = self._status()
            if status not in _KILLABLE:
                raise NotRunningError(self.id, status)
            if all:
                with _cgroup_errors():
                    self._manager().signal_all(sig)
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
            _destroy(cdir, self._record, status, self._poststop)

    def _poststop(self):
        """poststop hooks, once the container's processes are gone; a failure
        is a warning: the container is deleted all the same (runtime-spec)."""
        config_hooks = self.config.get("hooks", {})
        if not config_hooks.get("poststop"):
            return
        from .runtime import hooks
        try:
            hooks.run_all("poststop", config_hooks, dict(self.state(), status=STOPPED, pid=0))
        except hooks.HookError as e:
            log.warning(str(e))

    def exec(self, process, *, console_socket=None, pid_file=None, preserve_fds=0, ignore_paused=False):
        """Start process (a runtime-spec Process) in the running container;
        returns its host pid once it has exec'd. The container's seccomp
        profile, personality and memory policy apply to it as well."""
        from .linux.proc import open_pidfd
        from .runtime.exec import ExecRequest, launch
        with self._locked() as cdir:
            status = self._status()
            if status == PAUSED and not ignore_paused:
                raise StateError(f"cannot exec in container {self.id}: it is paused (see --ignore-paused)", status)
            if status not in (RUNNING, PAUSED):
                raise StateError(f"cannot exec in container {self.id}: it is {status}, not running", status)
            pidfd = open_pidfd(self.pid, self._record.get("init_start"))
            if pidfd is None:
                raise NotRunningError(self.id, STOPPED)
            try:
                pid = launch(ExecRequest(pidfd, self.pid, _placement(self._record), process,
                                         self.config.get("linux", {}), console_socket, preserve_fds,
                                         warn=log.warning, frozen=status == PAUSED, lock_fd=cdir.fd,
                                         container_state=self.state(), on_frozen=cdir.close))
            except (ValueError, OSError) as e:
                if isinstance(e, OcirtError):
                    raise
                raise RuntimeFailure(f"exec in {self.id}: {getattr(e, 'strerror', None) or e}") from None
            finally:
                os.close(pidfd)
        if pid_file:
            write_atomic(os.path.abspath(pid_file), str(pid).encode(), 0o644)
        return pid

    # -- cgroup operations -----------------------------------------------------
    def _manager(self):
        from .linux.cgroups.manager import for_placement
        return for_placement(_placement(self._record), log.warning)

    def pause(self):
        """Freeze every process of the container (created or running)."""
        with self._locked():
            status = self._status()
            if status not in (CREATED, RUNNING):
                raise NotRunningError(self.id, status)
            with _cgroup_errors():
                self._manager().freeze()

    def resume(self):
        with self._locked():
            status = self._status()
            if status != PAUSED:
                raise StateError(f"container not paused: {self.id} is {status}", status)
            with _cgroup_errors():
                self._manager().thaw()

    def update(self, resources, source="resources"):
        """Apply a LinuxResources object to the running container; fields not
        given keep their values. `source` names where it came from in errors."""
        from .errors import ConfigError
        from .spec.schema import SchemaViolation, validator
        if not isinstance(resources, dict):
            raise ConfigError(None, "must be a JSON object (LinuxResources)", file=source)
        try:
            validator("config.schema.json", "Resources").validate(resources)
        except SchemaViolation as e:
            raise ConfigError(e.path, e.message, file=source) from None
        with self._locked() as cdir:
            status = self._status()
            if status not in _KILLABLE:
                raise NotRunningError(self.id, status)
            previous = self._record.get("resources") or {}
            merged = _merge(previous, resources)
            with _cgroup_errors():
                manager = self._manager()
                manager.apply(resources, "linux.resources", previous)
                unit = manager.placement.unit
                if unit and manager.placement.is_pure_v2:
                    from .linux.cgroups.systemd import set_properties
                    set_properties(unit["unit"], merged)  # or a daemon-reload would undo the files
            self._record["resources"] = merged
            cdir.write(self._record)

    def processes(self):
        """Host pids of every process in the container's cgroup."""
        with self._locked():
            return sorted(_placement(self._record).pids())

    def stats(self):
        """Cgroup statistics in the shape of runc's `events --stats`."""
        with self._locked():
            status = self._status()
            if status == STOPPED:
                raise NotRunningError(self.id, status)
            with _cgroup_errors():
                return self._manager().stats()

    def events(self, interval):
        """Yield runc-style events: {"type": "stats", ...} every `interval`
        seconds and {"type": "oom", ...} as they happen, until the container's
        cgroup has no process left. Holds no lock: delete may run meanwhile."""
        with self._locked():
            status = self._status()
            if status == STOPPED:
                raise NotRunningError(self.id, status)
            manager = self._manager()
        with _cgroup_errors():
            wakeups = manager.wakeups()
            try:
                seen = manager.oom_count()
                due = time.monotonic() + interval
                while True:
                    wakeups.wait(due - time.monotonic())
                    count = manager.oom_count()
                    for _ in range(count - seen):
                        yield {"type": "oom", "id": self.id}
                    seen = max(seen, count)
                    if not manager.populated():
                        return
                    if time.monotonic() >= due:
                        yield {"type": "stats", "id": self.id, "data": manager.stats()}
                        due += interval
            finally:
                wakeups.close()


class _cgroup_errors:
    """CgroupError (a one-line message naming field and file) -> RuntimeFailure."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        from .linux.cgroups import CgroupError
        if isinstance(value, CgroupError):
            raise RuntimeFailure(str(value)) from None
        return False


def _placement(record):
    from .linux.cgroups import Placement
    return Placement.from_record(record.get("cgroup"))


def _merge(old, new):
    """LinuxResources: objects merge key by key, everything else is replaced."""
    merged = dict(old)
    for key, value in new.items():
        merged[key] = _merge(old[key], value) if isinstance(value, dict) and isinstance(old.get(key), dict) \
            else value
    return merged


def _remove_start_socket(container_id, path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise RuntimeFailure(f"container {container_id} started, but {path}: {e.strerror}") from None


def _destroy(cdir, record, status, poststop=None):
    import select
    import _signal as signal
    from .linux.proc import open_pidfd
    placement = _placement(record)
    pidfd = open_pidfd(record.get("pid"), record.get("init_start")) if status != STOPPED else None
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        # Everything else in the cgroup too (host pid namespace, or escaped
        # the init's death), and a frozen cgroup must thaw for them to die.
        if placement.pids() or placement.frozen():
            _kill_cgroup(placement)
        if pidfd is not None:
            select.select([pidfd], [], [], 10)  # readable once it has exited
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if poststop is not None:
        poststop()
    placement.remove()
    cdir.remove()


def _kill_cgroup(placement):
    import _signal as signal
    from .linux.cgroups import CgroupError
    from .linux.cgroups.manager import for_placement
    manager = for_placement(placement)
    try:
        if not manager.kill_all():
            for pid in placement.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if placement.frozen():
            manager.thaw()
    except CgroupError as e:
        log.warning(f"killing what is left in the cgroup: {e}")


def _undo_create(cdir, placement, pid):
    from .linux.proc import start_time
    try:
        if pid:
            _destroy(cdir, {"pid": pid, "init_start": start_time(pid),
                            "cgroup": placement.to_record()}, RUNNING)
            return
        if placement is not None:
            placement.remove()
    except Exception as e:  # noqa: BLE001 - the error that made create fail matters more
        log.warning(f"cleaning up after a failed create: {e}")
    finally:
        try:
            cdir.remove()
        except FileNotFoundError:
            pass  # _destroy removed it
        except OSError as e:
            log.warning(f"cleaning up after a failed create: {e}")
