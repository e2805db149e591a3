"""JSON for the hot paths (`state`, `list`, the state store) without the json
package: `import json` imports re and enum, about 7 ms on these machines,
more than the rest of `ocirt state`. The C accelerator `_json` that the json
package itself uses does the parsing and the string escaping here.

Only what ocirt writes and reads on those paths is supported: objects, arrays,
strings, integers, floats, booleans and null. config.json still goes through
the json package (spec/), whose strictness options it needs.
"""

import _json

_WHITESPACE = " \t\n\r"


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class _ScannerContext:
    """The attributes _json.make_scanner reads (what json.JSONDecoder has)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_reject_constant)
    memo = None


_scan = _json.make_scanner(_ScannerContext())


def loads(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError(f"no JSON value at offset {start}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data after the JSON value at offset {end}")
    return value


def dumps(value, indent=None):
    """Like json.dumps (ASCII, no sorting); indent gives Go's MarshalIndent shape."""
    out = []
    _write(value, out, indent, 0)
    return "".join(out)


def _write(value, out, indent, level):
    if isinstance(value, str):
        out.append(_json.encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, (int, float)):
        out.append(repr(value) if isinstance(value, float) else str(value))
    elif isinstance(value, dict):
        _container(list(value.items()), "{", "}", out, indent, level, keyed=True)
    elif isinstance(value, (list, tuple)):
        _container(list(value), "[", "]", out, indent, level, keyed=False)
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _container(items, opening, closing, out, indent, level, keyed):
    if not items:
        out.append(opening + closing)
        return
    if indent is None:
        inner, separator, outer = "", ", ", ""
    else:
        inner = "\n" + " " * (indent * (level + 1))
        separator, outer = "," + inner, "\n" + " " * (indent * level)
    out.append(opening + inner)
    for i, item in enumerate(items):
        if i:
            out.append(separator)
        if keyed:
            out.append(_json.encode_basestring_ascii(str(item[0])) + ": ")
            item = item[1]
        _write(item, out, indent, level + 1)
    out.append(outer + closing)
