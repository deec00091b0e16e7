"""Figures (matplotlib, Agg backend), returned as PNG bytes so the report can embed them as base64."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cds_cyto.analytics.survival import CumulativeIncidence

__all__ = ["count_curves_png", "cumulative_incidence_png", "heatmap_png", "patient_timeline_png"]

_LABELS = {"neutrophils": "ANC (x10^9/L)", "hemoglobin": "Hb (g/L)", "platelets": "PLT (x10^9/L)"}


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def cumulative_incidence_png(curves: list[CumulativeIncidence]) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in curves:
        d = c.curve[c.curve["day"] <= 30]
        ax.step(d["day"], 100 * d["cif"], where="post", label=f"{c.event} ({100 * c.at_day_30:.0f}% by day 30)")
        ax.fill_between(d["day"], 100 * d["lower"], 100 * d["upper"], step="post", alpha=0.12)
    ax.set_xlabel("days after infusion")
    ax.set_ylabel("cumulative incidence (%)")
    ax.set_xlim(0, 30)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("Cumulative incidence of new-onset SN/SA/ST and CRS")
    return _png(fig)


def count_curves_png(curves: dict[str, pd.DataFrame], thresholds: dict[str, float]) -> bytes:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (lineage, table) in zip(axes, curves.items(), strict=False):
        for group in ("no CRS", "mild CRS", "severe CRS"):
            g = table[(table["group"] == group) & (table["day"] >= -7)]
            if g["n"].sum() == 0:
                continue
            ax.errorbar(g["day"], g["mean"], yerr=g["sem"], label=group, capsize=2, marker=".", lw=1)
        ax.axhline(thresholds[lineage], color="red", ls="--", lw=0.8)
        ax.set_xlabel("day")
        ax.set_ylabel(f"{_LABELS[lineage]}, mean +- SEM")
    axes[0].legend(fontsize=8)
    fig.suptitle("Blood counts by CRS group (seed 000 Figure 2C-E)")
    return _png(fig)


def heatmap_png(table: pd.DataFrame) -> bytes:
    rho = table.pivot(index="outcome", columns="marker", values="rho")
    p = table.pivot(index="outcome", columns="marker", values="p")
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * max(1, rho.shape[1]), 1.0 + 0.6 * max(1, rho.shape[0])))
    im = ax.imshow(rho.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(rho.shape[1]), list(rho.columns), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(rho.shape[0]), list(rho.index), fontsize=8)
    for i in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            r, q = float(rho.to_numpy(dtype=float)[i, j]), float(p.to_numpy(dtype=float)[i, j])
            if np.isnan(r):
                continue
            stars = "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else "ns"
            ax.text(j, i, f"{r:.2f}\n{stars}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="Spearman rho")
    ax.set_title("Nadirs and durations vs peak markers")
    return _png(fig)


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
