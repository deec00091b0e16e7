"""`cds_cyto.service:app`, the ASGI app for uvicorn and other servers.

The app is built on first access (PEP 562 module `__getattr__`), so importing this module reads no settings:
the environment is read when a server asks for `app`.
"""

from __future__ import annotations

from typing import Any

from cds_cyto.app import create_app

__all__ = ["app", "create_app"]  # noqa: F822 — `app` is provided by __getattr__

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app  # noqa: PLW0603 — one app per process, built lazily
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
