"""Process identity from /proc: a pid alone can be reused, a pid plus its start
time (field 22 of /proc/PID/stat, in clock ticks since boot) cannot."""

import os


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(b")") + 2:].split()


def start_time(pid):
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_alive(pid, started):
    """True when pid is the same process that started at `started` and is not
    a zombie (an unreaped init counts as stopped, as in runc)."""
    if not pid:
        return False
    fields = stat_fields(pid)
    if fields is None:
        return False
    return fields[0] not in (b"Z", b"X") and int(fields[19]) == started


def open_pidfd(pid, started):
    """A pidfd for the process, or None if it is gone or the pid was reused.
    Checking the start time after opening closes the reuse race."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if not is_alive(pid, started):
        os.close(fd)
        return None
    return fd
