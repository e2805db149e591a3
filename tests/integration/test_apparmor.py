"""process.apparmorProfile and `exec --apparmor` on a host with AppArmor:
profiles of the test's own, loaded with apparmor_parser, confine the
container's program. This host has no AppArmor; scripts/test runs this file
in the VM (Debian's kernel enables it; VM_EXTRA_PACKAGES=apparmor brings the
parser)."""

import os
import shutil
import subprocess
import uuid

import pytest

from ocirt.linux import lsm

pytestmark = pytest.mark.skipif(not (lsm.apparmor_enabled() and shutil.which("apparmor_parser")),
                                reason="needs AppArmor enabled and apparmor_parser (scripts/test runs it in the VM)")

SECURITYFS = "/sys/kernel/security"
# The label the program runs under, then whether it may write each file.
SCRIPT = "cat /proc/self/attr/current; echo > /dev/shm/a; echo a=$?; echo > /dev/shm/b; echo b=$?"


def profile_text(name, denied):
    """Everything allowed but writing the file `denied`. attach_disconnected:
    the container's files are outside the host's mount namespace."""
    return (f"profile {name} flags=(attach_disconnected,mediate_deleted) {{\n"
            f"  file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n"
            f"  deny {denied} w,\n}}\n")


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """Two loaded profiles: (one denying writes to /dev/shm/a, one denying
    writes to /dev/shm/b). /dev/shm: the rootfs itself is read-only."""
    mounted = False
    if not os.path.isdir(os.path.join(SECURITYFS, "apparmor")):
        subprocess.run(["mount", "-t", "securityfs", "securityfs", SECURITYFS], check=True)
        mounted = True
    suffix = uuid.uuid4().hex[:8]
    names = (f"ocirt-test-a-{suffix}", f"ocirt-test-b-{suffix}")
    paths = []
    for name, denied in zip(names, ("/dev/shm/a", "/dev/shm/b")):
        path = tmp_path_factory.mktemp("apparmor") / name
        path.write_text(profile_text(name, denied))
        subprocess.run(["apparmor_parser", "-r", str(path)], check=True, capture_output=True)
        paths.append(path)
    yield names
    for path in paths:
        subprocess.run(["apparmor_parser", "-R", str(path)], capture_output=True)
    if mounted:
        subprocess.run(["umount", SECURITYFS])


def test_profile_confines_the_program(env, profiles):
    a_denied, _ = profiles
    cfg = env.config(args=["sh", "-c", SCRIPT], apparmorProfile=a_denied)
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0, r
    assert r.out.splitlines() == [f"{a_denied} (enforce)", "a=1", "b=0"], r
    assert "/dev/shm/a: Permission denied" in r.err, r


def test_exec_gets_the_containers_profile_or_its_own(env, profiles):
    a_denied, b_denied = profiles
    cid = env.create(env.config(args=["sleep", "1000"], apparmorProfile=a_denied))
    env.ok("start", cid)
    r = env.ocirt("exec", cid, "sh", "-c", SCRIPT)
    assert r.out.splitlines() == [f"{a_denied} (enforce)", "a=1", "b=0"], r
    r = env.ocirt("exec", "--apparmor", b_denied, cid, "sh", "-c", SCRIPT)
    assert r.out.splitlines() == [f"{b_denied} (enforce)", "a=0", "b=1"], r


def test_unknown_profile_is_an_error(no_leftovers, profiles):
    env = no_leftovers
    cfg = env.config(apparmorProfile="ocirt-test-no-such-profile")
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 1 and "process.apparmorProfile 'ocirt-test-no-such-profile'" in r.err, r
