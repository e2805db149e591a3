"""Hand-written matchers for the patterns that every config meets.

A default config reaches the schema patterns for ociVersion, absolute paths,
capability and rlimit names and device access; compiling them means importing
re, and re imports enum: ~3 ms, a tenth of a whole `create`. These functions
say exactly what the regexes say (ECMA-262 semantics: ASCII classes, `$` only
at the very end); tests/unit/test_patterns.py checks each against re.
Patterns not listed here go to re.
"""

_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IDENT = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def _all_in(text, allowed):
    return all(c in allowed for c in text)


def _number(text):
    """0|[1-9][0-9]*"""
    return _all_in(text, _DIGITS) and (text == "0" or text[:1] not in ("", "0"))


def _dotted_identifiers(text):
    """[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*"""
    return all(part and _all_in(part, _IDENT) for part in text.split("."))


def semver(text):
    core, plus, build = text.partition("+")
    if plus and not _dotted_identifiers(build):
        return False
    core, dash, pre = core.partition("-")
    if dash and not _dotted_identifiers(pre):
        return False
    numbers = core.split(".")
    return len(numbers) == 3 and all(_number(n) for n in numbers)


def _prefixed(prefix, allowed):
    return lambda text: text.startswith(prefix) and len(text) > len(prefix) \
        and _all_in(text[len(prefix):], allowed)


MATCHERS = {
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)"
    "(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$": semver,
    "^/": lambda text: text.startswith("/"),
    "^CAP_[A-Z0-9_]+$": _prefixed("CAP_", _UPPER | _DIGITS | {"_"}),
    "^RLIMIT_[A-Z]+$": _prefixed("RLIMIT_", _UPPER),
    "^[rwm]{1,3}$": lambda text: 1 <= len(text) <= 3 and _all_in(text, "rwm"),
    "^[^\\n]*$": lambda text: "\n" not in text,
}
