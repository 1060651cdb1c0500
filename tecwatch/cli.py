"""The ``tecwatch`` command."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from pydantic import ValidationError

from tecwatch import logs
from tecwatch.admin_cli import add_admin_commands
from tecwatch.settings import Settings
from tecwatch.supervise import stop_on_signals as _stop_on_signals


def _cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.workers import WorkerPool, run_ingest

    if args.workers:
        settings = Settings(ingest=settings.ingest.model_copy(update={"workers": args.workers}))
    if settings.ingest.workers == 1:
        run_ingest(settings)
        return 0
    return WorkerPool(settings).run(_stop_on_signals())


def _cmd_broker(settings: Settings, _args: argparse.Namespace) -> int:
    from tecwatch.broker import EmbeddedBroker

    stop = _stop_on_signals()
    with EmbeddedBroker(settings.broker.host, settings.broker.port):
        print(f"embedded broker on {settings.broker.host}:{settings.broker.port}; Ctrl-C to stop", flush=True)
        stop.wait()
    return 0


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.demo import run_demo

    try:
        run_demo(settings, homes=args.homes, duration=args.duration, history_days=args.history_days,
                 out=lambda s: print(s, flush=True))
    except ValueError as err:
        print(f"tecwatch demo: {err}", file=sys.stderr)
        return 2
    return 0


def _cmd_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.db import make_engine
    from tecwatch.ingest.deadletter import DeadLetterStore

    store = DeadLetterStore(make_engine(settings.registry.url))
    counts = store.count_by_reason()
    print("dead letters by reason: " + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"))
    for d in store.list(reason=args.reason, limit=args.limit):
        raw = d.payload[:120].decode("utf-8", "replace")
        print(f"#{d.id} {d.received_at.isoformat()} {d.reason} {d.topic}\n    {d.detail}\n    payload: {raw}")
    return 0


def _cmd_gateway(_settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.gateway.config import GatewayConfigError, load_config
    from tecwatch.gateway.runner import run_gateway

    try:
        config = load_config(args.config)
        config.platform_broker()  # reads password_file: fail now, not on first connect
    except GatewayConfigError as err:
        print(f"tecwatch gateway: {err}", file=sys.stderr)
        return 2
    logs.configure(config.log_level, tag=f"[gateway {config.home_id}] ")
    stop = _stop_on_signals()
    run_gateway(config, stop, stats_interval_s=args.stats_interval)
    return 0


def _homes_and_scenarios(args: argparse.Namespace):
    from tecwatch.simulators.home import make_home
    from tecwatch.simulators.scenarios import parse_scenario

    if args.homes < 1:
        raise ValueError("--homes must be 1 or more")
    homes = [make_home(args.seed, i) for i in range(1, args.homes + 1)]
    return homes, [parse_scenario(spec) for spec in args.scenario]


def _cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.simulators.live import default_start, run_live

    try:
        homes, scenarios = _homes_and_scenarios(args)
        broker = settings.broker
        if args.broker:
            host, _, port = args.broker.rpartition(":")
            broker = broker.model_copy(update={"host": host or "127.0.0.1", "port": int(port)})
    except ValueError as err:
        print(f"tecwatch simulate: {err}", file=sys.stderr)
        return 2
    stop = _stop_on_signals()
    if args.duration:
        threading.Timer(args.duration, stop.set).start()
    try:
        result = run_live(
            broker, homes, seed=args.seed, stop=stop, scenarios=scenarios, target=args.target, speed=args.speed,
            start=default_start(args.speed, args.days_back), days=args.days, heartbeat_s=args.heartbeat,
            base_topic=args.base_topic, truth_path=args.truth, out=lambda s: print(s, flush=True),
        )
    except ValueError as err:
        print(f"tecwatch simulate: {err}", file=sys.stderr)
        return 2
    finally:
        stop.set()
    print(f"published {result.published} messages for {result.events} events; "
          f"{len(result.truths)} scenarios injected", flush=True)
    return 0


def _cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.store import open_store
    from tecwatch.simulators.backfill import backfill
    from tecwatch.simulators.scenarios import write_truths

    try:
        homes, scenarios = _homes_and_scenarios(args)
        store = open_store(settings.store)
    except ValueError as err:
        print(f"tecwatch backfill: {err}", file=sys.stderr)
        return 2
    try:
        result = backfill(store, homes, days=args.days, seed=args.seed, scenarios=scenarios,
                          heartbeat_s=args.heartbeat, progress=not args.no_progress)
    except ValueError as err:
        print(f"tecwatch backfill: {err}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.truth:
        write_truths(args.truth, result.truths)
    print(f"wrote {result.readings:,} readings for {len(homes)} homes x {args.days} days to "
          f"{settings.store.backend} in {result.seconds:.1f}s ({result.rate:,.0f} readings/s); "
          f"{len(result.truths)} scenarios injected", flush=True)
    for t in result.truths:
        print(f"  {t.summary()}")
    return 0


def _home_zones(settings: Settings, homes: list[str]) -> dict[str, str]:
    """Each home's own time zone from the registry (the setting for a home without one)."""
    from sqlalchemy.orm import Session

    from tecwatch.db import make_engine
    from tecwatch.registry.homes import home_zones
    from tecwatch.registry.migrate import upgrade

    engine = make_engine(settings.registry.url)
    try:
        upgrade(engine)
        with Session(engine) as s:
            return dict(zip(homes, home_zones(s, homes, settings.alerts.timezone)))
    finally:
        engine.dispose()


