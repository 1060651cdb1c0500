"""Finding 7: erasure left data behind (the day cache still held the home's activity, the dead
letters its raw payloads). After erasing a resident over the real API, nothing of that person or
their home is left in any file of the data directory (its bytes, in every encoding the stores
use) or in any row of the registry, while every commissioner report reads as before.

The history is written as production writes it: readings by the backfill, the day cache and
baselines by the nightly learning, rule episodes by a health pass, dead letters, an alarm and its
receipt by ingest over a real mosquitto, notification records by escalation.
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
import zipfile
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.notify import AlertNotice, NotifyError
from tecwatch.alerts.runtime import AlertRuntime
from tecwatch.alerts.scheduler import RuleRunner
from tecwatch.alerts.signalcache import DayCache
from tecwatch.alerts.signals import N_SIGNALS
from tecwatch.devices import Channel, make_reading
from tecwatch.ingest.deadletter import dead_letters
from tecwatch.localservices import Mosquitto
from tecwatch.registry.models import (
    Alert, ContactRoute, EscalationChain, EscalationStep, Home, HomeBaseline, LeftReason, Notification, Outcome,
    Resident, Responder, ResponderKind,
)
from tecwatch.services import Ingest
from tecwatch.settings import AlertSettings, BrokerSettings, IngestSettings, RegistrySettings, Settings
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home
from tecwatch.store.sqlite import SQLiteStore

from apisupport import api_server, seed_cast, signed_in
from support import Publisher, wait_until
from test_erasure import REPORTS, T0, _history

HOME, NAME = "home-1", "Arthur Example"
ADDRESS, POSTCODE = "1 Arthur Lane, Norwich NR1 4XY", "NR1 4XY"
NEEDLES = (HOME, NAME, ADDRESS, POSTCODE)
LEARNED_AT = datetime(2026, 11, 20, 3, 30, tzinfo=timezone.utc)  # the nightly learning before the erasure
SEED, DAYS = 5, 30
# Every report, and each for the erased home's district alone.
ALL_REPORTS = REPORTS + [f"{r}&district=Norwich" for r in REPORTS]
# The stores keep text as UTF-8 (SQLite, JSON), UTF-16 or UTF-32 (numpy's string arrays).
ENCODINGS = ("utf-8", "utf-16-le", "utf-32-le")


class Refusing:
    """A notification service that turns every message down, quoting it back as apprise plugins do."""

    def send(self, kind: str, target: str, notice: AlertNotice) -> None:
        raise NotifyError(f"refused {notice.title()}: {notice.reason}")


def test_erasing_a_resident_leaves_nothing_of_them_or_their_home(registry, registry_url, tmp_path):
    data_dir = tmp_path / "data"
    cast = seed_cast(registry)
    store = SQLiteStore(data_dir / "readings.db")
    try:
        _write_history(registry, registry_url, store, tmp_path)
    finally:
        store.close()
    sqlite_registry = _sqlite_file(registry_url)
    # The scans see every store: before the erasure they find the home and the person in each.
    files = _file_traces(_roots(data_dir, sqlite_registry), NEEDLES, sqlite_registry)
    assert any("/signals/signals-" in f and HOME in f for f in files), files
    assert any("readings.db" in f and HOME in f for f in files), files
    assert sqlite_registry is None or any(f.startswith(f"{sqlite_registry}") and NAME in f for f in files), files
    rows = {(table, column) for table, column, _needle in _registry_traces(registry, NEEDLES)}
    assert {("homes", "id"), ("homes", "address"), ("residents", "name"), ("dead_letters", "topic"),
            ("dead_letters", "payload"), ("home_baselines", "home_id"), ("rule_episodes", "home_id"),
            ("alarm_receipts", "home_id"), ("notifications", "last_error"), ("alert_events", "note"),
            ("alerts", "home_id"), ("escalation_chains", "name")} <= rows, rows
    home2 = _home2_state(registry, data_dir)

    with api_server(registry_url, data_dir) as (base_url, _settings):
        commissioner, admin = signed_in(base_url, "commissioner"), signed_in(base_url, "admin")
        before = {r: commissioner.get(f"/api/reports/{r}").json() for r in ALL_REPORTS}
        # A slow acknowledgement is listed with its home, for the monitoring centre (reports list none).
        assert HOME in json.dumps(admin.get("/api/alerts/slow-acknowledgements").json())

        erased = admin.post(f"/api/admin/residents/{cast.arthur_id}/erase", json={})
        assert erased.status_code == 200, erased.text
        assert erased.json()["home_erased"] is True and erased.json()["readings_deleted"] > 10_000

        # At once, with every service still running: the write-ahead logs are emptied...
        wals = [p for root in _roots(data_dir, sqlite_registry) for p in _files(root) if p.name.endswith("-wal")]
        assert wals and all(p.stat().st_size == 0 for p in wals), [(p, p.stat().st_size) for p in wals]
        # ...and nothing is left in any file or row. The access log is left out: it is the record
        # of who read (and who erased) whose data, kept as it is (README, registry/erasure.py).
        assert _file_traces(_roots(data_dir, sqlite_registry), NEEDLES, sqlite_registry) == []
        assert _registry_traces(registry, NEEDLES) == []

        after = {r: commissioner.get(f"/api/reports/{r}").json() for r in ALL_REPORTS}
        with Session(registry) as s:
            [pseudonym] = s.scalars(select(Home.id).where(Home.id.like("erased-%"))).all()
        # The same figures; where a list names a home, the erased one is there under its new id.
        assert pseudonym in json.dumps(admin.get("/api/alerts/slow-acknowledgements").json())
        assert after == before

    assert _home2_state(registry, data_dir) == home2  # the other home keeps everything
    registry.dispose()  # every connection closed: SQLite folds its logs into the files
    assert _file_traces(_roots(data_dir, sqlite_registry), NEEDLES, sqlite_registry) == []


def test_the_sqlite_store_leaves_no_copy_of_a_deleted_home_in_its_files(tmp_path):
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        store.write([make_reading(home_id=h, device_id="pir-lounge", device_type="motion", channel=Channel.READING,
                                  ts=T0 + timedelta(seconds=i), seq=i, room=f"{h} lounge", values={"occupancy": True})
                     for i in range(3000) for h in (HOME, "home-2")])
        assert _file_traces([tmp_path], [HOME], None) != []
        assert store.delete_home(HOME) == 3000
        assert (tmp_path / "readings.db-wal").stat().st_size == 0
        assert _file_traces([tmp_path], [HOME], None) == []
        assert len(store.readings("home-2", T0, T0 + timedelta(hours=1))) == 3000
    finally:
        store.close()


# --- the history ---------------------------------------------------------------------------------

def _write_history(registry: Engine, registry_url: str, store: SQLiteStore, tmp_path: Path) -> None:
    _history(registry, store, registry_url)  # answered alerts with notes, readings in March
    with Session(registry) as s, s.begin():
        s.get(Home, HOME).address = ADDRESS
        arthur = s.scalar(select(Resident).where(Resident.name == NAME))
        arthur.left_at, arthur.left_reason = datetime(2026, 5, 1, 12, tzinfo=timezone.utc), LeftReason.MOVED_AWAY
        daughter = Responder(name="Jane (daughter)", kind=ResponderKind.FAMILY)
        s.add(daughter)
        chain = EscalationChain(home_id=HOME, name=f"{NAME}'s family")
        s.add(chain)
        s.flush()
        s.add(ContactRoute(responder_id=daughter.id, kind="webhook", target="http://127.0.0.1:9/jane"))
        s.add(EscalationStep(chain_id=chain.id, position=1, responder_id=daughter.id))
    slow = T0 + timedelta(days=50)  # acknowledged after five minutes: listed as slow for the monitoring centre
    [alert_id] = AlertEngine(registry, clock=lambda: slow).raise_hits([RuleHit(HOME, "pendant", slow, "Pendant", {})])
    service.acknowledge(registry, alert_id, "operator (operator)", f"{NAME} at {ADDRESS} not answering",
                        at=slow + timedelta(minutes=5))
    service.resolve(registry, alert_id, "operator (operator)", Outcome.RESPONDER_ATTENDED, "fine",
                    at=slow + timedelta(minutes=40))
    [other] = AlertEngine(registry, clock=lambda: slow).raise_hits([RuleHit("home-2", "pendant", slow, "Pendant", {})])
    service.note(registry, other, "operator (operator)", f"neighbour {NAME} ({POSTCODE}) has a key", at=slow)

    # Four weeks of both homes, then the nightly learning (day cache, baselines) and a health pass
    # (rule episodes: the lounge sensors have been silent since March).
    homes = [make_home(SEED, 1), make_home(SEED, 2)]
    backfill(store, homes, days=DAYS, seed=SEED, first_day=LEARNED_AT.date() - timedelta(days=DAYS), progress=False,
             now=lambda: LEARNED_AT)
    runner = RuleRunner(store, registry, AlertEngine(registry, clock=lambda: LEARNED_AT), AlertSettings(),
                        clock=lambda: LEARNED_AT, cache=DayCache(store.path.parent / "signals"))
    runner.learn_baselines()
    assert runner.health_pass()
    _ingest(registry, registry_url, store, tmp_path / "broker")


def _ingest(registry: Engine, registry_url: str, store: SQLiteStore, broker_dir: Path) -> None:
    """Dead letters and an alarm from a hub with a wrong clock, through ingest; escalation of the
    open alerts, turned down by the notification service."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # ingest judges times by its own clock
    messages = [
        (f"tec/v1/{HOME}/pendant-1/event", f"{NAME} fell at {ADDRESS}".encode()),  # not JSON
        (f"tec/v1/{HOME}/pir-lounge/reading", json.dumps({"type": "motion", "occupancy": True, "seq": 3}).encode()),
        (f"tec/v1/{HOME}/pendant-1/event", json.dumps({"type": "pendant", "action": "press", "seq": 9,
                                                        "ts": "2001-01-01T00:00:00Z"}).encode()),
        (f"tec/v1/{HOME}/pir-lounge/reading", json.dumps({"type": "motion", "occupancy": True, "seq": 4,
                                                           "ts": now}).encode()),
        ("tec/v1/home-2/pir-lounge/reading", json.dumps({"type": "motion", "home_id": HOME, "occupancy": True,
                                                         "seq": 5, "ts": now}).encode()),
        ("tec/v1/home-2/pir-lounge/reading", b"not json"),
    ]
    runtime = AlertRuntime(registry, AlertSettings(), sender=Refusing())
    with Mosquitto(broker_dir) as broker:  # outside the data directory: the broker is not tecwatch's store
        settings = Settings(broker=BrokerSettings(mode="external", host=broker.host, port=broker.port, protocol="5"),
                            registry=RegistrySettings(url=registry_url),
                            ingest=IngestSettings(client_id=f"ingest-{uuid.uuid4().hex[:8]}", batch_max_wait_s=0.05))
        worker = Ingest(settings, alarm_sink=runtime.engine, store=store)
        runtime.start()
        worker.start()
        publisher = None
        try:
            assert worker.mqtt.subscribed.wait(10), "ingest did not subscribe"
            publisher = Publisher(broker.host, broker.port, "5")
            publisher.publish(messages)
            publisher.wait_all_published()
            wait_until(lambda: worker.stats().acked >= len(messages), 30, "every message acknowledged")
            wait_until(lambda: _refused(registry) >= 2, 30, "the home's alerts escalated and refused")
        finally:
            if publisher is not None:
                publisher.close()
            worker.stop()
            runtime.stop()
    assert worker.stats().rejected_total == 4


