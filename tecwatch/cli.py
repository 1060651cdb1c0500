"""The ``tecwatch`` command."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from pydantic import ValidationError

from tecwatch import logs
from tecwatch.settings import Settings


def _cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.ingest.workers import WorkerPool, run_worker

    if args.workers:
        settings = Settings(ingest=settings.ingest.model_copy(update={"workers": args.workers}))
    if settings.ingest.workers == 1:
        run_worker(settings)
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    WorkerPool(settings).run(stop)
    return 0


def _cmd_broker(settings: Settings, _args: argparse.Namespace) -> int:
    from tecwatch.broker import EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with EmbeddedBroker(settings.broker.host, settings.broker.port):
        print(f"embedded broker on {settings.broker.host}:{settings.broker.port}; Ctrl-C to stop", flush=True)
        stop.wait()
    return 0


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.demo import run_demo

    run_demo(settings, homes=args.homes, rate=args.rate, duration=args.duration,
             out=lambda s: print(s, flush=True))
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
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_gateway(config, stop, stats_interval_s=args.stats_interval)
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
    demo = sub.add_parser("demo", help="embedded broker + ingest + simulated homes, printing what is stored")
    demo.add_argument("--homes", type=int, default=3)
    demo.add_argument("--rate", type=float, default=5.0, help="messages per second from the feed")
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
    sub.add_parser("devices", help="show the device catalogue").set_defaults(fn=_cmd_devices)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as err:
        print(f"tecwatch: configuration error (TECWATCH_* variables):\n{err}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        return args.fn(settings, args)
    except ValidationError as err:
        print(f"tecwatch: configuration error:\n{err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
