"""Network devices in the container's network namespace.

- Loopback: a new network namespace starts with `lo` down. Stage 1 brings it
  up with one SIOCGIFFLAGS/SIOCSIFFLAGS pair right after it unshares, as runc
  and crun do; that costs microseconds and imports nothing new.
- linux.netDevices: the runtime moves each host device into the network
  namespace of the container's init over rtnetlink, renamed in the same
  request. The kernel drops a device's addresses and takes it down on a move,
  so the permanent addresses of global scope (the ones the spec keeps) are
  read first and added back inside, and the device is brought up. pyroute2 is
  imported only here, and only when a config has netDevices (~75-250 ms).

A create that fails later calls undo(), which moves the devices back to the
runtime's namespace under their old names, with their addresses and up
state. Once the container exists they stay, as the spec asks: when its
namespace dies, the kernel returns physical devices to the host's initial
namespace (under their names inside) and destroys virtual ones (veth, macvlan).
"""

import _socket  # not `socket`: its enums cost ~2 ms on every create (see unixsock)
import fcntl
import os
import struct

from ..jsonio import dumps
from . import syscalls as sc

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: ifr_name, ifr_flags, the rest of its 40 bytes

IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0
# The address flags that are configuration rather than state, so they move
# with an address: NODAD, OPTIMISTIC, HOMEADDRESS, MANAGETEMPADDR,
# NOPREFIXROUTE, MCAUTOJOIN.
_CONFIG_FLAGS = 0x02 | 0x04 | 0x10 | 0x100 | 0x200 | 0x400


