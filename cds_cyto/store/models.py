"""Tables. No patient identifier and no token is stored in feedback: a card is known by its uuid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "FeedbackRecord"]


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
