"""`BoundedDecoder`: every Content-Encoding we read gives back the bytes sent, in pieces of at most 64 KiB however
far they inflate; one we did not ask for, or two, is refused; a corrupt stream is a zlib error (a 412 upstream)."""

from __future__ import annotations

import gzip
import zlib

import pytest

from cds_cyto.sources._decode import PIECE, BoundedDecoder, UnsupportedEncoding

BODY = b'{"resourceType":"Bundle","type":"searchset","entry":[]}' * 5000


def _deflate(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def _decode(coding: str, raw: bytes, chunk: int = 1000) -> list[bytes]:
    decoder = BoundedDecoder(coding)
    pieces = [p for start in range(0, len(raw), chunk) for p in decoder.feed(raw[start : start + chunk])]
    return pieces + list(decoder.flush())


@pytest.mark.parametrize(
    ("coding", "raw"),
    [
        ("", BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("GZip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", _deflate(BODY, zlib.MAX_WBITS)),  # zlib-wrapped, as the spec says
        ("deflate", _deflate(BODY, -zlib.MAX_WBITS)),  # raw, as some servers send it
        ("identity, gzip", gzip.compress(BODY)),
    ],
)
def test_every_encoding_read_gives_the_bytes_sent(coding: str, raw: bytes) -> None:
    pieces = _decode(coding, raw)
    assert b"".join(pieces) == BODY
    assert max(len(p) for p in pieces) <= PIECE


def test_a_bomb_comes_in_bounded_pieces_from_one_network_chunk() -> None:
    bomb = gzip.compress(b" " * (32 * 1024 * 1024), 9)  # 32 MiB from about 32 KB: one chunk holds it all
    decoder = BoundedDecoder("gzip")
    pieces = decoder.feed(bomb)
    first = next(pieces)
    assert len(first) <= PIECE  # the caller sees it, and may stop, before the rest is inflated
    assert sum(len(p) for p in pieces) + len(first) == 32 * 1024 * 1024


@pytest.mark.parametrize("coding", ["gzip, gzip", "deflate, gzip", "br", "zstd", "compress", "gzip;q=1"])
def test_a_coding_we_did_not_ask_for_is_refused(coding: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        BoundedDecoder(coding)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_corrupt_stream_is_a_zlib_error(coding: str) -> None:
    with pytest.raises(zlib.error):
        _decode(coding, b"\x1f\x8b\x08\x00garbage-that-is-not-deflate" * 10)
