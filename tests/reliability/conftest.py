"""The reliability runs: each prints what it sent against what arrived at the end of the session."""

from __future__ import annotations

import pytest

KEY = "published against stored"


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """Keeps a line for the summary on the test's report, which reaches the process that prints
    the summary also when tests run in several worker processes."""
    return lambda line: request.node.user_properties.append((KEY, line))


def pytest_terminal_summary(terminalreporter) -> None:
    lines = [value for kind in ("passed", "failed") for report in terminalreporter.stats.get(kind, [])
             if report.when == "call" for key, value in report.user_properties if key == KEY]
    if lines:
        terminalreporter.section("reliability: published against stored")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak runs as long as asked, plus time to start and settle, past the suite's timeout."""
    minutes = config.getoption("--soak-minutes")
    for item in items:
        if item.name == "test_soak" and minutes:
            item.add_marker(pytest.mark.timeout(minutes * 60 + 300))
