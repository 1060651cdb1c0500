"""What a hub still holds, on the home's API answer and page: from its latest heartbeat, messages
waiting, those the platform has not yet confirmed, and how old the oldest is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx

from tecwatch.db import make_engine
from tecwatch.devices import Channel, make_reading
from tecwatch.registry.migrate import upgrade
from tecwatch.store.sqlite import SQLiteStore

from apisupport import PASSWORD, api_server, seed_cast, signed_in


def heartbeat(at: datetime, **values):
    return make_reading(home_id="home-1", device_id="gateway", device_type="gateway", channel=Channel.STATUS, ts=at,
                        seq=None, room=None, values={"status": "online", **values})


def test_the_home_shows_what_its_hub_has_not_yet_had_confirmed(tmp_path, registry_url):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    engine = make_engine(registry_url)
    upgrade(engine)
    seed_cast(engine)
    engine.dispose()
    store = SQLiteStore(tmp_path / "readings.db")
    store.write([heartbeat(now - timedelta(minutes=2), outbox_depth=0.0),
                 heartbeat(now - timedelta(seconds=30), outbox_depth=42.0, outbox_unconfirmed=40.0,
                           outbox_oldest_s=610.0, outbox_dropped=3.0)])
    store.close()
    with api_server(registry_url, tmp_path) as (url, _settings):
        operator = signed_in(url, "operator")
        home = operator.get("/api/homes/home-1").json()
        assert home["hub_outbox"] == {"depth": 42, "unconfirmed": 40, "oldest_s": 610.0, "dropped": 3}
        login = httpx.post(f"{url}/login", data={"username": "operator", "password": PASSWORD})
        page = httpx.get(f"{url}/console/homes/home-1", cookies=login.cookies)
        assert page.status_code == 200
        text = " ".join(page.text.split())
        assert "42 waiting (40 sent, not yet confirmed), the oldest 10 min old" in text
        assert "3 readings dropped" in text
