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


def _in_fresh_interpreter(code):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
                          cwd=__file__.rsplit("/tests/", 1)[0]).stdout.split()


SLOW_IMPORTS = "('json', 're', 'enum', 'socket', 'signal', 'structlog', 'jsonschema', 'pyroute2', 'seccomp')"


def test_hot_path_modules_do_not_import_json():
    code = ("import sys; import ocirt.cli.state, ocirt.state; "
            f"print(' '.join(m for m in {SLOW_IMPORTS} if m in sys.modules))")
    assert _in_fresh_interpreter(code) == []


def test_create_and_run_paths_import_nothing_slow():
    code = ("import sys; import ocirt.cli.run, ocirt.cli.start, ocirt.container, ocirt.runtime.launch; "
            "from ocirt.spec import parse, validate; from ocirt.spec.defaults import default_config; "
            "validate(parse(repr(default_config(['true'])).replace(\"'\", '\"').replace('True', 'true')"
            ".replace('False', 'false'))); "
            f"print(' '.join(m for m in {SLOW_IMPORTS} if m in sys.modules))")
    assert _in_fresh_interpreter(code) == []


def test_malformed_without_the_json_package_loaded():
    # The C scanner needs json.decoder to raise its error: jsonio imports it then.
    code = ("from ocirt import jsonio\ntry:\n    jsonio.loads(chr(34) + chr(1) + chr(34))\n"
            "except ValueError as e:\n    print(type(e).__name__)")
    assert _in_fresh_interpreter(code) == ["JSONDecodeError"]

