"""ocirt: an OCI runtime-spec container runtime, usable as a runc drop-in
command and as a library.

    from ocirt import Container
    c = Container.create("demo", "bundles/busybox")
    c.start()
"""

from .container import Container
from .errors import OcirtError

__all__ = ["Container", "OcirtError"]
