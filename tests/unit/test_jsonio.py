"""ocirt.jsonio agrees with the json package on everything ocirt writes."""

import json

import pytest

from ocirt import jsonio

VALUES = [
    {}, [], "", 0, -1, 2**70, 1.5, True, False, None,
    {"a": [1, {"b": None}], "ü": "é\n\"\\\t\x00", "emoji": "\U0001F600"},
    {"ociVersion": "1.3.0", "id": "c", "pid": 0, "status": "stopped", "annotations": {}},
    [[], {}, [[]], {"x": {}}],
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("indent", [None, 2])
def test_dumps_matches_json(value, indent):
    assert jsonio.dumps(value, indent=indent) == json.dumps(value, indent=indent)


@pytest.mark.parametrize("value", VALUES)
def test_round_trip(value):
    assert jsonio.loads(json.dumps(value)) == value
    assert jsonio.loads(json.dumps(value, indent=2).encode()) == value


@pytest.mark.parametrize("text", ["", "  ", "{", '{"a": 1} x', "[1,]", "{'a': 1}", "NaN"])
def test_malformed(text):
    with pytest.raises(ValueError):
        jsonio.loads(text)


def test_hot_path_modules_do_not_import_json():
    import subprocess
    import sys
    code = ("import sys; import ocirt.cli.state, ocirt.state; "
            "print(' '.join(m for m in ('json', 're', 'structlog', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
                         cwd=__file__.rsplit("/tests/", 1)[0]).stdout.split()
    assert out == []
