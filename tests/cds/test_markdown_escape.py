"""Any text from data, escaped by `md_text`, renders in a GFM renderer as written: no emphasis, link, HTML, code,
heading or list made of it, wherever a card puts it (a first line, an evidence item, mid-line, a table cell,
inside the card's own emphasis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_cyto.cds.markdown import md_text
from tests.support.gfm import FORMATTING, inline_runs

# ASCII punctuation and the characters markdown gives a meaning, weighted so that every construct is tried often.
_MARKUP = st.sampled_from([*"\\`*_~[]()<>&|#+-=.!:;/\"'{}@%$^?,0123456789 \t\n\xa0", "&amp;", "&#35;", "<a>", "1. "])
_DATA = st.lists(st.one_of(_MARKUP, st.text(max_size=4)), max_size=30).map("".join)


def _plain(text: str) -> str:
    """What the data reads as: whitespace runs as one space, none at the ends (renderers trim it); NUL as U+FFFD."""
    return re.sub(r"[ \t\r\n\f\v]+", " ", text.replace("\x00", "\ufffd")).strip()


# Where a card puts data: (markdown around it, how the text around it reads, the card's own formatting there).
_PLACES = [
    ("{0}", "{0}", {}),  # a card's first line (the recommendation text)
    ("- {0}: value", "{0}: value", {}),  # an evidence item's label
    ("- ANC: {0} (2026-11-20)", "ANC: {0} (2026-11-20)", {}),  # an evidence value, mid-line
    ("_{0}_", "{0}", {"em_open": 1}),  # inside the card's own emphasis (the CAR-HEMATOTOX caveat)
    ("**Site**: probability of {0}: **{0}**", "Site: probability of {0}: {0}", {"strong_open": 2}),  # bold
    ("| a |\n|---|\n| {0} |", "{0}", {}),  # a GFM table cell
]


@pytest.mark.parametrize(("template", "reads", "own"), _PLACES)
@settings(max_examples=400, deadline=None)
@given(data=_DATA)
def test_escaped_data_renders_as_written(template: str, reads: str, own: dict[str, int], data: str) -> None:
    if not _plain(data):
        return  # nothing to show: a card writes no empty value
    want = reads.format(_plain(data))
    runs = inline_runs(template.format(md_text(data)))
    text_runs = [(text, tokens) for text, tokens in runs if text]
    if template.startswith("|"):
        text_runs = text_runs[1:]  # the header cell
    assert len(text_runs) == 1, (data, runs)
    text, tokens = text_runs[0]
    types = [t.type for t in tokens]
    assert {kind: types.count(kind) for kind in FORMATTING if kind in types} == own, (data, types)
    assert text == want


def test_the_issue_example_reads_as_written() -> None:
    ((text, tokens),) = inline_runs(f"- {md_text('790.0 10*9/L = 790 10*9/L')}")
    assert text == "790.0 10*9/L = 790 10*9/L"
    assert not {t.type for t in tokens} & FORMATTING
