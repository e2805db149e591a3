"""Namespaces: the spec's types as clone flags, and joining namespaces by path."""

import fcntl
import os

from . import syscalls as sc

CLONE_FLAGS = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
# The user namespace is joined first: it owns the others. Mount last but one,
# cgroup last, so paths opened before still resolve in the host's view.
JOIN_ORDER = ("user", "pid", "network", "ipc", "uts", "time", "mount", "cgroup")
NS_GET_NSTYPE = 0xB703


def new_flags(namespaces):
    """The clone flags of the namespaces to create (those without a path)."""
    flags = 0
    for ns in namespaces:
        if not ns.get("path"):
            flags |= CLONE_FLAGS[ns["type"]]
    return flags


def open_paths(namespaces):
    """Open every namespace given by path and check it is of the declared type.
    Returns [(type, fd)] in join order; raises ValueError(index, message)."""
    opened = []
    try:
        for i, ns in enumerate(namespaces):
            path = ns.get("path")
            if not path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise ValueError(i, f"cannot open {path}: {e.strerror}") from None
            opened.append((ns["type"], fd))
            try:
                actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
            except OSError:
                raise ValueError(i, f"{path} is not a namespace file") from None
            if actual != CLONE_FLAGS[ns["type"]]:
                raise ValueError(i, f"{path} is not a namespace of type {ns['type']}")
    except BaseException:
        for _, fd in opened:
            os.close(fd)
        raise
    opened.sort(key=lambda item: JOIN_ORDER.index(item[0]))
    return opened


def join(opened):
    for kind, fd in opened:
        try:
            sc.setns(fd, CLONE_FLAGS[kind])
        except OSError as e:
            raise OSError(e.errno, f"joining the {kind} namespace: {e.strerror}") from None
        os.close(fd)
