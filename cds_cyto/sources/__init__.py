"""How raw FHIR JSON reaches the pure core.

A source hands back one patient's raw FHIR resources as plain JSON dicts — no Bundle wrappers, de-duplicated by
resourceType/id — for `cds_cyto.extract` (a prefetch's lab results may come as `LeanObservation`s, decoded
straight from the hook's bytes). It returns everything or raises a `SourceError`; never part of it.

- `FhirPatientSource`: a FHIR server through `FhirClient` (one batch round trip when the server supports batch).
- `BundleFileSource`: FHIR Bundle / NDJSON files (the CLI and the embedded demo).
- `PrefetchSource`: a CDS Hooks request's prefetch, with a fallback source for what the client did not send.
"""

from ._auth import Auth, BearerToken, NoAuth, SmartBackendAuth
from ._client import FhirClient, FhirPool, Stats
from ._codes import default_observation_codes
from ._errors import (
    FhirError,
    FhirProtocolError,
    FhirUnavailable,
    PatientNotFound,
    PrefetchUnavailable,
    SourceError,
    SourceFileError,
)
from ._fhir_json import Readable, SortedSearchset, as_transaction, dedupe, is_fhir_id, outcome_text
from ._fhir_source import PATIENT_SEARCHES, FhirPatientSource
from ._files import BundleFileSource
from ._policy import RetryPolicy, Timeouts
from ._prefetch import PrefetchResult, PrefetchSource, render_template
from ._protocol import PatientCatalog, PatientSource, QuerySource
from ._query import SearchParams, date_range, encode_query, token_list

__all__ = [
    "PATIENT_SEARCHES",
    "Auth",
    "BearerToken",
    "BundleFileSource",
    "FhirClient",
    "FhirError",
    "FhirPatientSource",
    "FhirPool",
    "FhirProtocolError",
    "FhirUnavailable",
    "NoAuth",
    "PatientCatalog",
    "PatientNotFound",
    "PatientSource",
    "PrefetchResult",
    "PrefetchSource",
    "PrefetchUnavailable",
    "QuerySource",
    "Readable",
    "RetryPolicy",
    "SearchParams",
    "SmartBackendAuth",
    "SortedSearchset",
    "SourceError",
    "SourceFileError",
    "Stats",
    "Timeouts",
    "as_transaction",
    "date_range",
    "dedupe",
    "default_observation_codes",
    "encode_query",
    "is_fhir_id",
    "outcome_text",
    "render_template",
    "token_list",
]
