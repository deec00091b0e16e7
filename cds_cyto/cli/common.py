"""Arguments and conversions shared by sub-commands."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import Any

from cds_cyto.cli import CliError
from cds_cyto.profile import Profile, ProfileError, default_profile, load_profile

__all__ = ["add_site_argument", "load_site_profile", "parse_day"]


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def add_site_argument(p: Any) -> None:
    p.add_argument(
        "--site",
        type=Path,
        default=os.environ.get("CDS_CYTO_SITE_FILE") or None,
        help="site file (TOML) with thresholds and code lists; default $CDS_CYTO_SITE_FILE",
    )
    p.add_argument(
        "--site-model",
        type=Path,
        default=os.environ.get("CDS_CYTO_SITE_MODEL") or None,
        help="site model artifact (cds-cyto analyze writes site_model.json); default $CDS_CYTO_SITE_MODEL",
    )


def load_site_profile(site: Path | None, site_model: Path | None = None) -> Profile:
    if site is None and site_model is None:
        return default_profile()
    try:
        return load_profile(None if site is None else Path(site), site_model=site_model)
    except ProfileError as exc:
        raise CliError(str(exc)) from exc
