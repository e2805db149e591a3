"""User namespaces: maps written by the parent into a real child's new user
namespace, and the rootless default config."""

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from ocirt.linux import syscalls as sc
from ocirt.linux.userns import host_id, write_maps
from ocirt.spec import validate


def test_parent_writes_the_childs_maps():
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"x")
            os.read(go_r, 1)
            os.setresgid(0, 0, 0)  # root of the new namespace: host 100000
            os.setresuid(0, 0, 0)
            with open("/proc/self/uid_map") as f:
                uid_map = f.read().split()
            os.write(out_w, json.dumps([os.getuid(), os.getgid(), uid_map]).encode())
            os.read(go_r, 1)  # stay until the parent has looked from outside
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(out_w)
    assert os.read(ready_r, 1) == b"x"
    write_maps(pid, [{"containerID": 0, "hostID": 100000, "size": 65536}],
               [{"containerID": 0, "hostID": 100000, "size": 65536}])
    os.write(go_w, b"x")
    uid, gid, uid_map = json.loads(os.read(out_r, 4096))
    with open(f"/proc/{pid}/status") as f:
        host_view = [line.split()[1] for line in f if line.startswith(("Uid:", "Gid:"))]
    os.write(go_w, b"x")
    os.waitpid(pid, 0)
    assert (uid, gid) == (0, 0), "root inside the namespace"
    assert host_view == ["100000", "100000"], "and 100000 seen from the host"
    assert uid_map == ["0", "100000", "65536"]


def test_host_id():
    maps = [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}]
    assert [host_id(maps, i) for i in (0, 1, 65536, 65537)] == [1000, 100000, 165535, None]


def test_spec_rootless(env, tmp_path):
    env.ok("spec", "--rootless", "--bundle", str(tmp_path))
    with open(tmp_path / "config.json") as f:
        config = json.load(f)
    validate(config)
    linux = config["linux"]
    assert {"type": "user"} in linux["namespaces"]
    assert not any(ns["type"] in ("network", "cgroup") for ns in linux["namespaces"])
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert not any(m["destination"] == "/sys/fs/cgroup" for m in config["mounts"])


@pytest.fixture(scope="module")
def reachable_rootfs(rootfs):
    """A rootfs the container's root can reach: in a user namespace it is an
    unprivileged host uid, which cannot traverse pytest's 0700 directories."""
    base = tempfile.mkdtemp(prefix="ocirt-userns-", dir="/tmp")
    os.chmod(base, 0o755)
    path = os.path.join(base, "rootfs")
    shutil.copytree(rootfs, path, symlinks=True)
    yield path
    shutil.rmtree(base, ignore_errors=True)


def test_container_in_a_user_namespace(env, reachable_rootfs):
    env.rootfs = reachable_rootfs
    cfg = env.config(args=["sh", "-c", "id -u; cat /proc/self/uid_map; ls -ln /dev/null | awk '{print $3}'"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]  # v1 cgroupfs cannot be mounted in a userns
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0, r
    uid, mapping, null_owner = r.out.split("\n", 2)[0], r.out.split("\n")[1].split(), r.out.split("\n")[2]
    assert uid == "0" and mapping == ["0", "200000", "65536"]
    assert null_owner.strip() == "65534", "/dev/null is the host's node, bound: its owner is unmapped"


def test_join_a_user_namespace_by_path(env, reachable_rootfs):
    env.rootfs = reachable_rootfs
    cfg = env.config(args=["sleep", "100"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]
    first = env.create(cfg)
    pid = env.state(first)["pid"]
    second = env.config(args=["sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map"])
    second["linux"]["namespaces"].append({"type": "user", "path": f"/proc/{pid}/ns/user"})
    second["mounts"] = [m for m in second["mounts"] if m["type"] != "cgroup"]
    r = env.ocirt("run", "-b", env.bundle(second), env.new_id())
    assert r.code == 0, r
    ns, mapping = r.out.split("\n", 1)
    assert ns == os.readlink(f"/proc/{pid}/ns/user")
    assert mapping.split() == ["0", "300000", "65536"]


@pytest.fixture
def unprivileged_user():
    name = "ocirt-rootless"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name],
                   capture_output=True)
    entry = pwd.getpwnam(name)
    yield entry
    subprocess.run(["userdel", name], capture_output=True)


