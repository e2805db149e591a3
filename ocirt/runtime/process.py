"""Preparing process.* for execve inside the container: rlimits, user and
groups, environment, working directory and the PATH lookup of args[0].

Runs after the root switch, when the host's Python library is out of view:
only modules imported at the top of this file may be used."""

import os
import resource

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecNotFound(Exception):
    pass


def apply_rlimits(rlimits):
    for i, rl in enumerate(rlimits):
        kind = getattr(resource, rl["type"], None)
        if not isinstance(kind, int):
            raise ValueError(f"process.rlimits[{i}].type: unknown rlimit {rl['type']!r}")
        try:
            resource.setrlimit(kind, (rl["soft"], rl["hard"]))
        except (OSError, ValueError) as e:
            raise OSError(getattr(e, "errno", 1) or 1,
                          f"process.rlimits[{i}]: setting {rl['type']} to {rl['soft']}/{rl['hard']}: {e}") from None


def switch_user(user):
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    os.setgroups(user.get("additionalGids", []))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def home_of(uid):
    """The user's home from the container's /etc/passwd, as runc sets HOME."""
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def environment(process):
    env = list(process.get("env", []))
    if not any(e.startswith("HOME=") for e in env):
        env.append("HOME=" + home_of(process["user"].get("uid", 0)))
    return env


def find_executable(name, env):
    """execvp's lookup, done by hand: os.execvpe would import modules lazily."""
    if "/" in name:
        if not os.path.exists(name):
            raise ExecNotFound(f'exec: "{name}": stat {name}: no such file or directory')
        return name
    path = next((e[5:] for e in env if e.startswith("PATH=")), None)
    for directory in (path or "").split(":") if path is not None else ():
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ExecNotFound(f'exec: "{name}": executable file not found in $PATH')


def enter_cwd(cwd):
    """chdir, then check the result is inside the container: a leaked host
    directory fd as cwd shows up as unreachable (CVE-2024-21626)."""
    os.chdir(cwd)
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        raise OSError(1, f"process.cwd {cwd} is outside the container")
