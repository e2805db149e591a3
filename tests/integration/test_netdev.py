"""linux.netDevices and loopback, on real links this test makes.

This kernel has no dummy driver, so the devices are veth pairs: one end is
moved into the container, the other stays on the host and shows whether the
pair still exists (a veth pair dies as a whole). Every link is removed after
the test, whatever happened.
"""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from .test_userns import reachable_rootfs  # noqa: F401 - a fixture

IFF_UP = 0x1


def ip(*args, check=True, netns_of=None):
    prefix = ["nsenter", "-t", str(netns_of), "-n"] if netns_of else []
    r = subprocess.run(prefix + ["ip", *args], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, (args, r.stderr)
    return r


def exists(name, netns_of=None):
    return ip("link", "show", "dev", name, check=False, netns_of=netns_of).returncode == 0


class Links:
    """veth pairs and bridges with unique names; all deleted at the end."""

    def __init__(self):
        self.names = []

    def name(self):
        n = f"ond{uuid.uuid4().hex[:8]}"  # 11 bytes: room for a suffix within IFNAMSIZ
        self.names.append(n)
        return n

    def veth(self, *addresses, up=True):
        """A veth pair (name, peer); the addresses go on the first end."""
        name = self.name()
        peer = name + "p"
        self.names.append(peer)
        ip("link", "add", name, "type", "veth", "peer", "name", peer)
        for address in addresses:
            ip("addr", "add", address, "dev", name)
        if up:
            ip("link", "set", name, "up")
        return name, peer

    def bridge(self):
        name = self.name()
        ip("link", "add", name, "type", "bridge")
        return name

    def remove(self):
        for name in self.names:
            ip("link", "del", name, check=False)


@pytest.fixture
def links():
    made = Links()
    yield made
    made.remove()


def addresses(name, netns_of=None):
    """{address/prefixlen} of every address of global scope on a link."""
    out = json.loads(ip("-j", "addr", "show", "dev", name, netns_of=netns_of).stdout)
    return {f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["scope"] == "global"}


def is_up(name, netns_of=None):
    return "UP" in json.loads(ip("-j", "link", "show", "dev", name, netns_of=netns_of).stdout)[0]["flags"]


def wait_gone(name, timeout=10):
    """A namespace is freed asynchronously after its last process exits."""
    deadline = time.monotonic() + timeout
    while exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not exists(name)


def with_devices(env, script, devices, **linux):
    cfg = env.config(args=["sh", "-c", script])
    cfg["linux"]["netDevices"] = devices
    cfg["linux"].update(linux)
    return cfg


def one_line_error(env, cfg):
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code != 0, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    return lines[0]


V4, V6 = "10.213.7.2/24", "fd00:213:7::2/64"


# -- loopback -------------------------------------------------------------------

def test_loopback_is_up_in_a_new_network_namespace(env):
    r = env.ok("run", "-b", env.bundle(env.config(args=["sh", "-c", "cat /sys/class/net/lo/flags; ip addr show lo"])),
               env.new_id())
    flags, rest = r.out.split("\n", 1)
    assert int(flags, 16) & IFF_UP
    assert "inet 127.0.0.1/8" in rest, "up, lo has its addresses"


def test_loopback_of_a_joined_namespace_is_left_as_it_is(env):
    """Only a namespace the container creates is set up by us."""
    holder = subprocess.Popen(["unshare", "-n", "sleep", "100"])
    try:
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare never made its namespace"
            time.sleep(0.01)
        cfg = env.config(args=["cat", "/sys/class/net/lo/flags"])
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/proc/{holder.pid}/ns/net"
        r = env.ok("run", "-b", env.bundle(cfg), env.new_id())
        assert not int(r.out, 16) & IFF_UP
    finally:
        holder.kill()
        holder.wait()


# -- moving devices -------------------------------------------------------------

def test_device_is_moved_renamed_with_its_addresses_and_up(no_leftovers, links, tmp_path):
    env = no_leftovers
    name, peer = links.veth(V4, V6)
    output = tmp_path / "inside"
    cfg = with_devices(env, "cat /sys/class/net/net0/flags; ip -o addr show dev net0", {name: {"name": "net0"}})
    cid = env.create(cfg, output=output)
    assert not exists(name), "gone from the host once the container is created"
    env.ok("start", cid)
    deadline = time.monotonic() + 10
    while env.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    flags, listing = output.read_text().split("\n", 1)
    assert int(flags, 16) & IFF_UP
    assert set(re.findall(r"^\d+: net0\s+inet6? (\S+) scope global", listing, re.M)) == {V4, V6}
    env.ok("delete", cid)
    # The spec: not moved back on delete. The namespace dies with the
    # container and the kernel destroys a virtual device (a physical one
    # would return to the host): the whole veth pair goes, peer included.
    assert wait_gone(peer), "the veth pair was destroyed with the container's namespace"
    assert not exists(name)


def test_net_sysctl_can_name_a_moved_device(env, links):
    """The init waits for the devices before it writes linux.sysctl."""
    name, _ = links.veth()
    cfg = with_devices(env, "cat /proc/sys/net/ipv4/conf/net0/forwarding", {name: {"name": "net0"}},
                       sysctl={"net.ipv4.conf.net0.forwarding": "1"})
    assert env.ok("run", "-b", env.bundle(cfg), env.new_id()).out == "1\n"


def test_a_template_name_is_numbered_by_the_kernel(env, links):
    first, _ = links.veth()
    second, _ = links.veth()
    cfg = with_devices(env, "ls /sys/class/net", {first: {"name": "nd%d"}, second: {"name": "nd%d"}})
    out = env.ok("run", "-b", env.bundle(cfg), env.new_id()).out
    assert sorted(out.split()) == ["lo", "nd0", "nd1"]


def test_the_host_name_is_kept_without_a_name(env, links):
    name, _ = links.veth(V4)
    cfg = with_devices(env, f"ip -o addr show dev {name}", {name: {}})
    out = env.ok("run", "-b", env.bundle(cfg), env.new_id()).out
    assert f"inet {V4}" in out


def test_only_permanent_global_addresses_move(env, links):
    """A link-scope address stays behind, as the spec says."""
    name, _ = links.veth(V4)
    ip("addr", "add", "10.213.8.2/24", "dev", name, "scope", "link")
    cfg = with_devices(env, "ip -o addr show dev net0", {name: {"name": "net0"}})
    out = env.ok("run", "-b", env.bundle(cfg), env.new_id()).out
    assert f"inet {V4}" in out
    assert "10.213.8.2" not in out


def test_into_a_namespace_owned_by_the_containers_user_namespace(env, links, reachable_rootfs):
    """The runtime, root of the host, reaches a namespace owned by a child
    user namespace; lo comes up there too."""
    env.rootfs = reachable_rootfs
    name, _ = links.veth(V4)
    cfg = with_devices(env, "cat /sys/class/net/lo/flags; ip -o addr show dev net0", {name: {"name": "net0"}})
    cfg["linux"]["namespaces"].append({"type": "user"})
    for field in ("uidMappings", "gidMappings"):
        cfg["linux"][field] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]  # v1 cgroupfs cannot be mounted in a userns
    flags, listing = env.ok("run", "-b", env.bundle(cfg), env.new_id()).out.split("\n", 1)
    assert int(flags, 16) & IFF_UP
    assert f"inet {V4} scope global net0" in listing


