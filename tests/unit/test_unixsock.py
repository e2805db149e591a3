"""Unix sockets on _socket: fd passing as the console socket and the seccomp agent use it."""

import fcntl
import os

from ocirt.linux import unixsock


def test_received_fds_are_close_on_exec():
    a, b = unixsock.socketpair()
    r, w = os.pipe()
    os.set_inheritable(r, True)
    try:
        unixsock.send_fds(a, b"x", [r])
        payload, fds = unixsock.recv_fds(b, 16, 1)
        assert payload == b"x" and len(fds) == 1
        assert fcntl.fcntl(fds[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        os.close(fds[0])
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_sockets_are_close_on_exec_and_accept_works(tmp_path):
    server = unixsock.UnixSocket()
    server.bind(str(tmp_path / "s"))
    server.listen(1)
    client = unixsock.connect(str(tmp_path / "s"))
    conn, _ = server.accept()
    with server, client, conn:
        for sock in (server, client, conn):
            assert fcntl.fcntl(sock.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        client.sendall(b"token")
        assert conn.recv(5, unixsock.MSG_WAITALL) == b"token"
