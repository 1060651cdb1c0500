"""Device-health rules on a schedule: a hub whose heartbeat stopped, devices gone silent.

One pass looks at every home at once (the store's newest event time per device and the
registry's installed devices), so the cost does not grow with a query per home. A silent hub
explains its devices' silence, so those are left out rather than alerted one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from tecwatch.alerts.engine import RuleHit
from tecwatch.devices import DEVICE_TYPES
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID
from tecwatch.store.base import DeviceLastSeen
from tecwatch.settings import AlertSettings


def silent_after(device_type: str, settings: AlertSettings) -> timedelta:
    if device_type in settings.silent_after_s:
        return timedelta(seconds=settings.silent_after_s[device_type])
    return timedelta(seconds=DEVICE_TYPES[device_type].expected_interval_s * settings.silent_factor)


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def health_hits(
    last_seen: Sequence[DeviceLastSeen],
    installed: Iterable[tuple[str, str, str, datetime]],
    now: datetime,
    settings: AlertSettings,
) -> tuple[list[RuleHit], set[str]]:
    """Hits for hubs and devices that have gone quiet, and the homes whose hub is offline.

    ``installed``: (home_id, device_id, device_type, installed_at) of devices in service, so a
    device that never reported at all is noticed too.
    """
    newest: dict[tuple[str, str], tuple[str, datetime]] = {(d.home_id, d.device_id): (d.device_type, d.last_ts)
                                                           for d in last_seen}
    for home_id, device_id, device_type, installed_at in installed:
        newest.setdefault((home_id, device_id), (device_type, installed_at))
    hits: list[RuleHit] = []
    offline: set[str] = set()
    silent: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
    for (home_id, device_id), (device_type, last) in newest.items():
        if device_type not in DEVICE_TYPES:
            continue
        quiet = now - last
        if quiet <= silent_after(device_type, settings):
            continue
        if device_id == GATEWAY_DEVICE_ID:
            offline.add(home_id)
            hits.append(RuleHit(home_id, "hub_offline", last,
                                f"No heartbeat from the home hub for {_ago(quiet)} "
                                f"(expected every {_ago(silent_after('gateway', settings))} at most)",
                                {"last_heartbeat": last.isoformat()}, GATEWAY_DEVICE_ID))
        else:
            silent[home_id].append((device_id, device_type, last))
    for home_id, devices in silent.items():
        if home_id in offline:
            continue  # the hub's outage explains it
        devices.sort(key=lambda d: d[2])
        names = ", ".join(f"{d} ({t}, last heard {_ago(now - last)} ago)" for d, t, last in devices)
        hits.append(RuleHit(home_id, "device_silent", devices[0][2], f"Silent: {names}",
                            {"devices": [{"device_id": d, "device_type": t, "last_seen": last.isoformat()}
                                         for d, t, last in devices]}, devices[0][0]))
    return hits, offline
