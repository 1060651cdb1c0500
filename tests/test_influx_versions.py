"""InfluxStore beyond the contract: the 2.x/3.x client path, outages, rejections, durability.

No InfluxDB 2.x can be installed here, so a small loopback shim plays one: it answers /ping
as v2.7.10 and forwards the 2.x write API and /query to the real influxd 1.x.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tecwatch.devices import Channel, Reading, make_reading
from tecwatch.store import InfluxStore, StoreRejected, StoreUnavailable
from tecwatch.store.lineprotocol import line
from tecwatch.localservices import Influxd


T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
DAY, MS = timedelta(days=1), timedelta(milliseconds=1)


def rd(home, device, dtype, ts, values, *, room=None, seq=1, channel=None) -> Reading:
    default = {"pendant": Channel.EVENT, "gateway": Channel.STATUS}.get(dtype, Channel.READING)
    return make_reading(home_id=home, device_id=device, device_type=dtype, channel=channel or default,
                        ts=ts, seq=seq, room=room, values=values)


class V2Shim:
    """Loopback HTTP server speaking enough of the InfluxDB 2.x API, backed by influxd 1.x."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path+query, Authorization)
        shim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                shim.handle(self, "GET")

            def do_POST(self) -> None:
                shim.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.running = False

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        self.requests.append((method, h.path, h.headers.get("Authorization")))
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        path, _, query = h.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        if path == "/ping":
            self.reply(h, 204, b"", {"X-Influxdb-Version": "v2.7.10"})
        elif path == "/api/v2/write":
            q = urllib.parse.urlencode({"db": params["bucket"], "precision": params.get("precision", "ns")})
            status, text = self.forward("POST", f"/write?{q}", body, h.headers.get("Content-Type"))
            if status >= 400:  # 1.x says {"error": ...}; 2.x says {"code": ..., "message": ...}
                text = json.dumps({"code": "invalid", "message": json.loads(text)["error"]}).encode()
            self.reply(h, status, text, {"Content-Type": "application/json"})
        elif path == "/query":
            status, text = self.forward(method, h.path, body, h.headers.get("Content-Type"))
            self.reply(h, status, text, {"Content-Type": "application/json"})
        else:
            self.reply(h, 404, b'{"code":"not found","message":"path not found"}', {})

    def forward(self, method: str, path: str, body: bytes, content_type: str | None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.upstream + path, data=body or None, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except OSError:
            return 503, b'{"code":"unavailable","message":"upstream down"}'

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def start(self) -> None:
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.running = False


@pytest.fixture
def database(influxd: Influxd, drop_database) -> Iterator[str]:
    """A database in the real influxd, created up front as a 2.x bucket would be."""
    name = f"bucket_{uuid.uuid4().hex}"
    httpx.post(f"{influxd.url}/query", data={"q": f'CREATE DATABASE "{name}"'}).raise_for_status()
    yield name
    drop_database(name)


@pytest.fixture
def shim(influxd: Influxd) -> Iterator[V2Shim]:
    s = V2Shim(influxd.url)
    s.start()
    yield s
    s.stop()


def _count(url: str, db: str, measurement: str = "reading") -> int:
    r = httpx.get(f"{url}/query", params={"db": db, "q": f'SELECT count("activity") FROM "{measurement}"'})
    series = r.json()["results"][0].get("series")
    return series[0]["values"][0][1] if series else 0


def _batch(n: int, start_seq: int = 0):
    return [rd("h1", "pir-1", "motion", T0 + (start_seq + i) * MS, {"occupancy": True, "battery": 50.0},
               room="Living room, front", seq=start_seq + i) for i in range(n)]


def test_v2_round_trip_through_influxdb_client(influxd, shim, database):
    store = InfluxStore(shim.url, database, token="t0ken", org="tecwatch", timeout_s=10)
    try:
        written = _batch(100) + [
            rd("h1", "pend-1", "pendant", T0 + DAY - MS, {"action": "press"}, room="Hall"),
            rd("h1", "gateway", "gateway", T0 + DAY, {"status": "offline"}, seq=None),
        ]
        store.write(written)
        assert store.version == "v2.7.10"
        # The points are in the real influxd, written through the 2.x write API.
        assert _count(influxd.url, database) == 100
        assert _count(influxd.url, database, "event") == 1
        assert store.readings("h1", T0, T0 + 2 * DAY) == written
        assert [(c.room, c.count) for c in store.activity_counts(T0, T0 + 2 * DAY, DAY)] == [
            ("Hall", 1), ("Living room, front", 100)]
    finally:
        store.close()
    writes = [r for r in shim.requests if r[1].startswith("/api/v2/write")]
    assert writes and all(auth == "Token t0ken" for _, _, auth in writes)
    assert all("bucket=" + database in path and "org=tecwatch" in path and "precision=ns" in path
               for _, path, _ in writes)
    assert any(path.startswith("/query") and auth == "Token t0ken" for _, path, auth in shim.requests)
    assert not any("CREATE" in urllib.parse.unquote_plus(p) for _, p, _ in shim.requests)  # buckets pre-exist


def test_v2_rejection_and_outage(influxd, shim, database):
    store = InfluxStore(shim.url, database, token="t0ken", org="tecwatch", timeout_s=5)
    try:
        store.write(_batch(3))
        conflict = rd("h1", "pir-9", "motion", T0, {"occupancy": True, "battery": "full"})  # string vs float
        with pytest.raises(StoreRejected, match="conflict"):
            store.write([conflict])
        shim.stop()
        with pytest.raises(StoreUnavailable):
            store.write(_batch(3, 3))
        with pytest.raises(StoreUnavailable):
            store.readings("h1", T0, T0 + DAY)
    finally:
        store.close()
    assert _count(influxd.url, database) == 3


def test_v1_outage_and_recovery_and_durability(tmp_path):
    server = Influxd(tmp_path / "influxd")
    server.start()
    store = InfluxStore(server.url, "tecwatch", timeout_s=5)
    try:
        store.write(_batch(10))
        server.stop()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            store.write(_batch(10, 10))
        with pytest.raises(StoreUnavailable):
            store.last_seen()
        server.start()  # same port, same data
        store.write(_batch(10, 10))
        assert len(store.readings("h1", T0, T0 + DAY)) == 20
        # A 204 means fsynced: a crash right after loses nothing.
        store.write(_batch(10, 20))
        server.kill()
        server.start()
        assert store.readings("h1", T0, T0 + DAY) == _batch(30)
    finally:
        store.close()
        server.stop()


def test_store_that_starts_before_influxd(tmp_path):
    server = Influxd(tmp_path / "influxd")
    store = InfluxStore(server.url, "tecwatch", timeout_s=5)  # nothing is contacted yet
    try:
        with pytest.raises(StoreUnavailable):
            store.write(_batch(1))
        server.start()
        store.write(_batch(1))
        assert store.version and store.version.startswith("1.")
        assert store.readings("h1", T0, T0 + DAY) == _batch(1)
    finally:
        store.close()
        server.stop()


def test_v1_rejections(influxd, drop_database):
    name = f"test_{uuid.uuid4().hex}"
    store = InfluxStore(influxd.url, name)
    try:
        store.write(_batch(2))
        # Field type conflict: the server refuses, with its own explanation.
        conflict = rd("h1", "pir-9", "motion", T0, {"occupancy": True, "battery": "full"})
        with pytest.raises(StoreRejected, match="field type conflict"):
            store.write([conflict])
        # A room that line protocol cannot carry is refused before sending; the rest is stored.
        ok = rd("h1", "pir-2", "motion", T0 + DAY - MS, {"occupancy": True}, room="Hall")
        bad = [rd("h1", "pir-3", "motion", T0, {"occupancy": True}, room=room)
               for room in ("two\nlines", "ends in \\", "odd\\,comma")]
        with pytest.raises(StoreRejected) as info:
            store.write([*bad, ok])
        assert info.value.readings == bad
        assert store.readings("h1", T0, T0 + DAY) == [*_batch(2), ok]
        # A database dropped behind the store's back is created again on the next write.
        drop_database(name)
        store.write(_batch(1))
        assert store.readings("h1", T0, T0 + DAY) == _batch(1)
    finally:
        store.close()
        drop_database(name)


def test_line_protocol_escaping():
    r = rd("h-1", "th.1", "temperature", T0 + timedelta(milliseconds=5), {"temperature": 1e-05, "humidity": 50.0},
           room='Living room, a=b "x"', seq=9)
    assert line(r) == (
        'reading,device_id=th.1,device_type=temperature,home_id=h-1,room=Living\\ room\\,\\ a\\=b\\ "x"'
        f" activity=0i,seq=9i,temperature=1e-05,humidity=50.0 {(int(T0.timestamp()) * 1000 + 5) * 1_000_000 + 9}"
    )
    ev = rd("h-1", "p", "pendant", T0, {"action": 'say "hi" \\ bye'}, seq=None, channel=Channel.EVENT)
    assert line(ev) == f'event,device_id=p,device_type=pendant,home_id=h-1 activity=1i,action="say \\"hi\\" \\\\ bye" {int(T0.timestamp()) * 10**9}'
