"""A hostile FHIR server on two real loopback sockets: `python -m tests.hostile.hostile_fhir` prints its two
ports on one line and serves until killed.

The first path segment picks the behaviour, whatever follows (`/huge/Observation?...` streams without end):

    ok      a Patient read gives the Patient, a search an empty searchset
    huge    an Observation search: 200 with a chunked searchset that never ends (300 MB generated on the fly)
            while the client reads; the other queries as `ok`
    many    an Observation search: one page of 200,000 entries (about 14 MB); the other queries as `ok`
    pages   every searchset has a `next` link to one more page, without end
    budget  every search answers a valid 10 MB searchset (2,000 entries): the answers of one call add up
    trickle 200, Content-Length 1 MB, then one byte a second
    hang    200 and its headers, then nothing
    types   wrong JSON types: a Patient read gives a JSON array, a search `"entry": 5, "link": 7`
    loop    302 to the very same URL
    away    302 to the same path under `ok` on the other port (another origin)
    evil    400 with an OperationOutcome whose text must never be echoed
    gzip    an Observation search: 200, Content-Encoding gzip, 255 KB that inflate to 64 MiB (a gzip bomb)
    deflate the same as zlib-wrapped deflate
    gzip2   the bomb gzipped again (Content-Encoding: gzip, gzip): 600 bytes, 64 MiB after two inflations
    brotli  Content-Encoding br, which we never ask for
    headers the status line, then one header line every half second, never the blank line that ends them
    flood   the status line, then header lines as fast as the socket takes them, without end

`GET /_hits` gives the number of requests per behaviour, as JSON.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import zlib
from collections import Counter

HUGE_BYTES = 300 * 1024 * 1024
EVIL_TEXT = "EVIL-UPSTREAM-TEXT <script>alert(1)</script>"

_ENTRY = b'{"resource":{"resourceType":"Observation","id":"o1","status":"final"}},'
_HUGE_CHUNK = _ENTRY * (1024 * 1024 // len(_ENTRY))
_PAD = "x" * 5000

BOMB_BYTES = 64 * 1024 * 1024


def _compressed(data_mib: int, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    start = b'{"resourceType":"Bundle","type":"searchset","entry":['
    parts = [packer.compress(start)] + [packer.compress(b" " * (1 << 20)) for _ in range(data_mib)]
    return b"".join(parts) + packer.flush()


_GZIP = _compressed(BOMB_BYTES >> 20, 16 + zlib.MAX_WBITS)
_DEFLATE = _compressed(BOMB_BYTES >> 20, zlib.MAX_WBITS)
_GZIP2 = gzip.compress(_GZIP, 9)
_BOMBS = {"gzip": (_GZIP, "gzip"), "deflate": (_DEFLATE, "deflate"), "gzip2": (_GZIP2, "gzip, gzip")}

hits: Counter[str] = Counter()
ports: list[int] = []


def _searchset(entries: list[dict[str, object]], link: list[dict[str, str]] | None = None) -> bytes:
    body: dict[str, object] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if link:
        body["link"] = link
    return json.dumps(body).encode()


_MANY = b'{"resourceType":"Bundle","type":"searchset","entry":[' + b",".join([_ENTRY[:-1]] * 200_000) + b"]}"
_BUDGET = _searchset(
    [{"resource": {"resourceType": "Observation", "id": f"b{i}", "note": [{"text": _PAD}]}} for i in range(2000)]
)


async def _answer(writer: asyncio.StreamWriter, status: str, body: bytes, extra: str = "") -> None:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n"
    writer.write((head + extra + "Connection: close\r\n\r\n").encode() + body)
    await writer.drain()


async def _huge(writer: asyncio.StreamWriter) -> None:
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n"
    writer.write(head.encode())
    start = b'{"resourceType":"Bundle","type":"searchset","entry":['
    writer.write(b"%x\r\n%s\r\n" % (len(start), start))
    sent = 0
    while sent < HUGE_BYTES:
        writer.write(b"%x\r\n%s\r\n" % (len(_HUGE_CHUNK), _HUGE_CHUNK))
        await writer.drain()  # raises once the client has closed: the generation stops with it
        sent += len(_HUGE_CHUNK)
    end = _ENTRY[:-1] + b"]}"
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(end), end))
    await writer.drain()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request_line = (await reader.readline()).decode("latin-1")
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        parts = request_line.split()
        if len(parts) < 2:
            return
        target = parts[1]
        path = target.split("?", 1)[0]
        segments = [s for s in path.split("/") if s]
        mode = segments[0] if segments else ""
        hits[mode] += 1
        is_read = len(segments) >= 3 and "?" not in target  # /mode/Patient/id
        if mode in ("huge", "many", "brotli", *_BOMBS) and segments[1:2] != ["Observation"]:
            mode = "ok"  # one hostile answer: the limit of one response is what is put to the test
        await _behave(writer, mode, target, segments, is_read)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _behave(writer: asyncio.StreamWriter, mode: str, target: str, segments: list[str], is_read: bool) -> None:
    if mode == "_hits":
        await _answer(writer, "200 OK", json.dumps(hits).encode())
    elif mode == "ok" or (mode == "pages" and is_read):
        if is_read:
            resource = {"resourceType": segments[1], "id": segments[2]}
            await _answer(writer, "200 OK", json.dumps(resource).encode())
        else:
            await _answer(writer, "200 OK", _searchset([]))
    elif mode == "huge":
        await _huge(writer)
    elif mode == "many":
        await _answer(writer, "200 OK", _MANY)
    elif mode == "pages":
        page = int(target.rsplit("page=", 1)[1]) if "page=" in target else 1
        link = [{"relation": "next", "url": f"http://127.0.0.1:{ports[0]}/pages/Observation?page={page + 1}"}]
        await _answer(writer, "200 OK", _searchset([], link))
    elif mode == "budget":
        await _answer(writer, "200 OK", _BUDGET)
    elif mode in ("trickle", "hang"):
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 1048576\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        for _ in range(600):
            await asyncio.sleep(1.0)
            if mode == "trickle":
                writer.write(b" ")
                await writer.drain()
    elif mode == "types":
        body = b"[1, 2, 3]" if is_read else b'{"resourceType":"Bundle","type":"searchset","entry":5,"link":7}'
        await _answer(writer, "200 OK", body)
    elif mode == "loop":
        await _answer(writer, "302 Found", b"", f"Location: http://127.0.0.1:{ports[0]}{target}\r\n")
    elif mode == "away":
        elsewhere = f"http://127.0.0.1:{ports[1]}/ok{target.removeprefix('/away')}"
        await _answer(writer, "302 Found", b"", f"Location: {elsewhere}\r\n")
    elif mode in _BOMBS:
        body, coding = _BOMBS[mode]
        await _answer(writer, "200 OK", body, f"Content-Encoding: {coding}\r\n")
    elif mode == "brotli":
        await _answer(writer, "200 OK", b"\x0b\x02\x80{}\x03", "Content-Encoding: br\r\n")
    elif mode in ("headers", "flood"):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n")
        for n in range(100_000):
            writer.write(f"X-Never-Ending-{n}: {'y' * 60}\r\n".encode())
            await writer.drain()
            if mode == "headers":
                await asyncio.sleep(0.5)
    elif mode == "evil":
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": EVIL_TEXT}]}
        await _answer(writer, "400 Bad Request", json.dumps(outcome).encode())
    else:
        await _answer(writer, "404 Not Found", b"{}")


async def main() -> None:
    servers = [await asyncio.start_server(_handle, "127.0.0.1", 0, backlog=256) for _ in range(2)]
    ports.extend(s.sockets[0].getsockname()[1] for s in servers)
    print(*ports, flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
