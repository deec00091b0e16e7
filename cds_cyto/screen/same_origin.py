"""Is a state-changing request (acknowledge, log out) from this app's own pages? The CSRF check of the screen.

A browser names where a form was posted from: `Origin` (every POST from a page), else `Sec-Fetch-Site`. Accepted:
this service's public origin (CDS_CYTO_PUBLIC_BASE_URL, what the browser sees behind a TLS proxy) or the origin the
request itself was addressed to. `Origin: null` (a sandboxed frame, a data: URL) and any other site are refused. A
request naming neither is not a browser's form, so there is no browser to forge it in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

__all__ = ["from_this_app"]


def _origin(url: str) -> str | None:
    """scheme://host[:port], the default port dropped; None for what is not an http(s) origin."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, {"https": 443, "http": 80}[scheme]) else f"{scheme}://{host}:{port}"


def from_this_app(request: Request, public_base_url: str) -> bool:
    origin = request.headers.get("origin")
    if origin is not None:
        theirs = _origin(origin)
        return theirs is not None and theirs in {_origin(public_base_url), _origin(str(request.url))}
    site = request.headers.get("sec-fetch-site")
    return site is None or site in ("same-origin", "none")
