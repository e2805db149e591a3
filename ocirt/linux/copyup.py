"""tmpcopyup: copy what the image has at a mount's destination into the new
tmpfs that will cover it (podman relies on this for /run and /tmp).

The image is not trusted: every step is relative to directory fds and never
follows a symlink, so a link in the image is copied as a link and nothing
outside the image is read. An explicit stack, not recursion: a deep tree
cannot exhaust Python's recursion limit. Owners, modes and times are kept;
hard links become separate files (as in runc).
"""

import errno
import os
import stat

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def _copy_file(src_dir, dst_dir, name):
    # O_NONBLOCK: a file swapped for a fifo after the stat must not hang us.
    src = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=src_dir)
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise OSError(errno.EAGAIN, f"tmpcopyup: {name} changed while it was copied")
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dst_dir)
        try:
            try:
                while os.sendfile(dst, src, None, _CHUNK):
                    pass
            except OSError:  # a filesystem without splice support: plain reads
                while data := os.read(src, _CHUNK):
                    os.write(dst, data)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_entry(src_dir, dst_dir, name, st):
    """Create name in dst_dir like st; returns True if it is a directory."""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(name, 0o700, dir_fd=dst_dir)
    elif stat.S_ISREG(mode):
        _copy_file(src_dir, dst_dir, name)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=src_dir), name, dir_fd=dst_dir)
    else:  # devices, fifos, sockets
        os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dst_dir)
    return stat.S_ISDIR(mode)


def _copy_meta(dst_dir, name, st):
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_dir, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst_dir)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_dir, follow_symlinks=False)


def _open_dir(name, dir_fd):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)


def _copy_dir_meta(fd, st):
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_tree(src_dir, dst_dir):
    """Copy the contents of the directory src_dir into dst_dir (both fds, may
    be O_PATH). dst_dir itself keeps its own owner and mode (a tmpfs has them
    from its options)."""
    top = _open_dir(".", src_dir)
    stack = [(top, _open_dir(".", dst_dir), None)]
    try:
        while stack:
            sfd, dfd, dir_st = stack[-1]
            stack.pop()
            try:
                with os.scandir(sfd) as entries:
                    names = [e.name for e in entries]
                for name in names:
                    st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                    if _copy_entry(sfd, dfd, name, st):
                        sub = _open_dir(name, sfd)
                        try:
                            stack.append((sub, _open_dir(name, dfd), st))
                        except BaseException:
                            os.close(sub)
                            raise
                    else:
                        _copy_meta(dfd, name, st)
                # Its entries are all there now: nothing more changes its times.
                if dir_st is not None:
                    _copy_dir_meta(dfd, dir_st)
            finally:
                os.close(sfd)
                os.close(dfd)
    finally:
        for sfd, dfd, _ in stack:
            os.close(sfd)
            os.close(dfd)
