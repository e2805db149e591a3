"""User namespaces: maps written by the parent into a real child's new user
namespace, and the rootless default config."""

import json
import os

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
