"""A procfs of the runtime's own, for every write under /proc.

The container's /proc is a path: a mount in mounts[] or a racing process that
shares a volume could put something else there (CVE-2025-52881). This procfs
is a new instance mounted detached (fsmount, never attached anywhere), so no
mount can cover any part of it and no path leads to it. It is checked to be
procfs before use and it shows the container's pid namespace, because the
init creates it from inside that namespace.
"""

import errno
import os

from . import mountapi, syscalls as sc

PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1
_BENEATH = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_XDEV


class PrivateProc:
    def __init__(self):
        self.fd = mountapi.new_filesystem(
            "proc", "proc", attrs=sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC)
        try:
            verify(self.fd)
        except BaseException:
            os.close(self.fd)
            raise

    def open(self, path, flags):
        """Open path below this procfs without following any symlink or
        leaving it (so never through a magic link)."""
        return sc.openat2(self.fd, path, flags, _BENEATH)

    def write(self, path, data):
        fd = self.open(path, os.O_WRONLY)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def verify(fd):
    """fd must be the root of a procfs."""
    if sc.fstatfs_type(fd) != PROC_SUPER_MAGIC or os.fstat(fd).st_ino != PROC_ROOT_INO:
        raise OSError(errno.EXDEV, "the runtime's procfs is not the root of a procfs")
