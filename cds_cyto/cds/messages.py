"""The CDS Hooks 2.0 request envelope and feedback, validated with pydantic.

The prefetch is deliberately not a model: it can hold thousands of resources, and validating it field by field
would cost more than evaluating the patient. It is checked for shape only, then read by the extractor, which never
raises on bad content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_cyto.sources import is_fhir_id

__all__ = ["FeedbackItem", "FeedbackRequest", "FhirAuthorization", "HookRequest", "PatientViewContext"]


MAX_OVERRIDE_REASON_BYTES = 8 * 1024  # a Coding and a 4,000-character comment fit
_UUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)


class FhirAuthorization(_Model):
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None

    def __repr__(self) -> str:  # never print the token
        return "FhirAuthorization(access_token=***)"

    __str__ = __repr__


class HookRequest(_Model):
    hook: str = Field(min_length=1)
    # CDS Hooks 2.0, HTTP request: hookInstance is required, "a universally unique identifier (UUID) for this
    # particular hook call" (its logical model: 1..1 uuid, read with "urn:uuid:" prefixed), so anything that is no
    # UUID — an empty string, a number, a megabyte of text — is refused with a 400 OperationOutcome.
    hookInstance: str = Field(pattern=_UUID)  # noqa: N815 — the spec's field name
    fhirServer: AnyHttpUrl | None = None  # noqa: N815
    fhirAuthorization: FhirAuthorization | None = None  # noqa: N815
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization requires fhirServer")
        return self


class PatientViewContext(_Model):
    userId: str = Field(min_length=1)  # noqa: N815
    patientId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]{1,64}$")  # noqa: N815
    encounterId: str | None = None  # noqa: N815

    @field_validator("patientId")
    @classmethod
    def _a_path_segment(cls, value: str) -> str:
        # The FHIR id rule allows "." and "..", but as "Patient/.." they are no patient: the sources' one id rule.
        if not is_fhir_id(value):
            raise ValueError("patientId must not be only dots")
        return value


class AcceptedSuggestion(_Model):
    id: str = Field(min_length=1)


class OverrideReason(_Model):
    reason: dict[str, Any] | None = None  # a Coding
    userComment: str | None = Field(default=None, max_length=4000)  # noqa: N815

    @model_validator(mode="after")
    def _bounded(self) -> OverrideReason:
        # Extra members are allowed (the spec's Coding may carry more), but what is stored is bounded: three
        # requests once stored 90 MB of "reason".
        if len(orjson.dumps(self.model_dump(mode="json"))) > MAX_OVERRIDE_REASON_BYTES:
            raise ValueError(f"overrideReason is larger than {MAX_OVERRIDE_REASON_BYTES} bytes")
        return self


class FeedbackItem(_Model):
    card: str = Field(min_length=1, max_length=64)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None  # noqa: N815
    overrideReason: OverrideReason | None = None  # noqa: N815
    outcomeTimestamp: datetime  # noqa: N815

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackItem:
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("an overridden card has no accepted suggestions")
        if self.outcomeTimestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp needs a time zone")
        return self


class FeedbackRequest(_Model):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)
