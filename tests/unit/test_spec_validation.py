"""config.json validation: the bad-config corpus fails with one precise line,
valid configs from runc, ocirt and CRI runtimes pass, load_bundle names what is
missing.

tests/data/bad-configs/<name>.json is a document with one defect and
<name>.expect the substring its error must contain: the JSON path of the
field and the rule (or "not valid JSON" for text that is not JSON).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from ocirt import spec
from ocirt.errors import ConfigError
from ocirt.spec.defaults import default_config

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
BAD = os.path.join(DATA, "bad-configs")
GOOD = os.path.join(DATA, "good-configs")


def _names(directory, ext):
    return sorted(f[: -len(ext)] for f in os.listdir(directory) if f.endswith(ext))


BAD_CASES = _names(BAD, ".json")
GOOD_CASES = _names(GOOD, ".json")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _expectation(name):
    with open(os.path.join(BAD, name + ".expect"), encoding="utf-8") as f:
        return f.read().rstrip("\n")


def _error_of(data):
    with pytest.raises(ConfigError) as info:
        spec.validate(spec.parse(data))
    return info.value


# -- the corpus itself ----------------------------------------------------------

def test_bad_corpus_is_complete():
    assert len(BAD_CASES) >= 30
    assert BAD_CASES == _names(BAD, ".expect"), "every case needs both <name>.json and <name>.expect"
    malformed = [n for n in BAD_CASES if "not valid JSON" in _expectation(n)]
    assert len(malformed) >= 5


@pytest.mark.parametrize("name", BAD_CASES)
def test_expectation_names_the_field(name):
    with open(os.path.join(BAD, name + ".expect"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].strip(), "an .expect file holds exactly one non-empty line"
    expect = lines[0]
    if "not valid JSON" in expect or "must be a JSON object" in expect:
        assert expect.startswith("config.json: ")
    else:
        # starts with a JSON path: name, .name, [index] or ["odd key"] steps
        assert re.match(r'^[A-Za-z]\w*(\.[\w.-]+|\[\d+\]|\["[^"]*"\])*: \S', expect), expect


# -- bad configs ----------------------------------------------------------------

@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_config_is_rejected_with_one_line(name):
    error = _error_of(_read(os.path.join(BAD, name + ".json")))
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith("config.json: "), message
    assert _expectation(name) in message


def test_error_carries_path_and_rule():
    doc = default_config()
    doc["process"]["user"]["uid"] = -1
    with pytest.raises(ConfigError) as info:
        spec.validate(doc)
    assert info.value.path == "process.user.uid"
    assert info.value.rule.startswith("must be >= 0")


def test_error_names_the_given_file():
    with pytest.raises(ConfigError) as info:
        spec.validate(spec.parse(b"{", file="/b/config.json"), file="/b/config.json")
    assert str(info.value).startswith("/b/config.json: not valid JSON")
    doc = default_config()
    del doc["root"]
    with pytest.raises(ConfigError, match=r"^/b/config\.json: root: is required$"):
        spec.validate(doc, file="/b/config.json")


def test_unprintable_key_keeps_the_error_on_one_line():
    doc = default_config()
    doc["linux"]["sysctl"] = {"kernel.\nshmmax": 1, "\r": "x"}
    message = str(_error_of(json.dumps(doc).encode()))
    assert message == 'config.json: linux.sysctl["kernel.\\nshmmax"]: must be string (got integer 1)'


@pytest.mark.parametrize("value", ["CAP_KILL\n", "CAP_KILL\r\n", "\nCAP_KILL"])
def test_pattern_end_anchor_does_not_allow_a_newline(value):
    # JSON Schema patterns are ECMA-262: `$` is the end of the string, not
    # "before a final newline" as in Python's re.
    doc = default_config()
    doc["process"]["capabilities"]["bounding"][0] = value
    assert "process.capabilities.bounding[0]: must match" in str(_error_of(json.dumps(doc).encode()))


def test_deeply_nested_json_is_a_config_error():
    data = b'{"ociVersion": "1.0.0", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ConfigError, match="^config.json: "):
        spec.validate(spec.parse(data))


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_number_tokens_are_rejected(token):
    doc = json.dumps(default_config()).encode()
    data = doc[:-1] + b', "x-extension": ' + token + b"}"
    with pytest.raises(ConfigError, match="not valid JSON"):
        spec.validate(spec.parse(data))


@pytest.mark.parametrize("data", [
    b"\xef\xbb\xbf" + json.dumps(default_config()).encode(),  # UTF-8 BOM
    json.dumps(default_config()).encode("utf-16"),
])
def test_only_plain_utf8_is_accepted(data):
    with pytest.raises(ConfigError, match="not valid JSON"):
        spec.parse(data)


def test_whole_number_floats_become_integers():
    doc = json.dumps(default_config()).replace('"uid": 0', '"uid": 0.0').replace('"hard": 1024', '"hard": 1e3')
    parsed = spec.parse(doc.encode())
    assert type(parsed["process"]["user"]["uid"]) is int
    assert parsed["process"]["rlimits"][0]["hard"] == 1000 and type(parsed["process"]["rlimits"][0]["hard"]) is int


# -- good configs ---------------------------------------------------------------

@pytest.mark.parametrize("name", GOOD_CASES)
def test_good_config_is_accepted(name):
    config = spec.parse(_read(os.path.join(GOOD, name + ".json")))
    spec.validate(config)
    assert spec.Spec("/bundle", config).process is config["process"]


def test_good_corpus_covers_what_cri_runtimes_send():
    docs = {n: json.loads(_read(os.path.join(GOOD, n + ".json"))) for n in GOOD_CASES}
    flat = json.dumps(docs)
    for needle in ('"capabilities": {}', '"memory": {}', '"rootfsPropagation": "rslave"',
                   '{"allow": false, "access": "rwm"}', '"path": "/proc/4242/ns/ipc"', '"x-vendor"'):
        assert needle in flat, needle


@pytest.mark.parametrize("args,terminal", [(None, True), (["echo", "hi"], False)])
def test_default_config_is_valid(args, terminal):
    spec.validate(default_config(args=args, terminal=terminal))


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not on PATH")
@pytest.mark.parametrize("flags", [[], ["--rootless"]])
def test_runc_spec_is_valid(tmp_path, flags):
    subprocess.run(["runc", "spec", *flags], cwd=tmp_path, check=True, capture_output=True, timeout=30)
    config = spec.parse((tmp_path / "config.json").read_bytes())
    spec.validate(config)


def test_unknown_properties_are_ignored_everywhere():
    doc = default_config()
    doc["x-top"] = {"a": [1, None]}
    doc["process"]["x-proc"] = "y"
    doc["process"]["user"]["x-user"] = -5
    doc["root"]["x-root"] = True
    doc["mounts"][0]["x-mount"] = {}
    doc["linux"]["x-linux"] = 1.5
    doc["linux"]["namespaces"][0]["x-ns"] = None
    doc["linux"]["resources"]["x-res"] = []
    doc["linux"]["resources"]["devices"][0]["x-dev"] = "z"
    spec.validate(doc)


# -- load_bundle ----------------------------------------------------------------

def _bundle(tmp_path, config=None, rootfs="dir"):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if config is not None:
        (bundle / "config.json").write_text(json.dumps(config))
    if rootfs == "dir":
        (bundle / "rootfs").mkdir()
    elif rootfs == "file":
        (bundle / "rootfs").write_text("not a directory\n")
    return bundle


def test_load_bundle_accepts_a_good_bundle(tmp_path):
    bundle = _bundle(tmp_path, default_config())
    loaded = spec.load_bundle(str(bundle))
    assert loaded.rootfs == str(bundle / "rootfs")
    assert loaded.has_namespace("pid") and not loaded.has_namespace("user")


def test_load_bundle_missing_config(tmp_path):
    bundle = _bundle(tmp_path, None)
    with pytest.raises(ConfigError) as info:
        spec.load_bundle(str(bundle))
    message = str(info.value)
    assert message.startswith(f"{bundle}/config.json: cannot read: "), message
    assert "No such file or directory" in message and "\n" not in message


def test_load_bundle_missing_rootfs(tmp_path):
    bundle = _bundle(tmp_path, default_config(), rootfs=None)
    with pytest.raises(ConfigError) as info:
        spec.load_bundle(str(bundle))
    assert str(info.value) == f"{bundle}/config.json: root.path: rootfs {bundle}/rootfs does not exist"


def test_load_bundle_rootfs_is_a_file(tmp_path):
    bundle = _bundle(tmp_path, default_config(), rootfs="file")
    with pytest.raises(ConfigError) as info:
        spec.load_bundle(str(bundle))
    assert str(info.value) == f"{bundle}/config.json: root.path: rootfs {bundle}/rootfs is not a directory"


def test_load_bundle_reports_invalid_config_with_its_path(tmp_path):
    config = default_config()
    config["process"]["cwd"] = "tmp"
    bundle = _bundle(tmp_path, config)
    with pytest.raises(ConfigError) as info:
        spec.load_bundle(str(bundle))
    assert str(info.value) == f'{bundle}/config.json: process.cwd: must be an absolute path (got "tmp")'
