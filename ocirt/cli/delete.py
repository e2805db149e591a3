"""ocirt delete [--force] ID"""

from ..errors import NotFoundError
from .options import Option, parse_command

OPTIONS = [Option("--force", "-f", help="kill a running container first; a missing one is no error")]
USAGE = "ocirt delete [--force] ID"


def main(ctx, argv):
    from ..container import Container
    opts, (container_id,) = parse_command(USAGE, OPTIONS, argv, (1, 1))
    try:
        Container.load(container_id, ctx.root).delete(force=opts["force"])
    except NotFoundError:
        if not opts["force"]:
            raise
