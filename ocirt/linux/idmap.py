"""User namespaces that exist only to carry an id mapping, for idmapped
mounts (mount_setattr(MOUNT_ATTR_IDMAP) takes the mapping as a userns fd).

A child unshares CLONE_NEWUSER and waits; the init, root in the parent user
namespace, writes the child's uid_map and gid_map through its own procfs and
opens the namespace; then the child exits. The fd keeps the namespace alive.
"""

import os

from . import syscalls as sc


def _map_text(mappings):
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings).encode()


def make_userns(proc, uid_mappings, gid_mappings):
    """An fd of a new user namespace with these mappings. proc: PrivateProc."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only waits
        status = 0
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)  # EOF when the parent is done (or died)
        except BaseException:  # noqa: BLE001 - the parent sees the missing byte
            status = 1
        os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(1, "the helper process for the id mapping failed to create a user namespace")
        for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
            try:
                proc.write(f"{pid}/{name}", _map_text(mappings))
            except OSError as e:
                what = "uidMappings" if name == "uid_map" else "gidMappings"
                raise OSError(e.errno, f"{what}: the kernel refused the mapping ({e.strerror})") from None
        # ns/user is a magic link, but one of our own procfs: safe to follow.
        return os.open(f"{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc.fd)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


class UsernsCache:
    """One user namespace per distinct mapping, for the whole rootfs set-up.
    get_proc() gives the PrivateProc to write the maps with (made on first use)."""

    def __init__(self, get_proc):
        self._get_proc = get_proc
        self._fds = {}

    def get(self, uid_mappings, gid_mappings):
        key = (tuple(tuple(sorted(m.items())) for m in uid_mappings),
               tuple(tuple(sorted(m.items())) for m in gid_mappings))
        if key not in self._fds:
            self._fds[key] = make_userns(self._get_proc(), uid_mappings, gid_mappings)
        return self._fds[key]

    def close(self):
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
