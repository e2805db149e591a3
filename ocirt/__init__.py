"""ocirt: an OCI runtime-spec container runtime, usable as a runc drop-in
command and as a library.

    from ocirt import Container
    c = Container.create("demo", "bundles/busybox")
    c.start()

Names are imported on first use, so that `ocirt state` does not pay for the
code that creates containers.
"""

__all__ = ["Container", "OcirtError", "load_bundle", "validate"]
_HOMES = {"Container": "container", "OcirtError": "errors", "load_bundle": "spec", "validate": "spec"}


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'ocirt' has no attribute {name!r}")
    module = __import__(f"ocirt.{_HOMES[name]}", fromlist=[name])
    return getattr(module, name)
