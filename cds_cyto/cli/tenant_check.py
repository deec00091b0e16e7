"""The start-up warning about the sweep's tenant: it reads the sweep's settings and the CDS door's issuers, so it is
put together here, in the commands that run both (`serve`, `sweep`), not in either door."""

from __future__ import annotations

from cds_cyto.cds.auth import parse_trusted_issuers
from cds_cyto.settings import Settings
from cds_cyto.sweep.config import untenanted_warning

__all__ = ["sweep_tenant_warning"]


def sweep_tenant_warning(settings: Settings) -> str | None:
    """`untenanted_warning`, or one line when CDS_CYTO_SWEEP_TENANT names a tenant no trusted issuer has: the
    patients swept would be shown to no authenticated caller, as if it were unset (a warning for the same reasons;
    a tenant's issuer may be added later). None when auth is disabled or the issuers do not parse (said elsewhere)."""
    if (warning := untenanted_warning(settings)) is not None:
        return warning
    if settings.auth != "required" or not settings.sweep_tenant or not settings.trusted_issuers.strip():
        return None  # a sweep-only host may not know the issuers: nothing to check against
    try:
        tenants = {conf.tenant for conf in parse_trusted_issuers(settings.trusted_issuers).values()}
    except ValueError:
        return None
    if settings.sweep_tenant in tenants:
        return None
    return (
        f"CDS_CYTO_SWEEP_TENANT={settings.sweep_tenant!r} is the `tenant` of no issuer in CDS_CYTO_TRUSTED_ISSUERS:"
        " the patients this sweep records are shown to no authenticated caller; check the spelling, or add that"
        " issuer"
    )
