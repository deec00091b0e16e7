"""A FHIR answer's Content-Encoding undone in bounded pieces, so the byte limits count what is decoded.

httpx inflates each network chunk whole: one 64 KB chunk of a gzip bomb becomes 64 MB before any limit can look,
and `Content-Encoding: gzip, gzip` multiplies that again. Here no piece is larger than `PIECE` bytes, whatever the
ratio, so the caller stops as soon as the decoded body passes its limit. gzip and deflate (what we ask for in
Accept-Encoding) are read; any other coding, or more than one, is refused as a protocol error.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = ["ACCEPT_ENCODING", "BoundedDecoder", "UnsupportedEncoding"]

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024


class UnsupportedEncoding(ValueError):
    """A Content-Encoding we did not ask for and do not read."""


class BoundedDecoder:
    """`feed(raw)` and `flush()` yield the decoded bytes in pieces of at most PIECE; raises zlib.error on a
    corrupt stream and UnsupportedEncoding for a coding other than identity, gzip or deflate."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise UnsupportedEncoding("more than one Content-Encoding")  # gzip of gzip: a bomb's multiplier
        self._coding = codings[0] if codings else None
        self.coding = self._coding or "identity"
        self._inflate: zlib._Decompress | None
        if self._coding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._coding == "deflate":
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS)  # zlib-wrapped, as the HTTP spec says
        elif self._coding is None:
            self._inflate = None
        else:
            raise UnsupportedEncoding(f"Content-Encoding {self._coding!r}")
        self._started = False

    def feed(self, raw: bytes) -> Iterator[bytes]:
        if self._inflate is None:
            for start in range(0, len(raw), PIECE):
                yield raw[start : start + PIECE]
            return
        data = raw
        while data:
            try:
                piece = self._inflate.decompress(data, PIECE)
            except zlib.error:
                if self._coding != "deflate" or self._started:
                    raise
                # Some servers send raw deflate without the zlib wrapper (httpx reads it too): start again so.
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                continue
            self._started = True
            tail = self._inflate.unconsumed_tail
            if piece:
                yield piece
            elif len(tail) == len(data):
                break  # no progress: zlib never does this with input and room for output, but never spin
            data = tail

    def flush(self) -> Iterator[bytes]:
        if self._inflate is not None:
            rest = self._inflate.flush()  # what the consumed input still owes: less than one window
            for start in range(0, len(rest), PIECE):
                yield rest[start : start + PIECE]
