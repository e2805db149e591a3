"""linux.seccomp in a real container: one test per action, argument
comparisons, and the load order with and without noNewPrivileges."""

import errno
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
    assert r.code == 1 and "linux.seccomp.flags" in r.err, r
