"""Fixtures the security tests share: a registry with a cast of users and a P1 alert, and a browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest
from sqlalchemy.engine import Engine

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade

from apisupport import Cast, seed_cast
from secsupport import T0


@dataclass
class World:
    engine: Engine
    cast: Cast
    alert_id: int  # a P1 pendant alarm at Arthur's home (home-1), raised at T0


@pytest.fixture
def world(registry_url) -> Iterator[World]:
    engine = make_engine(registry_url)
    upgrade(engine)
    cast = seed_cast(engine)
    [alert_id] = AlertEngine(engine, clock=lambda: T0).raise_hits(
        [RuleHit("home-1", "pendant", T0, "Pendant pressed in the lounge", {}, "pendant-1")])
    yield World(engine, cast, alert_id)
    engine.dispose()
