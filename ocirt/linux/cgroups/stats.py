"""Statistics in the shape of runc's `events` (types.Stats): cpu, cpuset,
memory, pids, blkio and hugetlb (intel_rdt and network_interfaces empty),
from v1 files, v2 files, or both on a hybrid host.
Keys runc marks omitempty are left out when zero, as Go's encoder does."""

import os

from . import files

_MAX_UINT64 = 2 ** 64 - 1


def _drop_zero(d, keys):
    for key in keys:
        if not d.get(key):
            d.pop(key, None)
    return d


def _memory_entry(limit, usage, peak, failcnt):
    return _drop_zero({"limit": limit, "usage": usage, "max": peak, "failcnt": failcnt}, ("usage", "max"))


def _cpu(total, user, kernel, percpu=(), percpu_user=(), percpu_kernel=(), throttling=None):
    usage = _drop_zero({"total": total, "percpu": list(percpu), "percpu_kernel": list(percpu_kernel),
                        "percpu_user": list(percpu_user), "kernel": kernel, "user": user},
                       ("total", "percpu", "percpu_kernel", "percpu_user"))
    cpu = {"usage": usage}
    throttling = _drop_zero(dict(throttling or {}), ("periods", "throttledPeriods", "throttledTime"))
    if throttling:
        cpu["throttling"] = throttling
    return cpu


def _pids(directory):
    if directory is None:
        return {}
    limit = files.read_int(directory, "pids.max")
    return _drop_zero({"current": files.read_int(directory, "pids.current"),
                       "limit": 0 if limit == -1 else limit}, ("current", "limit"))


def _page_sizes():
    """hugepages-2048kB -> 2MB, as the cgroup file names spell them."""
    sizes = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return sizes
    for name in names:
        kb = int(name[len("hugepages-"):-len("kB")])
        for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % scale == 0:
                sizes.append(f"{kb // scale}{unit}")
                break
    return sorted(sizes)


def _hugetlb(directory, v2):
    if directory is None:
        return {}
    found = {}
    for size in _page_sizes():
        if v2:
            entry = {"usage": files.read_int(directory, f"hugetlb.{size}.current"),
                     "failcnt": files.read_keyed(directory, f"hugetlb.{size}.events").get("max", 0)}
        else:
            entry = {"usage": files.read_int(directory, f"hugetlb.{size}.usage_in_bytes"),
                     "max": files.read_int(directory, f"hugetlb.{size}.max_usage_in_bytes"),
                     "failcnt": files.read_int(directory, f"hugetlb.{size}.failcnt")}
        found[size] = _drop_zero(entry, ("usage", "max"))
    return found


def _raw_stat(directory, name):
    return files.read_keyed(directory, name)


# -- v2 ----------------------------------------------------------------------------
def _v2_cpu(d):
    s = files.read_keyed(d, "cpu.stat")
    return _cpu(s.get("usage_usec", 0) * 1000, s.get("user_usec", 0) * 1000, s.get("system_usec", 0) * 1000,
                throttling={"periods": s.get("nr_periods", 0), "throttledPeriods": s.get("nr_throttled", 0),
                            "throttledTime": s.get("throttled_usec", 0) * 1000})


def _v2_limit(d, name):
    value = files.read_int(d, name, default=-1)
    return _MAX_UINT64 if value == -1 else value


def _v2_memory(d):
    raw = _raw_stat(d, "memory.stat")
    usage = files.read_int(d, "memory.current")
    limit = _v2_limit(d, "memory.max")
    memory = {"cache": raw.get("file", 0),
              "usage": _memory_entry(limit, usage, files.read_int(d, "memory.peak"),
                                     files.read_keyed(d, "memory.events").get("max", 0))}
    if files.exists(d, "memory.swap.current"):
        # v1 reported memory+swap: so do we, as runc does.
        swap_limit = _v2_limit(d, "memory.swap.max")
        if swap_limit != _MAX_UINT64 and limit != _MAX_UINT64:
            swap_limit += limit
        memory["swap"] = _memory_entry(swap_limit, files.read_int(d, "memory.swap.current") + usage, 0,
                                       files.read_keyed(d, "memory.swap.events").get("max", 0))
    memory["raw"] = raw
    return _drop_zero(memory, ("cache", "raw"))


def _v2_blkio(d):
    tables = {"ioServiceBytesRecursive": [], "ioServicedRecursive": []}
    ops = {"rbytes": ("ioServiceBytesRecursive", "Read"), "wbytes": ("ioServiceBytesRecursive", "Write"),
           "rios": ("ioServicedRecursive", "Read"), "wios": ("ioServicedRecursive", "Write")}
    try:
        text = files.read(d, "io.stat")
    except OSError:
        text = ""
    for line in text.splitlines():
        device, *items = line.split()
        major, _, minor = device.partition(":")
        for item in items:
            key, _, value = item.partition("=")
            if key in ops:
                table, op = ops[key]
                tables[table].append(_drop_zero({"major": int(major), "minor": int(minor), "op": op,
                                                 "value": int(value)}, ("major", "minor", "value")))
    return {k: v for k, v in tables.items() if v}


def v2_stats(d):
    return {"cpu": _v2_cpu(d), "cpuset": _cpuset(d, True), "memory": _v2_memory(d), "pids": _pids(d),
            "blkio": _v2_blkio(d), "hugetlb": _hugetlb(d, True), "intel_rdt": {}, "network_interfaces": None}


