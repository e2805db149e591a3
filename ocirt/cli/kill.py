"""ocirt kill [--all] ID [SIGNAL]: SIGNAL as a number, NAME or SIGNAME."""

from ..errors import UsageError
from .options import Option, parse_command

OPTIONS = [Option("--all", "-a", help="signal every process in the container's cgroup")]
USAGE = "ocirt kill [--all] ID [SIGNAL]"


def parse_signal(text):
    import _signal  # the C module: `signal` imports enum (~2 ms)
    if text.isdigit():
        number = int(text)
        if 0 < number < _signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        # SIG_DFL, SIG_IGN, SIG_BLOCK... are constants of the module, not signals.
        number = getattr(_signal, name, None) if "_" not in name else None
        if isinstance(number, int) and number in _signal.valid_signals():
            return number
    raise UsageError(f"unknown signal {text!r}")


def main(ctx, argv):
    from ..container import Container
    opts, args = parse_command(USAGE, OPTIONS, argv, (1, 2))
    sig = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    Container.load(args[0], ctx.root).kill(sig, all=opts["all"])