def _refused(engine: Engine) -> int:
    """Notifications about the home's alerts that failed, with the reason kept."""
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Notification).join(Alert, Alert.id == Notification.alert_id)
                        .where(Alert.home_id == HOME, Notification.last_error != ""))


def _home2_state(engine: Engine, data_dir: Path) -> tuple:
    """What the other home has in every store."""
    with Session(engine) as s:
        letters = [(t, bytes(p)) for t, p, detail in s.execute(select(dead_letters.c.topic, dead_letters.c.payload,
                                                                       dead_letters.c.detail))
                   if t.startswith("tec/v1/home-2/") and HOME not in detail]
        baseline = s.get(HomeBaseline, "home-2").summary
    store = SQLiteStore(data_dir / "readings.db")
    try:
        readings = store.reading_counts(T0 - timedelta(days=1), LEARNED_AT + timedelta(days=30)).get("home-2")
    finally:
        store.close()
    cache = DayCache(data_dir / "signals")
    blank = np.zeros((N_SIGNALS, 288), np.uint16)
    days = sorted(p.name for p in cache.directory.glob("signals-*.npz"))
    planes = [cache.load(datetime.strptime(d, "signals-%Y-%m-%d.npz").date(), ["home-2"], blank) for d in days]
    assert letters and readings and len(days) == 28
    return (sorted(letters), baseline, readings, days, [(p.tobytes(), missing) for p, missing in planes])