def _cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from tqdm import tqdm

    from tecwatch.alerts.backtest import backtest_store
    from tecwatch.store import open_store

    def when(text: str) -> datetime:
        t = datetime.fromisoformat(text)
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)

    try:
        start, end = when(args.start), when(args.end)
        homes = [h for h in args.homes.split(",") if h]
        if not homes:
            raise ValueError("--homes names no homes")
    except ValueError as err:
        print(f"tecwatch backtest: {err}", file=sys.stderr)
        return 2
    store = open_store(settings.store)
    bar = tqdm(total=len(homes), unit="home", desc="reading history", disable=args.no_progress)
    try:
        alerts = backtest_store(store, homes, start, end, learn_days=args.learn_days, tz=settings.alerts.timezone,
                                zones=_home_zones(settings, homes), rules=args.rule or None, progress=lambda done, _total: bar.update(1))
    except ValueError as err:
        print(f"tecwatch backtest: {err}", file=sys.stderr)
        return 2
    finally:
        bar.close()
        store.close()
    for a in alerts:
        used = "learned " if a.detail.get("baseline_learned") else "defaults"
        print(f"{a.at:%Y-%m-%d %H:%M} UTC  {a.home_id:10} {a.rule:24} [{used}] {a.reason}")
    counts = {r: sum(a.rule == r for a in alerts) for r in sorted({a.rule for a in alerts})}
    print(f"{len(alerts)} alerts for {len(homes)} homes from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
          + (": " + ", ".join(f"{r}={n}" for r, n in counts.items()) if counts else ""))
    return 0


def _cmd_alerts(settings: Settings, _args: argparse.Namespace) -> int:
    from tecwatch.services import Alerts, serve

    stop = _stop_on_signals()
    alerts = Alerts(settings)
    print("alert engine running: device health and activity patterns every minute, escalation and "
          "notifications; Ctrl-C to stop", flush=True)
    serve("alerts", alerts, settings, stop)
    return 0


def _cmd_api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from tecwatch.api.app import server_config
    from tecwatch.services import build_api

    uvicorn.Server(server_config(build_api(settings), settings.api.host, settings.api.port, log_level="info")).run()
    return 0


def _add_sim_args(p: argparse.ArgumentParser, homes: int) -> None:
    p.add_argument("--homes", type=int, default=homes, help="simulated homes home-1..home-N")
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same homes and days")
    p.add_argument("--scenario", action="append", default=[], metavar="KIND:HOME[@[dN][T]HH:MM][+DURATION]",
                   help="inject a scenario, e.g. fall:home-3@08:30 or cold_home:home-1@d2T18:00+6h (repeatable)")
    p.add_argument("--truth", type=Path, default=None, help="write the injected scenarios (ground truth) as JSON")


