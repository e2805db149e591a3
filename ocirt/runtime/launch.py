"""Forking a container's init through its namespaces.

  runtime (P) --fork--> stage 1 (C): joins the cgroup and the namespaces given
                        by path, unshares the new ones, forks the init, reports
                        its pid, exits.
              stage 2 (G): pid 1 of the new pid namespace -> runtime/init.py
P is a child subreaper, so G is re-parented to P when C exits: a failed
create can reap it, and an attached `run` can wait for it. P returns once G
said "created" (or failed), with nothing of G's left behind on failure.
"""

import os
import signal
import socket

from ..errors import ConfigError, RuntimeFailure
from ..linux import namespaces, syscalls as sc
from ..linux.terminal import connect_console_socket
from . import init, sync


class LaunchRequest:
    """enter_hook(pid), if given, runs while stage 1 waits before joining its
    cgroup: a driver that needs a pid to make the cgroup (systemd's scope
    units) makes it there."""

    def __init__(self, spec, state_dir_fd, placement, console_socket=None,
                 no_pivot=False, preserve_fds=0, warn=None, enter_hook=None):
        self.spec = spec
        self.state_dir_fd = state_dir_fd
        self.placement = placement
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.warn = warn or (lambda text: None)
        self.enter_hook = enter_hook


def _passed_fds(preserve_fds):
    """fds 3.. that the container gets: $LISTEN_FDS (socket activation, when
    meant for us) plus --preserve-fds more, as runc counts them."""
    listen = 0
    if os.environ.get("LISTEN_FDS") and os.environ.get("LISTEN_PID") == str(os.getpid()):
        listen = int(os.environ["LISTEN_FDS"])
    fds = list(range(3, 3 + listen + preserve_fds))
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            raise RuntimeFailure(f"--preserve-fds: fd {fd} is not open") from None
    extra_env = [f"LISTEN_FDS={listen}", "LISTEN_PID=1"] if listen else []
    return fds, extra_env


def launch(req):
    """Create the container's init; return its host pid once it is created."""
    spec = req.spec
    if spec.has_namespace("user"):
        raise RuntimeFailure("linux.namespaces: user namespaces are not supported yet")
    if not spec.has_namespace("mount"):
        raise ConfigError("linux.namespaces", "a mount namespace is required")
    try:
        ns_fds = namespaces.open_paths(spec.namespaces)
    except ValueError as e:
        index, message = e.args
        raise ConfigError(f"linux.namespaces[{index}].path", message) from None
    fds, extra_env = _passed_fds(req.preserve_fds)
    console = None
    closing = [fd for _, fd in ns_fds]
    try:
        if spec.process.get("terminal"):
            if not req.console_socket:
                raise RuntimeFailure("process.terminal is true: --console-socket is required")
            if isinstance(req.console_socket, socket.socket):
                console = req.console_socket  # `run` relays the pty itself
            else:
                try:
                    console = connect_console_socket(req.console_socket)
                except OSError as e:
                    raise RuntimeFailure(f"--console-socket {req.console_socket}: {e.strerror}") from None
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Through the directory's fd: the path stays short whatever --root is.
        listener.bind(f"/proc/self/fd/{req.state_dir_fd}/start.sock")
        listener.listen(1)
        parent_end, child_end = sync.pair()
        cfg = init.InitConfig(spec, req.no_pivot, fds, extra_env, os.geteuid())
        gate = os.pipe() if req.enter_hook else None
        sc.set_child_subreaper()
        stage1 = os.fork()
        if stage1 == 0:
            parent_end.close()
            if gate:
                os.close(gate[1])
            _stage1(req, cfg, ns_fds, child_end, listener, console, gate[0] if gate else None)
        child_end.close()
        listener.close()
        if console:
            console.close()
        if gate:
            _open_gate(req, stage1, gate, parent_end)
        return _await_created(parent_end, stage1, req.warn)
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


def _stage1(req, cfg, ns_fds, channel, listener, console, gate=None):
    """In the first child. Never returns."""
    try:
        os.close(req.state_dir_fd)  # it holds the state lock: not ours to keep
        sc.set_dumpable(False)
        sc.close_range_cloexec(3 + len(cfg.preserved_fds))
        if gate is not None:
            if os.read(gate, 2) != b"go":
                os._exit(1)  # the runtime gave up on us
            os.close(gate)
        req.placement.enter()
        namespaces.join(ns_fds)
        sc.unshare(namespaces.new_flags(cfg.spec.namespaces))
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


def _await_created(channel, stage1, warn):
    pid = None
    try:
        while True:
            message = sync.receive(channel)
            if message is None:
                raise RuntimeFailure("container init exited before it was created")
            if "warning" in message:
                warn(message["warning"])
            elif "error" in message:
                raise RuntimeFailure(message["error"])
            elif "pid" in message:
                pid = message["pid"]
                os.waitpid(stage1, 0)
                stage1 = None
            elif message.get("created"):
                return pid
    except BaseException:
        if stage1 is not None:
            os.waitpid(stage1, 0)
        if pid is not None:
            _kill_and_reap(pid)
        raise
    finally:
        channel.close()


def _kill_and_reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
