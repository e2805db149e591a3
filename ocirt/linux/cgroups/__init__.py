"""Placing a container in its own cgroup on v1, v2 and hybrid hosts.

A host has hierarchies: v1 ones (one per controller set, plus named ones like
name=systemd) and at most one v2 (unified). A container gets one directory in
each, at the same path (runc's cgroupfs behaviour), or a systemd scope's
(systemd.py). This module stays small because `state` imports it: the
resources, freezer, statistics and device filter live in manager.py and the
modules below it, which `state` never loads.
"""

import errno
import os
import time


class CgroupError(Exception):
    """One line naming the config field (or cgroup) and the file involved."""


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
    cgroup; none is the relative path <id>, as runc's cgroupfs driver has it
    (so a container stays inside the cgroup of whoever runs the runtime: a
    supervisor's limits and accounting cover it)."""
    if not cgroups_path:
        cgroups_path = container_id
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


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def procs_below(directory):
    """Every pid in the cgroup and its descendants (a container may make
    child cgroups of its own)."""
    pids = []
    for base, _, files in os.walk(directory):
        if "cgroup.procs" in files:
            text = _read(os.path.join(base, "cgroup.procs")) or ""
            pids.extend(int(p) for p in text.split())
    return pids


class Placement:
    """The container's cgroup directories, one per hierarchy, and the ones we
    created (those, and only those, delete removes).

    `controllers[i]` names the v1 controllers of `dirs[i]`; an empty list marks
    the v2 (unified) directory."""

    def __init__(self, dirs, created, controllers=None, unit=None):
        self.dirs = dirs          # absolute directories, one per hierarchy
        self.created = created    # directories we made, parents before children
        self.controllers = controllers if controllers is not None else _guess_controllers(dirs)
        self.unit = unit          # systemd driver: {"slice", "unit"}; systemd owns those dirs

    @classmethod
    def plan(cls, cgroups_path, container_id, systemd=False):
        dirs, controllers, unit = [], [], None
        if systemd:
            from .systemd import slice_path, unit_of
            slice_name, scope = unit_of(cgroups_path, container_id)
            unit = {"slice": slice_name, "unit": scope}
        for h in hierarchies():
            if systemd:
                rel = os.path.join(slice_path(slice_name), scope)
            else:
                rel = container_path(cgroups_path, container_id, h)
            if rel == "/":
                raise ValueError("linux.cgroupsPath: must not be the root cgroup")
            dirs.append(os.path.join(h.mountpoint, rel.lstrip("/")))
            controllers.append(list(h.controllers))
        return cls(dirs, [], controllers, unit)

    def writable(self):
        """Whether we may make the directories: always as root; otherwise
        only where the hierarchy is delegated to us (the nearest existing
        ancestor of each directory is writable)."""
        for directory in self.dirs:
            probe = directory
            while not os.path.isdir(probe):
                probe = os.path.dirname(probe)
            if not os.access(probe, os.W_OK):
                return False
        return True

    def to_record(self):
        record = {"dirs": self.dirs, "created": self.created, "controllers": self.controllers}
        if self.unit:
            record["systemd"] = self.unit
        return record

    @classmethod
    def from_record(cls, record):
        record = record or {}
        return cls(record.get("dirs", []), record.get("created", []), record.get("controllers"),
                   record.get("systemd"))

    # -- where things are ---------------------------------------------------
    def dir_of(self, controller):
        """The v1 directory of a controller, or None."""
        for directory, names in zip(self.dirs, self.controllers):
            if controller in names:
                return directory
        return None

    @property
    def unified_dir(self):
        for directory, names in zip(self.dirs, self.controllers):
            if not names:
                return directory
        return None

    @property
    def is_pure_v2(self):
        return len(self.dirs) == 1 and not self.controllers[0]

    def freeze_file(self):
        """The file that says whether the container is frozen: the v1
        freezer's state, else cgroup v2's cgroup.freeze."""
        v1 = self.dir_of("freezer")
        if v1:
            return os.path.join(v1, "freezer.state")
        unified = self.unified_dir
        return os.path.join(unified, "cgroup.freeze") if unified else None

    def frozen(self):
        """True when the container's cgroup is frozen or freezing. Cheap: `state` calls it."""
        path = self.freeze_file()
        text = _read(path) if path else None
        if text is None:
            return False
        text = text.strip()
        return text in ("FROZEN", "FREEZING") if path.endswith("freezer.state") else text == "1"

    # -- life cycle -----------------------------------------------------------
    def check_unused(self):
        """Refuse a cgroup that already holds processes or is frozen (the
        runtime-spec lets create check that the cgroup is fit for purpose)."""
        for directory in self.dirs:
            pids = procs_below(directory) if os.path.isdir(directory) else []
            if pids:
                raise CgroupError(f"linux.cgroupsPath: cgroup {directory} already has processes "
                                  f"({', '.join(map(str, pids[:5]))}); a container needs a cgroup of its own")
        if self.frozen():
            raise CgroupError(f"linux.cgroupsPath: cgroup is frozen ({self.freeze_file()}); "
                              "thaw it or use another path")

    def missing(self):
        """The directories create() would make, parents before children."""
        found = []
        for directory in self.dirs:
            chain = []
            probe = directory
            while not os.path.isdir(probe):
                chain.append(probe)
                probe = os.path.dirname(probe)
            found += [path for path in reversed(chain) if path not in found]
        return found

    def create(self):
        """mkdir -p each directory; a v1 cpuset gets its parent's cpus/mems or
        no task could join it. `created` may list them already, claimed
        (from missing()) and recorded before they exist, so that a runtime
        killed between a mkdir and the next state write leaves nothing delete
        cannot find; afterwards it lists exactly the ones made here."""
        made = []
        own = set(self.dirs)
        try:
            for path in self.missing():
                try:
                    os.mkdir(path, 0o755)
                except FileExistsError:
                    if path in own:
                        raise
                    continue  # a parent another create made meanwhile: not ours
                made.append(path)
                if os.path.exists(os.path.join(path, "cpuset.cpus")) and \
                        not os.path.exists(os.path.join(path, "cgroup.controllers")):
                    _copy_if_empty(path, "cpuset.cpus")
                    _copy_if_empty(path, "cpuset.mems")
        finally:
            self.created = made

    def fork(self):
        """(pid, born inside): os.fork(), but on a pure cgroup v2 placement
        the child is born in the cgroup (syscalls.fork_into_cgroup), and
        need not enter() it. Where the kernel refuses that (ENOSYS before
        Linux 5.7), a plain fork: enter() then fails clearly if it must.
        Also a plain fork in a process with other threads (a program that
        embeds ocirt): a raw clone3 skips libc's fork handling, and the child
        could block on a lock (malloc's) that another thread held."""
        if not self.is_pure_v2 or len(os.listdir("/proc/self/task")) > 1:
            return os.fork(), False
        from .. import syscalls as sc
        fd = os.open(self.dirs[0], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return sc.fork_into_cgroup(fd), True
        except OSError:
            return os.fork(), False
        finally:
            os.close(fd)

    def enter(self, pid=0):
        """Move pid (0: the calling process) into every directory."""
        for directory in self.dirs:
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def open_procs(self):
        """The cgroup.procs files, open for writing: a process that will have
        left the host's mount namespace can still join through them."""
        fds = []
        try:
            for directory in self.dirs:
                fds.append(os.open(os.path.join(directory, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def pids(self):
        """The processes in the container's cgroup (first readable hierarchy,
        child cgroups included)."""
        for directory in self.dirs:
            if os.path.isdir(directory):
                return procs_below(directory)
        return []

    def remove(self, timeout=5.0):
        """rmdir what we created, children first (child cgroups the container
        made inside its own go too). Processes that were just killed leave
        their cgroup a moment later: retry EBUSY until timeout. A systemd
        scope is stopped, and systemd removes its own directories."""
        deadline = time.monotonic() + timeout
        if self.unit and self.unit.get("started"):
            from .systemd import stop_scope
            for directory in self.dirs:
                for base, _, _ in os.walk(directory, topdown=False):
                    if base != directory:  # what the container made below the scope
                        _rmdir_retrying(base, deadline)
            stop_scope(self.unit["unit"])
        own = set(self.dirs)
        for path in sorted(self.created, key=len, reverse=True):
            if path in own:  # with the child cgroups the container made inside
                for base, _, _ in os.walk(path, topdown=False):
                    _rmdir_retrying(base, deadline)
            else:
                _rmdir_if_unused(path)
        self.created = []


def _rmdir_if_unused(path):
    """A parent made for the container: by now it may hold other
    containers' cgroups (cgroupsPath /parent/a and /parent/b), which stay."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            raise OSError(e.errno, f"removing cgroup {path}: {e.strerror}") from None


def _rmdir_retrying(path, deadline):
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OSError(e.errno, f"removing cgroup {path}: {e.strerror}") from None
            time.sleep(0.01)


def _guess_controllers(dirs):
    """Records written before controllers were recorded: derive them from the
    mountpoints (a v2 directory lies under a cgroup2 mount)."""
    v1_mounts, v2_mount = _mountpoints()
    found = []
    for directory in dirs:
        names = []
        for opts, mountpoint in v1_mounts:
            if directory.startswith(mountpoint.rstrip("/") + "/"):
                names = sorted(o for o in opts if o not in ("rw", "ro", "relatime", "noexec",
                                                             "nosuid", "nodev", "none"))
                break
        found.append(names)
    return found
