"""The timeline as inline SVG, drawn on the server: one chart per lineage on a shared day axis, then a lane for the
therapy events and one for CRS.

Every mark is readable without colour: thresholds carry their number in text, a censored value is a triangle
pointing the way of its bound, events carry a letter, CRS bands their grade in words. Every result and event is a
focusable element whose accessible name (and `<title>`, shown on hover) says what it is: value as written, unit, time,
source. The script (static/screen.js) only mirrors that name into a details line and moves the focus with the arrows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

from cds_cyto.core.profile.unit_text import unit_text
from cds_cyto.screen.timeline import EVENT_LANES, Lineage, Point, Timeline

__all__ = ["timeline_svg"]

WIDTH = 1000
LEFT = 140  # room for the lane names and the axis labels (at the larger type of a tablet too)
RIGHT = 16
PANEL = 160  # three panels and the lanes fit 1280×800 with little scrolling
# CRS shading: hatched, so it reads as a band in grey print too
HATCH = (
    '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect class="hatch-bg" width="8" height="8"/><line class="hatch-line" x1="0" y1="0" x2="0" y2="8"/>'
    "</pattern></defs>"
)
LANE = 26


def _day_text(day: int) -> str:
    return f"day {day:+d}" if day else "day 0"


class _X:
    def __init__(self, first: int, last: int) -> None:
        self.first = first - 1
        self.last = last + 2  # room after the as-of day's end, where its line and label go

    def __call__(self, day: float) -> float:
        return LEFT + (day - self.first) / (self.last - self.first) * (WIDTH - LEFT - RIGHT)

    def ticks(self) -> list[int]:
        span = self.last - self.first
        step = 7 if span <= 70 else 14 if span <= 140 else 28
        start = math.ceil(self.first / step) * step
        return list(range(start, self.last + 1, step))


def _y_scale(lin: Lineage, top: float, bottom: float) -> tuple[Callable[[float], float], list[float]]:
    values = [p.value for p in lin.points] + [t.value for t in lin.thresholds]
    if lin.log_scale:
        positive = [v for v in values if v > 0] or [1.0]
        lo = 10 ** math.floor(math.log10(min(positive)))
        hi = 10 ** math.ceil(math.log10(max(positive)))
        if hi <= lo:
            hi = lo * 10
        ticks = [lo * 10**i for i in range(round(math.log10(hi / lo)) + 1)]

        def y(v: float) -> float:
            v = max(v, lo)
            return bottom - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (bottom - top)

        return y, ticks
    hi_lin = max(values or [1.0]) * 1.1
    step: float = 10.0 ** math.floor(math.log10(hi_lin)) if hi_lin > 0 else 1.0
    if hi_lin / step < 3:
        step /= 2
    lin_ticks = [i * step for i in range(int(hi_lin / step) + 1)]

    def y_lin(v: float) -> float:
        return bottom - v / hi_lin * (bottom - top)

    return y_lin, lin_ticks


def _describe(lin: Lineage, p: Point) -> str:
    bits = [f"{lin.label} {p.shown}", _day_text(p.day), p.time]
    if p.censored:
        bits.append(f"censored: the value is {p.censored} {p.value:g} {unit_text(p.unit)}")
    elif p.shown != f"{p.value:g} {p.unit}":
        bits.append(f"graded as {p.value:g} {unit_text(p.unit)}")
    if p.derived:
        bits.append("derived from WBC × neutrophils %")
    bits.append(f"source {p.source or 'unknown'}")
    return ", ".join(bits)


def _mark(p: Point, x: float, y: float) -> str:
    if p.censored:
        # a triangle pointing the way the true value lies: down for "<", up for ">"
        s = 1 if p.censored.startswith("<") else -1
        d = f"M{x - 6:.1f},{y - 5 * s:.1f} L{x + 6:.1f},{y - 5 * s:.1f} L{x:.1f},{y + 6 * s:.1f} Z"
        return f'<path class="mark censored" d="{d}"/>'
    if p.derived:
        return f'<rect class="mark derived" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"/>'
    return f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="4.5"/>'


def _focusable(kind: str, text: str, inner: str) -> str:
    label = escape(text)
    return f'<g class="{kind}" tabindex="0" role="img" aria-label="{label}"><title>{label}</title>{inner}</g>'


def _x_axis(x: _X, top: float, bottom: float, labels: bool) -> list[str]:
    out = []
    for day in x.ticks():
        xd = x(day)
        out.append(f'<line class="grid" x1="{xd:.1f}" y1="{top}" x2="{xd:.1f}" y2="{bottom}"/>')
        if labels:
            text = f"{day:+d}" if day else "0"
            out.append(f'<text class="tick" x="{xd:.1f}" y="{bottom + 16}" text-anchor="middle">{text}</text>')
    return out


def _day_lines(t: Timeline, x: _X, top: float, bottom: float) -> list[str]:
    out = [f'<line class="day0" x1="{x(0):.1f}" y1="{top}" x2="{x(0):.1f}" y2="{bottom}"/>']
    if t.day is not None:
        end = x(t.day + 1)  # the end of the as-of day: its results are drawn at their time of day
        out.append(f'<line class="asof" x1="{end:.1f}" y1="{top}" x2="{end:.1f}" y2="{bottom}"/>')
    return out


def _crs_shading(t: Timeline, x: _X, top: float, bottom: float) -> list[str]:
    out = []
    for b in t.crs_bands:
        end = b.end_day if b.end_day is not None else (t.day if t.day is not None else t.last_day)
        x0, x1 = x(b.start_day), x(end + 1)
        out.append(
            f'<rect class="crs" fill="url(#hatch)" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 2):.1f}"'
            f' height="{bottom - top}"/>'
        )
    return out


def _panel(t: Timeline, lin: Lineage, x: _X, top: float) -> list[str]:
    plot_top, bottom = top + 22, top + PANEL - 24
    y, ticks = _y_scale(lin, plot_top, bottom)
    scale = "log scale" if lin.log_scale else "linear scale"
    out = [
        f'<text class="panel-title" x="{LEFT}" y="{top + 14}">'
        f"{escape(lin.label)} ({escape(unit_text(lin.unit))}, {scale})</text>",
        f'<rect class="plot" x="{LEFT}" y="{plot_top}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - plot_top}"/>',
    ]
    out += _crs_shading(t, x, plot_top, bottom)
    for v in ticks:
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    out += _x_axis(x, plot_top, bottom, labels=True)
    out += _day_lines(t, x, plot_top, bottom)
    for th in lin.thresholds:
        yt = y(th.value)
        label = escape(th.label)
        out.append(
            f'<g class="threshold" role="img" aria-label="threshold {label}"><title>threshold {label}</title>'
            f'<line x1="{LEFT}" y1="{yt:.1f}" x2="{WIDTH - RIGHT}" y2="{yt:.1f}"/>'
            f'<text x="{LEFT + 4}" y="{yt - 4:.1f}">{label}</text></g>'
        )
    coords = [(x(p.at), y(p.value)) for p in lin.points]
    if len(coords) > 1:
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        out.append(f'<polyline class="series" points="{path}"/>')
    for p, (cx, cy) in zip(lin.points, coords, strict=True):
        out.append(_focusable("pt", _describe(lin, p), _mark(p, cx, cy)))
    if not lin.points:
        out.append(f'<text class="empty" x="{(LEFT + WIDTH) / 2}" y="{(plot_top + bottom) / 2}">no results</text>')
    return out


def _event_lanes(t: Timeline, x: _X, top: float) -> tuple[list[str], float]:
    out = [f'<text class="panel-title" x="{LEFT}" y="{top + 14}">Therapy events</text>']
    y = top + 22
    for kind, label, letter in EVENT_LANES:
        marks = [e for e in t.events if e.kind == kind]
        if not marks:
            continue
        out.append(f'<text class="lane" x="{LEFT - 6}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<line class="lane-line" x1="{LEFT}" y1="{y + 12}" x2="{WIDTH - RIGHT}" y2="{y + 12}"/>')
        for e in marks:
            ex = x(e.day + 0.5)  # mid-day: an event is charted by its date
            span = ""
            if e.end_day is not None and e.end_day > e.day:
                span = f'<rect class="span" x="{ex:.1f}" y="{y + 9}" width="{x(e.end_day + 0.5) - ex:.1f}" height="6"/>'
            text = f"{label} {_day_text(e.day)}, {e.when}, source {e.source or 'unknown'}"
            inner = (
                f'{span}<rect class="event" x="{ex - 8:.1f}" y="{y + 3}" width="16" height="18" rx="3"/>'
                f'<text class="letter" x="{ex:.1f}" y="{y + 17}" text-anchor="middle">{letter}</text>'
            )
            out.append(_focusable("ev", text, inner))
        y += LANE
    if y == top + 22:
        out.append(f'<text class="empty" x="{LEFT}" y="{y + 16}">no transfusion, G-CSF, tocilizumab or steroid</text>')
        y += LANE
    return out, y


def _crs_lane(t: Timeline, x: _X, top: float) -> tuple[list[str], float]:
    out = [f'<text class="panel-title" x="{LEFT}" y="{top + 14}">CRS</text>']
    y = top + 22
    out.append(f'<text class="lane" x="{LEFT - 6}" y="{y + 17}" text-anchor="end">episodes</text>')
    for b in t.crs_bands:
        end = b.end_day if b.end_day is not None else (t.day if t.day is not None else t.last_day)
        x0, x1 = x(b.start_day), x(end + 1)
        grade = "grade unspecified" if b.grade is None else f"grade {b.grade}"
        until = "ongoing" if b.end_day is None else _day_text(b.end_day)
        text = f"CRS {grade}, {_day_text(b.start_day)} to {until}, source {b.source or 'unknown'}"
        short = (f"G{b.grade}" if b.grade is not None else "G?") + (" ongoing" if b.end_day is None else "")
        inner = (
            f'<rect class="crs-band" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 4):.1f}" height="18"/>'
            f'<text class="band-text" x="{x0 + 4:.1f}" y="{y + 17}">CRS {short}</text>'
        )
        out.append(_focusable("ev", text, inner))
    if not t.crs_bands:
        out.append(f'<text class="empty" x="{LEFT + 4}" y="{y + 17}">no CRS Condition</text>')
    y += LANE
    if t.crs_days:
        out.append(f'<text class="lane" x="{LEFT - 6}" y="{y + 17}" text-anchor="end">daily grade</text>')
        for g in t.crs_days:
            gx = x(g.day + 0.5)
            text = f"CRS daily grade {g.grade}, {_day_text(g.day)}, source {g.source or 'unknown'}"
            inner = (
                f'<rect class="grade g{min(g.grade, 4)}" x="{gx - 8:.1f}" y="{y + 3}" width="16" height="18"/>'
                f'<text class="letter" x="{gx:.1f}" y="{y + 17}" text-anchor="middle">{g.grade}</text>'
            )
            out.append(_focusable("ev", text, inner))
        y += LANE
    return out, y


def timeline_svg(t: Timeline) -> str:
    """The whole chart; empty when the patient has no day 0 (nothing to put on a day axis)."""
    if t.day0 is None:
        return ""
    x = _X(t.first_day, t.last_day)
    body: list[str] = []
    top = 0.0
    for lin in t.lineages:
        body.append(f'<g class="panel" data-lineage="{lin.lineage}">')
        body += _panel(t, lin, x, top)
        body.append("</g>")
        top += PANEL
    lanes, top = _event_lanes(t, x, top)
    body += lanes
    crs, top = _crs_lane(t, x, top + 8)
    body += crs
    height = top + 34
    axis = [
        f'<text class="tick" x="{x(0):.1f}" y="{height - 18}" text-anchor="middle">day 0 ({t.day0.isoformat()})</text>',
    ]
    if t.day is not None and t.day != 0:
        where = f'x="{x(t.day + 1):.1f}" y="{height - 4}"'
        axis.append(f'<text class="tick" {where} text-anchor="end">as of {_day_text(t.day)}</text>')
    axis.append(f'<text class="tick" x="{LEFT}" y="{height - 4}">days from infusion</text>')
    return (
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height:.0f}" role="group" '
        f'aria-label="Blood counts by day from infusion">{HATCH}' + "".join(body + axis) + "</svg>"
    )
