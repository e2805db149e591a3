"""The device allow-list: linux.resources.devices plus the defaults every
container needs, reduced to what the v1 devices controller would hold.

The spec says "apply entries in the listed order", with v1's semantics. We
replay the list the way the v1 kernel code does (an "a" rule resets the
default and drops every exception; other rules add or remove exceptions), so
v1 and v2 end up with the same rules: v1 writes them to devices.allow/deny,
v2 compiles them into an eBPF program. Like runc, the list starts from "deny
everything" and the defaults go last, so clients that send only
[{"allow": false, "access": "rwm"}] still get a working /dev.
"""

from . import CgroupError

WILDCARD = None

# (type, major, minor, access): mknod of anything (the init creates the
# nodes), then null, random, full, tty, zero, urandom, /dev/pts/*, /dev/ptmx.
DEFAULT_RULES = (
    ("c", WILDCARD, WILDCARD, "m"), ("b", WILDCARD, WILDCARD, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, WILDCARD, "rwm"), ("c", 5, 2, "rwm"),
)
_ACCESS_ORDER = "rwm"


class Rule:
    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow, kind, major, minor, access):
        self.allow, self.type, self.major, self.minor = allow, kind, major, minor
        self.access = frozenset(access)

    @classmethod
    def from_spec(cls, entry, field):
        kind = entry.get("type", "a") or "a"
        if kind not in ("a", "b", "c"):
            raise CgroupError(f"{field}.type: must be a, b or c (got {kind!r})")
        access = entry.get("access", "rwm") or "rwm"
        if not set(access) <= set(_ACCESS_ORDER):
            raise CgroupError(f"{field}.access: only r, w and m are allowed (got {access!r})")
        return cls(bool(entry["allow"]), kind, entry.get("major"), entry.get("minor"), access)

    @property
    def key(self):
        return (self.type, self.major, self.minor)


def line(key, access):
    """The v1 devices.allow/deny syntax: "c 1:3 rwm", "c 136:* rwm"."""
    kind, major, minor = key
    star = lambda n: "*" if n is None else str(n)  # noqa: E731
    return f"{kind} {star(major)}:{star(minor)} {''.join(c for c in _ACCESS_ORDER if c in access)}"


class DeviceRules:
    """default_allow plus exceptions {(type, major, minor): access set}: the
    exceptions are allowed devices when the default is deny, denied ones
    when it is allow."""

    def __init__(self, default_allow=False, exceptions=None):
        self.default_allow = default_allow
        self.exceptions = dict(exceptions or {})

    @classmethod
    def for_container(cls, entries, field="linux.resources.devices"):
        rules = cls()
        for i, entry in enumerate(entries or []):
            rules.apply(Rule.from_spec(entry, f"{field}[{i}]"), f"{field}[{i}]")
        for kind, major, minor, access in DEFAULT_RULES:
            rules.apply(Rule(True, kind, major, minor, access), "default device rules")
        return rules

    def apply(self, rule, field):
        if rule.type == "a":
            # As in the kernel: "a" is all devices, whatever major, minor and access say.
            self.default_allow = rule.allow
            self.exceptions = {}
        elif rule.allow == self.default_allow:
            self._remove(rule, field)
        else:
            self.exceptions[rule.key] = self.exceptions.get(rule.key, frozenset()) | rule.access

    def _remove(self, rule, field):
        # v1 ignores removing a specific device from a wildcard exception:
        # refuse it rather than let the config look safer than it is.
        kind, major, minor = rule.key
        for wider in ((kind, None, minor), (kind, major, None), (kind, None, None)):
            if wider != rule.key and self.exceptions.get(wider, frozenset()) & rule.access:
                raise CgroupError(f"{field}: cannot take {line(rule.key, rule.access)} out of the "
                                  f"wider rule {line(wider, self.exceptions[wider])}")
        left = self.exceptions.get(rule.key, frozenset()) - rule.access
        if left:
            self.exceptions[rule.key] = left
        else:
            self.exceptions.pop(rule.key, None)

    @classmethod
    def from_v1_list(cls, text):
        """What a v1 devices.list says. In allow-all mode the kernel shows only
        "a *:* rwm" and hides its deny exceptions."""
        rules = cls()
        for raw in text.splitlines():
            parts = raw.split()
            if len(parts) != 3:
                continue
            kind, numbers, access = parts
            if kind == "a":
                return cls(True)
            major, minor = (None if n == "*" else int(n) for n in numbers.split(":"))
            rules.exceptions[(kind, major, minor)] = frozenset(access)
        return rules
