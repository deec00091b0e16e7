"""Which patients' data changed since a time: one search per resource type for the whole cohort, so a re-sweep
with nothing new asks the server a handful of questions instead of one batch per patient (issue 18 item 2)."""

from __future__ import annotations

import logging
from datetime import datetime

from cds_cyto.sources import PATIENT_SEARCHES, FhirClient, SourceError
from cds_cyto.sweep.cohort_query import patient_of

__all__ = ["CHANGE_TYPES", "changed_patients"]

log = logging.getLogger("cds_cyto.sweep")

# Every type a patient's fetch reads (FhirPatientSource.queries): the Patient itself, its Observations, the rest.
CHANGE_TYPES: tuple[str, ...] = ("Patient", "Observation", *(rtype for rtype, _ in PATIENT_SEARCHES))


async def changed_patients(client: FhirClient, since: datetime, page_size: int) -> set[str] | None:
    """The ids of patients with a resource of `CHANGE_TYPES` changed after `since` (aware), or None when the
    server could not say (then every patient is asked on its own, as before). A referenced Medication that changed
    names no patient: the periodic full fetch catches it."""
    if since.tzinfo is None:
        raise ValueError("since must carry a timezone")
    ids: set[str] = set()
    try:
        for rtype in CHANGE_TYPES:
            element = "id" if rtype == "Patient" else "subject"
            params = {"_lastUpdated": "gt" + since.isoformat(), "_elements": element, "_count": str(page_size)}
            for res in await client.search(rtype, params):
                pid = res.get("id") if rtype == "Patient" else patient_of(res.get("subject"))
                if isinstance(pid, str):
                    ids.add(pid)
    except SourceError as exc:
        log.info("changed patients unknown (%s): each patient is asked on its own", type(exc).__name__)
        return None
    return ids
