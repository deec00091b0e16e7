"""Opening the store for commands that only read it (`worklist`, `feedback`).

Only `sweep` and `serve` create a store. A mistyped path must not become a new empty database that then reports
"nothing to review", so here a SQLite file that does not exist is an error, and so is a server that cannot be
reached — each said in one line naming the store (its URL without the password).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from cds_cyto.cli import CliError
from cds_cyto.store import Store

__all__ = ["open_existing_store", "shown_url", "store_problem"]


def shown_url(url: str) -> str:
    """The store URL as it may be printed: never its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable URL)"


def open_existing_store(url: str) -> Store:
    """The store at `url`, migrated to the newest schema; CliError if it does not exist or cannot be reached."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CliError("not a database URL: expected sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_file():
            raise CliError(
                f"no store at {path}: `cds-cyto sweep` (or `serve`) creates it; check --database or "
                "CDS_CYTO_DATABASE_URL"
            )
    try:
        store = Store(url)
        store.migrate()
    except SQLAlchemyError as exc:
        raise CliError(store_problem(url, exc)) from None
    return store


def store_problem(url: str, exc: SQLAlchemyError) -> str:
    """ "cannot open the store URL: REASON", REASON the driver's first line ("connection refused", "database \"x\"
    does not exist") without SQLAlchemy's boilerplate, or the class name when the driver said nothing; never the
    password, even where a driver echoes what it was given."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    reason = (text[0].strip() if text else "")[:300] or type(exc).__name__
    try:
        password = make_url(url).password
    except ArgumentError:
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    return f"cannot open the store {shown_url(url)}: {reason}"
