"""The screen's SMART sign-ins and sessions in the store, so every worker and replica (and a restart) keeps them
(issue 17).

`screen_session`: `key` (a hash of the browser's secret), `kind` (launch | session), `sealed` (ciphertext only that
secret opens), `expires_at` (indexed: expired rows are purged by a range delete).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screen_session",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_screen_session_expires_at", "screen_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_screen_session_expires_at", table_name="screen_session")
    op.drop_table("screen_session")
