"""linux.seccomp in a real container: one test per action, argument
comparisons, and the load order with and without noNewPrivileges."""

import errno
import os
import signal

import pytest

SIGSYS_STATUS = 128 + signal.SIGSYS


def run_with(env, seccomp, script, no_new_privs=True, **process):
    cfg = env.config(args=["sh", "-c", script], noNewPrivileges=no_new_privs, **process)
    cfg["linux"]["seccomp"] = seccomp
    return env.ocirt("run", "-b", env.bundle(cfg), env.new_id())


def profile(action, names=("mkdir", "mkdirat"), **rule):
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [dict({"names": list(names), "action": action}, **rule)]}


@pytest.mark.parametrize("no_new_privs", [True, False])
def test_errno_default_eperm(env, no_new_privs):
    r = run_with(env, profile("SCMP_ACT_ERRNO"), "mkdir /dev/shm/x; echo rc=$?; test -d /dev/shm/x || echo absent",
                 no_new_privs)
    assert r.code == 0, r
    assert "Operation not permitted" in r.err and r.out == "rc=1\nabsent\n"


def test_errno_ret(env):
    r = run_with(env, profile("SCMP_ACT_ERRNO", errnoRet=errno.ENOSYS), "mkdir /dev/shm/x; echo rc=$?")
    assert "Function not implemented" in r.err and r.out == "rc=1\n", r


def test_default_action_with_errno_ret(env):
    allow = ["execve", "exit_group", "exit", "rt_sigreturn", "brk", "arch_prctl", "mmap", "munmap",
             "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom", "mprotect", "read",
             "write", "writev", "openat", "close", "fstat", "newfstatat", "getuid", "getpid", "ioctl",
             "rt_sigaction", "rt_sigprocmask", "sigaltstack", "uname", "readlink", "lseek", "fcntl"]
    seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EACCES,
               "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]}
    cfg = env.config(args=["/bin/mkdir", "/dev/shm/x"])
    cfg["linux"]["seccomp"] = seccomp
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 1 and "Permission denied" in r.err, r


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
                                    "SCMP_ACT_TRAP"])
def test_actions_that_end_the_process(env, action):
    # The program itself makes the call: the shell is pid 1 and immune to
    # signals from inside; mkdir runs as its child.
    r = run_with(env, profile(action), "/bin/mkdir /dev/shm/x; echo status=$?")
    assert r.out == f"status={SIGSYS_STATUS}\n", r


def test_trace_without_a_tracer_fails_the_call(env):
    r = run_with(env, profile("SCMP_ACT_TRACE", errnoRet=1), "mkdir /dev/shm/x; echo rc=$?")
    assert r.out == "rc=1\n" and "Function not implemented" in r.err, r


def test_log_allows(env):
    r = run_with(env, profile("SCMP_ACT_LOG"), "mkdir /dev/shm/x && test -d /dev/shm/x && echo made")
    assert (r.code, r.out) == (0, "made\n"), r


def test_argument_comparison(env):
    # chmod(path, 0700) is refused, chmod(path, 0755) is not.
    seccomp = profile("SCMP_ACT_ERRNO", names=["chmod"], args=[{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}])
    r = run_with(env, seccomp, "touch /dev/shm/f; chmod 700 /dev/shm/f; echo a=$?; chmod 755 /dev/shm/f; echo b=$?")
    assert r.out == "a=1\nb=0\n", r


