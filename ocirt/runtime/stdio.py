"""What a new container process gets besides fds 0-2, shared by create and
exec: the console socket when process.terminal is set, and preserved fds."""

import os

from ..errors import RuntimeFailure
from ..linux import unixsock


def seccomp_listener(linux):
    """The socket to the seccomp agent (linux.seccomp.listenerPath), connected
    by the runtime: the path is the host's, out of sight once the process is
    in the container's mount namespace. None without a listenerPath."""
    path = (linux or {}).get("seccomp", {}).get("listenerPath")
    if not path:
        return None
    try:
        return unixsock.connect(path)
    except OSError as e:
        raise RuntimeFailure(f"linux.seccomp.listenerPath {path}: {e.strerror}") from None


def console_for(process, console_socket):
    """The socket the pty master goes to: the caller's (a path, or a
    connected socket when `run`/`exec` relay the pty themselves), or None
    without a terminal."""
    if not process.get("terminal"):
        return None
    if not console_socket:
        raise RuntimeFailure("process.terminal is true: --console-socket is required")
    if unixsock.is_socket(console_socket):
        return console_socket
    try:
        return unixsock.connect(console_socket)
    except OSError as e:
        raise RuntimeFailure(f"--console-socket {console_socket}: {e.strerror}") from None


def preserved_fds(preserve_fds, socket_activation=False):
    """fds 3.. that the process gets, and the environment that goes with
    them: with socket_activation, $LISTEN_FDS (when meant for us) plus
    --preserve-fds more, as runc counts them."""
    listen = 0
    if socket_activation and os.environ.get("LISTEN_FDS") and os.environ.get("LISTEN_PID") == str(os.getpid()):
        listen = int(os.environ["LISTEN_FDS"])
    fds = list(range(3, 3 + listen + preserve_fds))
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            raise RuntimeFailure(f"--preserve-fds: fd {fd} is not open") from None
    return fds, [f"LISTEN_FDS={listen}", "LISTEN_PID=1"] if listen else []
