"""Resolving paths inside a container's rootfs without ever leaving it.

The image is hostile: any component of a path may be a symlink, absolute or
full of "..", aimed at the host, and another process sharing a volume may
swap a directory for such a link at any moment (CVE-2021-30465,
CVE-2024-45310). Two tools, both ending in an O_PATH fd of the object, which
is then used as it is (mounts attach onto it; nothing looks the path up
again):

- open_in_root: the kernel resolves the whole path with openat2(
  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks and ".." are confined to
  the root, magic links refused. For paths that exist.
- walk_in_root: for paths that may need creating (mount points, device
  nodes). One component at a time, each opened with RESOLVE_NO_SYMLINKS
  relative to the directory fd before it. Symlinks are read and followed by
  us (an absolute target restarts at the root, ".." pops our own stack of
  directory fds and stops at the root), missing components are made with
  mkdirat/mknodat in that directory fd. The kernel never follows a link for
  us, so a link swapped in between two steps is seen and followed inside
  the root, never out of it.
"""

import errno
import os
import stat

from . import syscalls as sc

_IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
_STEP = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS
O_PATH = os.O_PATH
MAX_SYMLINKS = 40  # as the kernel's path walk


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


def open_in_root(root_fd, path, flags=O_PATH):
    return sc.openat2(root_fd, path.lstrip("/") or ".", flags, _IN_ROOT)


def _components(path):
    return [p for p in path.split("/") if p and p != "."]


def _step(dir_fd, name):
    """O_PATH fd of name in dir_fd, never following it (a symlink comes back
    as the link itself)."""
    return sc.openat2(dir_fd, name, O_PATH | os.O_NOFOLLOW, _STEP)


def walk_in_root(root_fd, path, create=None, mode=0o755):
    """O_PATH fd of path inside the root, following symlinks inside it.
    create: None (must exist), "dir" (mkdir -p) or "file" (parents as
    directories, an empty regular file last). Returns (fd, created?)."""
    todo = _components(path)
    todo.reverse()                    # a stack: next component last
    stack = [os.dup(root_fd)]         # directory fds from the root down
    links = 0
    created = False
    try:
        while todo:
            name = todo.pop()
            if name == "..":
                if len(stack) > 1:    # ".." of the root is the root
                    os.close(stack.pop())
                continue
            last = not todo
            try:
                fd = _step(stack[-1], name)
            except FileNotFoundError:
                if create is None:
                    raise
                try:
                    if last and create == "file":
                        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                                         | os.O_CLOEXEC, 0o644, dir_fd=stack[-1]))
                    else:
                        os.mkdir(name, mode, dir_fd=stack[-1])
                    created = True
                except FileExistsError:
                    pass              # made by someone else meanwhile: look again
                links += 1            # (bounded: a racing remover cannot loop us forever)
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, f"{path}: changed under us too many times")
                todo.append(name)
                continue
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink("", dir_fd=fd)
                finally:
                    os.close(fd)
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, f"{path}: too many levels of symbolic links")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo.extend(reversed(_components(target)))
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, f"{path}: a component is not a directory")
            stack.append(fd)
        fd = stack.pop()
        if create == "dir" and not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.ENOTDIR, f"{path} exists and is not a directory")
        return fd, created
    finally:
        for fd in stack:
            os.close(fd)


def mkdirs_in_root(root_fd, path, mode=0o755):
    """mkdir -p of path inside the root; returns an O_PATH fd of the directory."""
    return walk_in_root(root_fd, path, "dir", mode)[0]


def open_or_create_in_root(root_fd, path, want_dir, mode=0o755):
    """Open the mount target `path` inside the root, creating it as a directory
    or an empty file when missing. Returns (O_PATH fd, created?)."""
    try:
        return open_in_root(root_fd, path), False
    except FileNotFoundError:
        pass
    return walk_in_root(root_fd, path, "dir" if want_dir else "file", mode)


def create_in_root(root_fd, path, want_dir, mode=0o755):
    """open_or_create_in_root without the flag: just the O_PATH fd."""
    return open_or_create_in_root(root_fd, path, want_dir, mode)[0]


def path_in_root(root_fd, fd):
    """The path, as the container will see it, of the object behind fd, or
    None if it is not below the root. Before the root switch only: it reads
    the host's /proc."""
    root = os.readlink(fd_path(root_fd))
    where = os.readlink(fd_path(fd))
    if where == root:
        return "/"
    prefix = root.rstrip("/") + "/"
    return "/" + where[len(prefix):] if where.startswith(prefix) else None


def open_plain_dir_in_root(root_fd, path):
    """A directory to mount procfs or sysfs on: created if missing, but the
    last component must not be a symlink or anything but a directory (they
    are never mounted through one: the CVE-2019-19921 family)."""
    parent, name = os.path.split(os.path.normpath("/" + path.lstrip("/")))
    pfd = mkdirs_in_root(root_fd, parent)
    try:
        try:
            os.mkdir(name, 0o755, dir_fd=pfd)
        except FileExistsError:
            pass
        fd = _step(pfd, name)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISDIR(mode):
            os.close(fd)
            what = "a symlink" if stat.S_ISLNK(mode) else "not a directory"
            raise OSError(errno.ELOOP if stat.S_ISLNK(mode) else errno.ENOTDIR,
                          f"{path} is {what}, refusing to mount there")
        return fd
    finally:
        os.close(pfd)
