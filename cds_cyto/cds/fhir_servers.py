"""Which `fhirServer` an issuer may send: its configured FHIR base URLs, compared normalised.

Without this, any trusted EHR could make the service call any URL with its token (an SSRF door). A request's
`fhirServer` matches a configured base when scheme, host and port are equal (default ports filled in, case folded)
and its path is the base's path or lies under it segment by segment (`/fhir/r4` allows `/fhir/r4` and
`/fhir/r4/tenant-1`, never `/fhir/r4x` or `/fhir`). A URL with user info, a query or a fragment never matches,
nor one whose path holds, decoded, a dot segment, a "/", a "\\", a ";" or a control character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

__all__ = ["BaseUrl", "normalise_base_url", "server_allowed"]

BaseUrl = tuple[str, str, int, tuple[str, ...]]  # scheme, host, port, path segments

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A path segment, decoded, of RFC 3986's unreserved and sub-delimiter characters but ';': an encoded "/" or "\\",
# a control character or Tomcat's "..;" would let a tolerant server climb above the base the check allowed.
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@-]+")


def normalise_base_url(url: str) -> BaseUrl | None:
    """The comparable form of an http(s) base URL, or None when it cannot be one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.query or parts.fragment:
        return None
    segments = tuple(unquote(s) for s in parts.path.split("/") if s)
    if any(s in (".", "..") or not _SAFE_SEGMENT.fullmatch(s) for s in segments):
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], segments


def server_allowed(server: str, bases: Iterable[BaseUrl]) -> bool:
    """Does `server` lie at or under one of `bases`?"""
    wanted = normalise_base_url(server)
    if wanted is None:
        return False
    return any(wanted[:3] == base[:3] and wanted[3][: len(base[3])] == base[3] for base in bases)