# -- a namespace joined by path -------------------------------------------------

def test_into_a_joined_namespace_where_the_device_outlives_the_container(env, links):
    name, peer = links.veth(V4)
    holder = env.create(args=["sleep", "100"])
    pid = env.state(holder)["pid"]
    cfg = with_devices(env, "true", {name: {"name": "net0"}})
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = f"/proc/{pid}/ns/net"
    env.ok("run", "-b", env.bundle(cfg), env.new_id())
    assert addresses("net0", netns_of=pid) == {V4}, "still in the namespace the container joined"
    assert is_up("net0", netns_of=pid)
    env.ok("delete", "--force", holder)
    assert wait_gone(peer)


def test_a_name_taken_in_a_joined_namespace_is_an_error(no_leftovers, links):
    env = no_leftovers
    holder = env.create(args=["sleep", "100"])
    pid = env.state(holder)["pid"]
    taken, _ = links.veth()
    ip("link", "set", taken, "netns", str(pid))
    name, _ = links.veth(V4)
    cfg = with_devices(env, "true", {name: {"name": taken}})
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = f"/proc/{pid}/ns/net"
    line = one_line_error(env, cfg)
    assert line == (f'ocirt: linux.netDevices["{name}"]: a device named {taken} exists '
                    "in the container's network namespace")
    assert addresses(name) == {V4}, "never moved"
    env.ok("delete", "--force", holder)


