"""A small flag parser with runc's (urfave/cli) conventions: --flag value,
--flag=value, single-dash long names (-bundle), short aliases (-b), boolean
flags with an optional =true/=false, and `--` to end the options.

Written here rather than with argparse to keep the start-up of every command
short; it knows only what runc's command line needs."""

from ..errors import UsageError


class Option:
    def __init__(self, name, *aliases, value=False, default=None, multiple=False, help=""):
        """multiple: the option may repeat; its value is the list of them."""
        self.names = (name,) + aliases
        self.dest = name.lstrip("-").replace("-", "_")
        self.value = value or multiple
        self.multiple = multiple
        self.default = default if value else False
        self.help = help

    def help_line(self):
        names = ", ".join(self.names) + (" VALUE" if self.value else "")
        return f"  {names:<28} {self.help}"


def _bool(text, name):
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise UsageError(f"{name}: expected true or false (got {text!r})")


def parse(options, argv, stop_at_positional=False):
    """Returns ({dest: value}, positional arguments)."""
    by_name = {}
    for opt in options:
        for name in opt.names:
            by_name[name] = opt
            if name.startswith("--"):
                by_name[name[1:]] = opt  # -bundle, as urfave/cli accepts
    values = {opt.dest: [] if opt.multiple else opt.default for opt in options}
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            if stop_at_positional:
                positional.extend(argv[i:])
                break
            continue
        name, eq, inline = arg.partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise UsageError(f"unknown option {name}")
        if not opt.value:
            values[opt.dest] = _bool(inline, name) if eq else True
            continue
        if eq:
            value = inline
        elif i < len(argv):
            value = argv[i]
            i += 1
        else:
            raise UsageError(f"{name} needs a value")
        if opt.multiple:
            values[opt.dest].append(value)
        else:
            values[opt.dest] = value
    return values, positional


def parse_command(usage, options, argv, nargs, stop_at_positional=False):
    """Parse a command's argv; nargs is (min, max) positional arguments.
    stop_at_positional: flags end at the first argument (exec's command has
    flags of its own)."""
    values, positional = parse(options + [HELP], argv, stop_at_positional)
    if values["help"]:
        lines = [f"usage: {usage}", ""] + [o.help_line() for o in options + [HELP]]
        print("\n".join(lines))
        raise SystemExit(0)
    low, high = nargs
    if not low <= len(positional) <= high:
        raise UsageError(f"usage: {usage}")
    return values, positional


def integer(text, name):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: expected a number (got {text!r})") from None


HELP = Option("--help", "-h", help="show this help")
