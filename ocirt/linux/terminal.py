"""The container's console: a pty from the container's own devpts instance,
its master sent to the caller's console socket, its slave made the process's
controlling terminal and stdio and bound onto /dev/console."""

import errno
import fcntl
import os
import stat
import struct

from . import mountapi, unixsock
from .paths import mkdirs_in_root

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCGPTPEER = 0x5441
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414


def setup_console(console_sock, size, uid, gid, bind_console=True):
    """bind_console: also bind the pty onto /dev/console (the init's console;
    an exec'd process gets a pty of its own and leaves /dev/console alone)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        # The peer by fd, never by a /dev/pts path the container could swap.
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        if size:
            fcntl.ioctl(slave, TIOCSWINSZ, struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0))
        os.fchown(slave, uid, gid)
        if bind_console:
            _bind_dev_console(slave)
        unixsock.send_fds(console_sock, f"/dev/pts/{number}".encode(), [master])
    finally:
        os.close(master)
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)


def _bind_dev_console(slave):
    """Bind the pty onto /dev/console from fd to fd: no path the container
    controls is looked up for either side (CVE-2025-52565)."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev_fd = mkdirs_in_root(root_fd, "/dev")
    finally:
        os.close(root_fd)
    try:
        try:
            st = os.stat("console", dir_fd=dev_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise OSError(errno.ELOOP, "/dev/console is a symlink, refusing to bind the console there")
        except FileNotFoundError:
            os.close(os.open("console", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=dev_fd))
        console = os.open("console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev_fd)
    finally:
        os.close(dev_fd)
    tree = mountapi.clone_fd(slave)
    try:
        mountapi.attach(tree, console)
    finally:
        os.close(tree)
        os.close(console)
