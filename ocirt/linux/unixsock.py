"""Unix sockets on the C module `_socket`, with fd passing (SCM_RIGHTS).

The `socket` module turns its constants into enums when imported (~2 ms with
enum itself), more than some whole ocirt commands spend on their own work;
this is the part of it that ocirt uses. Sockets are close-on-exec, as
Python's always are.
"""

import _socket
import sys

AF_UNIX = _socket.AF_UNIX
SOCK_STREAM = _socket.SOCK_STREAM
SOCK_SEQPACKET = _socket.SOCK_SEQPACKET
MSG_WAITALL = _socket.MSG_WAITALL
_FD_SIZE = 4  # an int in the kernel's SCM_RIGHTS array


class UnixSocket(_socket.socket):
    __slots__ = ()

    def __init__(self, kind=SOCK_STREAM, fileno=None):
        if fileno is None:
            super().__init__(AF_UNIX, kind)
        else:
            super().__init__(fileno=fileno)

    def accept(self):
        fd, address = self._accept()
        return UnixSocket(fileno=fd), address

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def is_socket(obj):
    """Any socket object, ours or the `socket` module's (a library caller's)."""
    return isinstance(obj, _socket.socket)


def socketpair(kind=SOCK_STREAM):
    a, b = _socket.socketpair(AF_UNIX, kind)
    return UnixSocket(fileno=a.detach()), UnixSocket(fileno=b.detach())


def connect(path):
    """A stream socket connected to the unix socket at path."""
    sock = UnixSocket()
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def send_fds(sock, payload, fds):
    """One message: payload bytes with fds as SCM_RIGHTS."""
    rights = b"".join(fd.to_bytes(_FD_SIZE, sys.byteorder) for fd in fds)
    return sock.sendmsg([payload], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])


def recv_fds(sock, size, max_fds):
    """(payload, fds) of one message; fds that arrive are ours to close, and
    close-on-exec (no hook or child we start inherits them)."""
    payload, ancillary, _, _ = sock.recvmsg(size, _socket.CMSG_SPACE(max_fds * _FD_SIZE),
                                            _socket.MSG_CMSG_CLOEXEC)
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % _FD_SIZE
            fds += [int.from_bytes(data[i:i + _FD_SIZE], sys.byteorder) for i in range(0, usable, _FD_SIZE)]
    return payload, fds
