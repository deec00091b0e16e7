"""The schema comes from the Alembic migrations, matches the models, and keeps feedback working."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, insert, inspect, text

from cds_cyto.store import Base, Store
from cds_cyto.store.alerts import ALL_TENANTS, Finding, Scope, alerts_for_worklist
from cds_cyto.store.migrate import current_revision, head_revision, upgrade
from cds_cyto.store.patients import Evaluation, PatientUpdate, load_patient, save_patient

TABLES = {"alembic_version", "feedback", "sweep_run", "patient_state", "alert", "lease", "token_replay"}
TABLES |= {"screen_session"}  # the screen's sign-ins and sessions (issue 17, migration 0004)


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


def test_0003_keeps_every_patient_and_alert_and_keys_patients_by_tenant(store_url: str) -> None:
    """Rows written at 0002 (with and without a tenant) survive 0003; afterwards two tenants share a patient id."""
    store = Store(store_url)
    try:
        upgrade(store.engine, "0002")
        old = MetaData()
        old.reflect(store.engine, only=["patient_state", "alert", "sweep_run"])
        state, alert = old.tables["patient_state"], old.tables["alert"]
        with store.engine.begin() as conn:  # a run as 0002 knew it: no tenant column
            run = conn.execute(insert(old.tables["sweep_run"]).values(_run_row()).returning(text("id"))).scalar_one()
            for pid, tenant in (("p-old", None), ("p-a", "ward-a")):
                conn.execute(insert(state).values(_state_row(pid, tenant, run)))
                conn.execute(insert(alert).values(_alert_row(pid, tenant, run)))
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        assert inspect(store.engine).get_pk_constraint("patient_state")["constrained_columns"] == [
            "tenant",
            "patient_id",
        ]
        kept = load_patient(store.engine, "p-old")  # no tenant then, none now
        assert kept is not None and kept.assessment_hash == "h-p-old"
        assert load_patient(store.engine, "p-a", "ward-a") is not None
        assert {a.patient_id for a in alerts_for_worklist(store.engine, 0, scope=ALL_TENANTS)} == {"p-old", "p-a"}
        assert [a.patient_id for a in alerts_for_worklist(store.engine, 0, scope=Scope("ward-a"))] == ["p-a"]
        # ward-b's own p-a: a second row and a second open alert for the same code, not a conflict
        evaluation = Evaluation(
            {}, "h-b", "p", date(2032, 7, 1), 9, {}, [Finding("c", "critical", "s", "r", "x", [], 9)]
        )
        save_patient(store.engine, PatientUpdate("p-a", run, T0, True, 1, {}, "s", evaluation, "ward-b"), T0)
        b_state = load_patient(store.engine, "p-a", "ward-b")
        assert b_state is not None and b_state.assessment_hash == "h-b"
        a_state = load_patient(store.engine, "p-a", "ward-a")
        assert a_state is not None and a_state.assessment_hash == "h-p-a"
        assert [a.patient_id for a in alerts_for_worklist(store.engine, 0, scope=Scope("ward-b"))] == ["p-a"]
    finally:
        store.dispose()


T0 = datetime(2032, 7, 1, 6, 0, tzinfo=UTC)


def _run_row() -> dict[str, object]:
    counts = (
        "cohort_size",
        "evaluated",
        "unchanged",
        "failed",
        "resources_fetched",
        "alerts_opened",
        "alerts_resolved",
    )
    fixed = {"started_at": T0, "status": "completed", "mode": "full", "as_of": date(2032, 7, 1), "holder": "t"}
    return fixed | dict.fromkeys(counts, 0)


def _state_row(pid: str, tenant: str | None, run: int) -> dict[str, object]:
    return {
        "patient_id": pid,
        "tenant": tenant,
        "last_fetched_at": T0,
        "last_full_at": T0,
        "snapshot": {},
        "snapshot_hash": f"s-{pid}",
        "assessment": {"day": 9},
        "assessment_hash": f"h-{pid}",
        "grades": {},
        "last_run_id": run,
        "updated_at": T0,
        "failures": 0,
    }


def _alert_row(pid: str, tenant: str | None, run: int) -> dict[str, object]:
    return {
        "uid": f"uid-{pid}",
        "patient_id": pid,
        "code": "c",
        "state": "new",
        "urgency": "critical",
        "summary": "s",
        "rule": "r",
        "citation": "x",
        "evidence": [],
        "opened_run_id": run,
        "last_seen_run_id": run,
        "opened_at": T0,
        "updated_at": T0,
        "tenant": tenant,
    }
