"""The reliability runs (their summary lines: ``record`` in tests/conftest.py)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak runs as long as asked, plus time to start and settle, past the suite's timeout."""
    minutes = config.getoption("--soak-minutes")
    for item in items:
        if item.name == "test_soak" and minutes:
            item.add_marker(pytest.mark.timeout(minutes * 60 + 300))
