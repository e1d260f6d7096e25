"""A minimal DER reader: just enough of X.690 to walk a CMS SignedData (disclosure_proofs.cms) byte for byte.

Invariants: strict DER only (definite, minimal lengths; low tag numbers); every element must lie inside its
container, so hostile input raises DerError and never reads out of bounds. Standard library only.
"""

from __future__ import annotations

import datetime as dt


class DerError(ValueError):
    """The bytes are not the strict DER this reader accepts."""


class DerNode:
    """One DER element inside a buffer: its tag and where its header and content are."""

    __slots__ = ("buf", "cstart", "end", "start", "tag")

    def __init__(self, buf: bytes, tag: int, start: int, cstart: int, end: int) -> None:
        self.buf, self.tag, self.start, self.cstart, self.end = buf, tag, start, cstart, end

    @property
    def content(self) -> bytes:
        return self.buf[self.cstart : self.end]

    @property
    def raw(self) -> bytes:
        return self.buf[self.start : self.end]

    def children(self) -> list[DerNode]:
        if not self.tag & 0x20:
            raise DerError(f"element with tag 0x{self.tag:02x} is not constructed")
        return parse_all(self.buf, self.cstart, self.end)


def parse_one(buf: bytes, pos: int, end: int) -> DerNode:
    """The element starting at pos, which must end by end."""
    start = pos
    if pos >= end:
        raise DerError("truncated element")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers do not occur in CMS")
    pos += 1
    if pos >= end:
        raise DerError("truncated length")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise DerError("bad length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        if buf[pos] == 0 or length < 0x80:
            raise DerError("non-minimal length encoding")
        pos += count
    if length > end - pos:
        raise DerError("element runs past its container")
    return DerNode(buf, tag, start, pos, pos + length)


def parse_all(buf: bytes, pos: int, end: int) -> list[DerNode]:
    """The elements filling buf[pos:end] exactly."""
    nodes: list[DerNode] = []
    while pos < end:
        node = parse_one(buf, pos, end)
        nodes.append(node)
        pos = node.end
    return nodes


def encode_oid(dotted: str) -> bytes:
    """DER content octets of an OBJECT IDENTIFIER."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


TAG_SEQUENCE, TAG_SET, TAG_INTEGER, TAG_OCTETS, TAG_OID, TAG_UTCTIME, TAG_GENTIME = (
    0x30,
    0x31,
    0x02,
    0x04,
    0x06,
    0x17,
    0x18,
)


def expect(node: DerNode, tag: int, what: str) -> DerNode:
    """node, if its tag is tag; else DerError naming what was expected."""
    if node.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{node.tag:02x}")
    return node


def der_time(node: DerNode) -> dt.datetime | None:
    """A UTCTime or GeneralizedTime in UTC, or None if node is neither or malformed."""
    try:
        text = node.content.decode("ascii")
        if node.tag == TAG_UTCTIME:
            return dt.datetime.strptime(text, "%y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
        if node.tag == TAG_GENTIME:
            return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
    except (UnicodeDecodeError, ValueError):
        return None
    return None
