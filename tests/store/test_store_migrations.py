"""The schema comes from the Alembic migrations, matches the models, and keeps feedback working."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, inspect

from cds_cyto.store import Base, Store
from cds_cyto.store.migrate import current_revision, head_revision

TABLES = {"alembic_version", "feedback", "sweep_run", "patient_state", "alert", "lease", "token_replay"}


def test_migrate_builds_every_table_at_head(store: Store) -> None:
    assert set(inspect(store.engine).get_table_names()) == TABLES
    assert current_revision(store.engine) == head_revision()


def test_models_match_the_migrations(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_migrate_twice_and_create_schema_are_harmless(store: Store) -> None:
    store.migrate()
    store.create_schema()
    assert current_revision(store.engine) == head_revision()


def test_feedback_round_trip_after_migration(store: Store) -> None:
    item = {"card": "c-1", "outcome": "accepted", "outcomeTimestamp": datetime(2031, 1, 2, 3, 4, tzinfo=UTC)}
    assert store.add_feedback("svc", [item], "https://issuer.example") == 1
    [row] = store.feedback()
    assert (row.service_id, row.card_uuid, row.outcome, row.client) == (
        "svc",
        "c-1",
        "accepted",
        "https://issuer.example",
    )


def test_a_database_from_before_migrations_keeps_its_feedback(store_url: str) -> None:
    # What `create_all` built before the migrations existed: only the feedback table, no alembic_version.
    legacy = MetaData()
    Table(
        "feedback",
        legacy,
        Column("id", Integer, primary_key=True),
        Column("service_id", String(100), index=True),
        Column("card_uuid", String(64), index=True),
        Column("outcome", String(20)),
        Column("accepted_suggestions", JSON),
        Column("override_reason", JSON, nullable=True),
        Column("user_comment", Text, nullable=True),
        Column("outcome_timestamp", DateTime(timezone=True)),
        Column("received_at", DateTime(timezone=True)),
        Column("client", String(300), nullable=True),
    )
    store = Store(store_url)
    try:
        legacy.create_all(store.engine)
        item = {"card": "old", "outcome": "overridden", "outcomeTimestamp": datetime(2030, 5, 6, tzinfo=UTC)}
        store.add_feedback("svc", [item], None)
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        assert [r.card_uuid for r in store.feedback()] == ["old"]
        assert set(inspect(store.engine).get_table_names()) == TABLES
    finally:
        store.dispose()
