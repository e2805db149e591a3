"""cgroupfs v1: one directory per controller. On a hybrid host a controller
that no v1 hierarchy has may live in the unified one (hugetlb on this kind
of machine): those sections go to a V2Manager over the unified directory."""

import os

from . import CgroupError, files
from .manager import Manager, Wakeups, wait_until
from .v2 import V2Manager, write_rdma


class V1Manager(Manager):
    def __init__(self, placement, warn=None):
        super().__init__(placement, warn)
        unified = placement.unified_dir
        self.unified = V2Manager(placement, unified, warn) if unified else None

    def _route(self, v1_name, v2_name, field):
        """(v1 directory, None), or (None, the unified manager) when only the
        unified hierarchy has the controller."""
        directory = self.placement.dir_of(v1_name)
        if directory:
            return directory, None
        if self.unified and v2_name and self.unified.has(v2_name):
            return None, self.unified
        where = f" nor enabled in {self.unified.dir}/cgroup.controllers" if self.unified and v2_name else ""
        raise CgroupError(f"{field}: this host has no {v1_name} controller: it is not mounted "
                          f"as a cgroup v1 hierarchy{where}")

    def prepare(self):
        if self.unified:
            self.unified.prepare()

    # -- resources -------------------------------------------------------------
    def set_devices(self, entries, field):
        from .devicerules import DeviceRules, line
        directory = self.placement.dir_of("devices")
        if directory is None:
            if self.unified:
                return self.unified.set_devices(entries, field)
            raise CgroupError(f"{field}: this host has no devices controller")
        target = DeviceRules.for_container(entries, field)
        current = DeviceRules.from_v1_list(files.read(directory, "devices.list", field))
        w = lambda name, text: files.write(directory, name, text, field)  # noqa: E731
        if target.default_allow:
            # allow-all hides its exceptions in devices.list: start over.
            w("devices.allow", "a")
            for key, access in target.exceptions.items():
                w("devices.deny", line(key, access))
            return
        if current.default_allow:
            w("devices.deny", "a")
            current.exceptions = {}
        # Add before removing, so a device in both lists is never denied meanwhile.
        for key, access in target.exceptions.items():
            if not access <= current.exceptions.get(key, frozenset()):
                w("devices.allow", line(key, access))
        for key, access in current.exceptions.items():
            extra = access - target.exceptions.get(key, frozenset())
            if extra:
                w("devices.deny", line(key, extra))

    def set_memory(self, m, field, previous):
        d, v2 = self._route("memory", "memory", field)
        if v2:
            return v2.set_memory(m, field, previous)
        limit, swap = m.get("limit"), m.get("swap")
        if m.get("checkBeforeUpdate") and limit not in (None, -1):
            usage = files.read_int(d, "memory.usage_in_bytes")
            if limit < usage:
                raise CgroupError(f"{field}.limit: {limit} is below the current usage {usage} "
                                  f"({files.path_of(d, 'memory.usage_in_bytes')}; checkBeforeUpdate is set)")
        if limit == -1 and swap is None:
            swap = -1  # unlimited memory means unlimited memory+swap
        set_limit = lambda: files.write(d, "memory.limit_in_bytes", limit, f"{field}.limit")  # noqa: E731
        if limit is not None and swap is not None:
            # The kernel keeps limit <= memsw limit at every step: pick the order that does.
            current = files.read_int(d, "memory.limit_in_bytes")
            if swap == -1 or current < swap:
                self._set_swap(d, swap, field)
                set_limit()
            else:
                set_limit()
                self._set_swap(d, swap, field)
        elif limit is not None:
            set_limit()
        elif swap is not None:
            self._set_swap(d, swap, field)
        if m.get("reservation") is not None:
            files.write(d, "memory.soft_limit_in_bytes", m["reservation"], f"{field}.reservation")
        for key, name in (("kernel", "memory.kmem.limit_in_bytes"),
                          ("kernelTCP", "memory.kmem.tcp.limit_in_bytes")):
            if m.get(key) is not None:
                if files.exists(d, name):
                    files.write(d, name, m[key], f"{field}.{key}")
                else:
                    self.warn(f"{field}.{key}: ignored: this kernel has no {name} "
                              "(the spec marks it NOT RECOMMENDED)")
        if m.get("swappiness") is not None:
            files.write(d, "memory.swappiness", m["swappiness"], f"{field}.swappiness")
        if m.get("disableOOMKiller") is not None:
            files.write(d, "memory.oom_control", int(m["disableOOMKiller"]), f"{field}.disableOOMKiller")
        if m.get("useHierarchy") is not None:
            files.write(d, "memory.use_hierarchy", int(m["useHierarchy"]), f"{field}.useHierarchy")

    def _set_swap(self, d, swap, field):
        if not files.exists(d, "memory.memsw.limit_in_bytes"):
            if swap == -1:
                return  # no swap accounting: unlimited is what there is
            raise CgroupError(f"{field}.swap: swap accounting is off on this host (no "
                              f"{files.path_of(d, 'memory.memsw.limit_in_bytes')}; boot with swapaccount=1)")
        files.write(d, "memory.memsw.limit_in_bytes", swap, f"{field}.swap")

    def set_cpu(self, c, field, previous):
        cpuset = {k: c[k] for k in ("cpus", "mems") if c.get(k) is not None}
        cpu = {k: v for k, v in c.items() if k not in ("cpus", "mems") and v is not None}
        if cpuset:
            d, v2 = self._route("cpuset", "cpuset", field)
            if v2:
                v2.set_cpu(cpuset, field, previous)
            else:
                for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
                    if key in cpuset:
                        files.write(d, name, cpuset[key], f"{field}.{key}")
        if not cpu:
            return
        d, v2 = self._route("cpu", "cpu", field)
        if v2:
            return v2.set_cpu(cpu, field, previous)
        if "shares" in cpu:
            files.write(d, "cpu.shares", cpu["shares"], f"{field}.shares")
            actual = files.read_int(d, "cpu.shares")
            if actual != cpu["shares"]:
                raise CgroupError(f"{field}.shares: the kernel took {cpu['shares']} as {actual} "
                                  f"({files.path_of(d, 'cpu.shares')}; the range is 2-262144)")
        if "period" in cpu:
            try:
                files.write(d, "cpu.cfs_period_us", cpu["period"], f"{field}.period")
            except CgroupError:
                if "quota" not in cpu:
                    raise
                # A shorter period can break the current quota: quota first, then period.
                files.write(d, "cpu.cfs_quota_us", cpu["quota"], f"{field}.quota")
                files.write(d, "cpu.cfs_period_us", cpu["period"], f"{field}.period")
        if "quota" in cpu:
            files.write(d, "cpu.cfs_quota_us", cpu["quota"], f"{field}.quota")
        if "burst" in cpu:
            files.write(d, "cpu.cfs_burst_us", cpu["burst"], f"{field}.burst")
        if "realtimePeriod" in cpu:
            files.write(d, "cpu.rt_period_us", cpu["realtimePeriod"], f"{field}.realtimePeriod")
        if "realtimeRuntime" in cpu:
            files.write(d, "cpu.rt_runtime_us", cpu["realtimeRuntime"], f"{field}.realtimeRuntime")
        if "idle" in cpu:
            files.write(d, "cpu.idle", cpu["idle"], f"{field}.idle")

    def set_blkio(self, b, field, previous):
        d, v2 = self._route("blkio", "io", field)
        if v2:
            return v2.set_blkio(b, field, previous)
        # CFQ had blkio.weight; with BFQ the files are blkio.bfq.*.
        prefix = "blkio." if files.exists(d, "blkio.weight") or not files.exists(d, "blkio.bfq.weight") \
            else "blkio.bfq."
        if b.get("weight") is not None:
            files.write(d, prefix + "weight", b["weight"], f"{field}.weight")
        if b.get("leafWeight") is not None:
            files.write(d, "blkio.leaf_weight", b["leafWeight"], f"{field}.leafWeight")
        for i, wd in enumerate(b.get("weightDevice") or []):
            device = f"{wd['major']}:{wd['minor']}"
            if wd.get("weight") is not None:
                files.write(d, prefix + "weight_device", f"{device} {wd['weight']}",
                            f"{field}.weightDevice[{i}].weight")
            if wd.get("leafWeight") is not None:
                files.write(d, "blkio.leaf_weight_device", f"{device} {wd['leafWeight']}",
                            f"{field}.weightDevice[{i}].leafWeight")
        for key, name in (("throttleReadBpsDevice", "read_bps_device"),
                          ("throttleWriteBpsDevice", "write_bps_device"),
                          ("throttleReadIOPSDevice", "read_iops_device"),
                          ("throttleWriteIOPSDevice", "write_iops_device")):
            for i, td in enumerate(b.get(key) or []):
                files.write(d, "blkio.throttle." + name, f"{td['major']}:{td['minor']} {td['rate']}",
                            f"{field}.{key}[{i}]")

    def set_hugetlb(self, limits, field, previous):
        d, v2 = self._route("hugetlb", "hugetlb", field)
        if v2:
            return v2.set_hugetlb(limits, field, previous)
        for i, entry in enumerate(limits):
            size, where = entry["pageSize"], f"{field}[{i}]"
            name = f"hugetlb.{size}.limit_in_bytes"
            if not files.exists(d, name):
                sizes = sorted(n.split(".")[1] for n in os.listdir(d)
                               if n.endswith(".limit_in_bytes") and ".rsvd." not in n)
                raise CgroupError(f"{where}.pageSize: no {name} in {d} "
                                  f"(this host has {', '.join(sizes) or 'no huge page sizes'})")
            files.write(d, name, entry["limit"], f"{where}.limit")
            rsvd = f"hugetlb.{size}.rsvd.limit_in_bytes"
            if files.exists(d, rsvd):
                files.write(d, rsvd, entry["limit"], f"{where}.limit")

    def set_network(self, n, field, previous):
        if n.get("classID") is not None:
            d, _ = self._route("net_cls", None, f"{field}.classID")
            files.write(d, "net_cls.classid", n["classID"], f"{field}.classID")
        for i, prio in enumerate(n.get("priorities") or []):
            d, _ = self._route("net_prio", None, f"{field}.priorities")
            files.write(d, "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}",
                        f"{field}.priorities[{i}]")

    def set_pids(self, p, field, previous):
        if p.get("limit") is None:
            return
        d, v2 = self._route("pids", "pids", field)
        if v2:
            return v2.set_pids(p, field, previous)
        files.write(d, "pids.max", "max" if p["limit"] == -1 else p["limit"], f"{field}.limit")

    def set_rdma(self, r, field, previous):
        d, v2 = self._route("rdma", "rdma", field)
        if v2:
            return v2.set_rdma(r, field, previous)
        write_rdma(d, r, field)

    def set_unified(self, u, field, previous):
        if not self.unified:
            raise CgroupError(f"{field}: needs cgroup v2, and this host has only v1 hierarchies")
        self.unified.set_unified(u, field, previous)

    # -- freezer ---------------------------------------------------------------
    def freeze(self):
        d = self.placement.dir_of("freezer")
        if d is None:
            if self.unified:
                return self.unified.freeze()
            raise CgroupError("pause: this host has no freezer controller")
        state = lambda: files.read(d, "freezer.state").strip()  # noqa: E731
        files.write(d, "freezer.state", "FROZEN", "pause")
        try:
            # A task in an uninterruptible sleep can hold the cgroup in FREEZING; writing
            # FROZEN again retries it.
            wait_until(lambda: state() == "FROZEN" or
                       files.write(d, "freezer.state", "FROZEN", "pause"), 10,
                       f"pause: {d} stayed {state()} (a task may be in uninterruptible sleep)")
        except CgroupError:
            files.write(d, "freezer.state", "THAWED", "pause")
            raise

    def thaw(self):
        d = self.placement.dir_of("freezer")
        if d is None:
            if self.unified:
                return self.unified.thaw()
            raise CgroupError("resume: this host has no freezer controller")
        files.write(d, "freezer.state", "THAWED", "resume")
        wait_until(lambda: files.read(d, "freezer.state").strip() == "THAWED", 10,
                   f"resume: {d} did not thaw")

    # -- events ------------------------------------------------------------------
    def stats(self):
        from .stats import v1_stats
        return v1_stats(self.placement, self.unified)

    def oom_count(self):
        d = self.placement.dir_of("memory")
        if d is None:
            return self.unified.oom_count() if self.unified else 0
        return files.read_keyed(d, "memory.oom_control").get("oom_kill", 0)

    def wakeups(self):
        """An eventfd that memory.oom_control signals (cgroup.event_control);
        it also fires when the cgroup goes away."""
        d = self.placement.dir_of("memory")
        if d is None:
            return self.unified.wakeups() if self.unified else Wakeups()
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        try:
            ofd = os.open(files.path_of(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(efd)
            return Wakeups()
        try:
            files.write(d, "cgroup.event_control", f"{efd} {ofd}", "events")
        except CgroupError:
            os.close(efd)
            os.close(ofd)
            return Wakeups()
        return Wakeups(eventfds=[efd], owned=[ofd])