def test_the_runtimes_own_namespace_is_refused(no_leftovers, links):
    env = no_leftovers
    name, _ = links.veth(V4)
    cfg = with_devices(env, "true", {name: {"name": "net0"}})
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/proc/self/ns/net"
    line = one_line_error(env, cfg)
    assert line == "ocirt: linux.netDevices: the container's network namespace is the runtime's own"
    assert addresses(name) == {V4} and is_up(name)


# -- errors: one line, and the host as it was -------------------------------------

def test_a_missing_device_is_an_error(no_leftovers):
    env = no_leftovers
    missing = f"ond{uuid.uuid4().hex[:8]}"
    line = one_line_error(env, with_devices(env, "true", {missing: {}}))
    assert line == f"ocirt: linux.netDevices[\"{missing}\"]: no such device in the runtime's network namespace"


def test_net_devices_need_a_network_namespace(no_leftovers, links):
    env = no_leftovers
    name, _ = links.veth()
    cfg = with_devices(env, "true", {name: {}})
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "network"]
    line = one_line_error(env, cfg)
    assert line.endswith("linux.netDevices: needs a network namespace in linux.namespaces"), line
    assert exists(name)


def test_a_device_that_cannot_move_puts_the_moved_ones_back(no_leftovers, links):
    """A bridge is local to its namespace: the kernel refuses to move it,
    after the veth before it was moved. The veth comes back as it was."""
    env = no_leftovers
    name, peer = links.veth(V4, V6)
    bridge = links.bridge()
    line = one_line_error(env, with_devices(env, "true", {name: {"name": "net0"}, bridge: {}}))
    assert line == (f'ocirt: linux.netDevices["{bridge}"]: moving it into the container\'s '
                    "network namespace: Invalid argument")
    assert addresses(name) == {V4, V6} and is_up(name)
    assert exists(peer) and exists(bridge)


def test_a_failure_after_the_move_puts_the_device_back(no_leftovers, links):
    """The createRuntime hook runs once the devices are in; its failure
    fails create, and create gives the devices back before the namespace
    (which would destroy a virtual device) goes."""
    env = no_leftovers
    name, peer = links.veth(V4, V6)
    down, _ = links.veth(up=False)
    cfg = with_devices(env, "true", {name: {"name": "net0"}, down: {}})
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    line = one_line_error(env, cfg)
    assert "hooks.createRuntime[0]" in line
    assert addresses(name) == {V4, V6} and is_up(name), "back with its addresses, up"
    assert exists(down) and not is_up(down), "back, and down as it was"
    assert exists(peer)


def test_an_init_that_fails_while_the_devices_move_gets_them_back(no_leftovers, links):
    """The init fails building the rootfs, before it waits for the devices:
    the runtime finishes the move, finds the init gone, reads its error and
    puts the devices back."""
    env = no_leftovers
    name, _ = links.veth(V4)
    cfg = with_devices(env, "true", {name: {"name": "net0"}})
    cfg["mounts"].append({"destination": "/mnt", "type": "bind", "source": f"/nonexistent-{name}",
                          "options": ["bind"]})
    line = one_line_error(env, cfg)
    assert "mounts[" in line and "/nonexistent-" in line, line
    assert addresses(name) == {V4} and is_up(name)
