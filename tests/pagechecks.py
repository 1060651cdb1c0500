"""Checks every page test makes in a real browser."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page


def no_violations(page: Page) -> None:
    """axe-core finds no accessibility violation on the page as it stands."""
    result = Axe().run(page)
    assert result.violations_count == 0, f"{page.url}: {result.generate_report()}"
