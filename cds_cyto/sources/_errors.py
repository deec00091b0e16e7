"""Errors raised by `cds_cyto.sources`: one hierarchy, each with a stable `code` for machines.

    SourceError                 a source could not return a patient's complete data
    ├── FhirError               the FHIR server (or its token endpoint) answered with an error status;
    │                           carries the status and the OperationOutcome's diagnostics/text
    ├── FhirUnavailable         no usable answer: connection refused, timeouts, retries exhausted, deadline passed
    ├── FhirProtocolError       an answer that breaks the FHIR REST contract: not JSON, not a Bundle,
    │                           a paging loop, more pages than the cap, a next link to another server
    │   └── FhirLimitExceeded   an answer larger than a configured limit (bytes, entries, pages): reading stopped
    ├── PatientNotFound         the source has no such patient
    ├── SourceFileError         a bundle or NDJSON file that cannot be read or parsed
    └── PrefetchUnavailable     CDS Hooks prefetch lacks data that no fallback could supply (the service answers 412)

Messages composed here name resource types, statuses and counts, never a patient identifier or a token. The
`operation_outcome_text` of a `FhirError` is the server's own wording and may name a resource: it is kept for the
caller to inspect, never part of the message (`str`), so no upstream text reaches a response or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "FhirError",
    "FhirLimitExceeded",
    "FhirProtocolError",
    "FhirUnavailable",
    "PatientNotFound",
    "PrefetchUnavailable",
    "SourceError",
    "SourceFileError",
]


class SourceError(Exception):
    """Base class: a source could not return a patient's complete data."""

    code = "source-error"


class FhirError(SourceError):
    """The server answered with an error status."""

    code = "fhir-error"

    def __init__(self, status: int, message: str, operation_outcome_text: str | None = None) -> None:
        self.status = status
        self.message = message
        self.operation_outcome_text = operation_outcome_text
        super().__init__(status, message, operation_outcome_text)

    def __str__(self) -> str:
        return self.message  # our words only: the server's text could be anything a hostile server wants echoed

    def for_operator(self) -> str:
        """The message with the server's own text, for an operator's terminal (never a response or a log)."""
        return f"{self.message}: {self.operation_outcome_text}" if self.operation_outcome_text else self.message


class FhirUnavailable(SourceError):
    """No usable answer in time: the server is down, slow or keeps asking us to come back later."""

    code = "fhir-unavailable"

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status  # the last HTTP status when retries were exhausted, else None
        super().__init__(message)


class FhirProtocolError(SourceError):
    """An answer that breaks the FHIR REST contract."""

    code = "fhir-protocol"


class FhirLimitExceeded(FhirProtocolError):
    """An answer larger than a configured limit (`FetchLimits`): reading stopped there and the connection closed."""

    code = "fhir-limit"


class PatientNotFound(SourceError):
    """The source has no such patient."""

    code = "patient-not-found"


class SourceFileError(SourceError):
    """A bundle or NDJSON file that cannot be read or parsed."""

    code = "source-file"


class PrefetchUnavailable(SourceError):
    """Required CDS Hooks prefetch data is missing and could not be fetched.

    `reasons` maps each prefetch key that could not be had to why (absent, null, the OperationOutcome text, the
    fallback's error).
    """

    code = "prefetch-unavailable"

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        keys = ", ".join(sorted(self.reasons))
        super().__init__(f"prefetch data unavailable for key(s): {keys}")
