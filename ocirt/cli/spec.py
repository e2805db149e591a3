"""ocirt spec [--bundle DIR]: write a default config.json."""

import json
import os

from ..errors import OcirtError
from .options import Option, parse_command

OPTIONS = [Option("--bundle", "-b", value=True, default=".", help="where to write config.json"),
           Option("--rootless", help="a config for an unprivileged user (user namespace, own ids as root)")]
USAGE = "ocirt spec [--bundle DIR] [--rootless]"


def main(ctx, argv):
    from ..spec.defaults import default_config, rootless_config
    opts, _ = parse_command(USAGE, OPTIONS, argv, (0, 0))
    config = rootless_config(os.geteuid(), os.getegid()) if opts["rootless"] else default_config()
    path = os.path.join(opts["bundle"], "config.json")
    try:
        with open(path, "x") as f:
            f.write(json.dumps(config, indent=2) + "\n")
    except FileExistsError:
        raise OcirtError(f"{path} exists already: remove it first") from None
    except OSError as e:
        raise OcirtError(f"{path}: {e.strerror}") from None
