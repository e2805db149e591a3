"""linux.seccomp through libseccomp (pyseccomp): the spec's profile turned into
a filter, built before the root switch and loaded just before execve.

Imported only when a config has linux.seccomp (pyseccomp loads libseccomp).
"""

import errno as _errno

import seccomp as _sc

_ARCHES = {
    "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM", "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_MIPS": "MIPS",
    "SCMP_ARCH_MIPS64": "MIPS64", "SCMP_ARCH_MIPS64N32": "MIPS64N32", "SCMP_ARCH_MIPSEL": "MIPSEL",
    "SCMP_ARCH_MIPSEL64": "MIPSEL64", "SCMP_ARCH_MIPSEL64N32": "MIPSEL64N32", "SCMP_ARCH_PPC": "PPC",
    "SCMP_ARCH_PPC64": "PPC64", "SCMP_ARCH_PPC64LE": "PPC64LE", "SCMP_ARCH_S390": "S390",
    "SCMP_ARCH_S390X": "S390X", "SCMP_ARCH_PARISC": "PARISC", "SCMP_ARCH_PARISC64": "PARISC64",
    "SCMP_ARCH_RISCV64": "RISCV64",
}
_OPS = {"SCMP_CMP_NE": _sc.NE, "SCMP_CMP_LT": _sc.LT, "SCMP_CMP_LE": _sc.LE, "SCMP_CMP_EQ": _sc.EQ,
        "SCMP_CMP_GE": _sc.GE, "SCMP_CMP_GT": _sc.GT, "SCMP_CMP_MASKED_EQ": _sc.MASKED_EQ}
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": _sc.Attr.CTL_TSYNC, "SECCOMP_FILTER_FLAG_LOG": _sc.Attr.CTL_LOG,
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _sc.Attr.CTL_SSB}
ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
OPERATORS = tuple(_OPS)
ARCHITECTURES = tuple(_ARCHES)
FLAGS = tuple(_FLAGS)


_NR_SCMP_ERROR = -1  # libseccomp's "no such syscall"; other negatives are pseudo numbers


class SeccompError(ValueError):
    pass


def _action(name, errno_ret, where):
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return _sc.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return _sc.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return _sc.TRAP
    if name == "SCMP_ACT_ERRNO":
        return _sc.ERRNO(_errno.EPERM if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_TRACE":
        return _sc.TRACE(_errno.EPERM if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_ALLOW":
        return _sc.ALLOW
    if name == "SCMP_ACT_LOG":
        return _sc.LOG
    if name == "SCMP_ACT_NOTIFY":
        return _sc.NOTIFY
    raise SeccompError(f"{where}: unknown action {name!r}")


def _args(args, where):
    converted = []
    for i, arg in enumerate(args):
        op = _OPS.get(arg["op"])
        if op is None:
            raise SeccompError(f"{where}.args[{i}].op: unknown operator {arg['op']!r}")
        # MASKED_EQ: value is the mask, valueTwo the datum (libseccomp's order).
        converted.append(_sc.Arg(arg["index"], op, arg["value"], arg.get("valueTwo", 0)))
    return converted


def build(config, warn=lambda text: None):
    """The filter for linux.seccomp, not yet loaded. Names libseccomp knows
    on no architecture are skipped with a warning, as runc does; a name of
    another architecture only (chown32 on x86_64) resolves to a negative
    pseudo number, which libseccomp maps to the real one for each
    architecture of the filter that has it."""
    default_errno = config.get("defaultErrnoRet")
    default = _action(config["defaultAction"], default_errno, "linux.seccomp.defaultAction")
    filt = _sc.SyscallFilter(default)
    # We set no_new_privs ourselves when the config asks; libseccomp must not.
    filt.set_attr(_sc.Attr.CTL_NNP, 0)
    for name in config.get("architectures", []):
        arch = _ARCHES.get(name)
        if arch is None:
            raise SeccompError(f"linux.seccomp.architectures: unknown architecture {name!r}")
        arch_value = getattr(_sc.Arch, arch)
        if not filt.exist_arch(arch_value):
            filt.add_arch(arch_value)
    for flag in config.get("flags", []):
        if flag not in _FLAGS:
            raise SeccompError(f"linux.seccomp.flags: {flag} is not supported by this libseccomp")
        filt.set_attr(_FLAGS[flag], 1)
    for r, rule in enumerate(config.get("syscalls", [])):
        where = f"linux.seccomp.syscalls[{r}]"
        action = _action(rule["action"], rule.get("errnoRet"), where + ".action")
        if action == default:
            continue  # libseccomp refuses rules that repeat the default
        args = _args(rule.get("args", []), where)
        # Comparisons on one argument cannot be ANDed by libseccomp: like runc,
        # each becomes a rule of its own (so they are ORed).
        same_index = len({a["index"] for a in rule.get("args", [])}) < len(args)
        arg_sets = [[a] for a in args] if same_index else [args]
        for name in rule["names"]:
            if _sc.resolve_syscall(_sc.Arch.NATIVE, name) == _NR_SCMP_ERROR:
                warn(f"{where}: syscall {name!r} is unknown here, rule skipped")
                continue
            for arg_set in arg_sets:
                filt.add_rule(action, name, *arg_set)
    return filt


def load(filt):
    """Install the filter in this process; returns the notify fd or None."""
    filt.load()
    try:
        return filt.get_notify_fd()
    except (RuntimeError, ValueError, OSError):
        return None
