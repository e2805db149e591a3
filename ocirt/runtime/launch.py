"""Forking a container's init through its namespaces.

  runtime (P) --fork--> stage 1 (C): joins the cgroup and the namespaces given
                        by path; with a new user namespace, unshares it first
                        and waits while P writes its id maps; unshares the
                        other new ones, forks the init, reports its pid, exits.
              stage 2 (G): pid 1 of the new pid namespace -> runtime/init.py
                        When the config has prestart/createRuntime hooks, G
                        stops after its mounts and P runs them (in the
                        runtime's namespaces, as the spec asks).
P is a child subreaper, so G is re-parented to P when C exits: a failed
create can reap it, and an attached `run` can wait for it. P returns once G
said "created" (or failed), with nothing of G's left behind on failure.
"""

import os
import _signal as signal  # the C module: `signal` imports enum (~2 ms)

from ..errors import ConfigError, RuntimeFailure
from ..linux import namespaces, netdev, syscalls as sc, unixsock
from . import hooks, init, sync
from .stdio import console_for, preserved_fds, seccomp_listener


class LaunchRequest:
    """enter_hook(pid), if given, runs while stage 1 waits before joining its
    cgroup: a driver that needs a pid to make the cgroup (systemd's scope
    units) makes it there."""

    def __init__(self, spec, state_dir_fd, placement, console_socket=None,
                 no_pivot=False, preserve_fds=0, warn=None, enter_hook=None,
                 container_id="", no_new_keyring=False, start_token=b""):
        self.spec = spec
        self.start_token = start_token
        self.container_id = container_id
        self.no_new_keyring = no_new_keyring
        self.state_dir_fd = state_dir_fd
        self.placement = placement
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.warn = warn or (lambda text: None)
        self.enter_hook = enter_hook


def launch(req):
    """Create the container's init; return its host pid once it is created."""
    spec = req.spec
    if not spec.has_namespace("mount"):
        raise ConfigError("linux.namespaces", "a mount namespace is required")
    try:
        ns_fds = namespaces.open_paths(spec.namespaces)
    except ValueError as e:
        index, message = e.args
        raise ConfigError(f"linux.namespaces[{index}].path", message) from None
    fds, extra_env = preserved_fds(req.preserve_fds, socket_activation=True)
    console = None
    closing = [fd for _, fd in ns_fds]
    try:
        console = console_for(spec.process, req.console_socket)
        listener = unixsock.UnixSocket()
        # Through the directory's fd: the path stays short whatever --root is.
        listener.bind(f"/proc/self/fd/{req.state_dir_fd}/start.sock")
        listener.listen(1)
        parent_end, child_end = sync.pair()
        cfg = init.InitConfig(spec, req.no_pivot, fds, extra_env, req.start_token,
                              container_id=req.container_id, no_new_keyring=req.no_new_keyring,
                              runtime_hooks=_has_runtime_hooks(spec),
                              seccomp_listener=seccomp_listener(spec.linux))
        gate = os.pipe() if req.enter_hook else None
        sc.set_child_subreaper()
        # A driver with an enter hook makes the cgroup once stage 1 exists.
        stage1, in_cgroup = (os.fork(), False) if req.enter_hook else req.placement.fork()
        if stage1 == 0:
            parent_end.close()
            if gate:
                os.close(gate[1])
            _stage1(req, cfg, ns_fds, child_end, listener, console, gate[0] if gate else None, in_cgroup)
        child_end.close()
        listener.close()
        if console:
            console.close()
        if gate:
            _open_gate(req, stage1, gate, parent_end)
        return _await_created(parent_end, stage1, req)
    finally:
        for fd in closing:
            try:
                os.close(fd)
            except OSError:
                pass


def _open_gate(req, stage1, gate, channel):
    """Run the enter hook while stage 1 waits on the gate, then let it go.
    If the hook fails, closing the gate unread makes stage 1 exit."""
    os.close(gate[0])
    try:
        req.enter_hook(stage1)
        os.write(gate[1], b"go")
    except BaseException:
        os.close(gate[1])
        os.waitpid(stage1, 0)
        channel.close()
        raise
    os.close(gate[1])


