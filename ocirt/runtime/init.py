"""The container's init: pid 1 of the new pid namespace, a fork of the runtime.

It builds the rootfs, prepares the process, tells the runtime "created", waits
for `start` on the start socket and execs the user's program. It is
non-dumpable throughout, so nothing in the container can ptrace it or open
its /proc/<pid>/exe (the host's Python interpreter) or its fds.

After the root switch the host's Python library is gone: everything used from
there on is imported at the top of this module, and errors are reported with
str() only (traceback formatting would import modules).
"""

import errno
import os

from ..linux import lsm, rootfs, syscalls as sc, unixsock
from ..linux.terminal import setup_console
from . import hooks, sync
from .process import ProcessPlan

START_ACK = b"\0"  # the init took the start request; what follows is an error


class InitConfig:
    """What the init needs from the runtime, fixed before the fork.
    runtime_hooks: stop after the mounts so the runtime runs prestart and
    createRuntime hooks; seccomp_listener: a socket to the seccomp agent."""

    def __init__(self, spec, no_pivot, preserved_fds, extra_env, start_token, container_id="",
                 no_new_keyring=False, runtime_hooks=False, seccomp_listener=None):
        self.spec = spec
        self.no_pivot = no_pivot
        self.preserved_fds = preserved_fds
        self.extra_env = extra_env
        self.start_token = start_token  # bytes `start` must present
        self.container_id = container_id
        self.no_new_keyring = no_new_keyring
        self.runtime_hooks = runtime_hooks
        self.seccomp_listener = seccomp_listener


def run(cfg, channel, listener, console):
    """Never returns: execs the user's program or exits non-zero."""
    try:
        _exec(cfg, channel, listener, console)
    except BaseException as e:  # noqa: BLE001 - everything goes back to the runtime
        try:
            sync.send(channel, error=str(e) or type(e).__name__)
        except OSError:
            pass
    os._exit(1)


def _warn(channel):
    return lambda text: sync.send(channel, warning=text)


def _exec(cfg, channel, listener, console):
    spec = cfg.spec
    proc = spec.process
    user = proc["user"]
    os.setsid()
    linux = spec.linux
    host_pid = int(os.readlink("/proc/self"))  # the host's procfs, until the switch
    if not cfg.no_new_keyring:
        _join_new_keyring(cfg.container_id, _warn(channel))
    # Capabilities and the seccomp filter are computed now, while the host's
    # libraries are in view.
    plan = ProcessPlan(proc, linux, cfg.extra_env, _warn(channel), cfg.seccomp_listener,
                       hooks.state(cfg.container_id, spec, "creating", host_pid))
    config_hooks = spec.raw.get("hooks", {})
    session = rootfs.Session()
    try:
        rootfs.check_sysctl(linux.get("sysctl", {}), spec.namespaces)
        mounts = lsm.label_mounts(spec.mounts, linux.get("mountLabel"))
        rootfs.prepare(session, spec.rootfs, mounts, spec.bundle, linux.get("devices", []),
                       linux.get("rootfsPropagation"))
        if linux.get("netDevices"):
            _wait_for(channel, "netdevices")  # net.* sysctls may name them
        rootfs.apply_sysctl(session, linux.get("sysctl", {}))
        if cfg.runtime_hooks:
            sync.send(channel, hooks="runtime")
            _wait_for(channel, "proceed")
        hooks.run_all("createContainer", config_hooks,
                      hooks.state(cfg.container_id, spec, "creating", host_pid))
        rootfs.switch_root(spec.rootfs, cfg.no_pivot)
        rootfs.set_root_propagation(linux.get("rootfsPropagation"))
        if proc.get("terminal"):
            setup_console(console, proc.get("consoleSize"), user.get("uid", 0), user.get("gid", 0))
            console.close()
        rootfs.mask_paths(linux.get("maskedPaths", []))
        rootfs.readonly_paths(linux.get("readonlyPaths", []))
        if spec.hostname:
            sc.sethostname(spec.hostname)
        if spec.domainname:
            sc.setdomainname(spec.domainname)
        # Read-only last; and no fd of ours is left open past this point.
        session.finish(spec.root_readonly)
    finally:
        session.close()
    plan.prepare()
    for fd in cfg.preserved_fds:
        os.set_inheritable(fd, True)
    sync.send(channel, created=True)
    channel.close()
    conn = _wait_for_start(listener, cfg.start_token)
    try:
        hooks.run_all("startContainer", config_hooks, hooks.state(cfg.container_id, spec, "created", host_pid))
    except hooks.HookError as e:
        conn.send(str(e).encode())
        os._exit(1)
    error = plan.exec()
    conn.send(f"exec {proc['args'][0]}: {error.strerror}".encode())
    os._exit(127)


def _wait_for(channel, word):
    reply = sync.receive(channel)
    if not reply or not reply.get(word):
        os._exit(1)  # the runtime failed and reports why


def _join_new_keyring(container_id, warn):
    """A session keyring of the container's own, so that it sees none of the
    host's keys. Where the kernel or a seccomp policy refuses keyrings, the
    container still runs, as with runc."""
    try:
        sc.join_session_keyring(f"_ses.{container_id}")
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
            raise
        warn(f"no session keyring of its own for the container: {e.strerror}")


def _wait_for_start(listener, token):
    """Block until `start` connects and presents the token, a secret kept in
    the container's root-only state file. Peer credentials would not do: in
    a user namespace the host's root shows as the overflow uid, like any
    unmapped user."""
    while True:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            presented = conn.recv(len(token), unixsock.MSG_WAITALL)
        except OSError:
            presented = b""
        conn.settimeout(None)
        if _same(presented, token):
            listener.close()
            conn.send(START_ACK)
            return conn
        conn.close()


def _same(a, b):
    """Constant-time comparison (hmac would be imported after the switch)."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0
