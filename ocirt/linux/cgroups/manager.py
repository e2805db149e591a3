"""The cgroup manager: one interface over a container's cgroups, with a
cgroupfs v1 implementation (v1.py; on a hybrid host it hands the controllers
that only the unified hierarchy has to a v2 one) and a cgroupfs v2 one
(v2.py).

    manager = for_placement(placement, warn)
    manager.prepare()                         after Placement.create()
    manager.apply(resources, "linux.resources", previous)
    manager.freeze() / thaw() / frozen()      pause, resume
    manager.signal_all(sig), kill_all()       kill --all, delete
    manager.stats()                           runc's `events` shape
    manager.oom_count(), manager.wakeups()    for the `events` stream
"""

import os
import time

from . import CgroupError, files

# The order resources are written in (runc's, roughly); unified last, so its
# raw keys win over the converted fields.
ORDER = ("devices", "memory", "cpu", "blockIO", "hugepageLimits", "network", "pids",
         "rdma", "unified")
_SETTERS = {"memory": "set_memory", "cpu": "set_cpu", "blockIO": "set_blkio",
            "hugepageLimits": "set_hugetlb", "network": "set_network", "pids": "set_pids",
            "rdma": "set_rdma", "unified": "set_unified"}


class Manager:
    def __init__(self, placement, warn=None):
        self.placement = placement
        self.warn = warn or (lambda text: None)

    # -- resources -----------------------------------------------------------
    def prepare(self):
        """Make the new directories usable (v2: enable controllers)."""

    def apply(self, resources, field="linux.resources", previous=None):
        """Write every field given in `resources` (a LinuxResources object),
        and only those: on create the caller passes "devices" (maybe []) so
        the default device rules go on. `previous` is what was applied before:
        some values depend on others (v2 swap on the memory limit)."""
        resources = resources or {}
        previous = previous or {}
        for key in ORDER:
            value = resources.get(key)
            if value is None:
                continue
            if key == "devices":
                if os.geteuid() != 0:
                    # Device rules need privileges an unprivileged runtime
                    # lacks (v2's eBPF program, v1's devices.allow); its user
                    # namespace already keeps the container to the user's own
                    # device access. runc ignores them too when rootless.
                    if value:
                        self.warn(f"{field}.devices: device rules are not applied by an unprivileged runtime")
                    continue
                self.set_devices(value, f"{field}.devices")
            else:
                getattr(self, _SETTERS[key])(value, f"{field}.{key}", previous.get(key) or {})

    def set_devices(self, entries, field):
        raise NotImplementedError

    # -- freezer -------------------------------------------------------------
    def frozen(self):
        return self.placement.frozen()

    def freeze(self):
        raise NotImplementedError

    def thaw(self):
        raise NotImplementedError

    # -- processes -----------------------------------------------------------
    def pids(self):
        return self.placement.pids()

    def populated(self):
        return bool(self.pids())

    def signal_all(self, sig):
        """Signal every process; freeze around it so none forks away."""
        import _signal as signal
        if sig == signal.SIGKILL and self.kill_all():
            return
        was_frozen = self.frozen()
        froze = False
        if not was_frozen:
            try:
                self.freeze()
                froze = True
            except CgroupError:
                pass  # no freezer: signal them as they are
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if froze:
                self.thaw()

    def kill_all(self):
        """SIGKILL everything at once where the kernel can (cgroup.kill)."""
        unified = self.placement.unified_dir
        if unified and files.exists(unified, "cgroup.kill"):
            try:
                files.write(unified, "cgroup.kill", 1, "cgroup.kill")
                return True
            except CgroupError:
                return False
        return False

    # -- events --------------------------------------------------------------
    def stats(self):
        raise NotImplementedError

    def oom_count(self):
        """How many OOM kills the cgroup has seen."""
        raise NotImplementedError

    def wakeups(self):
        """A Wakeups that fires when an OOM may have happened or the cgroup
        emptied (events waits on it between its statistics)."""
        return Wakeups()


class Wakeups:
    """fds to poll: eventfds (read 8 bytes to re-arm) or cgroup files that
    signal POLLPRI when they change (re-read them to re-arm)."""

    def __init__(self, fds=(), eventfds=(), owned=()):
        self.fds = list(fds)
        self.eventfds = list(eventfds)
        self.owned = list(owned) + self.fds + self.eventfds

    def wait(self, timeout):
        import select
        if not self.fds and not self.eventfds:
            time.sleep(max(timeout, 0))
            return
        poller = select.poll()
        for fd in self.fds:
            poller.register(fd, select.POLLPRI | select.POLLERR)
        for fd in self.eventfds:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(max(timeout, 0) * 1000):
            if fd in self.eventfds:
                os.read(fd, 8)
            else:
                os.lseek(fd, 0, os.SEEK_SET)
                os.read(fd, 4096)

    def close(self):
        for fd in self.owned:
            os.close(fd)
        self.owned = []


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not predicate():
        if time.monotonic() > deadline:
            raise CgroupError(what)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def for_placement(placement, warn=None):
    if placement.is_pure_v2:
        from .v2 import V2Manager
        return V2Manager(placement, placement.dirs[0], warn)
    from .v1 import V1Manager
    return V1Manager(placement, warn)