# --- the scans -----------------------------------------------------------------------------------

def _roots(data_dir: Path, sqlite_registry: Path | None) -> list[Path]:
    """The data directory, and the SQLite registry with its log and lock files when there is one."""
    return [data_dir, *(sorted(sqlite_registry.parent.glob(f"{sqlite_registry.name}*")) if sqlite_registry else [])]


def _files(root: Path) -> list[Path]:
    return [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())


def _file_traces(roots: list[Path], needles, sqlite_registry: Path | None) -> list[str]:
    """``file: needle`` for each needle found in any file under ``roots`` (or inside a zip file,
    as numpy keeps its arrays), in any of the encodings the stores use, ignoring case."""
    found = []
    for path in [p for root in roots for p in _files(root)]:
        data = path.read_bytes()
        if path == sqlite_registry:
            data = _without_access_log(path, data)
        layers = [(str(path), data)]
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                layers += [(f"{path}!{name}", z.read(name)) for name in z.namelist()]
        for where, content in layers:
            low = content.lower()
            found += [f"{where}: {n}" for n in needles if any(n.lower().encode(e) in low for e in ENCODINGS)]
    return found


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" else None


def _without_access_log(path: Path, data: bytes) -> bytes:
    """The database file with the pages of the access log (its table and indexes) blanked: every
    other page, free ones included, is scanned."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE tbl_name = 'access_log'")}
        pages = [p for name, p in conn.execute("SELECT name, pageno FROM dbstat") if name in names]
    assert pages, "the access log has pages"
    out = bytearray(data)
    for page in pages:
        out[(page - 1) * size:page * size] = bytes(size)
    return bytes(out)


def _registry_traces(engine: Engine, needles) -> list[tuple[str, str, str]]:
    """(table, column, needle) for each needle found in any row of any registry table, as text."""
    meta = MetaData()
    meta.reflect(engine)
    found = set()
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name == "access_log":  # the accountability record, kept as it is
                continue
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    text = _as_text(value).lower()
                    found |= {(table.name, column, n) for n in needles if n.lower() in text}
    return sorted(found)


def _as_text(value) -> str:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)
