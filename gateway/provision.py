"""Broker credentials for a home's gateway: a Mosquitto password entry (made by mosquitto_passwd)
and an ACL block that lets it publish under its own home only, and read the platform's
confirmations for its own home only.

The ACL file is Mosquitto's own format: a ``user NAME`` line starts a block, ``topic`` lines
follow. Blocks for other users (ingest, other gateways) are kept as they are.
Mosquitto reads both files again on SIGHUP, so a new gateway needs no broker restart.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tecwatch.devices.payloads import ID_PATTERN, confirm_topic

_HOME_ID = re.compile(ID_PATTERN)
_USER = re.compile(r"^\s*user\s+(\S+)\s*$")


class ProvisionError(ValueError):
    """The gateway could not be provisioned (bad home id, no mosquitto_passwd, unwritable files)."""


@dataclass(frozen=True)
class GatewayCredentials:
    home_id: str
    username: str
    password: str  # shown once; the broker keeps only its hash


def gateway_username(home_id: str) -> str:
    return f"gw-{home_id}"


def acl_block(home_id: str) -> list[str]:
    # It publishes under its own home, and hears which of its messages the platform has stored.
    return [f"user {gateway_username(home_id)}", f"topic write tec/v1/{home_id}/#", f"topic read {confirm_topic(home_id)}"]


def provision_gateway(home_id: str, passwd_file: Path, acl_file: Path, password: str | None = None,
                      mosquitto_passwd: str | None = None) -> GatewayCredentials:
    """Create (or reset) the gateway's password and ACL block. Safe to run again for the same home."""
    if not _HOME_ID.match(home_id):
        raise ProvisionError(f"{home_id!r} is not a home id (letters, digits, '.', '_' and '-', up to 64)")
    tool = mosquitto_passwd or shutil.which("mosquitto_passwd")
    if tool is None:
        raise ProvisionError("mosquitto_passwd was not found: install mosquitto (its tools come with it)")
    password = password or secrets.token_urlsafe(24)
    username = gateway_username(home_id)
    passwd_file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(acl_file):
        create = [] if passwd_file.exists() and passwd_file.stat().st_size else ["-c"]
        # The password goes on stdin (asked for twice), never on a command line others can see.
        done = subprocess.run([tool, *create, str(passwd_file), username], input=f"{password}\n{password}\n",
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise ProvisionError(f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()}")
        os.chmod(passwd_file, 0o640)
        _write_acl(acl_file, home_id)
    return GatewayCredentials(home_id, username, password)


def _write_acl(acl_file: Path, home_id: str) -> None:
    lines = acl_file.read_text().splitlines() if acl_file.exists() else []
    username = gateway_username(home_id)
    kept: list[str] = []
    skipping = False
    for line in lines:
        user = _USER.match(line)
        if user:
            skipping = user.group(1) == username
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    text = "\n".join([*kept, "", *acl_block(home_id)]).lstrip("\n") + "\n"
    tmp = acl_file.with_name(acl_file.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o640)
    tmp.replace(acl_file)  # atomic: the broker never reads half a file


@contextmanager
def _locked(acl_file: Path) -> Iterator[None]:
    """One provisioning at a time per ACL file (two admins, or a script run twice)."""
    acl_file.parent.mkdir(parents=True, exist_ok=True)
    with open(acl_file.with_name(acl_file.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
