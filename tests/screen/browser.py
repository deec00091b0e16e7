"""Debian's chromium driven by Playwright, as the screen tests use it: the system browser (scripts/ensure-chromium.sh
installs it; Playwright's own browser download is never used), headless, no network of its own, a fresh profile.

A missing browser is a failure with its reason, never a skip: CI that lost chromium must say so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

__all__ = ["ARTIFACTS", "CHROMIUM", "FLAGS", "browser", "require_chromium"]

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no GPU, no QUIC, no first-run, update, sync or background traffic from the browser itself.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots the test run writes, to be looked at (ignored by git: /var/).
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screen"


def require_chromium(path: Path) -> None:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AssertionError(f"{path} is not installed: run `make chromium` (scripts/ensure-chromium.sh)")


@contextmanager
def browser(profile_dir: Path, width: int = 1280, height: int = 800) -> Iterator[BrowserContext]:
    """A browser context on a fresh profile (`--user-data-dir`) with a `width`×`height` viewport."""
    require_chromium(CHROMIUM)
    profile_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()
