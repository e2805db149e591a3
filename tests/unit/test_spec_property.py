"""Property tests: whatever bytes or JSON arrive as config.json, parse and
validate either accept them or raise ConfigError: never another exception."""

import json

from hypothesis import given, settings, strategies as st

from ocirt import spec
from ocirt.errors import ConfigError
from ocirt.spec.defaults import default_config

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)


def _accepts_or_config_error(data):
    try:
        spec.validate(spec.parse(data))
    except ConfigError as e:
        assert "\n" not in str(e)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    _accepts_or_config_error(data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_documents(value):
    _accepts_or_config_error(json.dumps(value).encode())


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


BASE = default_config(["sh"])
BASE["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
BASE["linux"]["namespaces"].append({"type": "user"})
BASE["process"]["rlimits"].append({"type": "RLIMIT_CORE", "soft": 0, "hard": 0})
PATHS = [p for p in _paths(BASE) if p]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(PATHS), json_values, st.booleans())
def test_mutated_real_config(path, replacement, delete):
    """Replace or delete one value anywhere in a realistic config: the rules
    that run after the schema must never see a shape they do not expect."""
    doc = json.loads(json.dumps(BASE))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    _accepts_or_config_error(json.dumps(doc).encode())
