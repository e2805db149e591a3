"""cgroupfs v2: one directory holds every controller. Also serves a hybrid
host's unified hierarchy for the controllers v1 does not have there."""

import os

from . import CgroupError, convert, files
from .manager import Manager, Wakeups, wait_until


def write_rdma(directory, r, field):
    """rdma.max has the same syntax in v1 and v2: "mlx4_0 hca_handle=2 hca_object=2000"."""
    for device, limits in r.items():
        parts = [device]
        if limits.get("hcaHandles") is not None:
            parts.append(f"hca_handle={limits['hcaHandles']}")
        if limits.get("hcaObjects") is not None:
            parts.append(f"hca_object={limits['hcaObjects']}")
        files.write(directory, "rdma.max", " ".join(parts), f"{field}.{device}")


class V2Manager(Manager):
    def __init__(self, placement, directory, warn=None):
        super().__init__(placement, warn)
        self.dir = directory

    # -- controllers -----------------------------------------------------------
    def controllers(self):
        try:
            return set(files.read(self.dir, "cgroup.controllers").split())
        except OSError:
            return set()

    def has(self, controller):
        return controller in self.controllers()

    def _need(self, controller, field):
        if not self.has(controller):
            raise CgroupError(
                f"{field}: the {controller} controller is not available in {self.dir} "
                f"(not in its cgroup.controllers; the parent's cgroup.subtree_control must enable it)")

    def prepare(self):
        """Enable every controller the parent offers, down to the container's
        directory, as runc and crun do: limits and statistics need them. On
        a pure v2 host this starts at the root; on a hybrid host we touch only
        the directories we made (the unified root stays as the host set it).
        A systemd scope is left to systemd."""
        if self.placement.unit:
            return  # systemd enabled what the delegated scope gets
        if self.placement.is_pure_v2:
            ancestors = []
            probe = os.path.dirname(self.dir)
            while files.exists(probe, "cgroup.controllers") and probe != "/":
                ancestors.append(probe)
                probe = os.path.dirname(probe)
        else:
            ancestors = [d for d in self.placement.created
                         if self.dir.startswith(d.rstrip("/") + "/")]
        for directory in sorted(ancestors, key=len):
            try:
                offered = files.read(directory, "cgroup.controllers").split()
                enabled = set(files.read(directory, "cgroup.subtree_control").split())
            except OSError:
                continue
            for controller in offered:
                if controller not in enabled:
                    try:
                        files.write(directory, "cgroup.subtree_control", "+" + controller,
                                    "cgroup.subtree_control")
                    except CgroupError:
                        pass  # e.g. processes in that cgroup: _need() explains it later

    # -- resources -------------------------------------------------------------
    def set_devices(self, entries, field):
        from . import ebpf
        from .devicerules import DeviceRules
        rules = DeviceRules.for_container(entries, field)
        try:
            ebpf.install(self.dir, rules)
        except OSError as e:
            raise CgroupError(f"{field}: attaching the device filter to {self.dir}: {e.strerror or e}") from None

    def set_memory(self, m, field, previous):
        self._need("memory", field)
        d = self.dir
        limit = m.get("limit")
        if m.get("checkBeforeUpdate") and limit not in (None, -1):
            usage = files.read_int(d, "memory.current")
            if limit < usage:
                raise CgroupError(f"{field}.limit: {limit} is below the current usage {usage} "
                                  f"({files.path_of(d, 'memory.current')}; checkBeforeUpdate is set)")
        # memory.swap.max depends on both values: recompute it when either changes.
        total = m.get("swap")
        if total is None and limit is not None and limit != -1:
            total = previous.get("swap")
        if total is not None or limit == -1:
            known_limit = limit if limit is not None else previous.get("limit")
            swap = convert.swap_to_v2(total, known_limit, f"{field}.swap")
            if swap is not None:
                if files.exists(d, "memory.swap.max") or swap not in (-1, 0):
                    files.write(d, "memory.swap.max", convert.v2_number(swap), f"{field}.swap")
        if limit is not None:
            files.write(d, "memory.max", convert.v2_number(limit), f"{field}.limit")
        if m.get("reservation") is not None:
            files.write(d, "memory.low", convert.v2_number(m["reservation"]), f"{field}.reservation")
        for key in ("kernel", "kernelTCP"):
            if m.get(key) is not None:
                self.warn(f"{field}.{key}: ignored: cgroup v2 has no separate kernel memory limit "
                          "(the spec marks it NOT RECOMMENDED)")
        if m.get("swappiness") is not None:
            raise CgroupError(f"{field}.swappiness: cgroup v2 has no per-cgroup swappiness "
                              f"(no memory.swappiness in {d})")
        if m.get("disableOOMKiller"):
            raise CgroupError(f"{field}.disableOOMKiller: cgroup v2 cannot disable the OOM killer "
                              f"(no memory.oom_control in {d})")
        if m.get("useHierarchy") is False:
            raise CgroupError(f"{field}.useHierarchy: cgroup v2 is always hierarchical")

    def set_cpu(self, c, field, previous):
        d = self.dir
        if c.get("cpus") is not None or c.get("mems") is not None:
            self._need("cpuset", field)
            if c.get("cpus") is not None:
                files.write(d, "cpuset.cpus", c["cpus"], f"{field}.cpus")
            if c.get("mems") is not None:
                files.write(d, "cpuset.mems", c["mems"], f"{field}.mems")
        for key in ("realtimeRuntime", "realtimePeriod"):
            if c.get(key) is not None:
                raise CgroupError(f"{field}.{key}: cgroup v2 has no realtime CPU limits "
                                  f"(no cpu.rt_runtime_us in {d})")
        cpu_keys = ("shares", "quota", "period", "burst", "idle")
        if not any(c.get(k) is not None for k in cpu_keys):
            return
        self._need("cpu", field)
        if c.get("shares") is not None:
            files.write(d, "cpu.weight", convert.shares_to_weight(c["shares"]), f"{field}.shares")
        if c.get("idle") is not None:
            files.write(d, "cpu.idle", c["idle"], f"{field}.idle")
        if c.get("quota") is not None or c.get("period") is not None:
            quota, period = self._cpu_max(c, previous)
            files.write(d, "cpu.max", f"{quota} {period}",
                        f"{field}.{'quota' if c.get('quota') is not None else 'period'}")
        if c.get("burst") is not None:
            files.write(d, "cpu.max.burst", c["burst"], f"{field}.burst")

    def _cpu_max(self, c, previous):
        """cpu.max holds quota and period together: a value not given keeps
        what was set before."""
        try:
            current = files.read(self.dir, "cpu.max").split()
        except OSError:
            current = ["max", "100000"]
        quota = c.get("quota", previous.get("quota"))
        period = c.get("period", previous.get("period"))
        quota = current[0] if quota is None else ("max" if quota <= 0 else quota)
        period = period or int(current[1])
        return quota, period

    def set_blkio(self, b, field, previous):
        self._need("io", field)
        d = self.dir
        bfq = files.exists(d, "io.bfq.weight")
        if b.get("weight") is not None:
            if bfq:
                files.write(d, "io.bfq.weight", b["weight"], f"{field}.weight")
            else:
                files.write(d, "io.weight", convert.blkio_weight_to_io_weight(b["weight"]), f"{field}.weight")
        if b.get("leafWeight") is not None:
            raise CgroupError(f"{field}.leafWeight: cgroup v2 has no leaf weight (CFQ only)")
        for i, wd in enumerate(b.get("weightDevice") or []):
            where = f"{field}.weightDevice[{i}]"
            if wd.get("leafWeight") is not None:
                raise CgroupError(f"{where}.leafWeight: cgroup v2 has no leaf weight (CFQ only)")
            if wd.get("weight") is not None:
                device = f"{wd['major']}:{wd['minor']}"
                if bfq:
                    files.write(d, "io.bfq.weight", f"{device} {wd['weight']}", f"{where}.weight")
                else:
                    files.write(d, "io.weight", f"{device} {convert.blkio_weight_to_io_weight(wd['weight'])}",
                                f"{where}.weight")
        for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                          ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
            for i, td in enumerate(b.get(key) or []):
                files.write(d, "io.max", f"{td['major']}:{td['minor']} {name}={td['rate']}",
                            f"{field}.{key}[{i}]")

    def set_hugetlb(self, limits, field, previous):
        self._need("hugetlb", field)
        d = self.dir
        for i, entry in enumerate(limits):
            size = entry["pageSize"]
            where = f"{field}[{i}]"
            if not files.exists(d, f"hugetlb.{size}.max"):
                sizes = sorted(n.split(".")[1] for n in os.listdir(d)
                               if n.startswith("hugetlb.") and n.endswith(".max") and ".rsvd." not in n)
                raise CgroupError(f"{where}.pageSize: no hugetlb.{size}.max in {d} "
                                  f"(this host has {', '.join(sizes) or 'no huge page sizes'})")
            files.write(d, f"hugetlb.{size}.max", entry["limit"], f"{where}.limit")
            if files.exists(d, f"hugetlb.{size}.rsvd.max"):
                files.write(d, f"hugetlb.{size}.rsvd.max", entry["limit"], f"{where}.limit")

    def set_network(self, n, field, previous):
        if n.get("classID") is not None or n.get("priorities"):
            raise CgroupError(f"{field}: net_cls and net_prio exist only in cgroup v1 "
                              f"(no net_cls.classid in {self.dir})")

    def set_pids(self, p, field, previous):
        if p.get("limit") is None:
            return
        self._need("pids", field)
        files.write(self.dir, "pids.max", convert.v2_number(p["limit"]), f"{field}.limit")

    def set_rdma(self, r, field, previous):
        self._need("rdma", field)
        write_rdma(self.dir, r, field)

    def set_unified(self, u, field, previous):
        offered = self.controllers()
        for key, value in u.items():
            where = f"{field}[{key!r}]"
            if "/" in key or key.startswith(".") or "." not in key:
                raise CgroupError(f"{where}: not a cgroup v2 file name")
            if key in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
                raise CgroupError(f"{where}: managed by the runtime, not settable")
            controller = key.split(".", 1)[0]
            if controller != "cgroup" and controller not in offered:
                raise CgroupError(f"{where}: the {controller} controller is not available in "
                                  f"{self.dir} (not in its cgroup.controllers)")
            files.write(self.dir, key, value, where)

    # -- freezer ---------------------------------------------------------------
    def _frozen_event(self):
        return files.read_keyed(self.dir, "cgroup.events").get("frozen") == 1

    def frozen(self):
        return files.read_int(self.dir, "cgroup.freeze") == 1

    def freeze(self):
        files.write(self.dir, "cgroup.freeze", 1, "pause")
        wait_until(self._frozen_event, 10, f"pause: {self.dir} did not freeze (cgroup.events)")

    def thaw(self):
        files.write(self.dir, "cgroup.freeze", 0, "resume")
        wait_until(lambda: not self._frozen_event(), 10, f"resume: {self.dir} did not thaw (cgroup.events)")

    # -- processes and events ------------------------------------------------------
    def populated(self):
        events = files.read_keyed(self.dir, "cgroup.events")
        return events.get("populated", 0) == 1 if events else bool(self.pids())

    def kill_all(self):
        if not files.exists(self.dir, "cgroup.kill"):
            return False
        files.write(self.dir, "cgroup.kill", 1, "kill")
        return True

    def stats(self):
        from .stats import v2_stats
        return v2_stats(self.dir)

    def oom_count(self):
        return files.read_keyed(self.dir, "memory.events").get("oom_kill", 0)

    def wakeups(self):
        """memory.events and cgroup.events signal POLLPRI when they change;
        a first read arms them."""
        fds = []
        for name in ("memory.events", "cgroup.events"):
            try:
                fd = os.open(files.path_of(self.dir, name), os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            os.read(fd, 4096)
            fds.append(fd)
        return Wakeups(fds)
