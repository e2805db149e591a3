"""cgroup v2 has no devices controller: access to device nodes is decided by
a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. We compile the
reduced rule list (devicerules.DeviceRules) into one, by hand: a few dozen
instructions do not need an assembler.

The program sees struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
u32 minor; } with access_type = access << 16 | type, and returns 1 to allow.
"""

import os
import struct

from .. import syscalls as sc

_DEV_TYPE = {"b": 1, "c": 2}                   # BPF_DEVCG_DEV_BLOCK, _CHAR
_ACCESS_BIT = {"m": 1, "r": 2, "w": 4}         # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_ALL_ACCESS = 7

# opcodes (class | op | source)
_LDX_W = 0x61      # dst = *(u32 *)(src + off)
_AND32_K = 0x54
_RSH32_K = 0x74
_MOV32_K = 0xb4
_MOV32_X = 0xbc
_JNE_K = 0x55
_JNE_X = 0x5d
_JEQ_K = 0x15
_EXIT = 0x95
R0, R1, R2, R3, R4, R5 = range(6)


def _insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _access_bits(access):
    bits = 0
    for c in access:
        bits |= _ACCESS_BIT[c]
    return bits


def compile_rules(rules):
    """DeviceRules -> the program's bytes. Every exception has the action
    opposite to the default, so their order does not matter."""
    prologue = [
        _insn(_LDX_W, R2, R1, 0), _insn(_AND32_K, R2, imm=0xFFFF),   # r2 = type
        _insn(_LDX_W, R3, R1, 0), _insn(_RSH32_K, R3, imm=16),       # r3 = access
        _insn(_LDX_W, R4, R1, 4),                                    # r4 = major
        _insn(_LDX_W, R5, R1, 8),                                    # r5 = minor
    ]
    blocks = []
    verdict = 0 if rules.default_allow else 1
    for (kind, major, minor), access in sorted(rules.exceptions.items(), key=_sort_key):
        # Each check is a (code, dst, src, imm) that jumps to the next block on mismatch.
        checks = [(_JNE_K, R2, 0, _DEV_TYPE[kind])]
        bits = _access_bits(access)
        if verdict == 1 and bits != _ALL_ACCESS:
            # allowed only if every requested bit is in the rule: (r3 & bits) == r3
            checks += [None, (_JNE_X, R1, R3, 0)]
        elif verdict == 0 and bits != _ALL_ACCESS:
            # denied if any requested bit is in the rule: (r3 & bits) != 0
            checks += [None, (_JEQ_K, R1, 0, 0)]
        if major is not None:
            checks.append((_JNE_K, R4, 0, major))
        if minor is not None:
            checks.append((_JNE_K, R5, 0, minor))
        body = []
        jumps = []
        for check in checks:
            if check is None:  # r1 = r3 & bits (r1, the context, is no longer needed)
                body += [_insn(_MOV32_X, R1, R3), _insn(_AND32_K, R1, imm=bits)]
                continue
            jumps.append(len(body))
            body.append(check)
        body += [_insn(_MOV32_K, R0, imm=verdict), _insn(_EXIT)]
        end = len(body)
        blocks += [_insn(c[0], c[1], c[2], end - i - 1, c[3]) if isinstance(c, tuple) else c
                   for i, c in enumerate(body)]
    epilogue = [_insn(_MOV32_K, R0, imm=1 if rules.default_allow else 0), _insn(_EXIT)]
    return b"".join(prologue + blocks + epilogue)


def _sort_key(item):
    (kind, major, minor), _ = item
    return (kind, -1 if major is None else major, -1 if minor is None else minor)


def install(directory, rules):
    """Attach a program for `rules` to the cgroup and detach the ones that
    were there. The new one goes on first: meanwhile both apply (a device
    must pass every program), so access is never wider than either list."""
    program = compile_rules(rules)
    cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = sc.bpf_prog_query(cgroup_fd, sc.BPF_CGROUP_DEVICE)
        prog_fd = sc.bpf_prog_load(sc.BPF_PROG_TYPE_CGROUP_DEVICE, program, "GPL", b"ocirt_devices")
        try:
            sc.bpf_prog_attach(cgroup_fd, prog_fd, sc.BPF_CGROUP_DEVICE, sc.BPF_F_ALLOW_MULTI)
        finally:
            os.close(prog_fd)  # the attachment keeps the program alive
        for prog_id in old:
            try:
                old_fd = sc.bpf_prog_get_fd_by_id(prog_id)
            except FileNotFoundError:
                continue
            try:
                sc.bpf_prog_detach(cgroup_fd, old_fd, sc.BPF_CGROUP_DEVICE)
            finally:
                os.close(old_fd)
    finally:
        os.close(cgroup_fd)
