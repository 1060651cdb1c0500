"""Secrets for the demo and development: random values made on first run and kept in
``<data_dir>/secrets.json`` (mode 0600), so that no mode ever runs on a published placeholder and
every process sharing a data directory signs with the same keys. Production sets them instead."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

FILE_NAME = "secrets.json"
NAMES = ("token_secret", "webhook_secret", "ack_link_secret", "encryption_key")
ENCRYPTION_KEY = "encryption_key"  # a Fernet key: 32 random bytes, url-safe base64


class SecretFileError(ValueError):
    """The secrets file cannot be read or made. The message never holds a secret."""


def new_secret(name: str = "") -> str:
    if name == ENCRYPTION_KEY:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(48)


def load_or_create(data_dir: Path) -> dict[str, str]:
    """The stored secrets, with any missing one made and saved first."""
    path = Path(data_dir) / FILE_NAME
    stored = _read(path)
    if stored is None:
        _publish(path, {name: new_secret(name) for name in NAMES})
        stored = _read(path)  # whichever process made it first wins: everyone uses the same
    missing = [name for name in NAMES if not stored.get(name)]
    if missing:  # a file from an older version: add what it lacks
        stored = stored | {name: new_secret(name) for name in missing}
        _publish(path, stored, replace=True)
    return {name: stored[name] for name in NAMES}


def _read(path: Path) -> dict[str, str] | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(f"{path} may be read by other users; make it private (chmod 600 {path})")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SecretFileError(f"{path} cannot be read ({type(err).__name__}); delete it to make new secrets") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SecretFileError(f"{path} is not a JSON object of strings; delete it to make new secrets")
    return data


def _publish(path: Path, values: dict[str, str], replace: bool = False) -> None:
    """Write to a private temporary file, then link it into place: readers never see half a file,
    and two processes starting at once cannot both create it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(values, f)
                f.flush()
                os.fsync(f.fileno())
            if replace:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as err:
        raise SecretFileError(f"cannot write {path}: {err.strerror}") from None
