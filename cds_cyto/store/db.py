"""Engine and a small Store facade: the service and the CLI read and write through it.

The schema belongs to the Alembic migrations (`migrate()`); `create_schema()` is kept for callers that predate them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cds_cyto.store.migrate import upgrade
from cds_cyto.store.tables import FeedbackRecord

__all__ = ["Store", "make_engine"]


def _dumps(value: Any) -> str:
    # orjson: patient snapshots are large, and the stdlib encoder is several times slower on them
    return orjson.dumps(value).decode()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    json = {"json_serializer": _dumps, "json_deserializer": orjson.loads}
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **json)

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cur.execute("PRAGMA foreign_keys=ON")
            # With WAL, NORMAL still survives a killed process (a crashed sweep loses nothing it committed);
            # only an OS crash may lose the last commits, which the next sweep redoes.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True, **json)


class Store:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic `upgrade head`)."""
        upgrade(self.engine)

    def create_schema(self) -> None:
        self.migrate()

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True

    def add_feedback(self, service_id: str, items: Iterable[dict[str, Any]], client: str | None) -> int:
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            records = [
                FeedbackRecord(
                    service_id=service_id,
                    card_uuid=item["card"],
                    outcome=item["outcome"],
                    accepted_suggestions=[s["id"] for s in item.get("acceptedSuggestions") or []],
                    override_reason=(item.get("overrideReason") or {}).get("reason"),
                    user_comment=(item.get("overrideReason") or {}).get("userComment"),
                    outcome_timestamp=item["outcomeTimestamp"],
                    received_at=now,
                    client=client,
                )
                for item in items
            ]
            session.add_all(records)
        return len(records)

    def feedback(self, limit: int = 200) -> list[FeedbackRecord]:
        with Session(self.engine) as session:
            stmt = select(FeedbackRecord).order_by(FeedbackRecord.id.desc()).limit(limit)
            return list(session.scalars(stmt))

    def dispose(self) -> None:
        self.engine.dispose()
