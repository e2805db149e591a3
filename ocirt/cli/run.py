"""ocirt run [options] ID: create and start; attached unless --detach.

Attached, stdio passes through (or the pty is relayed when the config asks
for a terminal and no --console-socket is given), signals are forwarded, the
container is deleted when it exits (unless --keep), and the exit status is the
container's (128 + signal when it was killed)."""

from .create import OPTIONS as CREATE_OPTIONS, create_from
from .options import Option, parse_command

OPTIONS = CREATE_OPTIONS + [
    Option("--detach", "-d", help="return once the container is started"),
    Option("--keep", help="do not delete the container when it exits"),
    Option("--no-subreaper", help="accepted for runc compatibility"),
]
USAGE = "ocirt run [options] ID"


def main(ctx, argv):
    opts, (container_id,) = parse_command(USAGE, OPTIONS, argv, (1, 1))
    if opts["detach"]:
        create_from(opts, container_id, ctx).start()
        return 0
    from ..runtime.supervise import Supervisor
    relay = _terminal_relay(opts)
    container = create_from(opts, container_id, ctx)
    try:
        master = _receive_master(relay) if relay else None
        supervisor = Supervisor(container.pid, master)
        try:
            container.start()
        except BaseException:
            supervisor.close()
            raise
        return supervisor.wait()
    finally:
        if not opts["keep"]:
            container.delete(force=True)


def _terminal_relay(opts):
    """A socketpair standing in for --console-socket when the config asks for
    a terminal and the caller gave none: we then relay the pty ourselves."""
    if opts["console_socket"]:
        return None
    import os

    from .. import jsonio
    from ..linux import unixsock
    try:
        with open(os.path.join(opts["bundle"], "config.json"), "rb") as f:
            terminal = jsonio.loads(f.read()).get("process", {}).get("terminal")
    except (OSError, ValueError, AttributeError):
        return None  # create reports the problem properly
    if not terminal:
        return None
    ours, theirs = unixsock.socketpair()
    opts["console_socket"] = theirs
    return ours


def _receive_master(sock):
    from ..linux import unixsock
    _, fds = unixsock.recv_fds(sock, 4096, 1)
    sock.close()
    return fds[0]
