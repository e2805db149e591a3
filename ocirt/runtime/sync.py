"""Messages between the runtime and the processes it forks: one JSON object
per SOCK_SEQPACKET datagram, so no framing is needed and EOF means every
holder of the other end has exited."""

from .. import jsonio
from ..linux import unixsock


def pair():
    return unixsock.socketpair(unixsock.SOCK_SEQPACKET)


def send(sock, **message):
    sock.send(jsonio.dumps(message).encode())


def receive(sock):
    """The next message, or None at EOF (the peer is gone)."""
    data = sock.recv(65536)
    return jsonio.loads(data) if data else None