def test_masked_eq(env):
    # Modes with the world-writable bit (mode & 0o002 == 0o002) are refused.
    seccomp = profile("SCMP_ACT_ERRNO", names=["chmod"],
                      args=[{"index": 1, "value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}])
    r = run_with(env, seccomp, "touch /dev/shm/f; chmod 777 /dev/shm/f; echo a=$?; chmod 750 /dev/shm/f; echo b=$?")
    assert r.out == "a=1\nb=0\n", r


def test_filter_is_in_place_for_the_program(env):
    r = run_with(env, profile("SCMP_ACT_ERRNO"), "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
    assert r.out.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"], r


def test_bad_profile_fails_create_cleanly(no_leftovers):
    env = no_leftovers
    cfg = env.config()
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                               "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}
    cid = env.new_id()
    r = env.ocirt("create", "--bundle", env.bundle(cfg), cid)
    # Debian 12's libseccomp (2.5.4) has no SCMP_FLTATR_CTL_WAITKILL (2.6 does).
    assert r.code == 1, r
    assert "linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by this libseccomp" in r.err, r


class Agent:
    """A seccomp agent listening at path: it takes each notify fd the runtime
    sends (with the container process state) and answers every notified
    syscall on it with EROFS itself."""

    NOTIF_RECV, NOTIF_SEND = 0xC0502100, 0xC0182101  # SECCOMP_IOCTL_NOTIF_RECV / _SEND

    def __init__(self, path):
        import socket
        import threading
        self.messages = []  # (state message, [syscall numbers answered])
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import json
        import socket
        import threading
        while True:
            conn, _ = self.server.accept()
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            # The runtime keeps no copy of the connection: EOF follows the
            # message (a copy held on would keep us from answering at all).
            eof = conn.recv(1) == b""
            conn.close()
            answered = []
            self.messages.append((dict(json.loads(msg), eof=eof), answered))
            threading.Thread(target=self._answer, args=(fds[0], answered), daemon=True).start()

    def _answer(self, fd, answered):
        import fcntl
        import struct
        while True:
            notif = bytearray(80)
            try:
                fcntl.ioctl(fd, self.NOTIF_RECV, notif, True)
            except OSError:
                break  # every process of the filter is gone
            notif_id = struct.unpack_from("Q", notif)[0]
            answered.append(struct.unpack_from("i", notif, 16)[0])
            fcntl.ioctl(fd, self.NOTIF_SEND, bytearray(struct.pack("QqiI", notif_id, 0, -errno.EROFS, 0)), True)
        os.close(fd)


def notify_profile(path):
    seccomp = profile("SCMP_ACT_NOTIFY")
    seccomp["listenerPath"] = path
    seccomp["listenerMetadata"] = "ocirt-test-agent"
    return seccomp


def test_notify_agent_answers_a_syscall(env, tmp_path):
    """SCMP_ACT_NOTIFY with listenerPath: the runtime sends the agent the
    container process state and the notify fd; the agent (here, this test)
    answers the container's mkdir with EROFS itself."""
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    r = run_with(env, notify_profile(path), "mkdir /dev/shm/x; echo rc=$?")
    assert r.out == "rc=1\n" and "Read-only file system" in r.err, r
    [(message, answered)] = agent.messages
    assert message["eof"] and message["fds"] == ["seccompFd"] and message["metadata"] == "ocirt-test-agent"
    assert message["state"]["id"] in env.ids and message["pid"] > 0
    assert answered and answered[0] in (83, 258), "mkdir or mkdirat (x86_64 numbers)"


def test_notify_agent_gets_an_exec_process(env, tmp_path):
    """An exec'd process gets the container's filter and its own notify fd,
    sent to the agent with its own host pid and the container's state."""
    path = str(tmp_path / "agent.sock")
    agent = Agent(path)
    cfg = env.config(args=["sleep", "1000"], noNewPrivileges=True)
    cfg["linux"]["seccomp"] = notify_profile(path)
    cid = env.create(cfg)
    env.ok("start", cid)
    init_pid = env.state(cid)["pid"]
    pid_file = tmp_path / "exec.pid"
    r = env.ocirt("exec", "--pid-file", str(pid_file), cid, "sh", "-c", "mkdir /dev/shm/x; echo rc=$?")
    assert r.out == "rc=1\n" and "Read-only file system" in r.err, r
    assert len(agent.messages) == 2, "one fd for the init, one for the exec'd process"
    (init_message, init_answered), (message, answered) = agent.messages
    assert init_message["pid"] == init_pid and not init_answered
    assert message["pid"] == int(pid_file.read_text()) != init_pid
    assert message["eof"] and message["fds"] == ["seccompFd"] and message["metadata"] == "ocirt-test-agent"
    assert (message["state"]["id"], message["state"]["pid"], message["state"]["status"]) == (cid, init_pid, "running")
    assert answered and answered[0] in (83, 258), "mkdir or mkdirat (x86_64 numbers)"


def test_a_profile_denying_getcwd(env):
    """Without noNewPrivileges the filter goes in before the user switch; the
    runtime's own cwd check must not trip over it."""
    r = run_with(env, profile("SCMP_ACT_ERRNO", names=["getcwd"]), "cd /tmp; echo ok", no_new_privs=False)
    assert (r.code, r.out) == (0, "ok\n"), r


def test_cwd_the_user_cannot_enter(env):
    cfg = env.config(args=["true"], cwd="/root", user={"uid": 65534, "gid": 65534})
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 1 and "process.cwd /root: Permission denied" in r.err, r


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
def test_filter_flags(env, flag):
    seccomp = profile("SCMP_ACT_ERRNO")
    seccomp["flags"] = [flag]
    r = run_with(env, seccomp, "grep -E '^(Seccomp|Speculation_Store_Bypass):' /proc/self/status; "
                               "mkdir /dev/shm/x; echo rc=$?")
    assert r.code == 0 and "Seccomp:\t2" in r.out and "rc=1" in r.out, r
    if flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
        assert "force mitigated" not in r.out, "SPEC_ALLOW leaves speculation control as it was"
