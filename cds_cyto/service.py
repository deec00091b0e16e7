"""`cds_cyto.service:app`, the ASGI app for uvicorn and other servers.

The app is built on first access (PEP 562 module `__getattr__`), so importing this module reads no settings:
the environment is read when a server asks for `app`. `worker_app` is the factory each worker process of
`cds-cyto serve --workers N` calls.
"""

from __future__ import annotations

from typing import Any

from cds_cyto.app import create_app
from cds_cyto.logs import configure_logging
from cds_cyto.settings import Settings

__all__ = ["app", "create_app", "worker_app"]  # noqa: F822 — `app` is provided by __getattr__

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app  # noqa: PLW0603 — one app per process, built lazily
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)


def worker_app() -> Any:
    """One worker of `serve --workers N`: a new interpreter, so its own JSON logging, and settings from the
    environment `serve` checked and completed with its command line before starting the workers."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
