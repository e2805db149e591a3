"""The runtime-spec's rules that a JSON schema cannot say (Linux platform).

Each rule raises ConfigError naming the JSON path and the rule broken.
Runs after the schema, so types, required fields and absolute paths
(pattern "^/") are already right.
"""

from ..errors import ConfigError
from ..jsonio import shown


IFNAMSIZ = 16  # the kernel's limit on an interface name, with its NUL


def _got(value):
    return f"(got {shown(value)})"


def check(config):
    """Check a schema-valid config.json document for creating a container."""
    if not config["ociVersion"].startswith("1."):
        raise ConfigError("ociVersion", f"must be a 1.x version of the runtime-spec {_got(config['ociVersion'])}")
    check_process(config.get("process"))
    linux = config.get("linux", {})
    kinds = _check_namespaces(linux.get("namespaces", []))
    for field in ("hostname", "domainname"):
        if config.get(field) and "uts" not in kinds:
            raise ConfigError(field, "needs a uts namespace in linux.namespaces")
    for field in ("uidMappings", "gidMappings"):
        if linux.get(field) and "user" not in kinds:
            raise ConfigError(f"linux.{field}", "needs a user namespace in linux.namespaces")
    if linux.get("timeOffsets") and "time" not in kinds:
        raise ConfigError("linux.timeOffsets", "needs a time namespace in linux.namespaces")
    _check_net_devices(linux.get("netDevices", {}), kinds)
    for i, mount in enumerate(config.get("mounts", [])):
        if not mount["destination"]:
            raise ConfigError(f"mounts[{i}].destination", "must not be empty")


def check_process(process):
    if process is None:
        raise ConfigError("process", "is required to create a container")
    if not process.get("args"):
        raise ConfigError("process.args", "must name the program to run (got none)")
    for i, entry in enumerate(process.get("env", [])):
        if "=" not in entry or entry.startswith("="):
            raise ConfigError(f"process.env[{i}]", f"must have the form KEY=VALUE {_got(entry)}")
    seen = set()
    for i, rlimit in enumerate(process.get("rlimits", [])):
        if rlimit["type"] in seen:
            raise ConfigError(f"process.rlimits[{i}].type", f"duplicate rlimit {_got(rlimit['type'])}")
        seen.add(rlimit["type"])
        if rlimit["soft"] > rlimit["hard"]:
            raise ConfigError(f"process.rlimits[{i}]", "soft limit must not exceed the hard limit")


def _check_namespaces(namespaces):
    kinds = set()
    for i, ns in enumerate(namespaces):
        if ns["type"] in kinds:
            raise ConfigError(f"linux.namespaces[{i}].type", f"duplicate namespace {_got(ns['type'])}")
        kinds.add(ns["type"])
    return kinds


def net_device_path(host_name):
    """Always bracketed: interface names such as eth0.100 hold dots."""
    return f"linux.netDevices[{shown(host_name)}]"


def _check_net_devices(devices, kinds):
    """linux.netDevices: host devices moved into the container's network
    namespace, new or joined by path (as runc does), never the runtime's."""
    if devices and "network" not in kinds:
        raise ConfigError("linux.netDevices", "needs a network namespace in linux.namespaces")
    inside = {}  # final name -> host name, for names without a %d template
    for host_name, device in devices.items():
        path = net_device_path(host_name)
        problem = _ifname_problem(host_name) or ("%" in host_name and "a host device's name has no %")
        if problem:
            raise ConfigError(path, f"{problem} {_got(host_name)}")
        if host_name == "lo":
            raise ConfigError(path, "the loopback device cannot be moved: every network namespace has its own")
        name, field = device.get("name"), path + ".name"
        if not name:  # "" is unset, as in runc
            name, field = host_name, path
        else:
            problem = (_ifname_problem(name) or _template_problem(name)
                       or (name == "lo" and "is the container's own loopback device"))
            if problem:
                raise ConfigError(field, f"{problem} {_got(name)}")
        if "%" not in name:
            if name in inside:
                raise ConfigError(field, f"{name} is also the name of {net_device_path(inside[name])} inside")
            inside[name] = host_name


def _ifname_problem(name):
    """What the kernel's dev_valid_name refuses, in words (None if valid)."""
    if len(name.encode()) >= IFNAMSIZ:
        return f"an interface name has at most {IFNAMSIZ - 1} bytes"
    if not name or name in (".", ".."):
        return "is not a valid interface name"
    if any(c in "/:\0" or c.isspace() for c in name):
        return "an interface name has no '/', ':', NUL or white space"
    return None


def _template_problem(name):
    """A name with % is a template: the kernel fills in one %d."""
    if "%" in name and (name.count("%") > 1 or "%d" not in name):
        return "a template has exactly one %d and no other %"
    return None
