"""process.capabilities, set by set, as the program sees them in
/proc/self/status after execve."""

import pytest

CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
       "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24, "CAP_AUDIT_WRITE": 29}


def mask(*names):
    return format(sum(1 << CAP[n] for n in names), "016x")


def caps_of(env, capabilities, **process):
    cfg = env.config(args=["grep", "^Cap", "/proc/self/status"], **process)
    cfg["process"]["capabilities"] = capabilities
    r = env.ocirt("run", "-b", env.bundle(cfg), env.new_id())
    assert r.code == 0, r
    return dict(line.split(":\t") for line in r.out.splitlines()), r.err


def test_bounding_limits_root_after_exec(env):
    caps, _ = caps_of(env, {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_CHOWN", "CAP_KILL"],
                            "permitted": ["CAP_CHOWN", "CAP_KILL"]})
    assert caps["CapBnd"] == caps["CapPrm"] == caps["CapEff"] == mask("CAP_CHOWN", "CAP_KILL")


def test_effective_subset_of_permitted_for_a_user(env):
    # A non-root user keeps nothing across execve but its ambient set.
    caps, _ = caps_of(env, {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                            "inheritable": ["CAP_NET_BIND_SERVICE"],
                            "ambient": ["CAP_NET_BIND_SERVICE"]},
                      user={"uid": 1000, "gid": 1000})
    assert caps["CapAmb"] == caps["CapEff"] == caps["CapPrm"] == mask("CAP_NET_BIND_SERVICE")
    assert caps["CapInh"] == mask("CAP_NET_BIND_SERVICE")
    assert caps["CapBnd"] == mask("CAP_KILL", "CAP_NET_BIND_SERVICE")


def test_inheritable_is_never_granted_by_accident(env):
    """CVE-2022-29162: an empty inheritable set stays empty."""
    caps, _ = caps_of(env, {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]})
    assert caps["CapInh"] == caps["CapAmb"] == "0" * 16


def test_empty_capabilities_drop_everything(env):
    caps, _ = caps_of(env, {})
    assert set(caps.values()) == {"0" * 16}


def test_a_capability_the_host_lacks_is_a_warning(env):
    """Root here has no CAP_SYS_RESOURCE; where it has, the set simply holds it."""
    from ocirt.linux.capabilities import capng
    capng.capng_get_caps_process()
    host_has = capng.capng_have_capability(capng.CAPNG_PERMITTED, CAP["CAP_SYS_RESOURCE"])
    wanted = ["CAP_KILL", "CAP_SYS_RESOURCE"]
    # In every set, ambient too (runtime-tools' process_capabilities does so).
    caps, err = caps_of(env, {"bounding": wanted, "effective": wanted, "permitted": wanted,
                              "inheritable": wanted, "ambient": wanted})
    held = mask("CAP_KILL", "CAP_SYS_RESOURCE") if host_has else mask("CAP_KILL")
    assert caps["CapEff"] == caps["CapInh"] == caps["CapAmb"] == held, caps
    if not host_has:
        assert "CAP_SYS_RESOURCE is not available to the runtime" in err


@pytest.mark.parametrize("name", ["CAP_NOPE", "chown"])
def test_unknown_capability_is_an_error(no_leftovers, name):
    env = no_leftovers
    cfg = env.config()
    cfg["process"]["capabilities"]["bounding"].append(name)
    cid = env.new_id()
    r = env.ocirt("create", "--bundle", env.bundle(cfg), cid)
    assert r.code == 1 and "process.capabilities" in r.err, r
