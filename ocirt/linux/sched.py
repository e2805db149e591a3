"""Process attributes of the runtime-spec applied to the calling process:
scheduler (sched_setattr), ioPriority, CPU affinity, NUMA memory policy,
personality, and oom_score_adj. Each error names its config field."""

import os

from . import syscalls as sc

SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
MEMPOLICY_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
                   "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MEMPOLICY_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
                   "MPOL_F_STATIC_NODES": 1 << 15}


class ProcessAttributeError(OSError):
    """An attribute the kernel refused; the message names the field."""


def _fail(field, e):
    return ProcessAttributeError(e.errno, f"{field}: {e.strerror}")


def parse_cpu_list(text, field):
    """"0-3,7" -> {0, 1, 2, 3, 7}"""
    cpus = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ValueError(f"{field}: not a CPU list (got {text!r})") from None
    return cpus


def set_scheduler(scheduler):
    field = "process.scheduler"
    policy = SCHED_POLICIES.get(scheduler["policy"])
    if policy is None:
        raise ValueError(f"{field}.policy: unknown policy {scheduler['policy']!r}")
    flags = 0
    for name in scheduler.get("flags", []):
        if name not in SCHED_FLAGS:
            raise ValueError(f"{field}.flags: unknown flag {name!r}")
        flags |= SCHED_FLAGS[name]
    try:
        sc.sched_setattr(policy, flags, scheduler.get("nice", 0), scheduler.get("priority", 0),
                         scheduler.get("runtime", 0), scheduler.get("deadline", 0), scheduler.get("period", 0))
    except OSError as e:
        raise _fail(field, e) from None


def set_io_priority(io_priority):
    field = "process.ioPriority"
    io_class = IOPRIO_CLASSES.get(io_priority["class"])
    if io_class is None:
        raise ValueError(f"{field}.class: unknown class {io_priority['class']!r}")
    try:
        sc.ioprio_set(io_class, io_priority.get("priority", 0))
    except OSError as e:
        raise _fail(field, e) from None


def set_affinity(cpu_list, field):
    try:
        os.sched_setaffinity(0, parse_cpu_list(cpu_list, field))
    except OSError as e:
        raise _fail(field, e) from None


def set_personality(personality):
    field = "linux.personality"
    domain = PERSONALITY_DOMAINS.get(personality["domain"])
    if domain is None:
        raise ValueError(f"{field}.domain: unknown domain {personality['domain']!r}")
    try:
        sc.personality(domain)
    except OSError as e:
        raise _fail(field, e) from None


def set_memory_policy(policy):
    field = "linux.memoryPolicy"
    mode = MEMPOLICY_MODES.get(policy["mode"])
    if mode is None:
        raise ValueError(f"{field}.mode: unknown mode {policy['mode']!r}")
    for name in policy.get("flags", []):
        if name not in MEMPOLICY_FLAGS:
            raise ValueError(f"{field}.flags: unknown flag {name!r}")
        mode |= MEMPOLICY_FLAGS[name]
    nodes = parse_cpu_list(policy.get("nodes", ""), f"{field}.nodes")
    try:
        sc.set_mempolicy(mode, sorted(nodes))
    except OSError as e:
        raise _fail(field, e) from None


def set_oom_score_adj(proc, value):
    """Through the runtime's own procfs (proc: a linux.procfs.PrivateProc),
    never a /proc path the container could redirect."""
    try:
        proc.write(f"{os.getpid()}/oom_score_adj", str(value).encode())
    except OSError as e:
        raise _fail("process.oomScoreAdj", e) from None
