"""ocirt pause ID: freeze every process of the container."""

from .options import parse_command

USAGE = "ocirt pause ID"


def main(ctx, argv):
    from ..container import Container
    _, (container_id,) = parse_command(USAGE, [], argv, (1, 1))
    Container.load(container_id, ctx.root).pause()
