"""process.capabilities through libcap-ng: the bounding set is dropped while
still root, the other sets are applied after the uid switch (keepcaps keeps
the permitted set across setuid)."""

import capng

from . import syscalls as sc

PR_SET_KEEPCAPS = 8
_SETS = (("effective", capng.CAPNG_EFFECTIVE), ("permitted", capng.CAPNG_PERMITTED),
         ("inheritable", capng.CAPNG_INHERITABLE), ("bounding", capng.CAPNG_BOUNDING_SET),
         ("ambient", capng.CAPNG_AMBIENT))


def _number(name):
    number = capng.capng_name_to_capability(name[4:].lower() if name.startswith("CAP_") else "")
    if number < 0:
        raise ValueError(f"process.capabilities: unknown capability {name!r}")
    return number


class CapabilityPlan:
    """What to apply, computed before the root switch. Capabilities this
    process lacks itself cannot be granted in any set (ambient too: raising
    one needs it permitted): they are dropped with a warning."""

    def __init__(self, capabilities, warn):
        capng.capng_get_caps_process()
        self.sets = {}
        missing = set()
        for key, _ in _SETS:
            wanted = []
            for name in capabilities.get(key, []):
                number = _number(name)
                if not capng.capng_have_capability(capng.CAPNG_PERMITTED, number):
                    missing.add(name)
                    continue
                wanted.append(number)
            self.sets[key] = wanted
        for name in sorted(missing):
            warn(f"process.capabilities: {name} is not available to the runtime, not granted")

    def drop_bounding(self):
        capng.capng_clear(capng.CAPNG_SELECT_BOUNDS)
        for number in self.sets["bounding"]:
            capng.capng_update(capng.CAPNG_ADD, capng.CAPNG_BOUNDING_SET, number)
        if capng.capng_apply(capng.CAPNG_SELECT_BOUNDS) != 0:
            raise OSError(1, "applying the capability bounding set failed")
        sc.prctl(PR_SET_KEEPCAPS, 1)

    def apply(self):
        """After setuid: effective, permitted, inheritable and ambient."""
        capng.capng_clear(capng.CAPNG_SELECT_BOTH)
        for key, kind in _SETS:
            if key in ("bounding", "ambient"):
                continue
            for number in self.sets[key]:
                capng.capng_update(capng.CAPNG_ADD, kind, number)
        if capng.capng_apply(capng.CAPNG_SELECT_CAPS) != 0:
            raise OSError(1, "applying the capability sets failed")
        if self.sets["ambient"]:
            for number in self.sets["ambient"]:
                capng.capng_update(capng.CAPNG_ADD, capng.CAPNG_AMBIENT, number)
            if capng.capng_apply(capng.CAPNG_SELECT_AMBIENT) != 0:
                raise OSError(1, "raising the ambient capabilities failed")
        sc.prctl(PR_SET_KEEPCAPS, 0)
