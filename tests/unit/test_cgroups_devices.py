"""The device allow-list: v1 replay semantics, and the eBPF program that v2
gets, run here through a small interpreter of the instructions it uses."""

import itertools
import os
import random
import struct

import pytest

from ocirt.linux import syscalls as sc
from ocirt.linux.cgroups import CgroupError, ebpf
from ocirt.linux.cgroups.devicerules import DeviceRules, Rule, line

DENY_ALL = [{"allow": False, "access": "rwm"}]


def rules_of(entries):
    rules = DeviceRules()
    for i, entry in enumerate(entries):
        rules.apply(Rule.from_spec(entry, f"devices[{i}]"), f"devices[{i}]")
    return rules


def test_defaults_follow_a_deny_all():
    rules = DeviceRules.for_container(DENY_ALL)
    assert not rules.default_allow
    assert {line(k, a) for k, a in rules.exceptions.items()} == {
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
        "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm"}


def test_no_rules_still_means_deny_by_default():
    assert not DeviceRules.for_container([]).default_allow


def test_an_a_rule_resets_whatever_its_numbers_say():
    rules = rules_of([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
                      {"allow": True, "type": "a", "major": 4, "access": "r"}])
    assert rules.default_allow and rules.exceptions == {}


def test_allow_merges_and_deny_subtracts_access():
    rules = rules_of(DENY_ALL + [{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"},
                                 {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "w"},
                                 {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "r"}])
    assert rules.exceptions == {("c", 10, 229): frozenset("w")}


def test_allow_all_then_deny_makes_deny_exceptions():
    rules = rules_of([{"allow": True, "access": "rwm"},
                      {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "w"}])
    assert rules.default_allow and rules.exceptions == {("b", 8, 0): frozenset("w")}


def test_punching_a_hole_in_a_wildcard_is_refused():
    with pytest.raises(CgroupError, match=r"devices\[2\]: cannot take c 136:1 rw out of the wider rule c 136:\* rwm"):
        rules_of(DENY_ALL + [{"allow": True, "type": "c", "major": 136, "access": "rwm"},
                             {"allow": False, "type": "c", "major": 136, "minor": 1, "access": "rw"}])


@pytest.mark.parametrize("entry, message", [
    ({"allow": True, "type": "x"}, r"devices\[0\]\.type: must be a, b or c"),
    ({"allow": True, "type": "c", "access": "rwx"}, r"devices\[0\]\.access: only r, w and m"),
])
def test_bad_rules_name_the_field(entry, message):
    with pytest.raises(CgroupError, match=message):
        DeviceRules.for_container([entry])


def test_v1_list_round_trip():
    text = "c 1:3 rwm\nc *:* m\nc 136:* rw\n"
    rules = DeviceRules.from_v1_list(text)
    assert not rules.default_allow
    assert sorted(line(k, a) for k, a in rules.exceptions.items()) == sorted(text.split("\n")[:-1])
    assert DeviceRules.from_v1_list("a *:* rwm\n").default_allow


# -- the eBPF program ---------------------------------------------------------------
def run_program(code, kind, major, minor, access):
    """Interpret the subset of eBPF that ebpf.compile_rules emits."""
    ctx = struct.pack("<III", (access << 16) | {"b": 1, "c": 2}[kind], major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    for _ in range(1000):
        op, r, off, imm = insns[pc]
        dst, src = r & 0xF, r >> 4
        pc += 1
        if op == 0x61:
            assert src == 1, "only the context is read"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:
            regs[dst] = regs[dst] & (imm & 0xFFFFFFFF)
        elif op == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == 0xb4:
            regs[dst] = imm & 0xFFFFFFFF
        elif op == 0xbc:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == 0x55:
            pc += off if regs[dst] != imm & 0xFFFFFFFF else 0
        elif op == 0x5d:
            pc += off if regs[dst] != regs[src] else 0
        elif op == 0x15:
            pc += off if regs[dst] == imm & 0xFFFFFFFF else 0
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("program did not exit")


def reference(rules, kind, major, minor, access_bits):
    """The v1 kernel's answer: a default-deny list allows a request fully
    covered by one exception; a default-allow list denies any overlap."""
    access = {c for c, bit in (("m", 1), ("r", 2), ("w", 4)) if access_bits & bit}
    for (k, ma, mi), acc in rules.exceptions.items():
        if k == kind and ma in (None, major) and mi in (None, minor):
            if not rules.default_allow and access <= acc:
                return 1
            if rules.default_allow and access & acc:
                return 0
    return 1 if rules.default_allow else 0


PROBES = list(itertools.product("bc", (1, 5, 8, 136), (0, 3, 5, 9), (1, 2, 4, 6, 7)))


@pytest.mark.parametrize("entries, defaults", [
    (DENY_ALL, True),
    ([], True),
    (DENY_ALL + [{"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"}], True),
    ([{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}],
     False),
])
def test_program_agrees_with_the_v1_semantics(entries, defaults):
    rules = DeviceRules.for_container(entries) if defaults else rules_of(entries)
    code = ebpf.compile_rules(rules)
    for kind, major, minor, access in PROBES:
        assert run_program(code, kind, major, minor, access) == reference(rules, kind, major, minor, access), \
            (kind, major, minor, access)


def test_program_agrees_on_random_lists():
    rng = random.Random(4)
    for _ in range(200):
        entries = [{"allow": rng.random() < 0.5}]
        entries += [{"allow": rng.random() < 0.6, "type": rng.choice("bc"),
                     "major": rng.choice([None, 1, 5, 8]), "minor": rng.choice([None, 3, 5]),
                     "access": "".join(c for c in "rwm" if rng.random() < 0.6) or "r"}
                    for _ in range(rng.randrange(6))]
        entries = [{k: v for k, v in e.items() if v is not None} for e in entries]
        try:
            rules = rules_of(entries)
        except CgroupError:
            continue  # a hole in a wildcard: refused, as tested above
        code = ebpf.compile_rules(rules)
        for kind, major, minor, access in PROBES:
            assert run_program(code, kind, major, minor, access) == reference(rules, kind, major, minor, access)


def test_install_attaches_the_new_program_before_detaching_the_old(monkeypatch, tmp_path):
    """The kernel faked at the syscalls seam; program fds are real fds of
    /dev/null so that we can see they get closed."""
    calls, fds, names = [], {}, {}

    def fd_for(name):
        fds[name] = os.open("/dev/null", os.O_RDONLY)
        names[fds[name]] = name  # a closed fd's number comes back: the newest name counts
        return fds[name]
    monkeypatch.setattr(sc, "bpf_prog_query", lambda fd, kind: calls.append(("query", kind)) or [7, 9])
    monkeypatch.setattr(sc, "bpf_prog_load", lambda kind, code, lic, name: calls.append(("load", kind)) or fd_for("new"))
    monkeypatch.setattr(sc, "bpf_prog_attach",
                        lambda fd, prog, kind, flags: calls.append(("attach", prog == fds["new"], kind, flags)))
    monkeypatch.setattr(sc, "bpf_prog_get_fd_by_id", lambda prog_id: fd_for(prog_id))
    monkeypatch.setattr(sc, "bpf_prog_detach", lambda fd, prog, kind: calls.append(("detach", names[prog], kind)))
    ebpf.install(str(tmp_path), DeviceRules.for_container(DENY_ALL))
    assert calls == [("query", sc.BPF_CGROUP_DEVICE), ("load", sc.BPF_PROG_TYPE_CGROUP_DEVICE),
                     ("attach", True, sc.BPF_CGROUP_DEVICE, sc.BPF_F_ALLOW_MULTI),
                     ("detach", 7, sc.BPF_CGROUP_DEVICE), ("detach", 9, sc.BPF_CGROUP_DEVICE)]
    for fd in fds.values():
        with pytest.raises(OSError):
            os.fstat(fd)  # every program fd was closed
