"""The runtime-spec as data: load a bundle's config.json, validate it (schema and
the spec's semantic rules) and expose it read-only. Never touches the kernel."""

import json
import os

from ..errors import ConfigError
from . import rules
from .schema import SchemaViolation, validator

OCI_VERSION = "1.3.0"


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


def parse(data, file="config.json"):
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(None, f"not valid JSON: {e}", file=file) from None


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
