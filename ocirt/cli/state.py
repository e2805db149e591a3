"""ocirt state ID: the runtime-spec state document as JSON."""

from .. import jsonio
from .options import parse_command

USAGE = "ocirt state ID"


def main(ctx, argv):
    from ..container import Container
    _, (container_id,) = parse_command(USAGE, [], argv, (1, 1))
    print(jsonio.dumps(Container.load(container_id, ctx.root).state(), indent=2))
