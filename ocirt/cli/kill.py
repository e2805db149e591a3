"""ocirt kill [--all] ID [SIGNAL]: SIGNAL as a number, NAME or SIGNAME."""

from ..errors import UsageError
from .options import Option, parse_command

OPTIONS = [Option("--all", "-a", help="signal every process in the container's cgroup")]
USAGE = "ocirt kill [--all] ID [SIGNAL]"


def parse_signal(text):
    import signal
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        number = getattr(signal.Signals, name, None)
        if number is not None:
            return int(number)
    raise UsageError(f"unknown signal {text!r}")


def main(ctx, argv):
    from ..container import Container
    opts, args = parse_command(USAGE, OPTIONS, argv, (1, 2))
    sig = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    Container.load(args[0], ctx.root).kill(sig, all=opts["all"])
