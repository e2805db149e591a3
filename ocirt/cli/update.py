"""ocirt update [--resources FILE|-] [per-knob flags] ID: change the resource
limits of a container. --resources takes a LinuxResources JSON object (as in
config.json's linux.resources); the flags are runc's."""

from ..errors import UsageError
from .options import Option, integer, parse_command

# flag -> (section, key, kind); kind: "size" (bytes, 100m, -1), "int", "str".
_KNOBS = {
    "--memory": ("memory", "limit", "size"),
    "--memory-swap": ("memory", "swap", "size"),
    "--memory-reservation": ("memory", "reservation", "size"),
    "--kernel-memory": ("memory", "kernel", "size"),
    "--kernel-memory-tcp": ("memory", "kernelTCP", "size"),
    "--cpu-share": ("cpu", "shares", "int"),
    "--cpu-shares": ("cpu", "shares", "int"),
    "--cpu-quota": ("cpu", "quota", "int"),
    "--cpu-period": ("cpu", "period", "int"),
    "--cpu-burst": ("cpu", "burst", "int"),
    "--cpu-rt-period": ("cpu", "realtimePeriod", "int"),
    "--cpu-rt-runtime": ("cpu", "realtimeRuntime", "int"),
    "--cpu-idle": ("cpu", "idle", "int"),
    "--cpuset-cpus": ("cpu", "cpus", "str"),
    "--cpuset-mems": ("cpu", "mems", "str"),
    "--pids-limit": ("pids", "limit", "int"),
    "--blkio-weight": ("blockIO", "weight", "int"),
}
OPTIONS = [Option("--resources", "-r", value=True,
                  help="LinuxResources JSON from FILE, or - for stdin")] + \
    [Option(flag, value=True, help=f"{section}.{key}") for flag, (section, key, _) in _KNOBS.items()]
USAGE = "ocirt update [--resources FILE|-] [options] ID"
_UNIT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text, flag):
    """Bytes as runc (docker's units.RAMInBytes) reads them: 1024, 100k,
    64m, 1.5g, 2GiB (binary multiples), and -1 for unlimited."""
    import re
    if text.strip() == "-1":
        return -1
    match = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?", text.strip().lower())
    if not match:
        raise UsageError(f"{flag}: not a size: {text!r} (e.g. 1048576, 512m, 1g, -1)")
    return int(float(match.group(1)) * _UNIT[match.group(2)])


def resources_from_flags(opts):
    resources = {}
    for flag, (section, key, kind) in _KNOBS.items():
        text = opts[flag.lstrip("-").replace("-", "_")]
        if text is None:
            continue
        value = parse_size(text, flag) if kind == "size" else \
            integer(text, flag) if kind == "int" else text
        resources.setdefault(section, {})[key] = value
    return resources


def main(ctx, argv):
    from ..container import Container
    opts, (container_id,) = parse_command(USAGE, OPTIONS, argv, (1, 1))
    flags = resources_from_flags(opts)
    if opts["resources"] is None:
        resources, source = flags, "update flags"
    elif flags:
        raise UsageError("--resources and the per-knob flags cannot be combined")
    else:
        resources, source = _read_resources(opts["resources"])
    Container.load(container_id, ctx.root).update(resources, source)


def _read_resources(where):
    import sys
    from ..errors import ConfigError
    from ..spec import parse
    source = "stdin" if where == "-" else where
    try:
        if where == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(where, "rb") as f:
                data = f.read()
    except OSError as e:
        raise ConfigError(None, f"cannot read: {e.strerror}", file=source) from None
    return parse(data, source), source
