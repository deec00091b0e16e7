"""How raw FHIR JSON reaches the pure core.

A source hands back one patient's raw FHIR resources — no Bundle wrappers, every copy it got (versions, paging
overlap and duplicates are the core's to settle, by its one rule) — for `cds_cyto.core.extract` (lab results may come
as `LeanObservation`s, decoded straight from the bytes). It returns everything or raises a `SourceError`; never
part of it. Medications that medication uses reference but that did not come along are read from the server.

- `FhirPatientSource`: a FHIR server through `FhirClient` (one batch round trip when the server supports batch).
- `BundleFileSource`: FHIR Bundle / NDJSON files (the CLI and the embedded demo).
- `PrefetchSource`: a CDS Hooks request's prefetch, with a fallback source for what the client did not send.
"""

from ._auth import Auth, BearerToken, NoAuth, SmartBackendAuth
from ._client import FhirClient, FhirPool, Stats, before_deadline
from ._codes import default_observation_codes
from ._errors import (
    FhirError,
    FhirLimitExceeded,
    FhirProtocolError,
    FhirUnavailable,
    PatientNotFound,
    PrefetchUnavailable,
    SourceError,
    SourceFileError,
)
from ._fhir_json import Readable, SortedSearchset, as_transaction, is_fhir_id, outcome_text
from ._fhir_source import PATIENT_SEARCHES, FhirPatientSource
from ._files import BundleFileSource
from ._policy import FetchLimits, RetryPolicy, Timeouts
from ._prefetch import PrefetchResult, PrefetchSource, render_template
from ._protocol import PatientCatalog, PatientSource, QuerySource
from ._query import SearchParams, date_range, encode_query, token_list
from ._swept import swept_resources

__all__ = [
    "PATIENT_SEARCHES",
    "Auth",
    "BearerToken",
    "BundleFileSource",
    "FetchLimits",
    "FhirClient",
    "FhirError",
    "FhirLimitExceeded",
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
    "before_deadline",
    "date_range",
    "default_observation_codes",
    "encode_query",
    "is_fhir_id",
    "outcome_text",
    "render_template",
    "swept_resources",
    "token_list",
]