@contextlib.contextmanager
def user_bundle(user, rootfs, prefix):
    """A directory only the user may enter, removed afterwards:
    (it, a bundle there with a copy of the rootfs, an XDG_RUNTIME_DIR)."""
    base = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        bundle = os.path.join(base, "bundle")
        run_dir = os.path.join(base, "run")
        os.makedirs(run_dir)
        shutil.copytree(rootfs, os.path.join(bundle, "rootfs"), symlinks=True)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", base], check=True)
        os.chmod(base, 0o700)
        yield base, bundle, run_dir
    finally:
        shutil.rmtree(base, ignore_errors=True)


def edit_config(bundle, change):
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    change(config)
    with open(path, "w") as f:
        json.dump(config, f)


def test_rootless(unprivileged_user, rootfs):
    """An unprivileged user: `ocirt spec --rootless` then `ocirt run` gives a
    container whose root is that user, with state under XDG_RUNTIME_DIR."""
    user = unprivileged_user
    with user_bundle(user, rootfs, "ocirt-rootless-") as (base, bundle, run_dir):
        as_user = ["runuser", "-u", user.pw_name, "--", "env", f"XDG_RUNTIME_DIR={run_dir}", f"HOME={base}",
                   sys.executable, "-m", "ocirt"]

        def ocirt(*args):
            return subprocess.run(as_user + list(args), capture_output=True, text=True, timeout=60, cwd=base)
        r = ocirt("spec", "--rootless", "--bundle", bundle)
        assert r.returncode == 0, r.stderr
        edit_config(bundle, lambda config: config["process"].update(
            terminal=False, args=["sh", "-c", "id -u; cat /proc/self/uid_map; hostname"]))
        r = ocirt("run", "--bundle", bundle, "rootless-demo")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.split("\n")
        assert lines[0] == "0", "root in the container"
        assert lines[1].split() == ["0", str(user.pw_uid), "1"], "which is the user on the host"
        assert lines[2] == "ocirt"
        assert "cgroups are not delegated" in r.stderr or r.stderr == ""
        assert os.listdir(os.path.join(run_dir, "ocirt")) == [], "run deleted its state under XDG_RUNTIME_DIR"


def test_rootless_with_subordinate_ids(unprivileged_user, rootfs):
    """More than the user's own id: the maps go through newuidmap and
    newgidmap, which check /etc/subuid and /etc/subgid."""
    user = unprivileged_user
    entry = f"{user.pw_name}:400000:65536\n"
    saved = {}
    for path in ("/etc/subuid", "/etc/subgid"):
        saved[path] = open(path).read() if os.path.exists(path) else None
        with open(path, "a") as f:
            f.write(entry)
    base = tempfile.mkdtemp(prefix="ocirt-subid-", dir="/tmp")
    try:
        bundle = os.path.join(base, "bundle")
        run_dir = os.path.join(base, "run")
        os.makedirs(run_dir)
        shutil.copytree(rootfs, os.path.join(bundle, "rootfs"), symlinks=True)
        from ocirt.spec.defaults import rootless_config
        config = rootless_config(user.pw_uid, user.pw_gid, ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map"],
                                 terminal=False)
        for key, own in (("uidMappings", user.pw_uid), ("gidMappings", user.pw_gid)):
            config["linux"][key] = [{"containerID": 0, "hostID": own, "size": 1},
                                    {"containerID": 1, "hostID": 400000, "size": 65536}]
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", base], check=True)
        os.chmod(base, 0o700)
        r = subprocess.run(["runuser", "-u", user.pw_name, "--", "env", f"XDG_RUNTIME_DIR={run_dir}",
                            sys.executable, "-m", "ocirt", "run", "--bundle", bundle, "subid-demo"],
                           capture_output=True, text=True, timeout=60, cwd=base)
        assert r.returncode == 0, r.stderr
        rows = [line.split() for line in r.stdout.splitlines()]
        assert rows == [["0", str(user.pw_uid), "1"], ["1", "400000", "65536"],
                        ["0", str(user.pw_gid), "1"], ["1", "400000", "65536"]]
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for path, text in saved.items():
            if text is None:
                os.unlink(path)
            else:
                with open(path, "w") as f:
                    f.write(text)


def _pure_v2_with(*controllers):
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            return set(controllers) <= set(f.read().split())
    except OSError:
        return False


