"""Running another process in a running container (`ocirt exec`).

  runtime (P) --fork--> C: joins the container's cgroup, then all its
                        namespaces at once via setns(pidfd), forks G, exits
              G: in the container's pid namespace: console, process.*,
                 execve. Non-dumpable until execve, like the init.
P is a child subreaper: G is re-parented to it, so an attached exec can wait
for it; a detached one returns as soon as G has exec'd (EOF on the channel,
which is close-on-exec) and G is re-parented to P's own reaper (conmon, the
shim). In a paused container (--ignore-paused) that is once it is resumed.
"""

import os

from ..errors import RuntimeFailure
from ..linux import namespaces, sched, syscalls as sc
from ..linux.terminal import setup_console
from . import sync
from .process import ProcessPlan
from .stdio import console_for, preserved_fds, seccomp_listener

# All the namespace kinds a container may have, as /proc/PID/ns names.
_NS_FILES = (("user", "user"), ("mnt", "mount"), ("pid", "pid"), ("net", "network"),
             ("ipc", "ipc"), ("uts", "uts"), ("cgroup", "cgroup"), ("time", "time"))


class ExecRequest:
    def __init__(self, pidfd, init_pid, placement, process, linux=None, console_socket=None,
                 preserve_fds=0, warn=None, frozen=False, lock_fd=None, container_state=None,
                 on_frozen=None):
        """linux: the container's linux object (seccomp, personality,
        memoryPolicy apply to exec'd processes too). frozen: the container is
        paused, so the process joins its cgroup last and freezes there;
        on_frozen() is called then (to release the state lock, so that the
        container can be resumed while we wait for the execve).
        container_state: the state a seccomp agent (listenerPath) is sent."""
        self.container_state = container_state
        self.on_frozen = on_frozen or (lambda: None)
        self.frozen = frozen
        self.lock_fd = lock_fd  # the container's state lock: never inherited
        self.pidfd = pidfd
        self.init_pid = init_pid
        self.placement = placement
        self.process = process
        self.linux = linux
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.warn = warn or (lambda text: None)


def namespace_flags(pid):
    """The clone flags of the namespaces in which pid differs from us: setns
    refuses to "join" the user namespace we are already in."""
    flags = 0
    for name, kind in _NS_FILES:
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{name}")
            ours = os.stat(f"/proc/self/ns/{name}")
        except FileNotFoundError:
            continue  # a kind this kernel lacks
        if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
            flags |= namespaces.CLONE_FLAGS[kind]
    return flags


def launch(req):
    """Start the process; returns its host pid once it has exec'd."""
    flags = namespace_flags(req.init_pid)
    console = console_for(req.process, req.console_socket)
    fds, _ = preserved_fds(req.preserve_fds)
    # Built here, before the fork: capabilities and the filter are computed
    # while this process still sees the host's libraries.
    plan = ProcessPlan(req.process, req.linux, warn=req.warn,
                       seccomp_listener=seccomp_listener(req.linux), container_state=req.container_state)
    parent_end, child_end = sync.pair()
    sc.set_child_subreaper()
    # Born in the cgroup where it may be: not when paused (it would freeze
    # before joining the namespaces), nor before an initial CPU affinity
    # that the cgroup's cpuset may not allow.
    if req.frozen or plan.proc.get("execCPUAffinity", {}).get("initial"):
        stage1, in_cgroup = os.fork(), False
    else:
        stage1, in_cgroup = req.placement.fork()
    if stage1 == 0:
        parent_end.close()
        _stage1(req, flags, plan, fds, child_end, console, in_cgroup)
    child_end.close()
    if console is not None:
        console.close()
    if plan.seccomp_listener is not None:
        plan.seccomp_listener.close()  # the process's copy is the one that counts
    return _await_exec(parent_end, stage1, req.warn, req.on_frozen)


def _stage1(req, flags, plan, fds, channel, console, in_cgroup):
    """In the first child. Never returns."""
    try:
        if req.lock_fd is not None:
            os.close(req.lock_fd)  # a frozen or long-lived child must not hold the lock
        sc.set_dumpable(False)
        sc.close_range_cloexec(3 + len(fds))
        affinity = plan.proc.get("execCPUAffinity", {})
        if affinity.get("initial"):  # before the cgroup's cpuset applies
            sched.set_affinity(affinity["initial"], "process.execCPUAffinity.initial")
        # In a paused container whatever joins its cgroup freezes at once:
        # then only the last step joins, through fds opened here.
        procs = req.placement.open_procs() if req.frozen else None
        if procs is None and not in_cgroup:
            req.placement.enter()
        sc.setns(req.pidfd, flags)
        os.close(req.pidfd)
        # The seccomp agent is told the process's host pid, which only we
        # learn (from fork): it goes down a pipe.
        pid_pipe = os.pipe() if plan.seccomp_listener is not None else None
        pid = os.fork()
        if pid == 0:
            if pid_pipe:
                os.close(pid_pipe[1])
                plan.process_pid = int(os.read(pid_pipe[0], 32))
                os.close(pid_pipe[0])
            _run(plan, fds, channel, console, procs)
        if pid_pipe:
            os.write(pid_pipe[1], str(pid).encode())
        sync.send(channel, pid=pid)
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - reported to the runtime
        try:
            sync.send(channel, error=_describe(e))
        finally:
            os._exit(1)


def _run(plan, fds, channel, console, procs=None):
    """In the container: becomes the user's process. Never returns."""
    try:
        os.setsid()
        proc = plan.proc
        if console is not None:
            user = proc["user"]
            setup_console(console, proc.get("consoleSize"), user.get("uid", 0), user.get("gid", 0),
                          bind_console=False)
            console.close()
        final = proc.get("execCPUAffinity", {}).get("final")
        if final:
            sched.set_affinity(final, "process.execCPUAffinity.final")
        if procs is not None:
            # Joining freezes us until resume (the runtime waits on, as runc).
            sync.send(channel, frozen=True)
            for fd in procs:
                os.write(fd, b"0")
                os.close(fd)
        plan.prepare()
        for fd in fds:
            os.set_inheritable(fd, True)
        error = plan.exec()
        sync.send(channel, error=f"exec {proc['args'][0]}: {error.strerror}")
    except BaseException as e:  # noqa: BLE001 - everything goes back to the runtime
        try:
            sync.send(channel, error=_describe(e))
        except OSError:
            pass
    os._exit(127)


def _describe(e):
    return (e.strerror if isinstance(e, OSError) and e.strerror else str(e)) or type(e).__name__


def _await_exec(channel, stage1, warn, on_frozen):
    """The new process's pid, once it has exec'd (EOF with no error); in a
    paused container that is after resume, so exec reports a failure then."""
    pid = None
    try:
        while True:
            message = sync.receive(channel)
            if message is None:
                if pid is None:
                    raise RuntimeFailure("exec: the process exited before it started")
                return pid
            if "warning" in message:
                warn(message["warning"])
            elif "error" in message:
                raise RuntimeFailure(message["error"])
            elif "pid" in message:
                pid = message["pid"]
                os.waitpid(stage1, 0)
                stage1 = None
            elif message.get("frozen"):
                on_frozen()
    except BaseException:
        if stage1 is not None:
            os.waitpid(stage1, 0)
        if pid is not None:
            try:
                os.waitpid(pid, 0)  # it exits on its own after reporting the error
            except ChildProcessError:
                pass
        raise
    finally:
        channel.close()
