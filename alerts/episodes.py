"""When each (home, rule) last held, kept in the registry: a rule that holds all along is one
alert, even after someone resolves it, after the alert worker restarts, or when the home moves
to another alert worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import RuleHit
from tecwatch.registry.models import RuleEpisode


def new_episodes(engine: Engine, hits: list[RuleHit], now: datetime, gap: timedelta) -> list[RuleHit]:
    """The hits that start a new episode (their rule had not held within ``gap``); records that
    every hit's rule holds now."""
    if not hits:
        return []
    try:
        return _new_episodes(engine, hits, now, gap)
    except IntegrityError:  # another worker recorded one of these first, while a home was moving
        return _new_episodes(engine, hits, now, gap)


def _new_episodes(engine: Engine, hits: list[RuleHit], now: datetime, gap: timedelta) -> list[RuleHit]:
    keys = {(h.home_id, h.rule) for h in hits}
    out: list[RuleHit] = []
    with Session(engine) as s, s.begin():
        held = {(e.home_id, e.rule): e for e in s.scalars(
            select(RuleEpisode).where(tuple_(RuleEpisode.home_id, RuleEpisode.rule).in_(sorted(keys))))}
        for h in hits:
            episode = held.get((h.home_id, h.rule))
            if episode is None:
                episode = held[(h.home_id, h.rule)] = RuleEpisode(home_id=h.home_id, rule=h.rule, last_held_at=now)
                s.add(episode)
                out.append(h)
            elif episode.last_held_at < now - gap:
                out.append(h)
            episode.last_held_at = now
    return out
