"""linux.netDevices rules that need no kernel: names the kernel would take,
no clash known in advance, and a network namespace of the container's own."""

import pytest

from ocirt import spec
from ocirt.errors import ConfigError
from ocirt.spec.defaults import default_config


def _config(devices, namespaces=None):
    doc = default_config()
    doc["linux"]["netDevices"] = devices
    if namespaces is not None:
        doc["linux"]["namespaces"] = namespaces + [{"type": "uts"}]
    return doc


def _error(doc):
    with pytest.raises(ConfigError) as info:
        spec.validate(doc)
    message = str(info.value)
    assert "\n" not in message
    return info.value


@pytest.mark.parametrize("devices", [
    {"eth1": {}},
    {"eth1": {"name": "net0"}, "eth2": {"name": ""}},
    {"eth1": {"name": "eth%d"}, "eth2": {"name": "eth%d"}},  # the kernel numbers them
    {"eth0.100": {"name": "vlan100"}},
    {"a" * 15: {"name": "b" * 15}},
    {"eth1": {"name": "eth2"}, "eth2": {"name": "eth1"}},  # a swap: both moves are into new names
])
def test_valid_devices_pass(devices):
    spec.validate(_config(devices))


def test_a_network_namespace_joined_by_path_is_allowed():
    namespaces = [{"type": "mount"}, {"type": "network", "path": "/var/run/netns/x"}]
    spec.validate(_config({"eth1": {}}, namespaces))


def test_no_network_namespace_is_an_error():
    error = _error(_config({"eth1": {}}, [{"type": "mount"}]))
    assert (error.path, error.rule) == ("linux.netDevices", "needs a network namespace in linux.namespaces")


def test_empty_net_devices_need_nothing():
    spec.validate(_config({}, [{"type": "mount"}]))


@pytest.mark.parametrize("host_name, rule", [
    ("a" * 16, "at most 15 bytes"),
    ("é" * 8, "at most 15 bytes"),  # 16 bytes in UTF-8
    (".", "not a valid interface name"),
    ("..", "not a valid interface name"),
    ("eth/1", "no '/', ':'"),
    ("eth:1", "no '/', ':'"),
    ("eth 1", "white space"),
    ("eth\n1", "white space"),
    ("eth%d", "a host device's name has no %"),
    ("lo", "the loopback device cannot be moved"),
])
def test_bad_host_names(host_name, rule):
    error = _error(_config({host_name: {}}))
    assert error.path.startswith("linux.netDevices[")
    assert rule in error.rule
    assert "\n" not in str(error)


@pytest.mark.parametrize("name, rule", [
    ("a" * 16, "at most 15 bytes"),
    ("..", "not a valid interface name"),
    ("net/0", "no '/', ':'"),
    ("net%s", "exactly one %d"),
    ("net%d%d", "exactly one %d"),
    ("net%", "exactly one %d"),
    ("lo", "the container's own loopback device"),
])
def test_bad_names_inside(name, rule):
    error = _error(_config({"eth1": {"name": name}}))
    assert error.path == 'linux.netDevices["eth1"].name'
    assert rule in error.rule


def test_two_devices_with_one_name_inside():
    error = _error(_config({"eth1": {"name": "net0"}, "eth2": {"name": "net0"}}))
    assert error.path == 'linux.netDevices["eth2"].name'
    assert error.rule == 'net0 is also the name of linux.netDevices["eth1"] inside'


def test_a_rename_onto_a_kept_name():
    error = _error(_config({"eth1": {}, "eth2": {"name": "eth1"}}))
    assert str(error) == ('config.json: linux.netDevices["eth2"].name: '
                          'eth1 is also the name of linux.netDevices["eth1"] inside')


def test_the_path_is_bracketed_even_with_dots():
    error = _error(_config({"eth0.1 x": {}}))
    assert error.path == 'linux.netDevices["eth0.1 x"]'
