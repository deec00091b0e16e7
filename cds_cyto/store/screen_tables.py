"""The screen's table (issue 17, migration 0004): SMART sign-ins under way and signed-in sessions, shared by every
worker and replica.

A row is opaque to the database: `key` is a hash of the browser's secret (the `state` of a launch, the session id
of a session) and `sealed` is ciphertext that only that secret opens (cds_cyto/screen/sessions.py). Reading the
table gives neither a FHIR token, nor a session id that could be replayed, nor a patient id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from cds_cyto.store.tables import Base
from cds_cyto.store.types import UtcDateTime

__all__ = ["SCREEN_KINDS", "ScreenSession"]

SCREEN_KINDS = ("launch", "session")


class ScreenSession(Base):
    """One sign-in under way (`kind` launch) or one signed-in browser (`kind` session), until `expires_at`."""

    __tablename__ = "screen_session"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
