"""The reliability runs: each prints what it sent against what arrived at the end of the session."""

from __future__ import annotations

import pytest

OUTCOMES: list[str] = []


@pytest.fixture
def record():
    return OUTCOMES.append


def pytest_terminal_summary(terminalreporter) -> None:
    if OUTCOMES:
        terminalreporter.section("reliability: published against stored")
        for line in OUTCOMES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak runs as long as asked, plus time to start and settle, past the suite's timeout."""
    minutes = config.getoption("--soak-minutes")
    for item in items:
        if item.name == "test_soak" and minutes:
            item.add_marker(pytest.mark.timeout(minutes * 60 + 300))
