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