def _cmd_baseline(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from tecwatch.alerts.backtest import baseline_in_words
    from tecwatch.store import open_store

    store = open_store(settings.store)
    try:
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(timezone.utc)
        zone = _home_zones(settings, [args.home])[args.home]
        lines = baseline_in_words(store, args.home, at if at.tzinfo else at.replace(tzinfo=timezone.utc), tz=zone)
    except ValueError as err:
        print(f"tecwatch baseline: {err}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print("\n".join(lines))
    return 0


def _cmd_devices(_settings: Settings, _args: argparse.Namespace) -> int:
    from tecwatch.devices import DEVICE_TYPES
    from tecwatch.devices.catalogue import fields_of

    for dt in DEVICE_TYPES.values():
        kind = "ALARM" if dt.is_alarm_device else "reading"
        fields = ", ".join(f"{f.name}{'*' if f.required else ''}:{f.kind}{' ' + f.unit if f.unit else ''}"
                           for f in fields_of(dt))
        print(f"{dt.name:14} {kind:8} on {'/'.join(dt.channels):14} {dt.label}\n{'':16}{fields}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tecwatch", description="Technology-enabled care monitoring.")
    sub = p.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="run ingest (MQTT -> time-series store)")
    ing.add_argument("--workers", type=int, default=None,
                     help="worker processes on one shared subscription (needs Mosquitto); default 1")
    ing.set_defaults(fn=_cmd_ingest)
    sub.add_parser("broker", help="run the embedded MQTT broker on its own").set_defaults(fn=_cmd_broker)
    demo = sub.add_parser("demo", help="everything on one machine: broker, ingest, alerts, web pages, simulated homes")
    demo.add_argument("--homes", type=int, default=5)
    demo.add_argument("--history-days", type=int, default=28, help="days of history written for the homes on first run")
    demo.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    demo.set_defaults(fn=_cmd_demo)
    dl = sub.add_parser("dead-letters", help="list rejected messages and why")
    dl.add_argument("--reason", default=None)
    dl.add_argument("--limit", type=int, default=20)
    dl.set_defaults(fn=_cmd_dead_letters)
    gw = sub.add_parser("gateway", help="run a home gateway (Zigbee2MQTT -> platform, store and forward)")
    gw.add_argument("--config", required=True, help="gateway TOML file (see gateway/gateway.example.toml)")
    gw.add_argument("--stats-interval", type=float, default=60.0, help="seconds between summary log lines")
    gw.set_defaults(fn=_cmd_gateway)
    sim = sub.add_parser("simulate", help="run simulated homes live, publishing to a broker")
    _add_sim_args(sim, homes=3)
    sim.add_argument("--speed", type=float, default=1.0,
                     help="clock speed; above 1 replays the last --days-back days, then carries on in real time")
    sim.add_argument("--days-back", type=float, default=1.0)
    sim.add_argument("--days", type=int, default=None, help="stop after this many simulated days")
    sim.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    sim.add_argument("--target", choices=("platform", "zigbee2mqtt"), default="platform",
                     help="platform messages, or Zigbee2MQTT states for a gateway's local broker")
    sim.add_argument("--broker", default=None, metavar="HOST:PORT", help="publish here instead of the platform broker")
    sim.add_argument("--base-topic", default="zigbee2mqtt")
    sim.add_argument("--heartbeat", type=int, default=60, help="gateway heartbeat seconds (platform target)")
    sim.set_defaults(fn=_cmd_simulate)
    bf = sub.add_parser("backfill", help="write days of simulated history straight into the store")
    _add_sim_args(bf, homes=100)
    bf.add_argument("--days", type=int, default=30)
    bf.add_argument("--heartbeat", type=int, default=300, help="gateway heartbeat seconds in the history")
    bf.add_argument("--no-progress", action="store_true")
    bf.set_defaults(fn=_cmd_backfill)
    bt = sub.add_parser("backtest", help="run the activity-pattern rules over stored history")
    bt.add_argument("--homes", required=True, help="comma-separated home ids")
    bt.add_argument("--from", dest="start", required=True, help="ISO 8601 start (UTC unless an offset is given)")
    bt.add_argument("--to", dest="end", required=True, help="ISO 8601 end")
    bt.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    bt.add_argument("--learn-days", type=int, default=28, help="days learned from, relearned each night as the service does")
    bt.add_argument("--no-progress", action="store_true")
    bt.set_defaults(fn=_cmd_backtest)
    bl = sub.add_parser("baseline", help="print a home's learned routine in words")
    bl.add_argument("home", help="the home id")
    bl.add_argument("--at", default=None, help="as learned on this ISO 8601 date (UTC unless an offset is given); "
                    "default: tonight's learning, from the days before today")
    bl.set_defaults(fn=_cmd_baseline)
    sub.add_parser("api", help="run the HTTP API (TECWATCH_API__HOST/__PORT)").set_defaults(fn=_cmd_api)
    sub.add_parser("alerts", help="run the alert engine: scheduled rules, escalation, notifications"
                   ).set_defaults(fn=_cmd_alerts)
    sub.add_parser("devices", help="show the device catalogue").set_defaults(fn=_cmd_devices)
    add_admin_commands(sub)
    return p


def config_problems(err: ValidationError) -> str:
    """Where and what, one line each: never the value given, which may be a secret."""
    lines = []
    for e in err.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) for part in e["loc"])
        lines.append(f"  {where + ': ' if where else ''}{e['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as err:
        print(f"tecwatch: configuration error (TECWATCH_* variables):\n{config_problems(err)}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        return args.fn(settings, args)
    except ValidationError as err:
        print(f"tecwatch: configuration error:\n{config_problems(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
