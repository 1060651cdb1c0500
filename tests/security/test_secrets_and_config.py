"""Finding 3: `tecwatch api` without TECWATCH_PRODUCTION signed tokens with the published
placeholder secret, so a JWT anyone could sign was admin and created a user. Finding 11: a
configuration error printed 21 characters of a valid token secret. Finding 13 (secrets): weak
production secrets were accepted."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.localservices import free_port
from tecwatch.registry.models import User

from secsupport import T0
from support import TecwatchProcess, run_tecwatch

PLACEHOLDERS = ("change-me-too: any long random string, the same for every worker", "change-me")
TOKEN_SECRET = "Zq8-w3Lr0tVx5nC2yHk7pJ4sF9dG6bM1aE"  # a valid secret: none of it may be printed


def _forged_admin_token(secret: str) -> str:
    """What anyone could sign with the placeholder: the admin account (the cast's third), for 50 years."""
    claims = {"sub": "admin", "uid": 3, "ver": 0, "jti": "forged", "iat": T0, "exp": T0 + timedelta(days=365 * 50)}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.filterwarnings("ignore:The HMAC key")  # the placeholder is short: that is the point
@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_a_fresh_api_runs_on_secrets_of_its_own_and_refuses_the_placeholder(world, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    env = {"TECWATCH_REGISTRY__URL": str(world.engine.url), "TECWATCH_DATA_DIR": str(data),
           "TECWATCH_API__PORT": str(port), "TECWATCH_STORE__SQLITE_PATH": str(data / "readings.db")}
    api = TecwatchProcess(["api"], tmp_path / "api.log", env, ready_marker=b"Uvicorn running")
    api.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        for placeholder in PLACEHOLDERS:
            r = httpx.post(f"{base_url}/api/admin/users", timeout=10,
                           headers={"Authorization": f"Bearer {_forged_admin_token(placeholder)}"},
                           json={"username": "intruder", "password": "a long password!", "role": "admin"})
            assert r.status_code == 401, (placeholder, r.status_code, r.text)
    finally:
        api.stop()
    with Session(world.engine) as s:
        assert s.scalar(select(User).where(User.username == "intruder")) is None
    stored = data / "secrets.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    secrets = json.loads(stored.read_text())
    assert set(secrets) == {"token_secret", "webhook_secret", "ack_link_secret", "encryption_key"}
    assert len(set(secrets.values())) == 4 and all(len(v) >= 32 for v in secrets.values())
    # The next start (and every other service on this data directory) signs with the same ones.
    again = run_tecwatch(["dead-letters"], tmp_path, env)
    assert again.returncode == 0 and json.loads(stored.read_text()) == secrets


@pytest.mark.parametrize("name", ["TECWATCH_API__TOKEN_SECRET", "TECWATCH_ALERTS__WEBHOOK_SECRET",
                                  "TECWATCH_ALERTS__ACK_LINK_SECRET"])
def test_the_placeholder_is_refused_outside_production_too(tmp_path, name):
    for placeholder in PLACEHOLDERS:
        done = run_tecwatch(["api"], tmp_path, {name: placeholder, "TECWATCH_DATA_DIR": str(tmp_path / "data")},
                            timeout=60)
        assert done.returncode == 2 and "published placeholder" in done.stderr, done.stderr
        assert placeholder not in done.stderr


def _never_shown(secret: str, text: str) -> None:
    pieces = {secret[i:i + 6] for i in range(len(secret) - 5)}
    shown = [p for p in pieces if p in text]
    assert not shown, f"parts of the secret were printed: {shown}\n{text}"


@pytest.mark.parametrize("env", [
    {"TECWATCH_PRODUCTION": "true", "TECWATCH_API__TOKEN_SECRET": TOKEN_SECRET},  # the rest missing
    {"TECWATCH_API__TOKEN_SECRET": TOKEN_SECRET, "TECWATCH_API__PORT": "eighty"},
    {"TECWATCH_API__TOKEN_SECRET": TOKEN_SECRET, "TECWATCH_BROKER__PASSWORD": "x", "TECWATCH_BROKER__MODE": "wrong"},
])
def test_configuration_errors_never_show_a_secret(tmp_path, env):
    done = run_tecwatch(["api"], tmp_path, env | {"TECWATCH_DATA_DIR": str(tmp_path / "data")}, timeout=60)
    assert done.returncode == 2 and "configuration error" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    _never_shown(TOKEN_SECRET, done.stderr + done.stdout)


GOOD = {"TECWATCH_PRODUCTION": "true", "TECWATCH_BROKER__MODE": "external",
        "TECWATCH_BROKER__PASSWORD": "mqtt-9f2c7a4e1b6d3f80", "TECWATCH_STORE__BACKEND": "influxdb",
        "TECWATCH_REGISTRY__URL": "postgresql+psycopg://tecwatch@127.0.0.1:9/tecwatch",
        "TECWATCH_API__TOKEN_SECRET": TOKEN_SECRET,
        "TECWATCH_ALERTS__WEBHOOK_SECRET": "whk-0c8e4b2a6f9d1357bd02e4f6a8c1e3579bd0",
        "TECWATCH_ALERTS__ACK_LINK_SECRET": "ack-5d2f8a0c4e6b1937ce14a2b6d8f0c3e5a7b9",
        "TECWATCH_REGISTRY__ENCRYPTION_KEY": "bZ3v8RkQ2wYtN6pLx0cH4jF9sD1aG7mE5uK8iO2qW3s="}


@pytest.mark.parametrize("change, problem", [
    ({"TECWATCH_API__TOKEN_SECRET": "a" * 32}, "api.token_secret has fewer than 10 different characters"),
    ({"TECWATCH_ALERTS__WEBHOOK_SECRET": TOKEN_SECRET}, "alerts.webhook_secret and api.token_secret are the same"),
    ({"TECWATCH_BROKER__PASSWORD": "p"}, "broker.password is shorter than 16 characters"),
    ({"TECWATCH_ALERTS__ACK_LINK_SECRET": "k3y-9Qz"}, "alerts.ack_link_secret is a placeholder or shorter than 32"),
])
def test_production_refuses_weak_or_shared_secrets(tmp_path, change, problem):
    done = run_tecwatch(["healthcheck", "api"], tmp_path, GOOD | change, timeout=60)
    assert done.returncode == 2 and "refusing to start in production" in done.stderr, done.stderr
    assert problem in done.stderr, done.stderr
    for value in change.values():
        if len(value) > 2:
            _never_shown(value, done.stderr)
