"""Arguments and conversions shared by sub-commands."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import Any

from cds_cyto.cli import CliError
from cds_cyto.core.profile import Profile, ProfileError, default_profile, load_profile

__all__ = ["DISEASE_HELP", "add_disease_argument", "add_site_argument", "load_site_profile", "parse_day"]

# One vocabulary for every command's --disease (risk.toml [hematotox.disease_aliases]), case-insensitive.
DISEASE_HELP = "ALL (also B-ALL), NHL (also B-NHL, LBCL, DLBCL, PMBCL, FL, MCL) or MM (also myeloma), in any case"


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


def add_disease_argument(p: Any, allowed: tuple[str, ...], what: str, default: str | None = None, *extra: str) -> None:
    """`--disease`, parsed to the normalised disease ("ALL", "NHL", "MM"; lower-case `extra` words kept as they are).
    `allowed` are the diseases this command can use; `what` says what the value does for it."""

    def parse(text: str) -> str:
        from cds_cyto.core.profile import default_profile
        from cds_cyto.core.profile.risk_tables import RiskDataError, normalise_disease

        if text.strip().lower() in extra:
            return text.strip().lower()
        try:
            disease = str(normalise_disease(text, default_profile().risk))
        except RiskDataError:
            raise argparse.ArgumentTypeError(f"unknown disease {text!r}: {DISEASE_HELP}") from None
        if disease not in allowed:
            raise argparse.ArgumentTypeError(f"{text!r} ({disease}): this command takes {', '.join(allowed)}")
        return disease

    choices = ", ".join([*allowed, *extra])
    p.add_argument(
        "--disease", type=parse, default=default, metavar="DISEASE", help=f"{what} [{choices}]: {DISEASE_HELP}"
    )
