"""The runtime-spec's resources were designed for cgroup v1; these are the
conversions to v2 values that runc and crun document and use."""

import math

from . import CgroupError


def shares_to_weight(shares):
    """cpu.shares [2, 262144], default 1024 -> cpu.weight [1, 10000], default
    100, on the log-quadratic curve of runc >= 1.3.2 and crun >= 1.23 (it maps
    the default to the default, which the old linear formula did not)."""
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    log = math.log2(shares)
    return math.ceil(10 ** ((log * log + 125 * log) / 612.0 - 7.0 / 34.0))


def blkio_weight_to_io_weight(weight):
    """blkio.weight [10, 1000] -> io.weight [1, 10000], linearly."""
    return 1 + (weight - 10) * 9999 // 990


def swap_to_v2(swap, limit, field):
    """The spec's swap is memory+swap; v2's memory.swap.max is swap alone.
    Returns the value for memory.swap.max (-1: max) or None to leave it."""
    if swap is None:
        return -1 if limit == -1 else None  # unlimited memory means unlimited swap
    if swap == -1:
        return -1
    if limit is None or limit == 0:
        raise CgroupError(f"{field}: cgroup v2 needs memory.limit to set swap "
                          "(swap is memory+swap in the spec)")
    if limit == -1:
        return swap
    if swap < limit:
        raise CgroupError(f"{field}: {swap} is less than memory.limit {limit} "
                          "(swap is memory+swap)")
    return swap - limit


def v2_number(value):
    """-1 -> "max" for the .max/.high/.low files."""
    return "max" if value == -1 else str(value)
