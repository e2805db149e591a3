"""The protobuf wire codec the CRI tests speak gRPC with (tests/cri)."""

import pytest
from hypothesis import given, strategies as st

from ..cri.protowire import Message, encode, entries, varint


def test_varint_known_encodings():
    # protobuf's documented examples: 1, 150, 300, and -1 as ten bytes
    assert varint(1) == b"\x01"
    assert varint(150) == b"\x96\x01"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"


def test_encode_known_message():
    # field 1 = 150 (varint), field 2 = "testing" (length-delimited)
    assert encode({1: 150, 2: "testing"}) == b"\x08\x96\x01\x12\x07testing"


def test_nested_repeated_map_and_absent_fields():
    data = encode({1: {1: "pod", 4: 0}, 2: ["a", "b"], 3: None, 4: [], 6: entries({"k": "v", "x": "y"})})
    m = Message(data)
    assert m.msg(1).str(1) == "pod" and m.msg(1).int(4) == 0
    assert m.strings(2) == ["a", "b"]
    assert 3 not in m.fields and 4 not in m.fields
    assert m.map(6) == {"k": "v", "x": "y"}
    assert m.str(9) == "" and m.int(9) == 0 and m.msg(9).fields == {}, "absent fields read as defaults"


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_signed_varint_round_trip(n):
    assert Message(encode({7: n})).int(7) == n


def test_last_value_wins_and_bytes_stay_bytes():
    m = Message(encode({1: [1, 2], 2: b"\x00\xff"}))
    assert m.int(1) == 2 and m.bytes(2) == b"\x00\xff"


@pytest.mark.parametrize("data", [b"\x08", b"\x12\x05abc", b"\x09\x01\x02", b"\x0b"])
def test_malformed_input_is_refused(data):
    with pytest.raises(ValueError):
        Message(data)


def test_unencodable_value_is_refused():
    with pytest.raises(TypeError, match="field 3"):
        encode({3: 1.5})
