"""Supervising an attached `run`: forward signals to the container's init,
relay a terminal when the runtime holds the pty master, and return the
init's exit status the way a shell reports it (128 + signal when killed).

One select loop, no threads: signals arrive through signal.set_wakeup_fd.
"""

import os
import select
import _signal as signal  # the C module: `signal` imports enum (~2 ms)

# Everything a user may send to `ocirt run` goes on to the container.
FORWARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGPIPE, signal.SIGALRM, signal.SIGTERM, signal.SIGCONT, signal.SIGTSTP,
             signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


class Supervisor:
    """Install before `start` so that no signal is lost; then wait()."""

    def __init__(self, pid=None, master_fd=None):
        """pid and master may be set later, before wait(); signals that come
        before the pid is known are dropped."""
        self.pid = pid
        self.master = master_fd
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old = {}
        self._old_wakeup = signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
        for sig in FORWARDED + (signal.SIGCHLD,):
            self._old[sig] = signal.signal(sig, _noop)
        self._tty_state = None

    def wait(self):
        try:
            if self.master is not None:
                self._enter_raw_mode()
                self._copy_window_size()
            return self._loop()
        finally:
            self.close()

    def close(self):
        if self._tty_state is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, self._tty_state)
            self._tty_state = None
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        signal.set_wakeup_fd(self._old_wakeup)
        for fd in (self._rfd, self._wfd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _loop(self):
        watched = [self._rfd]
        if self.master is not None:
            watched += [0, self.master]
        while True:
            status = self._reap()
            if status is not None:
                self._drain_master()
                return status
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            if self._rfd in ready:
                for signo in os.read(self._rfd, 256):
                    self._forward(signo)
            if self.master is not None:
                if 0 in ready and not _copy(0, self.master):
                    watched.remove(0)
                if self.master in ready and not _copy(self.master, 1):
                    watched.remove(self.master)

    def _forward(self, signo):
        if signo == signal.SIGCHLD or self.pid is None:
            return
        if signo == signal.SIGWINCH and self.master is not None:
            self._copy_window_size()
            return
        try:
            os.kill(self.pid, signo)
        except ProcessLookupError:
            pass

    def _reap(self):
        """Reap every child we have (orphans re-parent to us as subreaper);
        the init's status when it is among them."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 255  # the init is not ours to wait for: should not happen
            if pid == 0:
                return None
            if pid == self.pid:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
                    else 128 + os.WTERMSIG(status)

    def _drain_master(self):
        if self.master is None:
            return
        while select.select([self.master], [], [], 0)[0] and _copy(self.master, 1):
            pass

    def _enter_raw_mode(self):
        if os.isatty(0):
            import termios
            import tty
            self._tty_state = termios.tcgetattr(0)
            tty.setraw(0)

    def _copy_window_size(self):
        if os.isatty(0):
            import fcntl
            import termios
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)


def _noop(signo, frame):
    pass


def _copy(src, dst):
    try:
        data = os.read(src, 65536)
    except OSError:  # EIO: the pty's other side is closed
        return False
    if not data:
        return False
    os.write(dst, data)
    return True
