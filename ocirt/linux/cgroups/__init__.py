"""Placing a container in its own cgroup on v1, v2 and hybrid hosts.

A host has hierarchies: v1 ones (one per controller set, plus named ones like
name=systemd) and at most one v2 (unified). A container gets one directory in
each, at the same path (runc's cgroupfs behaviour). Resource limits, freezing
and the systemd driver come in their own modules.
"""

import errno
import os
import time


class Hierarchy:
    __slots__ = ("mountpoint", "controllers", "own_path")

    def __init__(self, mountpoint, controllers, own_path):
        self.mountpoint = mountpoint
        self.controllers = controllers  # () for v2
        self.own_path = own_path        # this process's cgroup in it

    @property
    def is_v2(self):
        return not self.controllers

    @property
    def mount_options(self):
        """The -o of a v1 mount of this hierarchy."""
        named = [c for c in self.controllers if c.startswith("name=")]
        return ",".join(self.controllers) if not named or len(self.controllers) > 1 \
            else "none," + named[0]


def _mountpoints():
    """{superblock option set: mountpoint} for cgroup mounts in our namespace."""
    v1, v2 = [], None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, super_opts = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup2" and v2 is None:
                v2 = fields[4]
            elif fstype == "cgroup":
                v1.append((set(super_opts.split(",")), fields[4]))
    return v1, v2


def hierarchies():
    """The cgroup hierarchies this process is in, each with its mountpoint."""
    v1_mounts, v2_mount = _mountpoints()
    found = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if hid == "0":
                if v2_mount:
                    found.append(Hierarchy(v2_mount, (), path))
                continue
            names = tuple(controllers.split(","))
            for opts, mountpoint in v1_mounts:
                if opts.issuperset(names):
                    found.append(Hierarchy(mountpoint, names, path))
                    break
    return found


def container_path(cgroups_path, container_id, hierarchy):
    """The path of the container's cgroup inside one hierarchy (relative to
    its mountpoint): absolute paths as given, relative ones under our own
    cgroup, empty -> /<id> as runc's cgroupfs driver does."""
    if not cgroups_path:
        cgroups_path = "/" + container_id
    if cgroups_path.startswith("/"):
        return os.path.normpath(cgroups_path)
    return os.path.normpath(os.path.join(hierarchy.own_path, cgroups_path))


def _copy_if_empty(directory, name):
    path = os.path.join(directory, name)
    with open(path) as f:
        if f.read().strip():
            return
    with open(os.path.join(os.path.dirname(directory), name)) as f:
        value = f.read().strip()
    with open(path, "w") as f:
        f.write(value)


class Placement:
    """The container's cgroup directories, one per hierarchy, and the ones we
    created (those, and only those, delete removes)."""

    def __init__(self, dirs, created):
        self.dirs = dirs          # absolute directories, one per hierarchy
        self.created = created    # directories we made, parents before children

    @classmethod
    def plan(cls, cgroups_path, container_id):
        dirs = []
        for h in hierarchies():
            rel = container_path(cgroups_path, container_id, h)
            if rel == "/":
                raise ValueError("linux.cgroupsPath: must not be the root cgroup")
            dirs.append(os.path.join(h.mountpoint, rel.lstrip("/")))
        return cls(dirs, [])

    def to_record(self):
        return {"dirs": self.dirs, "created": self.created}

    @classmethod
    def from_record(cls, record):
        record = record or {}
        return cls(record.get("dirs", []), record.get("created", []))

    def create(self):
        """mkdir -p each directory; a v1 cpuset gets its parent's cpus/mems or
        no task could join it."""
        for directory in self.dirs:
            missing = []
            probe = directory
            while not os.path.isdir(probe):
                missing.append(probe)
                probe = os.path.dirname(probe)
            for path in reversed(missing):
                os.mkdir(path, 0o755)
                self.created.append(path)
                if os.path.exists(os.path.join(path, "cpuset.cpus")) and \
                        not os.path.exists(os.path.join(path, "cgroup.controllers")):
                    _copy_if_empty(path, "cpuset.cpus")
                    _copy_if_empty(path, "cpuset.mems")

    def enter(self, pid=0):
        """Move pid (0: the calling process) into every directory."""
        for directory in self.dirs:
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def pids(self):
        """The processes in the container's cgroup (first readable hierarchy)."""
        for directory in self.dirs:
            try:
                with open(os.path.join(directory, "cgroup.procs")) as f:
                    return [int(line) for line in f if line.strip()]
            except FileNotFoundError:
                continue
        return []

    def remove(self, timeout=5.0):
        """rmdir what we created, children first. Processes that were just
        killed leave their cgroup a moment later: retry EBUSY until timeout."""
        deadline = time.monotonic() + timeout
        for path in sorted(self.created, key=len, reverse=True):
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise OSError(e.errno, f"removing cgroup {path}: {e.strerror}") from None
                    time.sleep(0.01)
        self.created = []
