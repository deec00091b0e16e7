"""Text from data made safe for a card's (GitHub Flavored) markdown `detail`.

A resource id, a code's display, a data-problem reason or a site title is plain text: written into markdown as is,
"10*9/L = 790 10*9/L" becomes emphasis and "Observation/<x>" raw HTML. `md_text` backslash-escapes each character
where it could open a construct (and only there, so "0.36" and "gcsf_therapeutic" stay readable in the source), so
a GFM renderer shows the text as written. Whitespace runs (a newline too) become one space: data never breaks the
line it is put in, and a hard break or an indented block cannot start.
"""

from __future__ import annotations

import re

__all__ = ["md_text"]

# Characters that may open an inline construct; `_escape` decides from their neighbours (tests/cds/
# test_markdown_escape.py holds the rule to what a GFM renderer does).
_CANDIDATE = re.compile(r"[\\`*~\[\]|_<&]")
# Escapes, code, emphasis, strikethrough, links and images, table cells: special anywhere.
_ALWAYS = frozenset("\\`*~[]|")
# What opens a block where a line (or a list item) starts: a block quote, a heading, a list item, a thematic break
# or setext underline. The text is put at such a place (a card's first line, an evidence item's label).
_LINE_START = re.compile(r"^(?:(>)|(#{1,6}|[-+])(?= |$)|(\d{1,9})([.)])(?= |$)|([-=]+)(?= *$))")
_LINE_OPENER = re.compile(r"[>#+=\-0-9]")  # the cheap test before the full one: most texts start with a letter
_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_SPACE_RUN = re.compile(r"[\t\r\n\f\v]|  ")


def md_text(text: str) -> str:
    """`text` as markdown that renders to `text`: whitespace runs as one space, none at the ends (a renderer trims
    it; the markdown around the text supplies its own), NUL as U+FFFD (as CommonMark does)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    flat = _SPACE.sub(" ", text).strip() if _SPACE_RUN.search(text) else text.strip()
    escaped = _CANDIDATE.sub(_escape, flat)
    return _LINE_START.sub(_lead, escaped, count=1) if _LINE_OPENER.match(escaped) else escaped


def _escape(m: re.Match[str]) -> str:
    char, text, at = m.group(0), m.string, m.start()
    if char in _ALWAYS:
        return "\\" + char
    after = text[at + 1] if at + 1 < len(text) else ""
    if char == "_":  # emphasis by underscore is inert only between two letters or digits
        return char if at > 0 and text[at - 1].isalnum() and after.isalnum() else "\\_"
    if char == "<":  # raw HTML and autolinks (an e-mail autolink may start with a digit or "=")
        return char if after in ("", " ") else "\\<"
    # "&": an entity or character reference only when a name or "#" follows
    return "\\&" if after == "#" or (after.isascii() and after.isalnum()) else char


def _lead(m: re.Match[str]) -> str:
    quote, opener, number, delimiter, rule = m.groups()
    if number is not None:
        return f"{number}\\{delimiter}"  # "1." / "1)": the escape goes before the delimiter
    return f"\\{quote or opener or rule}"
