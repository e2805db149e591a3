"""The seccomp profile -> libseccomp filter translation, checked on the
filter's own text form (PFC) without loading it into the test process."""

import errno
import os

import pytest

seccomp = pytest.importorskip("seccomp")
from ocirt.linux import seccomp as oseccomp  # noqa: E402


def pfc(config, warn=lambda text: None):
    filt = oseccomp.build(config, warn)
    path = f"/tmp/ocirt-pfc-{os.getpid()}"
    with open(path, "w+") as f:
        filt.export_pfc(f)
        f.seek(0)
        text = f.read()
    os.unlink(path)
    return text


def test_errno_rule_and_default():
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}]})
    assert f"action ERRNO({errno.EACCES})" in text
    assert "# filter for syscall \"mkdir\"" in text and "# filter for syscall \"mkdirat\"" in text
    assert "# default action\n  action ALLOW;" in text


def test_default_errno_ret():
    text = pfc({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    assert f"action ERRNO({errno.ENOSYS});" in text.split("# default action")[1]


def test_argument_comparisons():
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_KILL_PROCESS",
         "args": [{"index": 0, "value": 0x10000000, "valueTwo": 0x10000000, "op": "SCMP_CMP_MASKED_EQ"}]}]})
    assert "if ($a0.lo32 == 8)\n        action ERRNO(1);" in text
    assert "if ($a0.lo32 & 0x10000000 == 268435456)\n        action KILL_PROCESS;" in text


def test_same_argument_twice_becomes_two_rules():
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]})
    assert "if ($a0.lo32 == 1)" in text and "if ($a0.lo32 == 2)" in text


def test_rule_equal_to_default_is_skipped():
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    assert "read" not in text


def test_unknown_syscall_warns_and_is_skipped():
    warnings = []
    oseccomp.build({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["nosuchcall", "read"], "action": "SCMP_ACT_ERRNO"}]}, warnings.append)
    assert warnings == ["linux.seccomp.syscalls[0]: syscall 'nosuchcall' is unknown here, rule skipped"]


def test_a_syscall_of_another_architecture_is_kept_for_it():
    """chown32 is x86's only: no warning, and the x86 part of the filter has
    it under its x86 number (212), so 32-bit programs are filtered too."""
    warnings = []
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [{"names": ["chown32", "socketcall"], "action": "SCMP_ACT_ERRNO"}]}, warnings.append)
    assert warnings == []
    x86 = text.split("# filter for arch x86 ")[1]
    assert '# filter for syscall "chown32" (212)' in x86 and '# filter for syscall "socketcall" (102)' in x86


@pytest.mark.parametrize("config, message", [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction: unknown action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}, "unknown architecture"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}, "not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}, "syscalls[0].args[0].op: unknown operator"),
])
def test_errors_name_the_field(config, message):
    with pytest.raises(oseccomp.SeccompError, match=message.replace("[", r"\[").replace("]", r"\]")):
        oseccomp.build(config)


def test_multiple_architectures():
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    assert "x86_64" in text and "# filter for arch x86 " in text


def test_other_architectures_syscalls_are_kept():
    # podman's profile with every capability dropped: x86 multiplexes socket
    # through socketcall, whose unconditional ALLOW (a name x86_64 lacks) must
    # go in, or libseccomp refuses the conditional socket rules (EEXIST).
    socket_rules = [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EINVAL,
         "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]}]
    warnings = []
    oseccomp.build({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    "syscalls": [{"names": ["socketcall", "read"], "action": "SCMP_ACT_ALLOW"}] + socket_rules},
                   warnings.append)
    assert warnings == []  # and no EEXIST raised
    text = pfc({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
                "syscalls": [{"names": ["socketcall"], "action": "SCMP_ACT_ALLOW"}]})
    assert '# filter for syscall "socketcall" (102)' in text
