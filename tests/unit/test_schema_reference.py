"""Our JSON Schema interpreter (ocirt.spec.schema.Validator) against the
reference, jsonschema's Draft202012Validator, on the config schema: the same
documents must be accepted and rejected, and our error must point at or below
a place the reference reports.

Documents: both config corpora under tests/data, and a few hundred random
(seeded) mutations of valid configs: a value of another type, a deleted key,
an out-of-range number, an odd string, an emptied or grown list.

One deliberate difference: in a pattern, `$` is the end of the string for us
(ECMA-262, as JSON Schema says) while jsonschema uses Python's re, where `$`
also matches before a final newline. Documents that differ only by that (the
*-trailing-newline bad configs) must be accepted by us once final newlines are
removed; see also test_pattern_end_anchor_matches_only_at_the_end.
"""

import copy
import json
import os
import random

import pytest

jsonschema = pytest.importorskip("jsonschema")

from ocirt.spec.defaults import default_config  # noqa: E402
from ocirt.spec.schema import SchemaViolation, Validator, _join, load_schema  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SCHEMA = load_schema("config.schema.json")
OURS = Validator(SCHEMA)
REFERENCE = jsonschema.Draft202012Validator(SCHEMA)
SEED = 20240917
MUTANTS = 400


def _corpus():
    docs = []
    for sub in ("bad-configs", "good-configs"):
        directory = os.path.join(DATA, sub)
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            try:
                doc = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                continue  # malformed JSON: nothing for a schema to say
            docs.append((f"{sub}/{name}", doc))
    return docs


CORPUS = _corpus()
BASES = [doc for name, doc in CORPUS if name.startswith("good-configs/")] + [default_config()]


def _ours(doc):
    """None if we accept, else the JSON path of our error."""
    try:
        OURS.validate(doc)
    except SchemaViolation as e:
        return e.path
    return None


def _reference_paths(doc):
    paths = []
    for error in REFERENCE.iter_errors(doc):
        path = ""
        for key in error.absolute_path:
            path = _join(path, key)
        paths.append(path)
    return paths


def _under(path, parent):
    return not parent or path == parent or path.startswith(parent + ".") or path.startswith(parent + "[")


