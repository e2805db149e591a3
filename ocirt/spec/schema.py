"""A small JSON Schema interpreter for the subset our schemas use.

Why not jsonschema: importing it costs ~100 ms on this class of machine, more
than runc takes for a whole `run`. This validator compiles a schema into nested
closures and reports the first error with its JSON path. A `$ref` is compiled
when a document first reaches it, and a pattern's regex when a string first
meets it, so a create pays only for the parts of the schema its config uses
(compiling all of it, and importing re, cost ~4 ms). tests/unit/test_schema_reference.py checks it against jsonschema, the
reference, on valid and invalid documents.

Keywords: type, properties, required, additionalProperties (schema), items,
enum, const, pattern, minimum, maximum, minItems, minLength, anyOf, oneOf,
$ref (local "#/$defs/..."). Anything else in a schema is a programming error.
"""

import os

from ..jsonio import loads, shown
from .patterns import MATCHERS

_HERE = os.path.join(os.path.dirname(__file__), "schemas")
_IGNORED = frozenset(("$schema", "$id", "$defs", "description", "title", "$comment"))
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


# Patterns the schemas use for rules that have a name.
_PATTERN_WORDS = {"^/": "must be an absolute path"}


class SchemaViolation(Exception):
    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


def _describe(value):
    text = shown(value)
    if len(text) > 40:
        text = text[:37] + "..."
    if value is None:
        return "null"
    kind = {dict: "object", list: "array", str: "string", bool: "boolean",
            float: "number"}.get(type(value), "integer")
    return f"{kind} {text}"


def _join(path, key):
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not key or not key.isprintable():
        # a key with a newline (or empty) would break the one-line error
        return f"{path}[{shown(key)}]"
    return f"{path}.{key}" if path else key


