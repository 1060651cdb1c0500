"""Shared fixtures: real servers on loopback, started here and stopped at teardown."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from sqlalchemy.engine import Engine

from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade

from tecwatch.store import InfluxStore, SQLiteStore, TimeSeriesStore
from tecwatch.localservices import Influxd, Mosquitto


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    server = Influxd(tmp_path_factory.mktemp("influxd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def drop_database(influxd: Influxd) -> Callable[[str], None]:
    """Drop a database in the session's influxd (by name)."""

    def drop(name: str) -> None:
        httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{name}"'}, timeout=10).raise_for_status()

    return drop


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[TimeSeriesStore]:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        s: TimeSeriesStore = SQLiteStore(tmp_path / "data" / "readings.db")
        yield s
        s.close()
        return
    server: Influxd = request.getfixturevalue("influxd")  # only started if an influx test runs
    drop = request.getfixturevalue("drop_database")
    name = f"test_{uuid.uuid4().hex}"
    s = InfluxStore(server.url, name, timeout_s=30)
    yield s
    s.close()
    drop(name)


POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _new_postgres_database() -> tuple[str, Callable[[], None]]:
    name = f"tecwatch_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database on the real PostgreSQL at 127.0.0.1:5432 for the whole session."""
    url, drop = _new_postgres_database()
    yield url
    drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty registry database of each kind (PostgreSQL: a fresh database per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/registry.db"
        return
    url, drop = _new_postgres_database()
    yield url
    drop()


@pytest.fixture
def registry(registry_url: str) -> Iterator[Engine]:
    """A migrated registry database of each kind."""
    engine = make_engine(registry_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_registry_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL, for tests whose several processes share a registry."""
    url, drop = _new_postgres_database()
    yield url
    drop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak-minutes", type=float, default=0,
                     help="run the reliability soak (tests/reliability) for this many minutes (default: skip it)")
    parser.addoption("--demo-seconds", type=float, default=40,
                     help="how long the demo test runs `tecwatch demo` once it is up (the pendant is pressed "
                          "10 s in; scripts/timecheck.sh runs it at many instants, so shorter)")


# The reliability runs (tests/reliability) each print what they sent against what arrived, at the
# end of the session. Defined here, in the conftest every process loads: with several worker
# processes, the summary is printed by the one that collects nothing itself.
RECORD_KEY = "published against stored"


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """Keeps a line for the summary on the test's report, which reaches the printing process."""
    return lambda line: request.node.user_properties.append((RECORD_KEY, line))


def pytest_terminal_summary(terminalreporter) -> None:
    lines = [value for kind in ("passed", "failed") for report in terminalreporter.stats.get(kind, [])
             if report.when == "call" for key, value in report.user_properties if key == RECORD_KEY]
    if lines:
        terminalreporter.section("reliability: published against stored")
        for line in lines:
            terminalreporter.write_line(line)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """A real Chromium for the page tests, one per test file."""
    from playwright.sync_api import sync_playwright  # only the page tests need it

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