def _stage1(req, cfg, ns_fds, channel, listener, console, gate=None, in_cgroup=False):
    """In the first child. Never returns."""
    try:
        os.close(req.state_dir_fd)  # it holds the state lock: not ours to keep
        sc.set_dumpable(False)
        sc.close_range_cloexec(3 + len(cfg.preserved_fds))
        if gate is not None:
            if os.read(gate, 2) != b"go":
                os._exit(1)  # the runtime gave up on us
            os.close(gate)
        if not in_cgroup:
            req.placement.enter()
        namespaces.join(ns_fds)
        flags = namespaces.new_flags(cfg.spec.namespaces)
        if flags & sc.CLONE_NEWUSER:
            _new_user_namespace(channel)
            flags &= ~sc.CLONE_NEWUSER
        if cfg.spec.has_namespace("user"):
            # Root of the (new or joined) user namespace: the ids the maps
            # give us, and the capabilities in it to build the container.
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            sc.set_dumpable(False)  # the id change reset it
        sc.unshare(flags)
        if flags & sc.CLONE_NEWNET:
            netdev.loopback_up()
        if flags & sc.CLONE_NEWTIME:
            _write_time_offsets(cfg.spec.linux.get("timeOffsets", {}))
        pid = os.fork()
        if pid == 0:
            init.run(cfg, channel, listener, console)
        sync.send(channel, pid=pid)
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - reported to the runtime
        try:
            sync.send(channel, error=str(e) or type(e).__name__)
        finally:
            os._exit(1)


def _new_user_namespace(channel):
    """In stage 1: unshare the user namespace and wait until the runtime has
    written its id maps (only a process outside it may)."""
    # An unprivileged runtime writes our maps through /proc/<our pid>, which
    # it may only while we are dumpable. No process of the container exists
    # yet and we are still in the host's other namespaces: only the caller's
    # own uid could look at us in this window. Root needs no such window.
    if os.geteuid() != 0:
        sc.set_dumpable(True)
    sc.unshare(sc.CLONE_NEWUSER)
    sync.send(channel, userns=True)
    reply = sync.receive(channel)
    sc.set_dumpable(False)
    if not reply or not reply.get("mapped"):
        os._exit(1)  # the runtime failed and says why itself


def _write_time_offsets(offsets):
    """linux.timeOffsets: only until the first process enters the new time
    namespace (our init, forked next) may its clocks be moved."""
    lines = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n" for clock, o in offsets.items())
    if not lines:
        return
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)
    except OSError as e:
        raise OSError(e.errno, f"linux.timeOffsets: {e.strerror}") from None


def _has_runtime_hooks(spec):
    found = spec.raw.get("hooks", {})
    return bool(found.get("prestart") or found.get("createRuntime"))


def _await_created(channel, stage1, req):
    pid = None
    devices = None
    spec = req.spec
    try:
        while True:
            message = sync.receive(channel)
            if message is None:
                raise RuntimeFailure("container init exited before it was created")
            if "warning" in message:
                req.warn(message["warning"])
            elif "error" in message:
                raise RuntimeFailure(message["error"])
            elif message.get("userns"):
                from ..linux.userns import write_maps
                write_maps(stage1, spec.linux.get("uidMappings", []), spec.linux.get("gidMappings", []))
                sync.send(channel, mapped=True)
            elif "pid" in message:
                pid = message["pid"]
                os.waitpid(stage1, 0)
                stage1 = None
                devices = _move_net_devices(spec.linux.get("netDevices"), pid, channel)
            elif message.get("hooks") == "runtime":
                state = hooks.state(req.container_id, spec, "creating", pid)
                try:
                    for kind in ("prestart", "createRuntime"):
                        hooks.run_all(kind, spec.raw.get("hooks", {}), state)
                except hooks.HookError as e:
                    raise RuntimeFailure(str(e)) from None
                sync.send(channel, proceed=True)
            elif message.get("created"):
                return pid
    except BaseException:
        if devices:  # back to the host while the init's namespace is held open
            for problem in devices.undo():
                req.warn(problem)
        channel.close()  # first: a child waiting on us reads EOF and exits
        if stage1 is not None:
            os.waitpid(stage1, 0)
        if pid is not None:
            _kill_and_reap(pid)
        raise
    finally:
        channel.close()
        if devices:
            devices.close()


def _move_net_devices(devices, pid, channel):
    """linux.netDevices, moved into the init's network namespace; the init
    waits for the word before anything (sysctl, hooks) may look for them."""
    if not devices:
        return None
    try:
        moved = netdev.move_in(devices, pid)
    except ProcessLookupError:
        return None  # the init died: its own error is next on the channel
    except netdev.NetDeviceError as e:
        raise RuntimeFailure(str(e)) from None
    try:
        sync.send(channel, netdevices=True)
    except OSError:
        pass  # the init is gone; its own error is still to be read
    return moved


def _kill_and_reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
