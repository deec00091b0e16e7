"""A GFM renderer for card markdown (markdown-it-py: CommonMark with GFM tables and strikethrough), and the text a
clinician reads from what it renders."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["FORMATTING", "inline_runs", "read_text", "render_html"]

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# Inline tokens that would change how data reads: emphasis, links, raw HTML, code, strikethrough, breaks.
FORMATTING = frozenset(
    {"em_open", "strong_open", "link_open", "image", "html_inline", "code_inline", "s_open", "hardbreak"}
)


def render_html(markdown: str) -> str:
    html: str = _MD.render(markdown)
    return html


def inline_runs(markdown: str) -> list[tuple[str, list[Token]]]:
    """Each inline block (a paragraph, a list item's text, a table cell, a heading) as (its text, its tokens)."""
    out = []
    for token in _MD.parse(markdown):
        if token.type == "inline":
            children = token.children or []
            text = "".join(c.content if c.type in ("text", "code_inline") else "\n" for c in children if _shown(c))
            out.append((text, children))
    return out


def _shown(t: Token) -> bool:
    return t.type in ("text", "code_inline", "softbreak", "hardbreak")


def read_text(markdown: str) -> str:
    """What a clinician reads: the text of every inline block, one a line."""
    return "\n".join(text for text, _ in inline_runs(markdown))
