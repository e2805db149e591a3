"""Preparing process.* for execve inside the container: rlimits, capabilities,
user and groups, environment, working directory, the PATH lookup of args[0],
no_new_privs, seccomp, signal dispositions. Shared by the container's init and
by exec.

Runs after the root switch, when the host's Python library is out of view:
only modules imported at the top of this file may be used."""

import os
import resource
import _signal as signal  # the C module: `signal` imports enum (~2 ms)

from .. import jsonio

from ..linux import lsm, sched, syscalls as sc, unixsock
from ..linux.capabilities import CapabilityPlan
from ..linux.procfs import PrivateProc


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
    groups = user.get("additionalGids", [])
    try:
        os.setgroups(groups)
    except PermissionError:
        # A rootless user namespace denies setgroups (its gid map needs that);
        # with no groups asked for, there is nothing we had to set.
        if groups:
            raise PermissionError(1, "process.user.additionalGids: setgroups is denied in this "
                                     "user namespace (rootless)") from None
    try:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise OSError(e.errno, f"process.user: switching to uid {uid} gid {gid}: {e.strerror}") from None


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


class ProcessPlan:
    """What is computed before the root switch (capability numbers, the
    seccomp filter, the host's LSMs), then applied in two steps: prepare()
    before the process is reported ready, exec() when it may run.

    linux: the config's linux object (seccomp, personality, memoryPolicy)."""

    def __init__(self, proc, linux=None, extra_env=(), warn=lambda text: None,
                 seccomp_listener=None, container_state=None):
        """seccomp_listener: a socket to the seccomp agent (listenerPath) that
        gets the notify fd with the container's state once the filter is in.
        The agent is told the host pid process_pid, which exec sets to its
        process's once known; by default the state's (the init's)."""
        linux = linux or {}
        self.proc = proc
        self.seccomp_listener = seccomp_listener
        self.container_state = container_state
        self.process_pid = None
        self.linux = linux
        self.extra_env = list(extra_env)
        lsm.check(proc)
        self.caps = CapabilityPlan(proc["capabilities"], warn) if "capabilities" in proc else None
        self.seccomp = None
        if linux.get("seccomp") is not None:
            from ..linux import seccomp  # only configs with seccomp pay for libseccomp
            self.seccomp = seccomp.build(linux["seccomp"], warn)
        self.path = None
        self.env = None

    def prepare(self):
        """Everything up to the program's path, in the order privileges allow:
        what needs root first (oom_score_adj, real-time scheduling, the
        bounding set), then the user switch. Without noNewPrivileges the
        filter goes in before the switch, while we still hold CAP_SYS_ADMIN
        to load it (runc's order); with it, at exec."""
        proc, user = self.proc, self.proc["user"]
        self._attributes()
        apply_rlimits(proc.get("rlimits", []))
        os.umask(user.get("umask", 0o022))
        if self.caps:
            self.caps.drop_bounding()
        # The cwd is checked (getcwd) before any filter is in: a profile may
        # well deny getcwd to the program.
        enter_cwd(proc["cwd"])
        if self.seccomp is not None and not proc.get("noNewPrivileges"):
            self._load_seccomp()
        switch_user(user)
        if self.caps:
            self.caps.apply()
        sc.set_dumpable(False)  # a uid change resets it to suid_dumpable; be explicit
        try:
            os.chdir(proc["cwd"])  # again as the user: their own access counts
        except OSError as e:
            raise OSError(e.errno, f"process.cwd {proc['cwd']}: {e.strerror}") from None
        self.env = environment(proc) + self.extra_env
        self.path = find_executable(proc["args"][0], self.env)

    def _attributes(self):
        proc, linux = self.proc, self.linux
        if "personality" in linux:
            sched.set_personality(linux["personality"])
        if "memoryPolicy" in linux:
            sched.set_memory_policy(linux["memoryPolicy"])
        if "scheduler" in proc:
            sched.set_scheduler(proc["scheduler"])
        if "ioPriority" in proc:
            sched.set_io_priority(proc["ioPriority"])
        if "oomScoreAdj" in proc or proc.get("apparmorProfile") or proc.get("selinuxLabel"):
            private_proc = PrivateProc()
            try:
                if "oomScoreAdj" in proc:
                    sched.set_oom_score_adj(private_proc, proc["oomScoreAdj"])
                lsm.set_exec_labels(private_proc, proc)
            finally:
                private_proc.close()

    def exec(self):
        """no_new_privs, the filter, clean signals, execve. Returns only if
        execve failed, with its OSError."""
        if self.proc.get("noNewPrivileges"):
            sc.set_no_new_privs()
            if self.seccomp is not None:
                self._load_seccomp()
        default_signals()
        try:
            os.execve(self.path, self.proc["args"], dict(e.split("=", 1) for e in self.env))
        except OSError as e:
            return e

    def _load_seccomp(self):
        from ..linux import seccomp  # imported already when the filter was built
        notify_fd = seccomp.load(self.seccomp)
        self.seccomp = None
        if notify_fd is not None and self.seccomp_listener is not None:
            self._send_notify_fd(notify_fd)

    def _send_notify_fd(self, notify_fd):
        """The container process state and the fd, in one message (the
        runtime-spec's seccomp listener protocol)."""
        message = {"ociVersion": self.container_state["ociVersion"], "fds": ["seccompFd"],
                   "pid": self.process_pid or self.container_state["pid"],
                   "metadata": self.linux["seccomp"].get("listenerMetadata", ""),
                   "state": self.container_state}
        try:
            unixsock.send_fds(self.seccomp_listener, jsonio.dumps(message).encode(), [notify_fd])
        finally:
            os.close(notify_fd)
            self.seccomp_listener.close()
            self.seccomp_listener = None


def default_signals():
    """An ignored signal stays ignored across exec: Python ignores SIGPIPE and
    SIGXFSZ, and a caller may ignore more. The program starts as from a clean
    exec, with every disposition default and nothing blocked."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
