"""The runtime-spec's rules that a JSON schema cannot say (Linux platform).

Each rule raises ConfigError naming the JSON path and the rule broken.
Runs after the schema, so types, required fields and absolute paths
(pattern "^/") are already right.
"""

from ..errors import ConfigError
from ..jsonio import dumps


def _got(value):
    return f"(got {dumps(value)})"


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
