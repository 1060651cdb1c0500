"""Take the screenshot of the call screen that the README shows (docs/call-screen.png), from the
demo's data: Arthur at 1 Demo Street presses his pendant one evening, the operator has
called him without an answer. Everything runs on 127.0.0.1 in a temporary directory.

    .venv/bin/python scripts/call_screen.py [output.png]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy.orm import Session

from tecwatch.alerts.calllog import record_call
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.api.app import create_app, server_config
from tecwatch.db import make_engine
from tecwatch.demo import SEED
from tecwatch.demoseed import DEMO_PASSWORD, SEEDER, seed_demo
from tecwatch.localservices import free_port
from tecwatch.registry import contacts
from tecwatch.registry.accessinfo import Sealer
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import RegistrySettings, Settings, StoreSettings
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home
from tecwatch.store import open_store

NOW = datetime(2026, 11, 25, 20, 12, tzinfo=timezone.utc)  # a Wednesday evening


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = Settings(registry=RegistrySettings(url=f"sqlite:///{data}/registry.db"), data_dir=data,
                            store=StoreSettings(backend="sqlite", sqlite_path=data / "readings.db"))
        engine = make_engine(settings.registry.url)
        upgrade(engine)
        homes = [make_home(SEED, i) for i in range(1, 4)]
        seed_demo(engine, homes, now=NOW, sealer=Sealer(settings.registry.encryption_key.get_secret_value()))
        with Session(engine) as s, s.begin():
            for name, kind, phone, relation in (("Ray Hill", "neighbour", "07700 900222", "neighbour"),):
                who = contacts.create_responder(s, SEEDER, {"name": name, "kind": kind, "phones": [phone]}, now=NOW)
                contacts.add_contact(s, SEEDER, homes[0].home_id, {"responder_id": who.id, "relation": relation}, now=NOW)
            contacts.create_responder(s, SEEDER, {"name": "Night mobile team", "kind": "mobile",
                                                  "phones": ["01603 000111"]}, now=NOW)
        store = open_store(settings.store)
        backfill(store, homes[:1], days=2, seed=SEED, first_day=(NOW - timedelta(days=1)).date(), progress=False,
                 now=lambda: NOW)
        store.close()
        alerts = AlertEngine(engine, clock=lambda: NOW - timedelta(seconds=50))
        [alert_id] = alerts.raise_hits([RuleHit(homes[0].home_id, "pendant", NOW - timedelta(seconds=50),
                                                "Pendant pressed (pendant-1)", {}, "pendant-1")])
        record_call(engine, alert_id, "operator (operator)", "resident_no_answer", None, at=NOW - timedelta(seconds=20))

        app = create_app(settings, lambda: NOW)
        port = free_port()
        server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                            args=["--no-sandbox"])
                page = browser.new_page(base_url=f"http://127.0.0.1:{port}", viewport={"width": 1280, "height": 900})
                page.clock.set_fixed_time(NOW)
                page.goto(f"/login?next=/console/alerts/{alert_id}")
                page.get_by_label("Username").fill("operator")
                page.get_by_label("Password").fill(DEMO_PASSWORD)
                page.get_by_label("Password").press("Enter")
                page.wait_for_url(f"**/console/alerts/{alert_id}")
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "call-screen.png")
