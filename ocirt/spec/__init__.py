"""The runtime-spec as data: load a bundle's config.json, validate it (schema and
the spec's semantic rules) and expose it read-only. Never touches the kernel."""

import os

from .. import jsonio
from .._version import OCI_VERSION  # noqa: F401 - re-exported
from ..errors import ConfigError
from . import rules
from .schema import SchemaViolation, validator


class Spec:
    """A validated config.json of a bundle. `raw` is the document as parsed."""

    def __init__(self, bundle, raw):
        self.bundle = bundle
        self.raw = raw
        self.process = raw["process"]
        self.linux = raw.get("linux", {})
        root = raw["root"]
        self.rootfs = os.path.normpath(os.path.join(bundle, root["path"]))
        self.root_readonly = bool(root.get("readonly", False))
        self.mounts = raw.get("mounts", [])
        self.annotations = raw.get("annotations", {})
        self.hostname = raw.get("hostname")
        self.domainname = raw.get("domainname")

    @property
    def namespaces(self):
        return self.linux.get("namespaces", [])

    def has_namespace(self, kind):
        return any(ns["type"] == kind for ns in self.namespaces)


def validate(config, file="config.json"):
    """Schema plus semantic rules; raises ConfigError naming the JSON path."""
    if not isinstance(config, dict):
        raise ConfigError(None, "must be a JSON object", file=file)
    try:
        validator("config.schema.json").validate(config)
    except SchemaViolation as e:
        raise ConfigError(e.path, e.message, file=file) from None
    try:
        rules.check(config)
    except ConfigError as e:
        raise ConfigError(e.path, e.rule, file=file) from None


_INFINITIES = (float("inf"), float("-inf"))


def _number(text):
    """Whole numbers written as 1.0 or 1e3 become ints: every number in the
    spec is an integer, and the kernel calls take nothing else."""
    value = float(text)
    if value in _INFINITIES:  # 1e400: no JSON number a field could hold, nor state.json write
        raise ValueError(f"number {text[:20]} is out of range")
    return int(value) if value.is_integer() else value


_scan_config = jsonio.scanner(parse_float=_number)


def validate_process(process, file="process.json"):
    """A runtime-spec Process on its own (exec --process): schema and rules."""
    try:
        validator("config.schema.json", "Process").validate(process)
    except SchemaViolation as e:
        raise ConfigError(e.path, e.message, file=file) from None
    try:
        rules.check_process(process)
    except ConfigError as e:
        raise ConfigError(e.path.replace("process.", "", 1), e.rule, file=file) from None


def parse(data, file="config.json"):
    """bytes of config.json -> a document. Strict: UTF-8 only (no BOM, no
    UTF-16), no NaN or Infinity, and absurd nesting is an error, not a crash."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return jsonio.loads(text, _scan_config)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ConfigError(None, f"not valid JSON: {reason}", file=file) from None


def load_bundle(bundle):
    """Read, validate and check <bundle>/config.json and its rootfs."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(None, f"cannot read: {e.strerror}", file=path) from None
    config = parse(data, path)
    validate(config, path)
    spec = Spec(bundle, config)
    if not os.path.exists(spec.rootfs):
        raise ConfigError("root.path", f"rootfs {spec.rootfs} does not exist", file=path)
    if not os.path.isdir(spec.rootfs):
        raise ConfigError("root.path", f"rootfs {spec.rootfs} is not a directory", file=path)
    return spec