def _without_final_newlines(value):
    if isinstance(value, str):
        return value[:-1] if value.endswith("\n") else value
    if isinstance(value, dict):
        return {k: _without_final_newlines(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_final_newlines(v) for v in value]
    return value


def _assert_agree(doc, label):
    ours = _ours(doc)
    reference = _reference_paths(doc)
    if ours is None:
        assert not reference, f"{label}: we accept, jsonschema rejects at {reference}"
        return True
    if not reference:
        # The one allowed difference: Python's `$` matches before a final
        # newline, ECMA-262's does not. Without final newlines we must agree.
        assert _ours(_without_final_newlines(doc)) is None, \
            f"{label}: we reject at {ours!r}, jsonschema accepts"
        return False
    assert any(_under(ours, p) for p in reference), \
        f"{label}: our error at {ours!r} is outside jsonschema's {reference}"
    return False


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_definition_compiles():
    # $defs are compiled lazily, when a document first reaches them: compile
    # them all so that an unsupported keyword in any of them is found.
    Validator(SCHEMA).compile_all()


def test_an_unsupported_keyword_in_a_definition_is_found():
    schema = {"$defs": {"Unused": {"type": "string", "maxLength": 3}}, "type": "object"}
    with pytest.raises(ValueError, match="maxLength"):
        Validator(schema).compile_all()


@pytest.mark.parametrize("name,doc", CORPUS, ids=[name for name, _ in CORPUS])
def test_corpus_agrees(name, doc):
    _assert_agree(doc, name)


# -- random mutations -----------------------------------------------------------

NUMBERS = [-1, 0, 1, 7, 8, 1000, 1001, -1000, -1001, 65535, 65536, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
           2**32 - 1, 2**32, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64 - 1, 2**64, 2**70, 1.0, 1.5, -0.5, 1e20]
STRINGS = ["", "x", "/", "/abs/path", "relative/path", "SCMP_ACT_ALLOW", "CAP_SYS_ADMIN", "cap_kill", "RLIMIT_AS",
           "rlimit_as", "MB:0=1", "2MB", "rwm", "rwx", "p", "c", "pid", "user", "rslave", "LINUX", "1.0.0", "2.0", "a=b"]
OTHERS = [None, True, False, [], ["x"], [1], {}, {"k": "v"}, {"type": "pid"}]


def _slots(value, out, parent=None, key=None):
    """Every (container, key) in the document, depth first."""
    if parent is not None:
        out.append((parent, key))
    if isinstance(value, dict):
        for k, v in value.items():
            _slots(v, out, value, k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _slots(v, out, value, i)
    return out


def _mutate(doc, rng):
    slots = _slots(doc, [])
    parent, key = rng.choice(slots)
    old = parent[key]
    kind = rng.choice(["type", "type", "delete", "delete", "number", "number", "string", "list", "unknown"])
    if kind == "delete":
        # a required key of some object, mostly
        objects = [(p, k) for p, k in slots if isinstance(p, dict)]
        parent, key = rng.choice(objects)
        del parent[key]
    elif kind in ("number", "string"):
        # mostly where the schema has a number (a string) to check
        want = (int, float) if kind == "number" else str
        same = [(p, k) for p, k in slots if isinstance(p[k], want) and not isinstance(p[k], bool)]
        if same and rng.random() < 0.8:
            parent, key = rng.choice(same)
        parent[key] = rng.choice(NUMBERS if kind == "number" else STRINGS)
    elif kind == "list":
        lists = [(p, k) for p, k in slots if isinstance(p[k], list)]
        parent, key = rng.choice(lists) if lists else (parent, key)
        if isinstance(parent[key], list) and parent[key] and rng.random() < 0.5:
            parent[key] = []
        elif isinstance(parent[key], list):
            parent[key].append(rng.choice(NUMBERS + STRINGS + OTHERS))
        else:
            parent[key] = [old]
    elif kind == "unknown":
        objects = [v for p, k in slots for v in [p[k]] if isinstance(v, dict)] or [doc]
        rng.choice(objects)["x-unknown-" + str(rng.randrange(100))] = rng.choice(NUMBERS + STRINGS + OTHERS)
    else:  # a value of another JSON type
        pool = [v for v in NUMBERS + STRINGS + OTHERS if type(v) is not type(old)]
        parent[key] = copy.deepcopy(rng.choice(pool))


def _mutants():
    rng = random.Random(SEED)
    for i in range(MUTANTS):
        doc = copy.deepcopy(rng.choice(BASES))
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            _mutate(doc, rng)
        yield i, doc


def test_random_mutations_agree():
    accepted = rejected = 0
    for i, doc in _mutants():
        if _assert_agree(doc, f"mutant {i} (seed {SEED}): {json.dumps(doc)[:2000]}"):
            accepted += 1
        else:
            rejected += 1
    # both outcomes must be well represented, or the comparison proves little
    assert accepted >= MUTANTS // 5 and rejected >= MUTANTS // 5, (accepted, rejected)


@pytest.mark.parametrize("pattern,value,ok", [
    ("^CAP_[A-Z0-9_]+$", "CAP_KILL", True),
    ("^CAP_[A-Z0-9_]+$", "CAP_KILL\n", False),
    ("^MB:[^\\n]*$", "MB:0=50", True),
    ("^MB:[^\\n]*$", "MB:0=50\n", False),
    ("^a\\$$", "a$", True),
    ("^[$]x$", "$x", True),
    ("^/", "/\n", True),
])
def test_pattern_end_anchor_matches_only_at_the_end(pattern, value, ok):
    validator = Validator({"type": "string", "pattern": pattern})
    if ok:
        validator.validate(value)
    else:
        with pytest.raises(SchemaViolation, match="must match"):
            validator.validate(value)


# -- what the interpreter refuses to compile ------------------------------------

@pytest.mark.parametrize("schema", [
    {"format": "uri"},
    {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}},
    {"type": "array", "items": {"uniqueItems": True}},
    {"patternProperties": {"^x-": {}}},
    {"$ref": "other.schema.json#/$defs/X"},
])
def test_unsupported_keyword_is_refused(schema):
    with pytest.raises(ValueError):
        Validator(schema)


@pytest.mark.parametrize("schema", [
    {"type": "object", "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "object", "additionalProperties": False}}},
])
def test_additional_properties_false_is_refused(schema):
    with pytest.raises(ValueError, match="additionalProperties"):
        Validator(schema)
