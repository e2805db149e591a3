"""The container's init: pid 1 of the new pid namespace, a fork of the runtime.

It builds the rootfs, prepares the process, tells the runtime "created", waits
for `start` on the start socket and execs the user's program. It is
non-dumpable throughout, so nothing in the container can ptrace it or open
its /proc/<pid>/exe (the host's Python interpreter) or its fds.

After the root switch the host's Python library is gone: everything used from
there on is imported at the top of this module, and errors are reported with
str() only (traceback formatting would import modules).
"""

import os
import signal
import socket
import struct

from ..linux import rootfs, syscalls as sc
from ..linux.capabilities import CapabilityPlan
from ..linux.terminal import setup_console
from . import process, sync

_PEERCRED = struct.Struct("3i")


class InitConfig:
    """What the init needs from the runtime, fixed before the fork."""

    def __init__(self, spec, no_pivot, preserved_fds, extra_env, owner_uid):
        self.spec = spec
        self.no_pivot = no_pivot
        self.preserved_fds = preserved_fds
        self.extra_env = extra_env
        self.owner_uid = owner_uid


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
    caps = CapabilityPlan(proc.get("capabilities", {}), _warn(channel)) \
        if "capabilities" in proc else None
    linux = spec.linux
    session = rootfs.Session()
    try:
        rootfs.check_sysctl(linux.get("sysctl", {}), spec.namespaces)
        rootfs.prepare(session, spec.rootfs, spec.mounts, spec.bundle, linux.get("devices", []),
                       linux.get("rootfsPropagation"))
        rootfs.apply_sysctl(session, linux.get("sysctl", {}))
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
    process.apply_rlimits(proc.get("rlimits", []))
    if "umask" in user:
        os.umask(user["umask"])
    else:
        os.umask(0o022)
    if caps:
        caps.drop_bounding()
    process.switch_user(user)
    if caps:
        caps.apply()
    sc.set_dumpable(False)  # a uid change resets it to suid_dumpable; be explicit
    process.enter_cwd(proc["cwd"])
    env = process.environment(proc) + cfg.extra_env
    path = process.find_executable(proc["args"][0], env)
    for fd in cfg.preserved_fds:
        os.set_inheritable(fd, True)
    sync.send(channel, created=True)
    channel.close()
    conn = _wait_for_start(listener, cfg.owner_uid)
    if proc.get("noNewPrivileges"):
        sc.set_no_new_privs()
    _default_signals()
    try:
        os.execve(path, proc["args"], dict(e.split("=", 1) for e in env))
    except OSError as e:
        conn.send(f"exec {proc['args'][0]}: {e.strerror}".encode())
    os._exit(127)


def _default_signals():
    """An ignored signal stays ignored across exec: Python ignores SIGPIPE and
    SIGXFSZ, and a caller may ignore more. The program starts as from a clean
    exec, with every disposition default and nothing blocked."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _wait_for_start(listener, owner_uid):
    """Block until `start` connects. Only root or the container's owner may:
    the socket lives in a 0700 directory, and the peer is checked as well."""
    while True:
        conn, _ = listener.accept()
        _, uid, _ = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        if uid in (0, owner_uid):
            listener.close()
            return conn
        conn.close()
