"""The hand-written pattern matchers say exactly what the schema's regexes say."""

import json
import os
import re

import pytest
from hypothesis import given, settings, strategies as st

from ocirt.spec.patterns import MATCHERS
from ocirt.spec.schema import _ecma_pattern

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "ocirt", "spec", "schemas",
                           "config.schema.json")

EXAMPLES = ["", "/", "a/", "//x", "\n/", "/\n", "1.0.0", "1.0", "1.0.0.0", "01.0.0", "1.00.0", "0.0.0",
            "1.2.3-rc.1", "1.2.3-", "1.2.3-rc..1", "1.2.3+build.5", "1.2.3-a+b", "1.2.3+", "1.2.3-a-b",
            "1.2.3\n", "1.2.3-é", "１.2.3", "1.2.3-rc.1+x.y-z", "10.20.30", "1.2.3+a+b", "CAP_", "CAP_KILL",
            "CAP_kill", "CAP_KILL\n", "CAP_SYS_ADMIN", "CAP_9", "xCAP_KILL", "RLIMIT_", "RLIMIT_NOFILE",
            "RLIMIT_NO_FILE", "RLIMIT_NOFILE\n", "RLIMIT_Ñ", "r", "rw", "rwm", "rwmr", "mm", "x", "rw\n",
            "a\nb", "plain", "ＣAP_KILL", "RLIMIT_ＡS"]


def _regex(pattern):
    return re.compile(_ecma_pattern(pattern))


def test_every_matcher_is_a_pattern_of_the_schema():
    with open(SCHEMA_FILE) as f:
        text = f.read()
    used = set(re.findall(r'"pattern": ("(?:[^"\\]|\\.)*")', text))
    for pattern in MATCHERS:
        assert json.dumps(pattern) in used, pattern


@pytest.mark.parametrize("pattern", list(MATCHERS))
@pytest.mark.parametrize("text", EXAMPLES)
def test_matcher_agrees_with_re(pattern, text):
    assert MATCHERS[pattern](text) == bool(_regex(pattern).search(text))


ALPHABET = "0123456789.-+/_\nABCKLMPRSTXabcdmrwz\u00e9\uff11"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=16))
def test_matchers_agree_with_re_on_random_text(text):
    for pattern, matches in MATCHERS.items():
        assert matches(text) == bool(_regex(pattern).search(text)), (pattern, text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(MATCHERS)).flatmap(
    lambda p: st.tuples(st.just(p), st.from_regex(_regex(p)).map(lambda s: s[:24]))))
def test_matchers_agree_with_re_near_matches(case):
    # Strings that match (cut short: often they then don't), so both sides get tried.
    pattern, text = case
    assert MATCHERS[pattern](text) == bool(_regex(pattern).search(text)), text
