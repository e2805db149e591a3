"""ocirt events [--stats] [--interval DURATION] ID: the container's cgroup
statistics (once with --stats, else every interval) and OOM kills, one JSON
object per line in runc's shape, until the container has no process left."""

from ..errors import UsageError
from .options import Option, parse_command

OPTIONS = [
    Option("--interval", value=True, default="5s", help="time between statistics (default 5s)"),
    Option("--stats", help="print the statistics once and exit"),
]
USAGE = "ocirt events [--stats] [--interval DURATION] ID"
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text):
    """Go's time.ParseDuration syntax ("5s", "100ms", "1m30s"); a bare
    number means seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            number += text[i]
            i += 1
            continue
        unit = next((u for u in sorted(_UNITS, key=len, reverse=True) if text.startswith(u, i)), None)
        if unit is None or not number:
            raise UsageError(f"--interval: not a duration: {text!r} (e.g. 5s, 500ms)")
        total += float(number) * _UNITS[unit]
        number, i = "", i + len(unit)
    if number:
        raise UsageError(f"--interval: missing unit in {text!r} (e.g. 5s, 500ms)")
    return total


def main(ctx, argv):
    import json
    import sys
    from ..container import Container
    opts, (container_id,) = parse_command(USAGE, OPTIONS, argv, (1, 1))
    interval = parse_duration(opts["interval"])
    if interval <= 0:
        raise UsageError("--interval must be greater than 0")
    container = Container.load(container_id, ctx.root)
    if opts["stats"]:
        events = [{"type": "stats", "id": container.id, "data": container.stats()}]
    else:
        events = container.events(interval)
    try:
        for event in events:
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away, which ends the stream; keep exit's flush quiet.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
