"""Building FHIR search URLs: parameters, token lists, date ranges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from urllib.parse import urlencode

__all__ = ["SearchParams", "date_range", "encode_query", "token_list", "with_page_size"]

# A value that is a sequence becomes a repeated parameter (date=ge…&date=lt…); a comma-joined string is an OR.
SearchParams = Mapping[str, str | int | Sequence[str]]


def encode_query(params: SearchParams | None) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if isinstance(value, str | int):
            pairs.append((name, str(value)))
        else:
            pairs.extend((name, item) for item in value)
    # "|", ",", ":" and "/" stay as written (readable in a batch entry); servers read either form.
    return urlencode(pairs, safe="|,:/")


def _escape(value: str) -> str:
    # FHIR search escaping (R4 §3.1.1.5.8): a literal \ , $ or | inside a value is preceded by a backslash.
    for char in ("\\", ",", "$", "|"):
        value = value.replace(char, "\\" + char)
    return value


def token_list(codes: Iterable[str]) -> str:
    """ "system|code" strings → one token parameter value, OR-joined: "s1|c1,s2|c2"."""
    out: list[str] = []
    for code in codes:
        system, bar, value = code.partition("|")
        out.append(f"{_escape(system)}|{_escape(value)}" if bar else _escape(code))
    return ",".join(out)


def _fhir_instant(value: date | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a search datetime must carry a timezone")
        return value.isoformat()
    return value.isoformat()


def date_range(start: date | datetime | None = None, end: date | datetime | None = None) -> list[str]:
    """Values for a repeated date parameter: on or after `start`, before `end`."""
    values: list[str] = []
    if start is not None:
        values.append("ge" + _fhir_instant(start))
    if end is not None:
        values.append("lt" + _fhir_instant(end))
    return values


def with_page_size(relative_url: str, page_size: int) -> str:
    """A search URL asking `_count=page_size` (any `_count` it had replaced, none added to a read): the service's
    own fetches ask for as much per page as the site allows, while the templates keep what an EHR accepts."""
    path, _, query = relative_url.partition("?")
    if not query and "/" in path:
        return relative_url  # a read ("Patient/1"): no paging
    kept = [part for part in query.split("&") if part and not part.startswith("_count=")]
    return f"{path}?{'&'.join([*kept, f'_count={page_size}'])}"
