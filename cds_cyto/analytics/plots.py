"""Figures (matplotlib, Agg backend): each a `Figure` with a caption, as SVG and as a 300-dpi PNG.

The outputs carry no creation date (matplotlib's metadata is cleared), so a re-run writes the same bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from cds_cyto.analytics.survival import CumulativeIncidence

__all__ = [
    "DPI",
    "Figure",
    "boxplot_figure",
    "calibration_figure",
    "count_curves_figure",
    "cumulative_incidence_figure",
    "decision_curve_figure",
    "forest_figure",
    "grouped_bars_figure",
    "heatmap_figure",
    "patient_timeline_png",
    "roc_figure",
    "support_by_day_figure",
]

DPI = 300
_LABELS = {"neutrophils": "ANC (×10⁹/L)", "hemoglobin": "Hb (g/L)", "platelets": "PLT (×10⁹/L)"}
plt.rcParams["svg.hashsalt"] = "cds-cyto"  # stable element ids across runs
plt.rcParams["font.size"] = 9


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    caption: str
    png: bytes
    svg: bytes


def _render(fig: Any, name: str, caption: str) -> Figure:
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return Figure(name, caption, png.getvalue(), svg.getvalue())


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def cumulative_incidence_figure(curves: list[CumulativeIncidence], caption: str) -> Figure:
    """Step curves with their 95% bands and the numbers at risk under the axis (every 5 days)."""
    fig, (ax, risk) = plt.subplots(2, 1, figsize=(6.5, 5.2), height_ratios=[4, 1.2], sharex=True)
    days = list(range(0, 31, 5))
    for i, c in enumerate(curves):
        d = c.curve[c.curve["day"] <= 30]
        followed = max((day for day, n in c.at_risk.items() if n > 0), default=0)
        if len(d) and followed > float(d["day"].iloc[-1]):  # the curve stays flat while patients are followed
            d = pd.concat([d, d.iloc[[-1]].assign(day=float(followed))], ignore_index=True)
        (line,) = ax.step(
            d["day"], 100 * d["cif"], where="post", label=f"{c.event} ({100 * c.at_day_30:.0f}% by day 30)"
        )
        ax.fill_between(d["day"], 100 * d["lower"], 100 * d["upper"], step="post", alpha=0.12, color=line.get_color())
        for day in days:
            risk.text(day, i, str(c.at_risk.get(day, "")), ha="center", va="center", fontsize=7, color=line.get_color())
    ax.set_ylabel("Cumulative incidence (%)")
    ax.set_xlim(-0.5, 30.5)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="lower right")
    risk.set_yticks(range(len(curves)), [c.event for c in curves], fontsize=7)
    risk.set_ylim(len(curves) - 0.5, -0.5)
    risk.set_xticks(days)
    risk.set_xlabel("Days after infusion")
    risk.set_title("Number at risk", fontsize=8, loc="left")
    for side in ("top", "right", "left"):
        risk.spines[side].set_visible(False)
    risk.tick_params(left=False)
    return _render(fig, "cumulative_incidence", caption)


def count_curves_figure(curves: dict[str, pd.DataFrame], thresholds: dict[str, float], caption: str) -> Figure:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (lineage, table) in zip(axes, curves.items(), strict=False):
        for group in ("no CRS", "mild CRS", "severe CRS"):
            g = table[(table["group"] == group) & (table["day"] >= -7)]
            if g["n"].sum() == 0:
                continue
            ax.errorbar(g["day"], g["mean"], yerr=g["sem"], label=group, capsize=2, marker=".", lw=1)
        ax.axhline(thresholds[lineage], color="red", ls="--", lw=0.8)
        ax.set_xlabel("Days after infusion")
        ax.set_ylabel(f"{_LABELS[lineage]}, mean ± SEM")
    axes[0].legend(fontsize=8)
    return _render(fig, "counts_by_crs", caption)


def heatmap_figure(table: pd.DataFrame, caption: str) -> Figure:
    """Spearman rho; stars from the BH q-values (the family is the whole table)."""
    rho = table.pivot(index="outcome", columns="marker", values="rho")
    q = table.pivot(index="outcome", columns="marker", values="q_bh")
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * max(1, rho.shape[1]), 1.0 + 0.6 * max(1, rho.shape[0])))
    im = ax.imshow(rho.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(rho.shape[1]), list(rho.columns), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(rho.shape[0]), list(rho.index), fontsize=8)
    for i in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            r, p = float(rho.to_numpy(dtype=float)[i, j]), float(q.to_numpy(dtype=float)[i, j])
            if np.isnan(r):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=6, color="grey")
                continue
            stars = "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"
            ax.text(j, i, f"{r:.2f}\n{stars}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="Spearman ρ")
    return _render(fig, "spearman_heatmap", caption)


def forest_figure(name: str, table: pd.DataFrame, ratio: str, caption: str, labels: dict[str, str]) -> Figure:
    """Ratio and 95% CI per covariate on a log axis; a covariate not estimated is shown as such, not dropped."""
    t = table.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.45 * max(1, len(t))))
    for i, r in t.iterrows():
        y = len(t) - 1 - int(str(i))
        est, lo, hi = float(r[ratio]), float(r["lower"]), float(r["upper"])
        label = labels.get(str(r["covariate"]), str(r["covariate"]))
        ax.text(-0.02, y, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8)
        if not all(math.isfinite(v) and v > 0 for v in (est, lo, hi)):
            ax.text(1, y, "not estimated", ha="center", va="center", fontsize=7, color="grey")
            continue
        ax.plot([lo, hi], [y, y], color="black", lw=1)
        ax.plot([est], [y], "s", color="black", ms=5)
        ax.text(1.02, y, f"{est:.2f} ({lo:.2f}–{hi:.2f})", transform=ax.get_yaxis_transform(), va="center", fontsize=7)
    ax.axvline(1, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    ax.set_yticks([])
    ax.set_ylim(-0.7, len(t) - 0.3)
    ax.set_xlabel(f"{'Hazard' if ratio == 'HR' else 'Odds'} ratio (95% CI, log scale)")
    return _render(fig, name, caption)


def roc_figure(name: str, curves: list[tuple[str, pd.DataFrame, float, float, float]], caption: str) -> Figure:
    """ROC curves: (label, fpr/tpr table, AUC, lower, upper)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, c, auc, lo, hi in curves:
        ax.plot(c["fpr"], c["tpr"], lw=1.2, label=f"{label}: AUC {auc:.2f} ({lo:.2f}–{hi:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8)
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    return _render(fig, name, caption)


def calibration_figure(
    name: str, table: pd.DataFrame, caption: str, xlabel: str = "Predicted risk (out-of-fold)"
) -> Figure:
    """Observed against predicted risk per bin, with Wilson 95% intervals of the observed share."""
    fig, ax = plt.subplots(figsize=(5, 5))
    n = table["n"].to_numpy(dtype=float)
    obs = table["observed"].to_numpy(dtype=float)
    z = 1.96
    centre = (obs + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(obs * (1 - obs) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    pred = table["mean_predicted"].to_numpy(dtype=float)
    ax.errorbar(pred, obs, yerr=[obs - (centre - half), (centre + half) - obs], fmt="o", capsize=3, color="black")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Observed share (95% CI)")
    ax.legend(fontsize=7)
    return _render(fig, name, caption)


def decision_curve_figure(name: str, table: pd.DataFrame, caption: str) -> Figure:
    """Net benefit by threshold probability: the model, act on all, act on none (y limited to the useful range)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    t = table["threshold"].to_numpy(dtype=float)
    ax.plot(t, table["net_benefit_model"], color="black", lw=1.4, label="site model")
    ax.plot(t, table["net_benefit_all"], color="grey", lw=1, label="act on every patient")
    ax.plot(t, table["net_benefit_none"], color="grey", lw=1, ls="--", label="act on none")
    top = max(float(table["net_benefit_all"].max()), float(table["net_benefit_model"].max()), 0.01)
    ax.set_ylim(-0.1 * top, 1.1 * top)
    ax.set_xlim(0, float(t.max()))
    ax.set_xlabel("Threshold probability")
    ax.set_ylabel("Net benefit")
    ax.legend(fontsize=7)
    return _render(fig, name, caption)


def grouped_bars_figure(
    name: str, groups: list[str], series: dict[str, list[float]], ylabel: str, caption: str
) -> Figure:
    """Bars per group (x) and series (colour), e.g. T1/T2/T3 per lineage, or CRS groups per cytopenia."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        x = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        ax.bar(x, values, width, label=label)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return _render(fig, name, caption)


def boxplot_figure(name: str, panels: dict[str, dict[str, list[float]]], ylabel: str, caption: str) -> Figure:
    """One panel per lineage, one box per group (seed 000 Figure 4: durations by CRS group)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), squeeze=False)
    for ax, (title, groups) in zip(axes[0], panels.items(), strict=True):
        labels = list(groups)
        data = [groups[g] if groups[g] else [math.nan] for g in labels]
        ax.boxplot(data, tick_labels=[f"{g}\n(n={len(groups[g])})" for g in labels])
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    return _render(fig, name, caption)


def support_by_day_figure(table: pd.DataFrame, caption: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for support, g in table.groupby("support", sort=False):
        ax.plot(g["day"], g["percent"], marker=".", lw=1, label=str(support))
    ax.set_xlabel("Days after infusion")
    ax.set_ylabel("Patients given it that day (%)")
    ax.legend(fontsize=7)
    return _render(fig, "support_by_day", caption)


def patient_timeline_png(
    patient_id: str,
    day0: date,
    series: dict[str, list[tuple[int, float]]],
    thresholds: dict[str, float],
    crs_span: tuple[int, int] | None,
    events: dict[str, list[int]],
) -> bytes:
    """ANC, Hb and PLT against their thresholds on a shared day axis; CRS shaded; transfusions and G-CSF marked."""
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    marks = {
        "neutrophils": ("gcsf", "G-CSF"),
        "hemoglobin": ("rbc_transfusion", "RBC"),
        "platelets": ("platelet_transfusion", "PLT tx"),
    }
    for ax, lineage in zip(axes, ("neutrophils", "hemoglobin", "platelets"), strict=True):
        pts = series.get(lineage, [])
        if pts:
            ax.plot([d for d, _ in pts], [v for _, v in pts], marker="o", ms=3, lw=1)
        ax.axhline(thresholds[lineage], color="red", ls="--", lw=0.8, label=f"severe < {thresholds[lineage]:g}")
        if crs_span is not None:
            ax.axvspan(crs_span[0], crs_span[1], color="orange", alpha=0.2, label="CRS")
        kind, label = marks[lineage]
        for i, d in enumerate(events.get(kind, [])):
            ax.axvline(d, color="green", lw=0.8, alpha=0.6, label=label if i == 0 else None)
        ax.set_ylabel(_LABELS[lineage])
        ax.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel(f"day after infusion (day 0 = {day0.isoformat()})")
    axes[0].set_title(f"Patient {patient_id}")
    return _png(fig)
