"""`cds-cyto plot PATIENT`: one patient's timeline (ANC, Hb, PLT vs thresholds; CRS shaded; transfusions, G-CSF)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cds_cyto.cli import CliError

__all__ = ["register", "timeline_png"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plot",
        help="a patient's blood-count timeline as a PNG",
        description="Draw one patient's ANC, Hb and platelets over days from infusion against the thresholds, with "
        "CRS shaded and transfusions and G-CSF marked, as a PNG.",
    )
    p.add_argument("patient", help="patient id (the Bundle file name without .json, or the Patient id)")
    p.add_argument("--bundles", type=Path, required=True, metavar="DIR", help="the folder of patient Bundle files")
    p.add_argument(
        "--out", type=Path, required=True, metavar="FILE.png", help="the PNG to write (its folder must exist)"
    )
    p.set_defaults(func=run)


def timeline_png(resources: Any, patient_id: str) -> bytes:
    from cds_cyto.analytics.plots import patient_timeline_png
    from cds_cyto.core.extract import extract_record, split_by_patient
    from cds_cyto.core.profile import default_profile
    from cds_cyto.core.risk import crs_features

    profile = default_profile()
    patients = [p for p in split_by_patient(resources) if p is not None]
    if patient_id not in patients and len(patients) > 1:
        raise CliError(f"{patient_id}: the file holds {len(patients)} patients and none of them has this id")
    whose = patient_id if patient_id in patients else (patients[0] if patients else None)
    record = extract_record(resources, profile, patient_id=whose)
    day0 = record.infusion_date
    if day0 is None:
        raise CliError(f"{patient_id}: no CAR-T infusion found, no day axis")
    series = {
        lin: [((r.local_date - day0).days, r.value) for r in record.series(lin)]
        for lin in ("neutrophils", "hemoglobin", "platelets")
    }
    last = max((r.local_date for s in record.labs.values() for r in s), default=day0)
    crs = crs_features(record, last, profile.risk)
    span = None
    if crs.onset_day is not None:
        span = (crs.onset_day, crs.recovery_day if crs.recovery_day is not None else (last - day0).days)
    events: dict[str, list[int]] = {}
    for e in record.events:
        events.setdefault(e.kind, []).append((e.start - day0).days)
    severe = profile.definitions["seed000"].severe
    return patient_timeline_png(record.patient_id or patient_id, day0, series, dict(severe), span, events)


def run(args: argparse.Namespace) -> int:
    path = args.bundles / f"{args.patient}.json"
    if not path.is_file():
        raise CliError(f"{path}: no such Bundle")
    from cds_cyto.cli.evaluate import read_file

    if not args.out.parent.is_dir():  # checked first: a plot that cannot be written is not worth drawing
        raise CliError(f"{args.out}: its folder {args.out.parent} does not exist")
    data = read_file(path)
    png = timeline_png(data, args.patient)
    try:
        args.out.write_bytes(png)
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write ({exc.strerror})") from None
    print(args.out)
    return 0
