"""ocirt start ID"""

from .options import parse_command

USAGE = "ocirt start ID"


def main(ctx, argv):
    from ..container import Container
    _, (container_id,) = parse_command(USAGE, [], argv, (1, 1))
    Container.load(container_id, ctx.root).start()
