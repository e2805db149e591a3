"""linux/netdev.py without a kernel: which addresses move with a device, and
pyroute2 stays off the path of a container without netDevices."""

import socket
import subprocess
import sys

import pytest

from ocirt.linux import netdev

ifaddrmsg = pytest.importorskip("pyroute2.netlink.rtnl.ifaddrmsg").ifaddrmsg

PERMANENT, TENTATIVE, NODAD, NOPREFIXROUTE = 0x80, 0x40, 0x02, 0x200
SCOPE_GLOBAL, SCOPE_LINK, SCOPE_HOST = 0, 253, 254


def _address(family, address, prefixlen, scope=SCOPE_GLOBAL, flags=PERMANENT, **attrs):
    msg = ifaddrmsg()
    msg["family"], msg["prefixlen"], msg["scope"] = family, prefixlen, scope
    msg["flags"] = flags & 0xFF
    msg["attrs"] = [("IFA_ADDRESS", address), ("IFA_FLAGS", flags)]
    msg["attrs"] += [(f"IFA_{key.upper()}", value) for key, value in attrs.items()]
    return msg


def test_permanent_global_addresses_of_both_families_are_kept():
    kept = netdev._kept_addresses([
        _address(socket.AF_INET, "10.1.2.3", 24, local="10.1.2.3", broadcast="10.1.2.255"),
        _address(socket.AF_INET6, "fd00::3", 64),
    ])
    assert kept == [
        {"family": socket.AF_INET, "prefixlen": 24, "scope": 0, "flags": 0,
         "address": "10.1.2.3", "local": "10.1.2.3", "broadcast": "10.1.2.255"},
        {"family": socket.AF_INET6, "prefixlen": 64, "scope": 0, "flags": 0, "address": "fd00::3"},
    ]


@pytest.mark.parametrize("scope", [SCOPE_LINK, SCOPE_HOST])
def test_addresses_of_a_narrower_scope_stay_behind(scope):
    assert netdev._kept_addresses([_address(socket.AF_INET6, "fe80::1", 64, scope=scope)]) == []


def test_dynamic_addresses_stay_behind():
    """Not IFA_F_PERMANENT: given by autoconfiguration, valid only where they were."""
    assert netdev._kept_addresses([_address(socket.AF_INET6, "2001:db8::1", 64, flags=0)]) == []


def test_configuration_flags_move_and_state_flags_do_not():
    flags = PERMANENT | TENTATIVE | NODAD | NOPREFIXROUTE
    [kept] = netdev._kept_addresses([_address(socket.AF_INET6, "fd00::3", 64, flags=flags)])
    assert kept["flags"] == NODAD | NOPREFIXROUTE


def test_the_32_bit_flags_attribute_wins_over_the_8_bit_field():
    msg = _address(socket.AF_INET6, "fd00::3", 64, flags=PERMANENT | NOPREFIXROUTE)
    assert msg["flags"] == PERMANENT  # the header field cannot hold NOPREFIXROUTE
    assert netdev._kept_addresses([msg])[0]["flags"] == NOPREFIXROUTE


def test_pyroute2_is_not_imported_by_the_launch_path():
    """~75-250 ms: loaded only by move_in, for a config with netDevices."""
    code = ("import sys, ocirt.runtime.launch, ocirt.runtime.init, ocirt.linux.netdev\n"
            "assert 'pyroute2' not in sys.modules, 'pyroute2 imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_errors_name_the_entry_on_one_line():
    error = netdev._error("eth0.100", "no such device in the runtime's network namespace")
    assert str(error) == 'linux.netDevices["eth0.100"]: no such device in the runtime\'s network namespace'
