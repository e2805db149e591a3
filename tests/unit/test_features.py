"""`ocirt features` claims only what the code does: every listed option,
action, operator and capability is accepted by the code that applies it."""

import json
import subprocess
import sys

import pytest

from ocirt.linux.mountopts import MountOptions
from ocirt.spec.features import features

pytest.importorskip("seccomp")
from ocirt.linux import seccomp  # noqa: E402

DOC = features()


def test_command_prints_the_document():
    out = subprocess.run([sys.executable, "-m", "ocirt", "features"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == DOC


def test_versions_and_hooks():
    assert (DOC["ociVersionMin"], DOC["ociVersionMax"]) == ("1.0.0", "1.3.0")
    assert DOC["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


@pytest.mark.parametrize("option", DOC["mountOptions"])
def test_every_mount_option_is_understood(option):
    MountOptions([option])  # raises for an option it does not know how to apply


@pytest.mark.parametrize("action", DOC["linux"]["seccomp"]["actions"])
def test_every_seccomp_action_builds(action):
    seccomp.build({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": action}]})


@pytest.mark.parametrize("op", DOC["linux"]["seccomp"]["operators"])
def test_every_seccomp_operator_builds(op):
    seccomp.build({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 1, "valueTwo": 1, "op": op}]}]})


def test_supported_flags_build_and_the_rest_are_refused():
    sec = DOC["linux"]["seccomp"]
    for flag in sec["knownFlags"]:
        config = {"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]}
        if flag in sec["supportedFlags"]:
            seccomp.build(config)
        else:
            with pytest.raises(seccomp.SeccompError):
                seccomp.build(config)


def test_capabilities_are_the_kernels():
    from ocirt.linux.capabilities import _number
    caps = DOC["linux"]["capabilities"]
    assert {"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_BPF"} <= set(caps)
    for name in caps:
        _number(name)


def test_namespaces():
    assert sorted(DOC["linux"]["namespaces"]) == sorted(["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"])


def test_net_devices_are_claimed_when_the_code_can_move_them():
    """The move speaks netlink through pyroute2 (imported only when a config
    has netDevices); the claim follows its presence, and such a config passes
    validation."""
    import importlib.util

    from ocirt import spec
    from ocirt.spec.defaults import default_config
    enabled = DOC["linux"]["netDevices"]["enabled"]
    assert enabled == (importlib.util.find_spec("pyroute2") is not None)
    if enabled:
        from pyroute2 import IPRoute  # noqa: F401 - what ocirt.linux.netdev imports
        from pyroute2.netlink.exceptions import NetlinkError  # noqa: F401
        config = default_config()
        config["linux"]["netDevices"] = {"eth1": {"name": "net0"}}
        spec.validate(config)
