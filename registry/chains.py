"""Escalation chains: who is told about an alert, in order, for a home or the county default, for
a time of day. Editing a chain changes only alerts raised afterwards: each alert walks a snapshot
of its chain taken when it was raised (``alerts/escalation.py``)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from tecwatch.registry.changes import (
    Conflict, Invalid, NotFound, audit, changed, check_version, created, flush, plain, validated,
)
from tecwatch.registry.fields import Input, RowRef
from tecwatch.registry.models import EscalationChain, EscalationStep, Home, Responder


class StepIn(Input):
    responder_id: RowRef
    wait_minutes: int = Field(5, ge=1, le=24 * 60)  # for an acknowledgement before the next step


class ChainIn(Input):
    """A chain: for a home (``home_id``) or the county default (None); all day, or from
    ``active_from`` until ``active_until`` local time (an end before the start runs past midnight)."""

    home_id: str | None = None
    name: str = Field(min_length=1, max_length=100)
    active_from: time | None = None
    active_until: time | None = None
    steps: list[StepIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _times(self) -> ChainIn:
        if (self.active_from is None) != (self.active_until is None):
            raise ValueError("give both active_from and active_until, or neither (all day)")
        if self.active_from is not None and self.active_from == self.active_until:
            raise ValueError("active_from and active_until must differ")
        return self


class StepRecord(BaseModel):
    position: int
    responder_id: int
    responder: str
    wait_minutes: int


class ChainRecord(BaseModel):
    id: int
    home_id: str | None
    name: str
    active_from: time | None
    active_until: time | None
    retired_at: datetime | None
    steps: list[StepRecord]
    version: int


def _record(session: Session, chain: EscalationChain) -> ChainRecord:
    steps = session.execute(select(EscalationStep, Responder.name).join(Responder, Responder.id == EscalationStep.responder_id)
                            .where(EscalationStep.chain_id == chain.id).order_by(EscalationStep.position)).all()
    return ChainRecord(id=chain.id, home_id=chain.home_id, name=chain.name, active_from=chain.active_from,
                       active_until=chain.active_until, retired_at=chain.retired_at, version=chain.version,
                       steps=[StepRecord(position=s.position, responder_id=s.responder_id, responder=name,
                                         wait_minutes=s.wait_minutes) for s, name in steps])


def _check(session: Session, data: ChainIn) -> None:
    if data.home_id is not None and session.get(Home, data.home_id) is None:
        raise Invalid.one("home_id", f"there is no home {data.home_id!r}")
    problems = []
    for n, step in enumerate(data.steps):
        responder = session.get(Responder, step.responder_id)
        if responder is None or not responder.active:
            problems.append((f"steps.{n}.responder_id", f"there is no active responder {step.responder_id}"))
    if problems:
        raise Invalid(problems)


def _steps(data: ChainIn) -> list[dict[str, int]]:
    return [{"responder_id": s.responder_id, "wait_minutes": s.wait_minutes} for s in data.steps]


def _write_steps(session: Session, chain_id: int, data: ChainIn) -> None:
    session.execute(delete(EscalationStep).where(EscalationStep.chain_id == chain_id))
    session.flush()  # positions are unique per chain: the old ones go first
    session.add_all(EscalationStep(chain_id=chain_id, position=n, **s) for n, s in enumerate(_steps(data), start=1))


def create_chain(session: Session, actor: str, data: Any, *, now: datetime) -> ChainRecord:
    data = validated(ChainIn, data)
    _check(session, data)
    values = {"home_id": data.home_id, "name": data.name, "active_from": data.active_from,
              "active_until": data.active_until}
    chain = EscalationChain(**values)
    session.add(chain)
    flush(session, "the chain")
    _write_steps(session, chain.id, data)
    session.flush()
    audit(session, actor, "create", "chain", chain.id, created(values | {"steps": _steps(data)}), now,
          home_id=data.home_id)
    return _record(session, chain)


def get_chain(session: Session, chain_id: int) -> ChainRecord:
    chain = session.get(EscalationChain, chain_id)
    if chain is None:
        raise NotFound(f"no escalation chain {chain_id}")
    return _record(session, chain)


def update_chain(session: Session, actor: str, chain_id: int, data: Any, *, version: int | None,
                 now: datetime) -> ChainRecord:
    """Replace a chain's name, times and steps (the whole chain, as edited). Alerts already
    escalating keep the steps they started with."""
    data = validated(ChainIn, data)
    chain = session.get(EscalationChain, chain_id)
    if chain is None:
        raise NotFound(f"no escalation chain {chain_id}")
    check_version(chain, version, f"escalation chain {chain_id}")
    if chain.retired_at is not None:
        raise Conflict(f"escalation chain {chain_id} was retired", chain.version)
    if data.home_id != chain.home_id:
        raise Invalid.one("home_id", "a chain stays with its home: make a new one instead")
    _check(session, data)
    old_steps = [{"responder_id": s.responder_id, "wait_minutes": s.wait_minutes} for s in chain.steps]
    diff = changed(chain, {"name": data.name, "active_from": data.active_from, "active_until": data.active_until})
    if old_steps != _steps(data):
        diff["steps"] = {"old": old_steps, "new": _steps(data)}
        _write_steps(session, chain.id, data)
        flag_modified(chain, "name")  # the steps are the chain's: its version moves
    flush(session, f"escalation chain {chain_id}")
    session.expire(chain, ["steps"])
    audit(session, actor, "update", "chain", chain_id, plain(diff), now, home_id=chain.home_id)
    return _record(session, chain)


def retire_chain(session: Session, actor: str, chain_id: int, *, version: int | None, now: datetime) -> ChainRecord:
    """No longer chosen for new alerts (alerts that walked it keep naming it)."""
    chain = session.get(EscalationChain, chain_id)
    if chain is None:
        raise NotFound(f"no escalation chain {chain_id}")
    check_version(chain, version, f"escalation chain {chain_id}")
    if chain.retired_at is not None:
        raise Conflict(f"escalation chain {chain_id} was already retired", chain.version)
    diff = changed(chain, {"retired_at": now})
    flush(session, f"escalation chain {chain_id}")
    audit(session, actor, "end", "chain", chain_id, diff, now, home_id=chain.home_id)
    return _record(session, chain)


def list_chains(session: Session, home_id: str | None, *, include_retired: bool = False) -> list[ChainRecord]:
    """A home's chains (None: the county default chains), all-day first, then by start time."""
    q = select(EscalationChain).where(EscalationChain.home_id.is_(None) if home_id is None
                                      else EscalationChain.home_id == home_id)
    if not include_retired:
        q = q.where(EscalationChain.retired_at.is_(None))
    chains = sorted(session.scalars(q), key=lambda c: (c.active_from is not None, c.active_from or time(0), c.id))
    return [_record(session, c) for c in chains]
