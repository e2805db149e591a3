"""Just enough of the protobuf wire format for the CRI calls of the tests,
without generated code or .proto files.

A message to encode is a dict {field number: value}; a value is a str or
bytes (length-delimited), a bool or int (varint; negative ints as protobuf's
10-byte two's complement), a nested message (a dict) or a list of those (a
repeated field). None and empty lists are left out, as proto3 leaves out
defaults. A map<string, string> is a repeated {1: key, 2: value} entry:
`entries()` makes one.

Decoding has no schema: `Message` keeps every field's raw values (ints for
varints and fixed-width fields, bytes for length-delimited ones) and its
accessors say how to read them."""

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def varint(n):
    n &= (1 << 64) - 1  # int32/int64 negatives are sign-extended to 64 bits
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode(message):
    out = bytearray()
    for number, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                out += _field(number, item)
    return bytes(out)


def _field(number, value):
    if isinstance(value, (bool, int)):
        return varint(number << 3 | VARINT) + varint(int(value))
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, dict):
        value = encode(value)
    elif not isinstance(value, bytes):
        raise TypeError(f"field {number}: cannot encode {type(value).__name__}")
    return varint(number << 3 | LENGTH) + varint(len(value)) + value


def entries(mapping):
    """A map<string, string> field's value."""
    return [{1: key, 2: value} for key, value in mapping.items()]


def _read_varint(data, pos):
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


class Message:
    """A decoded message: field number -> list of raw values, in order."""

    def __init__(self, data):
        self.fields = {}
        pos = 0
        while pos < len(data):
            key, pos = _read_varint(data, pos)
            number, kind = key >> 3, key & 7
            if kind == VARINT:
                value, pos = _read_varint(data, pos)
            elif kind == LENGTH:
                size, pos = _read_varint(data, pos)
                value, pos = bytes(data[pos:pos + size]), pos + size
            elif kind in (FIXED64, FIXED32):
                width = 8 if kind == FIXED64 else 4
                value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
            else:
                raise ValueError(f"field {number}: unsupported wire type {kind}")
            if pos > len(data):
                raise ValueError(f"field {number}: truncated")
            self.fields.setdefault(number, []).append(value)

    def _last(self, number, default):
        values = self.fields.get(number)
        return values[-1] if values else default  # proto3: the last one wins

    def int(self, number):
        """A signed varint field (int32, int64, enum); 0 when absent."""
        value = self._last(number, 0)
        return value - (1 << 64) if value >= 1 << 63 else value

    def bytes(self, number):
        return self._last(number, b"")

    def str(self, number):
        return self.bytes(number).decode()

    def msg(self, number):
        return Message(self.bytes(number))

    def repeated(self, number):
        return [Message(value) for value in self.fields.get(number, [])]

    def strings(self, number):
        return [value.decode() for value in self.fields.get(number, [])]

    def map(self, number):
        return {entry.str(1): entry.str(2) for entry in self.repeated(number)}
