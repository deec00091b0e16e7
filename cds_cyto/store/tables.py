"""Tables. No token is stored anywhere; feedback knows a card only by its uuid.

Sweep tables (issue 7): `sweep_run` (one row per cohort sweep), `patient_state` (what the last sweep fetched and
concluded for a patient), `alert` (a recommendation that fires, de-duplicated across runs) and `lease` (who may
sweep now). The schema is owned by the Alembic migrations in `cds_cyto/store/migrations`; these classes must match
them (a test compares the two).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cds_cyto.store.types import UtcDateTime

__all__ = [
    "ALERT_STATES",
    "OPEN_STATES",
    "Alert",
    "Base",
    "FeedbackRecord",
    "Lease",
    "PatientState",
    "SweepRun",
    "TokenReplay",
]

ALERT_STATES = ("new", "acknowledged", "resolved")
OPEN_STATES = ("new", "acknowledged")


class Base(DeclarativeBase):
    pass


class FeedbackRecord(Base):
    """One CDS Hooks feedback item: what a clinician did with a card."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(100), index=True)
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # accepted | overridden
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, default=list)
    override_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # Coding
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str | None] = mapped_column(String(300), nullable=True)  # the JWT issuer, when authenticated


class SweepRun(Base):
    """One cohort sweep. `status`: running | completed | failed | abandoned (a crashed run not resumed)."""

    __tablename__ = "sweep_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    mode: Mapped[str] = mapped_column(String(20))  # incremental | full
    as_of: Mapped[date] = mapped_column(Date)
    holder: Mapped[str] = mapped_column(String(200))
    cohort_size: Mapped[int] = mapped_column(Integer, default=0)
    evaluated: Mapped[int] = mapped_column(Integer, default=0)  # assessed again: new data, a new day, a new profile
    unchanged: Mapped[int] = mapped_column(Integer, default=0)  # fetched; nothing to assess again
    failed: Mapped[int] = mapped_column(Integer, default=0)
    resources_fetched: Mapped[int] = mapped_column(Integer, default=0)
    alerts_opened: Mapped[int] = mapped_column(Integer, default=0)
    alerts_resolved: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it failed; never patient data
    # the tenant it swept ("": none); each tenant's worklist measures changes against its own runs (0006)
    tenant: Mapped[str] = mapped_column(String(300), index=True, server_default="")


class PatientState(Base):
    """What the sweeps know of one patient. `last_run_id` marks the patient as done in that run (resume)."""

    __tablename__ = "patient_state"

    # A patient is its tenant and its id: two tenants' FHIR servers may number patients alike (migration 0003).
    tenant: Mapped[str] = mapped_column(String(300), primary_key=True, index=True, server_default="")
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the last fetch began: the next `since`
    last_full_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the last complete (non-incremental) fetch began
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)  # "Type/id" → the newest version seen
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    assessment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # Assessment.to_json()
    assessment_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    profile_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    as_of: Mapped[date | None] = mapped_column(Date, nullable=True)
    day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    grades: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    previous_grades: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    grades_changed_run_id: Mapped[int | None] = mapped_column(ForeignKey("sweep_run.id"), nullable=True)
    last_run_id: Mapped[int] = mapped_column(ForeignKey("sweep_run.id"), index=True)
    evaluated_run_id: Mapped[int | None] = mapped_column(ForeignKey("sweep_run.id"), nullable=True)
    written_back_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # consecutive failed assessments
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why; never patient data
    retry_after: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # backoff after a failure
    fhir_base_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)  # the snapshot's server (0005)


class Alert(Base):
    """A recommendation that fired for a patient, from the run that first saw it until one where it no longer fires.

    At most one open (new or acknowledged) alert per tenant, patient and recommendation code: a partial unique index
    says so to the database, so even a second sweeper that lost its lease cannot add a duplicate.
    """

    __tablename__ = "alert"
    __table_args__ = (
        Index(
            "uq_alert_open",
            "tenant",
            "patient_id",
            "code",
            unique=True,
            sqlite_where=text("state <> 'resolved'"),
            postgresql_where=text("state <> 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # public id: worklist, acknowledgement, write-back
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), index=True)  # new | acknowledged | resolved
    urgency: Mapped[str] = mapped_column(String(10))  # critical | warning | info
    previous_urgency: Mapped[str | None] = mapped_column(String(10), nullable=True)
    urgency_changed_run_id: Mapped[int | None] = mapped_column(ForeignKey("sweep_run.id"), nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_run_id: Mapped[int] = mapped_column(ForeignKey("sweep_run.id"))
    last_seen_run_id: Mapped[int] = mapped_column(ForeignKey("sweep_run.id"))
    resolved_run_id: Mapped[int | None] = mapped_column(ForeignKey("sweep_run.id"), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(40), nullable=True)  # stopped-firing | left-cohort
    tenant: Mapped[str] = mapped_column(String(300), index=True, server_default="")  # "": swept with none


class Lease(Base):
    """A named lease: one holder until `expires_at`. Taken and renewed only with conditional UPDATEs."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TokenReplay(Base):
    """A token already used: `key` is a hash of its issuer and `jti`; the row may go once the token has expired."""

    __tablename__ = "token_replay"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