@pytest.mark.skipif(not _pure_v2_with("memory", "pids"),
                    reason="needs a pure cgroup v2 host with memory and pids (scripts/test runs it in the VM)")
def test_rootless_with_delegated_cgroups(unprivileged_user, rootfs):
    """Root delegates a cgroup v2 subtree to the user (the kernel's
    cgroup-v2 delegation: the directory and its cgroup.procs,
    cgroup.subtree_control and cgroup.threads chowned) and puts the user's
    shell in a leaf of it. The user's rootless container then gets its own
    cgroup inside that subtree, with the limits it asked for."""
    user = unprivileged_user
    delegated = f"/sys/fs/cgroup/ocirt-delegated-{uuid.uuid4().hex[:8]}"
    os.mkdir(delegated)
    for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
        os.chown(os.path.join(delegated, name), user.pw_uid, user.pw_gid)
    # The user's processes live in a leaf: the subtree's top must stay free of
    # processes for its controllers to be enabled ("no internal processes").
    shell_cgroup = os.path.join(delegated, "shell")
    os.mkdir(shell_cgroup)
    os.chown(os.path.join(shell_cgroup, "cgroup.procs"), user.pw_uid, user.pw_gid)
    try:
        with user_bundle(user, rootfs, "ocirt-delegated-") as (base, bundle, run_dir):
            output = os.path.join(base, "output")

            def enter_shell_cgroup():  # as root, in the child, before runuser
                with open(os.path.join(shell_cgroup, "cgroup.procs"), "w") as f:
                    f.write("0")

            def ocirt(*args, output=None):
                """As the user; output: a file for the container's stdout and
                stderr (create hands them to the init, which keeps them open)."""
                out = subprocess.PIPE if output is None else output
                return subprocess.run(["runuser", "-u", user.pw_name, "--", "env", f"XDG_RUNTIME_DIR={run_dir}",
                                       sys.executable, "-m", "ocirt"] + list(args),
                                      stdout=out, stderr=out, text=True, timeout=60, cwd=base,
                                      preexec_fn=enter_shell_cgroup)
            r = ocirt("spec", "--rootless", "--bundle", bundle)
            assert r.returncode == 0, r.stderr

            def limited(config):
                # Eight sleeps in a pids limit of 4 (sh is one): a fork fails,
                # and that ends the shell (the sleeps go with its pid namespace).
                config["process"].update(terminal=False, args=[
                    "sh", "-c", "cat /proc/self/cgroup; for i in 1 2 3 4 5 6 7 8; do sleep 100 & done; "
                                "echo all-started"])
                config["linux"]["cgroupsPath"] = delegated[len("/sys/fs/cgroup"):] + "/ctr"
                config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 4}}
            edit_config(bundle, limited)
            container = os.path.join(delegated, "ctr")
            with open(output, "w") as out:
                r = ocirt("create", "--bundle", bundle, "delegated-demo", output=out)
            with open(output) as f:
                create_output = f.read()
            assert r.returncode == 0 and "not delegated" not in create_output, create_output
            pid = json.loads(ocirt("state", "delegated-demo").stdout)["pid"]
            with open(f"/proc/{pid}/cgroup") as f:
                assert f.read() == f"0::{container[len('/sys/fs/cgroup'):]}\n", "the init is in the delegated subtree"
            with open(os.path.join(container, "memory.max")) as f:
                assert f.read() == f"{64 << 20}\n"
            with open(os.path.join(container, "pids.max")) as f:
                assert f.read() == "4\n"
            assert os.stat(container).st_uid == user.pw_uid, "the user made it"
            r = ocirt("start", "delegated-demo")
            assert r.returncode == 0, r.stderr
            deadline = time.monotonic() + 30
            while json.loads(ocirt("state", "delegated-demo").stdout)["status"] != "stopped":
                assert time.monotonic() < deadline, "the container never stopped"
                time.sleep(0.05)
            r = ocirt("delete", "delegated-demo")
            assert r.returncode == 0, r.stderr
            with open(output) as f:
                text = f.read()
            assert text.startswith(f"0::{container[len('/sys/fs/cgroup'):]}\n"), text
            assert "can't fork" in text and "all-started" not in text, "the pids limit holds: " + text
            assert not os.path.exists(container), "delete removed the container's cgroup"
    finally:
        for path in (os.path.join(delegated, "ctr"), shell_cgroup, delegated):
            try:
                os.rmdir(path)
            except OSError:
                pass
