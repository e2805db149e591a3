"""Reading and writing cgroup control files, with errors that name the config
field and the file: "linux.resources.memory.limit: writing 1 to
/sys/fs/cgroup/memory/c/memory.limit_in_bytes: Device or resource busy"."""

import os

from . import CgroupError


def path_of(directory, name):
    return os.path.join(directory, name)


def exists(directory, name):
    return os.path.exists(os.path.join(directory, name))


def write(directory, name, value, field):
    """Write one value with one write(2), as the kernel wants it. Files are
    never created: a missing one means the host lacks the feature."""
    path = os.path.join(directory, name)
    text = str(value)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CgroupError(f"{field}: {path} does not exist: this host's kernel or cgroup "
                          "setup does not offer it") from None
    except OSError as e:
        raise CgroupError(f"{field}: cannot open {path}: {e.strerror}") from None
    try:
        os.write(fd, text.encode())
    except OSError as e:
        raise CgroupError(f"{field}: writing {text!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def read(directory, name, field=None):
    path = os.path.join(directory, name)
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        if field is None:
            raise
        raise CgroupError(f"{field}: reading {path}: {e.strerror}") from None


def read_int(directory, name, default=0):
    """An integer file ("max" counts as -1); default when absent or odd."""
    try:
        text = read(directory, name).strip()
    except OSError:
        return default
    if text == "max":
        return -1
    try:
        return int(text)
    except ValueError:
        return default


def read_keyed(directory, name):
    """A flat keyed file ("key value" lines) as {key: int}; {} when absent."""
    try:
        text = read(directory, name)
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                values[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return values
