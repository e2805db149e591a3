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
import socket
import struct

from ..linux import rootfs, syscalls as sc
from ..linux.terminal import setup_console
from . import sync
from .process import ProcessPlan

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
    linux = spec.linux
    # Capabilities and the seccomp filter are computed now, while the host's
    # libraries are in view.
    plan = ProcessPlan(proc, linux, cfg.extra_env, _warn(channel))
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
    plan.prepare()
    for fd in cfg.preserved_fds:
        os.set_inheritable(fd, True)
    sync.send(channel, created=True)
    channel.close()
    conn = _wait_for_start(listener, cfg.owner_uid)
    error = plan.exec()
    conn.send(f"exec {proc['args'][0]}: {error.strerror}".encode())
    os._exit(127)


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