def _ecma_pattern(pattern):
    """A schema pattern (ECMA-262) for Python's re: an unescaped `$` outside a
    character class becomes \\Z, since Python's `$` also matches before a final
    newline and would let "CAP_KILL" + newline pass ^CAP_[A-Z0-9_]+$."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)


class Validator:
    def __init__(self, schema):
        self._root = schema
        self._refs = {}
        self._check = self._compile(schema)

    def validate(self, document):
        """Raise SchemaViolation for the first violation found."""
        self._check(document, "")

    def compile_all(self):
        """Compile every definition now: a schema's own test uses this to
        find unsupported keywords that no document has reached yet."""
        for name in self._root.get("$defs", {}):
            self._compiled_ref(f"#/$defs/{name}")

    def _ref(self, ref):
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref}")

        def check(value, path):
            self._compiled_ref(ref)(value, path)
        return check

    def _compiled_ref(self, ref):
        compiled = self._refs.get(ref)
        if compiled is None:
            compiled = self._refs[ref] = self._compile(self._root["$defs"][ref[8:]])
        return compiled

    def _compile(self, schema):
        checks = []
        for key in schema:
            if key not in _IGNORED and not hasattr(self, "_kw_" + key):
                raise ValueError(f"unsupported schema keyword {key}")
        for key, arg in schema.items():
            if key in _IGNORED:
                continue
            check = getattr(self, "_kw_" + key)(arg, schema)
            if check is not None:
                checks.append(check)
        # type first: the other keywords assume the right type
        checks.sort(key=lambda c: getattr(c, "order", 1))

        def run(value, path):
            for c in checks:
                c(value, path)
        return run

    def _kw_type(self, arg, schema):
        names = [arg] if isinstance(arg, str) else list(arg)
        tests = [_TYPES[n] for n in names]
        wanted = " or ".join(names)

        def check(value, path):
            if not any(t(value) for t in tests):
                raise SchemaViolation(path, f"must be {wanted} (got {_describe(value)})")
        check.order = 0
        return check

    def _kw_properties(self, arg, schema):
        props = {name: self._compile(sub) for name, sub in arg.items()}

        def check(value, path):
            if isinstance(value, dict):
                for name, sub in props.items():
                    if name in value:
                        sub(value[name], _join(path, name))
        return check

    def _kw_required(self, arg, schema):
        def check(value, path):
            if isinstance(value, dict):
                for name in arg:
                    if name not in value:
                        raise SchemaViolation(_join(path, name), "is required")
        check.order = 0.5
        return check

    def _kw_additionalProperties(self, arg, schema):
        if arg is True:
            return None
        if arg is False:
            raise ValueError("additionalProperties: false breaks the spec's rule to ignore unknown fields")
        sub = self._compile(arg)
        known = set(schema.get("properties", ()))

        def check(value, path):
            if isinstance(value, dict):
                for name, item in value.items():
                    if name not in known:
                        sub(item, _join(path, name))
        return check

    def _kw_items(self, arg, schema):
        sub = self._compile(arg)

        def check(value, path):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    sub(item, _join(path, i))
        return check

    def _kw_enum(self, arg, schema):
        def check(value, path):
            if not any(value == a and type(value) is type(a) for a in arg):
                allowed = ", ".join(shown(a) for a in arg)
                raise SchemaViolation(path, f"must be one of {allowed} (got {_describe(value)})")
        return check

    def _kw_const(self, arg, schema):
        def check(value, path):
            if value != arg or type(value) is not type(arg):
                raise SchemaViolation(path, f"must be {shown(arg)} (got {_describe(value)})")
        return check

    def _kw_pattern(self, arg, schema):
        rule = _PATTERN_WORDS.get(arg, f"must match {arg}")
        matches = MATCHERS.get(arg)

        def check(value, path):
            nonlocal matches
            if not isinstance(value, str):
                return
            if matches is None:
                import re
                matches = re.compile(_ecma_pattern(arg)).search
            if not matches(value):
                raise SchemaViolation(path, f"{rule} (got {shown(value)})")
        return check

    def _kw_minimum(self, arg, schema):
        def check(value, path):
            if _TYPES["number"](value) and value < arg:
                raise SchemaViolation(path, f"must be >= {arg} (got {value})")
        return check

    def _kw_maximum(self, arg, schema):
        def check(value, path):
            if _TYPES["number"](value) and value > arg:
                raise SchemaViolation(path, f"must be <= {arg} (got {value})")
        return check

    def _kw_minItems(self, arg, schema):
        def check(value, path):
            if isinstance(value, list) and len(value) < arg:
                raise SchemaViolation(path, f"must have at least {arg} item(s)")
        return check

    def _kw_minLength(self, arg, schema):
        def check(value, path):
            if isinstance(value, str) and len(value) < arg:
                raise SchemaViolation(path, f"must have at least {arg} character(s)")
        return check

    def _alternatives(self, arg):
        return [self._compile(sub) for sub in arg]

    def _kw_anyOf(self, arg, schema):
        alts = self._alternatives(arg)

        def check(value, path):
            errors = []
            for alt in alts:
                try:
                    alt(value, path)
                    return
                except SchemaViolation as e:
                    errors.append(e)
            raise _closest(errors)
        return check

    def _kw_oneOf(self, arg, schema):
        alts = self._alternatives(arg)

        def check(value, path):
            errors, matched = [], 0
            for alt in alts:
                try:
                    alt(value, path)
                    matched += 1
                except SchemaViolation as e:
                    errors.append(e)
            if matched == 0:
                raise _closest(errors)
            if matched > 1:
                raise SchemaViolation(path, "matches more than one allowed form")
        return check


# "$ref" is not a valid identifier: route it by hand.
setattr(Validator, "_kw_$ref", lambda self, arg, schema: self._ref(arg))


def _closest(errors):
    """Of the alternatives' errors, the one that got deepest into the value."""
    return max(errors, key=lambda e: len(e.path))


_cache = {}


def load_schema(name):
    with open(os.path.join(_HERE, name), "rb") as f:
        return loads(f.read())


def validator(name, definition=None):
    """The compiled validator of schemas/<name> (or of one of its $defs),
    built once per process."""
    key = (name, definition)
    if key not in _cache:
        schema = load_schema(name)
        if definition is not None:
            schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
        _cache[key] = Validator(schema)
    return _cache[key]