# -- v1 ----------------------------------------------------------------------------
def _numbers(d, name):
    try:
        return [int(v) for v in files.read(d, name).split()]
    except (OSError, ValueError):
        return []


def _v1_cpu(cpuacct, cpu):
    if cpuacct is None:
        return {}
    ticks = os.sysconf("SC_CLK_TCK")
    stat = files.read_keyed(cpuacct, "cpuacct.stat")  # user/system in clock ticks
    throttling = {}
    if cpu is not None:
        s = files.read_keyed(cpu, "cpu.stat")
        throttling = {"periods": s.get("nr_periods", 0), "throttledPeriods": s.get("nr_throttled", 0),
                      "throttledTime": s.get("throttled_time", 0)}
    return _cpu(files.read_int(cpuacct, "cpuacct.usage"),
                stat.get("user", 0) * 1_000_000_000 // ticks, stat.get("system", 0) * 1_000_000_000 // ticks,
                _numbers(cpuacct, "cpuacct.usage_percpu"), _numbers(cpuacct, "cpuacct.usage_percpu_user"),
                _numbers(cpuacct, "cpuacct.usage_percpu_sys"), throttling)


def _v1_entry(d, prefix):
    # v1's "no limit" is shown as is (0x7ffffffffffff000), as runc does.
    return _memory_entry(files.read_int(d, prefix + "limit_in_bytes"),
                         files.read_int(d, prefix + "usage_in_bytes"),
                         files.read_int(d, prefix + "max_usage_in_bytes"),
                         files.read_int(d, prefix + "failcnt"))


def _v1_memory(d):
    if d is None:
        return {}
    raw = _raw_stat(d, "memory.stat")
    memory = {"cache": raw.get("cache", 0), "usage": _v1_entry(d, "memory.")}
    if files.exists(d, "memory.memsw.usage_in_bytes"):
        memory["swap"] = _v1_entry(d, "memory.memsw.")
    if files.exists(d, "memory.kmem.usage_in_bytes"):
        memory["kernel"] = _v1_entry(d, "memory.kmem.")
    if files.exists(d, "memory.kmem.tcp.usage_in_bytes"):
        memory["kernelTCP"] = _v1_entry(d, "memory.kmem.tcp.")
    memory["raw"] = raw
    return _drop_zero(memory, ("cache", "raw"))


def _v1_blkio_table(d, name):
    entries = []
    try:
        text = files.read(d, name)
    except OSError:
        return entries
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # the "Total N" line
        major, _, minor = parts[0].partition(":")
        entries.append(_drop_zero({"major": int(major), "minor": int(minor), "op": parts[1],
                                   "value": int(parts[2])}, ("major", "minor", "value")))
    return entries


def _v1_blkio(d):
    if d is None:
        return {}
    # CFQ's files, else BFQ's (each empty unless that scheduler runs), else the
    # throttling layer's, which counts every device: the first with data wins.
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        tables = {key: _v1_blkio_table(d, prefix + name)
                  for key, name in (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
                                    ("ioServicedRecursive", "io_serviced_recursive"))}
        tables = {k: v for k, v in tables.items() if v}
        if tables:
            return tables
    return {}


def _cpu_list(text):
    """ "0-2,5" -> [0, 1, 2, 5]"""
    found = []
    for part in text.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            found.extend(range(int(low), int(high or low) + 1))
    return found


def _cpuset(d, v2):
    if d is None:
        return {}
    read = lambda name: files.read(d, name) if files.exists(d, name) else ""  # noqa: E731
    cpuset = {"cpus": _cpu_list(read("cpuset.cpus.effective" if v2 else "cpuset.cpus")),
              "mems": _cpu_list(read("cpuset.mems.effective" if v2 else "cpuset.mems"))}
    for key in ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level"):
        cpuset[key] = 0 if v2 else files.read_int(d, "cpuset." + key)
    return _drop_zero(cpuset, ("cpus", "mems"))


def v1_stats(placement, unified):
    """unified: the V2Manager of a hybrid host, for controllers only it has."""
    def pick(v1_name, v2_name):
        d = placement.dir_of(v1_name)
        if d is not None:
            return d, False
        if unified is not None and unified.has(v2_name):
            return unified.dir, True
        return None, False

    cpuset, cpuset_v2 = pick("cpuset", "cpuset")
    memory, memory_v2 = pick("memory", "memory")
    blkio, blkio_v2 = pick("blkio", "io")
    hugetlb, hugetlb_v2 = pick("hugetlb", "hugetlb")
    pids, _ = pick("pids", "pids")
    cpuacct = placement.dir_of("cpuacct")
    return {
        "cpu": _v1_cpu(cpuacct, placement.dir_of("cpu")) if cpuacct or unified is None
        else _v2_cpu(unified.dir),
        "cpuset": _cpuset(cpuset, cpuset_v2),
        "memory": _v2_memory(memory) if memory_v2 else _v1_memory(memory),
        "pids": _pids(pids),
        "blkio": _v2_blkio(blkio) if blkio_v2 else _v1_blkio(blkio),
        "hugetlb": _hugetlb(hugetlb, hugetlb_v2),
        "intel_rdt": {}, "network_interfaces": None,
    }
