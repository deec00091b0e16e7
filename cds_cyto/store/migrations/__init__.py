"""Alembic migrations of the store. `Store.migrate()` runs them; `alembic` on the command line works too with
`-x url=...` (see env.py)."""
