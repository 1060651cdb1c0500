"""The production time-series store: InfluxDB 1.x, 2.x or 3.x.

Layout: one measurement per channel ("reading", "event", "status"); tags device_id,
device_type, home_id and room (left out when None); fields are the reading's values with
their natural types (bool, float, string; int values are written as float, because a field
has one type per measurement and the catalogue's numbers are floats), plus ``seq`` (integer,
when known) and ``activity`` (integer 0/1 on every point, so it can be summed and so
``last("activity")`` finds every device). A point's time is its reading's millisecond plus
the reading's sequence number (mod 10^6) in nanoseconds, so readings of one device in the same
millisecond are kept apart; reads are in milliseconds.

Writes go to ``/write`` on 1.x and through influxdb-client on 2.x/3.x (detected from
``/ping``); reads are InfluxQL over ``/query``, which all three versions answer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from tecwatch.devices import Channel, Reading, make_reading

from .base import (
    ActivityCount,
    DeviceLastSeen,
    StoreRejected,
    StoreUnavailable,
    bucket_ms,
    ceil_ms,
    count_order,
    from_ms,
)
from .lineprotocol import FIELD_KINDS, format_lines

_TAGS = ("device_id", "device_type", "home_id", "room")
_ALL = '"reading","event","status"'
# Above this length a query goes in a POST body: a URL cannot carry thousands of home ids.
_MAX_GET_QUERY = 4000


# --- InfluxQL --------------------------------------------------------------------------------


def _lit(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_literal(s: str) -> str:
    # Letters and digits as they are, anything else as \x{hex}: safe inside /.../ and in RE2.
    return "".join(c if c.isalnum() or c == "_" else f"\\x{{{ord(c):x}}}" for c in s)


def _any_home(home_ids: Sequence[str]) -> str:
    # One regex, not an OR chain: influxd plans a 3,000-term OR in seconds, the regex in ~0.1 s.
    return '"home_id" =~ /^(' + "|".join(_regex_literal(h) for h in home_ids) + ")$/"


def _major_version(header: str) -> int | None:
    digits = ""
    for ch in header.strip().lstrip("vV"):
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def _value(name: str, v: Any) -> Any:
    # JSON gives 21.0 back as 21; the catalogue says which fields are numbers of which kind.
    kind = FIELD_KINDS.get(name)
    if kind == "float" and type(v) is int:
        return float(v)
    if kind == "int" and type(v) is float:
        return int(v)
    return v


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return resp.text.strip()[:500] or resp.reason_phrase


class InfluxStore:
    """TimeSeriesStore on InfluxDB. Connects on first use; safe to share between threads."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        org: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self._token = token
        self._org = org
        self._timeout_s = timeout_s
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=self.url, headers=headers, auth=auth, timeout=timeout_s)
        self._connect_lock = threading.Lock()
        self.version: str | None = None  # the server's version, once connected
        self._write_api: Any = None  # influxdb-client's write API on 2.x/3.x
        self._client: Any = None

    # --- connection ---

    def connect(self) -> None:
        """Detect the server version (and on 1.x create the database). Done on first use."""
        with self._connect_lock:
            if self.version is not None:
                return
            resp = self._send("GET", "/ping")
            if resp.status_code >= 400:
                self._check(resp, "ping")
            header = resp.headers.get("X-Influxdb-Version", "")
            major = _major_version(header) or (2 if self._token else 1)
            if major >= 2:
                self._open_client()
            else:
                self._create_database()
            self.version = header or f"{major}.x"

    def _open_client(self) -> None:
        # Imported here: the 1.x path and the SQLite default do not need the package.
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._client = InfluxDBClient(
            url=self.url, token=self._token, org=self._org, timeout=int(self._timeout_s * 1000)
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def _create_database(self) -> None:
        q = f"CREATE DATABASE {_ident(self.database)}"  # idempotent in InfluxDB 1.x
        self._results(self._check(self._send("POST", "/query", data={"q": q}), "create database"))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise StoreUnavailable(f"InfluxDB at {self.url} is unreachable: {err!r}") from err

    def _check(self, resp: httpx.Response, what: str) -> httpx.Response:
        code = resp.status_code
        if code < 300:
            return resp
        msg = f"InfluxDB {what} failed with HTTP {code}: {_error_text(resp)}"
        if code >= 500 or code == 429:
            raise StoreUnavailable(msg)
        raise StoreRejected(msg)

    # --- writes ---

    def write(self, readings: Sequence[Reading]) -> None:
        lines, refused = format_lines(readings)
        if lines:
            self.write_lines(lines)
        if refused:
            raise StoreRejected(
                f"{len(refused)} of {len(readings)} readings cannot be written to InfluxDB"
                " (unrepresentable room or values); the others were stored",
                refused,
            )

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write ready-made line protocol (ns precision); returns once InfluxDB has accepted it."""
        self.connect()
        body = "\n".join(lines)
        if self._write_api is not None:
            self._write_v2(body)
            return
        params = {"db": self.database, "precision": "ns"}
        data = body.encode()
        resp = self._send("POST", "/write", params=params, content=data)
        if resp.status_code == 404:  # database dropped behind our back: recreate it once
            self._create_database()
            resp = self._send("POST", "/write", params=params, content=data)
        self._check(resp, "write")

    def _write_v2(self, body: str) -> None:
        from influxdb_client.client.write_api import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            self._write_api.write(bucket=self.database, record=body, write_precision=WritePrecision.NS)
        except ApiException as err:
            text = (err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body) or err.reason
            msg = f"InfluxDB write failed with HTTP {err.status}: {text}"
            if not err.status or err.status >= 500 or err.status == 429:
                raise StoreUnavailable(msg) from err
            raise StoreRejected(msg) from err
        except (HTTPError, OSError) as err:
            raise StoreUnavailable(f"InfluxDB at {self.url} is unreachable: {err!r}") from err

    # --- reads ---

    def query(self, q: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; returns its series (each with name, tags, columns, values)."""
        self.connect()
        params = {"db": self.database, "epoch": "ms"}
        if len(q) <= _MAX_GET_QUERY:
            resp = self._send("GET", "/query", params={**params, "q": q})
        else:
            resp = self._send("POST", "/query", params=params, data={"q": q})
        return self._results(self._check(resp, "query"))

    def _results(self, resp: httpx.Response) -> list[dict[str, Any]]:
        try:
            body = resp.json()
        except ValueError as err:
            raise StoreUnavailable(f"InfluxDB sent a reply that is not JSON: {resp.text[:200]!r}") from err
        if body.get("error"):
            raise StoreRejected(f"InfluxDB query failed: {body['error']}")
        series: list[dict[str, Any]] = []
        for result in body.get("results", []):
            if result.get("error"):
                raise StoreRejected(f"InfluxDB query failed: {result['error']}")
            series.extend(result.get("series", []))
        return series

    def readings(
        self,
        home_id: str | None,
        start: datetime,
        end: datetime,
        device_id: str | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        if limit <= 0:
            return []
        where = "" if home_id is None else f'"home_id" = {_lit(home_id)} AND '
        if device_id is not None:
            where += f'"device_id" = {_lit(device_id)} AND '
        # LIMIT applies to each measurement's series, so merge, sort, then cut.
        q = (
            f"SELECT * FROM {_ALL} WHERE {where}time >= {ceil_ms(start)}ms"
            f" AND time < {ceil_ms(end)}ms ORDER BY time ASC LIMIT {int(limit)}"
        )
        out = [r for s in self.query(q) for r in _series_readings(s)]
        out.sort(key=lambda r: (r.ts, r.channel.value, r.home_id, r.device_id))
        return out[:limit]

    def activity_counts(
        self,
        start: datetime,
        end: datetime,
        bucket: timedelta = timedelta(hours=1),
        home_ids: Sequence[str] | None = None,
    ) -> list[ActivityCount]:
        size = bucket_ms(bucket)
        if home_ids is not None and not home_ids:
            return []
        q = (
            f'SELECT sum("activity") FROM "reading","event" WHERE time >= {ceil_ms(start)}ms'
            f" AND time < {ceil_ms(end)}ms{'' if home_ids is None else ' AND ' + _any_home(home_ids)}"
            f' GROUP BY time({size}ms), "home_id", "room" fill(none)'
        )
        # The two measurements come back as separate series: add them up.
        totals: dict[tuple[str, str | None, int], int] = {}
        for s in self.query(q):
            tags = s.get("tags") or {}
            home, room = tags.get("home_id", ""), tags.get("room") or None
            for t, n in s.get("values", []):
                if n:
                    key = (home, room, t)
                    totals[key] = totals.get(key, 0) + int(n)
        counts = [ActivityCount(h, room, from_ms(t), n) for (h, room, t), n in totals.items() if n]
        return sorted(counts, key=count_order)

    def last_seen(self, home_ids: Sequence[str] | None = None) -> list[DeviceLastSeen]:
        if home_ids is not None and not home_ids:
            return []
        where = "" if home_ids is None else " WHERE " + _any_home(home_ids)
        # Every point has "activity", so last() of it finds each device's newest point.
        q = f'SELECT last("activity") FROM {_ALL}{where} GROUP BY "home_id", "device_id", "device_type"'
        newest: dict[tuple[str, str, str], int] = {}
        for s in self.query(q):
            tags = s.get("tags") or {}
            key = (tags.get("home_id", ""), tags.get("device_id", ""), tags.get("device_type", ""))
            for t, _ in s.get("values", []):
                newest[key] = max(newest.get(key, t), t)
        return [DeviceLastSeen(h, d, dt, from_ms(t)) for (h, d, dt), t in sorted(newest.items())]

    def latest_readings(self, device_types: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        if not device_types:
            return []
        types = " OR ".join(f'"device_type" = {_lit(t)}' for t in device_types)
        # With GROUP BY, LIMIT is per series: the newest point of each device.
        q = (f"SELECT * FROM {_ALL} WHERE ({types}) AND time >= {ceil_ms(start)}ms AND time < {ceil_ms(end)}ms"
             ' GROUP BY "home_id", "device_id" ORDER BY time DESC LIMIT 1')
        newest: dict[tuple[str, str], Reading] = {}
        for r in (r for s in self.query(q) for r in _series_readings(s)):
            key = (r.home_id, r.device_id)
            if key not in newest or r.ts > newest[key].ts:  # a device on two channels: the later
                newest[key] = r
        return [newest[k] for k in sorted(newest)]

    def reading_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        # Every point has "activity", so counting it counts the points.
        q = (f'SELECT count("activity") FROM {_ALL} WHERE time >= {ceil_ms(start)}ms'
             f' AND time < {ceil_ms(end)}ms GROUP BY "home_id"')
        totals: dict[str, int] = {}
        for s in self.query(q):  # one series per measurement and home: add them up
            home = (s.get("tags") or {}).get("home_id", "")
            totals[home] = totals.get(home, 0) + sum(int(n) for _, n in s.get("values", []) if n)
        return totals

    # --- deletes (retention, erasure) ---

    def delete_before(self, cutoff: datetime) -> None:
        self._delete(f"time < {ceil_ms(cutoff)}ms", stop=cutoff)

    def delete_home(self, home_id: str) -> None:
        self._delete(f"home_id = {_lit(home_id)}", predicate=f'home_id="{home_id}"')

    def _delete(self, where: str, *, stop: datetime | None = None, predicate: str = "") -> None:
        """1.x: an InfluxQL DELETE over every measurement; 2.x/3.x: the delete API."""
        self.connect()
        if self._write_api is None:
            resp = self._send("POST", "/query", params={"db": self.database}, data={"q": f"DELETE WHERE {where}"})
            self._results(self._check(resp, "delete"))
            return
        body = {"start": "1970-01-01T00:00:00Z", "stop": (stop or datetime(2200, 1, 1, tzinfo=timezone.utc)).isoformat(),
                "predicate": predicate}
        self._check(self._send("POST", "/api/v2/delete", params={"org": self._org or "", "bucket": self.database},
                               json=body), "delete")

    def ping(self) -> None:
        resp = self._send("GET", "/ping")
        if resp.status_code >= 400:
            self._check(resp, "ping")

    def close(self) -> None:
        self._http.close()
        if self._client is not None:
            self._client.close()


def _series_readings(series: dict[str, Any]) -> list[Reading]:
    channel = Channel(series["name"])
    columns = series["columns"]
    out = []
    for row in series.get("values", []):
        rec = dict(zip(columns, row)) | (series.get("tags") or {})  # tags grouped by are not columns
        values = {
            k: _value(k, v)
            for k, v in rec.items()
            if v is not None and k not in _TAGS and k not in ("time", "seq", "activity")
        }
        out.append(
            make_reading(
                home_id=rec["home_id"],
                device_id=rec["device_id"],
                device_type=rec["device_type"],
                channel=channel,
                ts=from_ms(rec["time"]),
                seq=rec.get("seq"),
                room=rec.get("room") or None,
                values=values,
            )
        )
    return out
