"""JSON for the hot paths (`state`, `list`, the state store) without the json
package: `import json` imports re and enum, about 7 ms on these machines,
more than the rest of `ocirt state`. The C accelerator `_json` that the json
package itself uses does the parsing and the string escaping here.

Only what ocirt writes and reads is supported: objects, arrays, strings,
integers, floats, booleans and null. spec/ parses config.json with a scanner
of its own (whole numbers as ints).
"""

import _json

_WHITESPACE = " \t\n\r"


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class _ScannerContext:
    """The attributes _json.make_scanner reads (what json.JSONDecoder has)."""

    strict = True  # no raw control characters in strings
    object_hook = None
    object_pairs_hook = None
    parse_int = int
    parse_constant = staticmethod(_reject_constant)  # NaN and Infinity are not JSON
    memo = None

    def __init__(self, parse_float):
        self.parse_float = parse_float


def scanner(parse_float=float):
    """A scanner for loads(); parse_float gets the text of each non-integer."""
    return _json.make_scanner(_ScannerContext(parse_float))


_scan = scanner()


def loads(text, scan=_scan):
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        try:
            value, end = scan(text, start)
        except SystemError:
            # The scanner raises its errors as json.decoder.JSONDecodeError
            # but finds that class only if json.decoder is already imported
            # (it fails with SystemError otherwise): import it and rescan.
            import json.decoder  # noqa: F401
            value, end = scan(text, start)
    except StopIteration as e:  # its value is where a value was missing
        raise ValueError(f"no JSON value at {_position(text, e.value)}") from None
    rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if rest < len(text):
        raise ValueError(f"extra data after the JSON value at {_position(text, rest)}")
    return value


def _position(text, offset):
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return f"line {line} column {column} (char {offset})"


def _unsupported(value):
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# The C encoder json.dumps uses (no circular-reference markers: ocirt writes trees).
_encode_compact = _json.make_encoder(None, _unsupported, _json.encode_basestring_ascii, None,
                                     ": ", ", ", False, False, False)


# For messages about a value, which may be anything a caller built: NaN and
# infinities are written as json.dumps writes them (they are not JSON).
_encode_shown = _json.make_encoder(None, repr, _json.encode_basestring_ascii, None,
                                   ": ", ", ", False, False, True)


def shown(value):
    """A value as an error message quotes it."""
    return "".join(_encode_shown(value, 0))


def dumps(value, indent=None):
    """Like json.dumps (ASCII, no sorting); indent gives Go's MarshalIndent shape."""
    if indent is None:
        return "".join(_encode_compact(value, 0))
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
        _unsupported(value)


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
