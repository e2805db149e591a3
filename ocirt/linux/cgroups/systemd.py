"""The systemd cgroup driver (--systemd-cgroup): the container's cgroup is a
transient scope unit that systemd creates around the first process, with
Delegate=yes so the subtree is ours. cgroupsPath is "slice:prefix:name" and
names the unit "prefix-name.scope" in that slice.

systemd is driven over D-Bus through busctl(1), which ships with systemd
itself: where there is a systemd to talk to, there is busctl, and no D-Bus
library has to be imported. The limits systemd knows go to the unit as
properties (so a daemon-reload keeps them); everything is also written to
the files by the cgroupfs managers, which cover what systemd has no
property for.
"""

import re
import subprocess
import time

from . import CgroupError, convert

_DEST = "org.freedesktop.systemd1"
_OBJECT = "/org/freedesktop/systemd1"
_MANAGER = "org.freedesktop.systemd1.Manager"
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@-]+")
_INFINITY = 2 ** 64 - 1


def unit_of(cgroups_path, container_id):
    """(slice, scope unit) from "slice:prefix:name" (runc's syntax); empty
    means system.slice and ocirt-<id>.scope."""
    if not cgroups_path:
        slice_name, prefix, name = "", "ocirt", container_id
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise CgroupError(f"linux.cgroupsPath: the systemd driver expects slice:prefix:name "
                              f"(got {cgroups_path!r})")
        slice_name, prefix, name = parts
    slice_name = slice_name or "system.slice"
    if not slice_name.endswith(".slice") or not _UNIT_NAME.fullmatch(slice_name):
        raise CgroupError(f"linux.cgroupsPath: {slice_name!r} is not a slice unit name")
    if name.endswith(".slice"):
        raise CgroupError("linux.cgroupsPath: a slice as the container's unit is not supported")
    unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    if not _UNIT_NAME.fullmatch(unit):
        raise CgroupError(f"linux.cgroupsPath: {unit!r} is not a valid systemd unit name")
    return slice_name, unit


def slice_path(slice_name):
    """Where systemd puts a slice: a-b.slice is /a.slice/a-b.slice."""
    if slice_name == "-.slice":
        return "/"
    path, prefix = "", ""
    for part in slice_name[:-len(".slice")].split("-"):
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}.slice"
    return path


def _busctl(method, signature, *args):
    cmd = ["busctl", "--system", "call", _DEST, _OBJECT, _MANAGER, method, signature] + [str(a) for a in args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise CgroupError("--systemd-cgroup: busctl(1) is missing: is this a systemd host?") from None
    except subprocess.TimeoutExpired:
        raise CgroupError(f"--systemd-cgroup: systemd did not answer {method} in 30 s") from None
    if done.returncode != 0:
        why = done.stderr.strip() or "failed"
        if "connect to bus" in why:
            raise CgroupError(f"--systemd-cgroup: no systemd on the system bus ({why})")
        raise CgroupError(f"--systemd-cgroup: {method}: {why}")
    return done.stdout.strip()


def _unit_state(unit):
    """The unit's ActiveState, or None once systemd has forgotten it."""
    try:
        path = _busctl("GetUnit", "s", unit).split('"')[1]
    except CgroupError:
        return None
    done = subprocess.run(["busctl", "--system", "get-property", _DEST, path,
                           "org.freedesktop.systemd1.Unit", "ActiveState"],
                          capture_output=True, text=True, timeout=30)
    return done.stdout.split('"')[1] if done.returncode == 0 and '"' in done.stdout else None


def properties(resources):
    """The cgroup v2 limits systemd has properties for: (name, signature, value)."""
    props = []
    memory = resources.get("memory") or {}
    number = lambda v: _INFINITY if v == -1 else v  # noqa: E731
    if memory.get("limit") is not None:
        props.append(("MemoryMax", "t", number(memory["limit"])))
        swap = convert.swap_to_v2(memory.get("swap"), memory["limit"], "linux.resources.memory.swap")
        if swap is not None:
            props.append(("MemorySwapMax", "t", number(swap)))
    if memory.get("reservation") is not None:
        props.append(("MemoryLow", "t", number(memory["reservation"])))
    pids = (resources.get("pids") or {}).get("limit")
    if pids is not None and pids != 0:  # systemd refuses TasksMax=0; the file gets it
        props.append(("TasksMax", "t", number(pids)))
    cpu = resources.get("cpu") or {}
    if cpu.get("shares") is not None:
        props.append(("CPUWeight", "t", convert.shares_to_weight(cpu["shares"])))
    if cpu.get("quota") is not None and cpu["quota"] > 0:
        period = cpu.get("period") or 100000
        props.append(("CPUQuotaPerSecUSec", "t", cpu["quota"] * 1_000_000 // period))
        props.append(("CPUQuotaPeriodUSec", "t", period))
    return props


def _flatten(props):
    args = [len(props)]
    for name, signature, value in props:
        args += [name, signature] + (list(value) if isinstance(value, (list, tuple)) else [value])
    return args


def start_scope(slice_name, unit, pid, resources, with_properties):
    """Start the scope around pid and wait until it is active."""
    props = [("Description", "s", f"ocirt container {unit}"), ("Slice", "s", slice_name),
             ("Delegate", "b", "true"), ("DefaultDependencies", "b", "false"),
             ("PIDs", "au", (1, pid)), ("MemoryAccounting", "b", "true"),
             ("CPUAccounting", "b", "true"), ("TasksAccounting", "b", "true")]
    if with_properties:
        props += properties(resources)
    _busctl("StartTransientUnit", "ssa(sv)a(sa(sv))", unit, "replace", *_flatten(props), 0)
    deadline = time.monotonic() + 10
    while (state := _unit_state(unit)) != "active":
        if state == "failed" or time.monotonic() > deadline:
            stop_scope(unit)
            raise CgroupError(f"--systemd-cgroup: {unit} did not start (it is {state})")
        time.sleep(0.01)


def set_properties(unit, resources):
    props = properties(resources)
    if props:
        _busctl("SetUnitProperties", "sba(sv)", unit, "true", *_flatten(props))


def stop_scope(unit, timeout=10):
    """Stop the unit and wait until systemd has removed it (and its cgroup)."""
    try:
        _busctl("StopUnit", "ss", unit, "replace")
    except CgroupError as e:
        if "not loaded" not in str(e):
            raise
    deadline = time.monotonic() + timeout
    while (state := _unit_state(unit)) is not None:
        if state == "failed":
            _busctl("ResetFailedUnit", "s", unit)
        if time.monotonic() > deadline:
            raise CgroupError(f"--systemd-cgroup: {unit} did not stop (it is {state})")
        time.sleep(0.01)
