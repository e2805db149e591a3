"""linux.sysctl: which keys a container may set, and setting them.

/proc/sys is only partly namespaced. As runc does, a key is allowed only
when it belongs to a namespace the container has of its own: the IPC keys
with an ipc namespace, net.* with a network namespace that is not the
runtime's, kernel.domainname with a uts namespace (kernel.hostname has its
own field), user.* with a user namespace. Anything else would change the
host.

Values are written through the runtime's own procfs (procfs.PrivateProc),
never through the container's /proc (CVE-2025-52881). Files under /proc/sys
act on the namespaces of the process that opens them: the init, already in
the container's namespaces.
"""

import errno
import os

_IPC_KEYS = frozenset(("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                       "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"))


class SysctlError(ValueError):
    def __init__(self, key, message):
        super().__init__(f"linux.sysctl[{key!r}]: {message}")


def normalize(key):
    """sysctl(8) accepts "/" as the separator, "." then standing for a dot in a
    name: net/ipv4/conf/eth0.100/rp_filter is net.ipv4.conf.eth0/100.rp_filter."""
    first = next((c for c in key if c in "./"), ".")
    if first == ".":
        return key
    return key.translate(str.maketrans("./", "/."))


def proc_path(key):
    """The file below /proc/sys/ of a key in dotted form."""
    parts = [p.replace("/", ".") for p in normalize(key).split(".")]
    if not all(parts) or any(p in (".", "..") for p in parts):
        raise SysctlError(key, "is not a valid sysctl name")
    return "/".join(parts)


def check(sysctl, namespaces, is_runtime_netns):
    """Refuse keys the container has no namespace of its own for.
    is_runtime_netns() says if the container shares the runtime's network
    namespace (asked only for net.* keys with a joined network namespace)."""
    kinds = {ns["type"]: ns.get("path") for ns in namespaces}
    for key in sysctl:
        name = normalize(key)
        proc_path(key)
        if name in _IPC_KEYS or name.startswith("fs.mqueue."):
            if "ipc" not in kinds:
                raise SysctlError(key, "is not allowed in the host's ipc namespace")
        elif name.startswith("net."):
            if "network" not in kinds or (kinds["network"] and is_runtime_netns()):
                raise SysctlError(key, "is not allowed in the host's network namespace")
        elif name == "kernel.domainname" and "uts" in kinds:
            pass
        elif name == "kernel.hostname" and "uts" in kinds:
            raise SysctlError(key, "conflicts with the hostname field: set that instead")
        elif name.startswith("user."):
            if "user" not in kinds:
                raise SysctlError(key, "needs a user namespace (it would change the host's limits)")
        else:
            raise SysctlError(key, "is not in a namespace of the container's own: it would change the host")


def _ns_ino(pid, kind):
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def _ppid(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return int(raw[raw.rindex(b")") + 2:].split()[1])


def shares_runtime_netns():
    """Called in the init before the root switch, when /proc is the host's:
    is our network namespace the one of the runtime that created us? The
    runtime is the first ancestor outside our mount namespace (the fork in
    between shares ours)."""
    own_mnt, own_net = _ns_ino("self", "mnt"), _ns_ino("self", "net")
    for _ in range(3):  # the middle process may exit while we look
        try:
            pid = _ppid("self")
            if _ns_ino(pid, "mnt") == own_mnt:
                pid = _ppid(pid)
            return _ns_ino(pid, "net") == own_net
        except (FileNotFoundError, ProcessLookupError):
            continue
    raise OSError(errno.ESRCH, "cannot find the runtime process to compare network namespaces")


def apply(proc, sysctl):
    """Write every key through proc (a PrivateProc)."""
    for key, value in sysctl.items():
        path = "sys/" + proc_path(key)
        try:
            proc.write(path, value.encode())
        except OSError as e:
            reason = "no such sysctl" if e.errno == errno.ENOENT else os.strerror(e.errno)
            raise SysctlError(key, f"writing /proc/{path}: {reason}") from None