def loopback_up():
    """Bring up `lo` of the network namespace we are in."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        _, flags = _IFREQ.unpack(fcntl.ioctl(s, SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0)))
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))
    except OSError as e:
        raise OSError(e.errno, f"bringing up the loopback device: {e.strerror}") from None
    finally:
        s.close()


class NetDeviceError(Exception):
    """One line that names the linux.netDevices entry at fault."""


def _error(host_name, message):
    return NetDeviceError(f"{_field(host_name)}: {message}")


def _field(host_name):
    return f"linux.netDevices[{dumps(host_name)}]"


def _reason(e):
    """NetlinkError carries an errno in .code (and prints a tuple)."""
    code = getattr(e, "code", None)
    if isinstance(code, int):
        return os.strerror(code)
    return getattr(e, "strerror", None) or str(e)


def move_in(devices, pid):
    """Move linux.netDevices ({host name: {"name": name inside}}) into the
    network namespace of process pid. Returns the Moved devices: close() them
    once the container is created, undo() them if its create fails. Raises
    NetDeviceError having undone its own partial work; nothing moves until
    every device is found and no name is taken inside. ProcessLookupError:
    the process has exited already."""
    moved = Moved()
    try:
        moved.open(pid)
        planned = [moved.plan(host_name, device.get("name") or host_name)
                   for host_name, device in devices.items()]
        for device in planned:
            moved.move(device)
    except BaseException as e:
        problems = moved.undo()
        moved.close()
        if isinstance(e, ProcessLookupError) or not isinstance(e, Exception):
            raise
        message = str(e) if isinstance(e, NetDeviceError) else f"linux.netDevices: {_reason(e)}"
        raise NetDeviceError("; ".join([message] + problems)) from None
    return moved


class _Device:
    def __init__(self, host_name, name, link, addresses):
        self.host_name = host_name
        self.name = name  # inside: a name, or a template with %d
        self.index = link["index"]  # on the host; inside, once moved
        self.mac = link.get_attr("IFLA_ADDRESS")
        self.was_up = bool(link["flags"] & IFF_UP)
        self.addresses = addresses


class Moved:
    """Two rtnetlink sockets, one in our namespace, one in the container's.
    Holding them (and the namespace fds) keeps the container's namespace
    alive, so undo() works even after its init has died."""

    def __init__(self):
        self.devices = []
        self.home_ns = self.target_ns = None
        self.host = self.inside = None

    def open(self, pid):
        from pyroute2 import IPRoute
        try:
            self.home_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                self.target_ns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise ProcessLookupError(f"process {pid} has exited") from None
            if _same_file(self.home_ns, self.target_ns):
                raise NetDeviceError("linux.netDevices: the container's network namespace is the runtime's own")
            self.host = IPRoute()
            self.inside = _socket_in(self.target_ns, self.home_ns)
        except ProcessLookupError:
            raise
        except OSError as e:
            raise NetDeviceError(f"linux.netDevices: reaching the container's network namespace: {_reason(e)}") from None

    def plan(self, host_name, name):
        found = self.host.link_lookup(ifname=host_name)
        if not found:
            raise _error(host_name, "no such device in the runtime's network namespace")
        if "%" not in name and self.inside.link_lookup(ifname=name):
            raise _error(host_name, f"a device named {name} exists in the container's network namespace")
        link = self.host.get_links(found[0])[0]
        return _Device(host_name, name, link, _kept_addresses(self.host.get_addr(index=found[0])))

    def move(self, device):
        from pyroute2.netlink.exceptions import NetlinkError
        before = {link["index"] for link in self.inside.get_links()}
        try:
            self.host.link("set", index=device.index, net_ns_fd=self.target_ns, ifname=device.name)
        except NetlinkError as e:
            # The kernel moves a device first and renames it after: a failed
            # rename leaves it inside under its old name.
            if self._arrived(device, before):
                self.devices.append(device)
            raise _error(device.host_name,
                         f"moving it into the container's network namespace: {_reason(e)}") from None
        if not self._arrived(device, before):
            raise _error(device.host_name, "moved, but not found in the container's network namespace")
        self.devices.append(device)
        try:
            for address in device.addresses:
                self.inside.addr("add", index=device.index, **address)
        except NetlinkError as e:
            shown = f"{address.get('local') or address['address']}/{address['prefixlen']}"
            raise _error(device.host_name, f"adding its address {shown} inside: {_reason(e)}") from None
        try:
            self.inside.link("set", index=device.index, state="up")
        except NetlinkError as e:
            raise _error(device.host_name, f"bringing it up inside: {_reason(e)}") from None

    def _arrived(self, device, before):
        """Find the device among the links new inside (its index may change
        on a move, its name may be a template; its MAC address stays)."""
        for link in self.inside.get_links():
            if link["index"] not in before and link.get_attr("IFLA_ADDRESS") == device.mac:
                device.index = link["index"]
                return True
        return False

    def undo(self):
        """Move every device back as it was; returns what could not be done."""
        problems = []
        for device in reversed(self.devices):
            try:
                self.inside.link("set", index=device.index, net_ns_fd=self.home_ns, ifname=device.host_name)
                index = self.host.link_lookup(ifname=device.host_name)[0]
                for address in device.addresses:
                    self.host.addr("add", index=index, **address)
                if device.was_up:
                    self.host.link("set", index=index, state="up")
            except Exception as e:  # noqa: BLE001 - each device is tried
                problems.append(f"{_field(device.host_name)} was not put back on the host as it was ({_reason(e)})")
        self.devices = []
        return problems

    def close(self):
        for sock in (self.host, self.inside):
            if sock is not None:
                sock.close()
        for fd in (self.home_ns, self.target_ns):
            if fd is not None:
                os.close(fd)
        self.host = self.inside = self.home_ns = self.target_ns = None


def _socket_in(ns_fd, home_fd):
    """An rtnetlink socket of another network namespace: a socket belongs to
    the namespace it was made in, so we step in, make it and step back."""
    from pyroute2 import IPRoute
    sc.setns(ns_fd, sc.CLONE_NEWNET)
    try:
        return IPRoute()
    finally:
        sc.setns(home_fd, sc.CLONE_NEWNET)


def _same_file(fd_a, fd_b):
    a, b = os.fstat(fd_a), os.fstat(fd_b)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _kept_addresses(messages):
    """The addresses the spec keeps across the move (permanent, of global
    scope), as arguments of IPRoute.addr("add")."""
    kept = []
    for msg in messages:
        flags = msg.get_attr("IFA_FLAGS") or msg["flags"]  # the 32-bit attribute, when there
        if not flags & IFA_F_PERMANENT or msg["scope"] != RT_SCOPE_UNIVERSE:
            continue
        address = {"family": msg["family"], "prefixlen": msg["prefixlen"], "scope": msg["scope"],
                   "flags": flags & _CONFIG_FLAGS}
        for key in ("address", "local", "broadcast"):
            value = msg.get_attr("IFA_" + key.upper())
            if value:
                address[key] = value
        kept.append(address)
    return kept
