"""ocirt ps [--format table|json] ID [ps options]: the container's processes,
as ps(1) shows them (default `ps -ef`) or as a JSON array of host pids."""

from ..errors import OcirtError, UsageError
from .options import HELP, Option, parse

OPTIONS = [Option("--format", "-f", value=True, default="table", help="table or json")]
USAGE = "ocirt ps [--format table|json] ID [ps options]"


def main(ctx, argv):
    from ..container import Container
    # Options end at the id: what follows belongs to ps(1) (e.g. `ps ID -o pid,comm`).
    opts, args = parse(OPTIONS + [HELP], argv, stop_at_positional=True)
    if opts["help"]:
        print("\n".join([f"usage: {USAGE}", ""] + [o.help_line() for o in OPTIONS + [HELP]]))
        return 0
    if not args:
        raise UsageError(f"usage: {USAGE}")
    if opts["format"] not in ("table", "json"):
        raise UsageError(f"--format must be table or json (got {opts['format']!r})")
    pids = Container.load(args[0], ctx.root).processes()
    if opts["format"] == "json":
        import json
        print(json.dumps(pids, separators=(",", ":")))
        return 0
    print(_table(pids, args[1:] or ["-ef"]))
    return 0


def _table(pids, ps_args):
    """ps(1)'s header and its lines whose PID column is one of ours."""
    import subprocess
    try:
        proc = subprocess.run(["ps"] + ps_args, capture_output=True, text=True)
    except OSError as e:
        raise OcirtError(f"ps: cannot run ps(1): {e.strerror}") from None
    if proc.returncode != 0:
        raise OcirtError(f"ps {' '.join(ps_args)}: {(proc.stderr or proc.stdout).strip()}")
    lines = proc.stdout.splitlines()
    header = lines[0].split() if lines else []
    if "PID" not in header:
        raise OcirtError(f"ps {' '.join(ps_args)}: its output has no PID column")
    column = header.index("PID")
    wanted = set(pids)
    rows = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            rows.append(line)
    return "\n".join(rows)
