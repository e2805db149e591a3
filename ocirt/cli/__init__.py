"""runc-compatible command line: `ocirt [global options] COMMAND [options] ARGS`.

One module per command, imported only when that command runs. Commands turn
flags into library calls; errors become one line on stderr (and in --log) and
a non-zero exit code. No kernel calls here.
"""

import os
import sys

from ..errors import OcirtError, UsageError
from .options import Option, parse

COMMANDS = {
    "create": "create a container from a bundle",
    "start": "start a created container",
    "run": "create and start a container",
    "state": "print the state of a container",
    "kill": "send a signal to the container's init (or all its processes)",
    "delete": "delete a container and everything it holds",
    "list": "list the containers",
    "ps": "show the processes of a container",
    "pause": "freeze every process of a container",
    "resume": "thaw a paused container",
    "update": "change the resource limits of a container",
    "events": "print cgroup statistics and OOM events of a container",
    "spec": "write a default config.json",
    "exec": "run a new process in a running container",
    "features": "print what this build supports (runtime-spec features)",
}
ALIASES = {"ls": "list", "rm": "delete"}
NOT_YET = ("checkpoint", "restore")

GLOBAL_OPTIONS = [
    Option("--root", value=True, help="state directory (default /run/ocirt as root)"),
    Option("--log", value=True, help="log file (default: stderr)"),
    Option("--log-format", value=True, default="text", help="text or json"),
    Option("--debug", help="log debug messages"),
    Option("--systemd-cgroup", help="cgroups as systemd scopes (cgroupsPath slice:prefix:name)"),
    Option("--rootless", value=True, help="accepted for runc compatibility"),
    Option("--criu", value=True, help="accepted for runc compatibility"),
    Option("--version", "-v", help="print the version"),
    Option("--help", "-h", help="show help"),
]


class Context:
    """The global options, as the command modules see them."""

    def __init__(self, opts):
        self.root = opts["root"]
        self.log_file = opts["log"]
        self.log_format = opts["log_format"]
        self.debug = opts["debug"]
        self.systemd_cgroup = opts["systemd_cgroup"]


def _usage():
    lines = ["usage: ocirt [global options] COMMAND [options] ARGS", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, text in COMMANDS.items()]
    lines += ["", "global options:"] + [o.help_line() for o in GLOBAL_OPTIONS]
    return "\n".join(lines)


def _version():
    from .._version import OCI_VERSION, VERSION
    return f"ocirt version {VERSION}\ncommit: {_commit()}\nspec: {OCI_VERSION}"


def _commit():
    """The git commit of a checkout install, else "unknown"."""
    git = os.path.join(os.path.dirname(__file__), "..", "..", ".git")
    try:
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            with open(os.path.join(git, head[5:])) as f:
                head = f.read().strip()
        return head[:12]
    except OSError:
        return "unknown"


def entry():
    """The command's whole life: main(), then out without the interpreter's
    teardown, which costs ~2 ms (as much as a `state`'s own work). Every file
    ocirt writes is closed by then; only stdio may hold buffered output."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing to keep
            code = code or 1
    os._exit(code)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ctx = None
    try:
        opts, rest = parse(GLOBAL_OPTIONS, argv, stop_at_positional=True)
        if opts["log_format"] not in ("text", "json"):
            raise UsageError(f"--log-format must be text or json (got {opts['log_format']!r})")
        ctx = Context(opts)
        if ctx.log_file or ctx.debug or ctx.log_format != "text":
            from .. import log
            log.configure(ctx.log_file, ctx.log_format, ctx.debug)
        if opts["version"]:
            print(_version())
            return 0
        if opts["help"] or not rest:
            print(_usage())
            return 0 if opts["help"] else 2
        name = ALIASES.get(rest[0], rest[0])
        if name in NOT_YET:
            raise OcirtError(f"'{name}' is not implemented yet")
        if name not in COMMANDS:
            raise UsageError(f"unknown command {rest[0]!r}; see 'ocirt --help'")
        module = __import__(f"ocirt.cli.{name}", fromlist=["run"])
        return module.main(ctx, rest[1:]) or 0
    except OcirtError as e:
        _report(str(e), ctx)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if ctx is not None and ctx.debug:
            raise
        where = f"{e.filename}: " if isinstance(e, OSError) and e.filename else ""
        reason = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}"
        _report(f"{where}{reason} (run with --debug for details)", ctx)
        return 1


def _report(message, ctx):
    """One line on stderr; also to --log when given (clients read it there)."""
    from .. import log
    if ctx is not None and ctx.log_file:
        try:
            log.error(message)
        except OSError:
            pass
    print(f"ocirt: {message}", file=sys.stderr)
