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

_INLINE = re.compile(
    r"[\\`*~\[\]|]"  # escapes, code, emphasis, strikethrough, links and images, table cells: anywhere
    r"|(?<![^\W_])_|_(?![^\W_])"  # emphasis by underscore: inert only between two letters or digits
    r"|<(?! |$)"  # raw HTML and autolinks (an e-mail autolink may start with a digit or "=")
    r"|&(?=[#A-Za-z0-9])"  # entity and character references
)
# What opens a block where a line (or a list item) starts: a block quote, a heading, a list item, a thematic break
# or setext underline. The text is put at such a place (a card's first line, an evidence item's label).
_LINE_START = re.compile(r"^(?:(>)|(#{1,6}|[-+])(?= |$)|(\d{1,9})([.)])(?= |$)|([-=]+)(?= *$))")
_SPACE = re.compile(r"[ \t\r\n\f\v]+")


def md_text(text: str) -> str:
    """`text` as markdown that renders to `text`: whitespace runs as one space, none at the ends (a renderer trims
    it; the markdown around the text supplies its own), NUL as U+FFFD (as CommonMark does)."""
    flat = _SPACE.sub(" ", text.replace("\x00", "\ufffd")).strip()
    escaped = _INLINE.sub(lambda m: "\\" + m.group(0), flat)
    return _LINE_START.sub(_lead, escaped, count=1)


def _lead(m: re.Match[str]) -> str:
    quote, opener, number, delimiter, rule = m.groups()
    if number is not None:
        return f"{number}\\{delimiter}"  # "1." / "1)": the escape goes before the delimiter
    return f"\\{quote or opener or rule}"
