"""ocirt features: the runtime-spec features document of this build."""

import json

from .options import parse_command

USAGE = "ocirt features"


def main(ctx, argv):
    from ..spec.features import features
    parse_command(USAGE, [], argv, (0, 0))
    print(json.dumps(features(), indent=2))
