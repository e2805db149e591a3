"""The runtime-spec features document: what this build of ocirt supports, as
`ocirt features` prints it for clients to read. Taken from the tables the
code itself uses, so it cannot claim what the code does not do."""

from .._version import OCI_VERSION, VERSION


def _capabilities():
    import capng
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 40
    names = (capng.capng_capability_to_name(i) for i in range(last + 1))
    return ["CAP_" + name.upper() for name in names if name]


def _can_move_net_devices():
    """linux/netdev.py moves devices with pyroute2: found, not imported."""
    from importlib.util import find_spec
    return find_spec("pyroute2") is not None


def features():
    from ..linux import mountopts, namespaces, seccomp
    from ..runtime.hooks import KINDS
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(KINDS),
        "mountOptions": sorted(mountopts.KNOWN_OPTIONS),
        "linux": {
            "namespaces": list(namespaces.CLONE_FLAGS),
            "capabilities": _capabilities(),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False, "rdma": True},
            "seccomp": {
                "enabled": True,
                "actions": list(seccomp.ACTIONS),
                "operators": list(seccomp.OPERATORS),
                "archs": list(seccomp.ARCHITECTURES),
                "knownFlags": list(seccomp.FLAGS) + ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": list(seccomp.FLAGS),
            },
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": _can_move_net_devices()},
        },
        "annotations": {"io.github.ocirt.version": VERSION},
    }
