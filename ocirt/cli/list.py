"""ocirt list [--format table|json] [--quiet]"""

from .. import jsonio
from ..errors import UsageError
from .options import Option, parse_command

OPTIONS = [
    Option("--format", "-f", value=True, default="table", help="table or json"),
    Option("--quiet", "-q", help="print only the ids"),
]
USAGE = "ocirt list [options]"
COLUMNS = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def main(ctx, argv):
    from ..container import Container
    opts, _ = parse_command(USAGE, OPTIONS, argv, (0, 0))
    if opts["format"] not in ("table", "json"):
        raise UsageError(f"--format must be table or json (got {opts['format']!r})")
    states = Container.list(ctx.root)
    if opts["quiet"]:
        for s in states:
            print(s["id"])
    elif opts["format"] == "json":
        print(jsonio.dumps(states))
    else:
        rows = [COLUMNS] + [tuple(str(s[k.lower()]) for k in COLUMNS) for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
        for row in rows:
            print("   ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
