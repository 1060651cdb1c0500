"""Finding 13 (passwords): `password12` and a password equal to the username were accepted.
Passwords need 12 characters or more, not the username, and not one of the most common ones."""

from __future__ import annotations

import httpx
import pytest

from apisupport import PASSWORD
from secsupport import Clock, serve
from support import run_tecwatch


@pytest.fixture
def registry_url(tmp_path):
    return f"sqlite:///{tmp_path}/registry.db"


WEAK = [("jane-doe", "password12"), ("operator-jane", "operator-jane"), ("jane.smith", "password1234"),
        ("jane.smith", "qwertyuiop12"), ("jane.smith", "iloveyou2026!"), ("jane.smith", "aaaaaaaaaaaaaaaa"),
        ("jane.smith", "Jane.Smith-2026")]


def test_weak_passwords_are_refused_by_the_api(world, tmp_path):
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        token = httpx.post(f"{base_url}/api/auth/token", data={"username": "admin", "password": PASSWORD},
                           timeout=30).json()["access_token"]
        admin = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for username, password in WEAK:
            r = admin.post("/api/admin/users", json={"username": username, "password": password, "role": "operator"})
            assert r.status_code == 422, (username, password, r.status_code)
        ok = admin.post("/api/admin/users", json={"username": "jane.smith", "password": "marmalade on the ferry",
                                                  "role": "operator"})
        assert ok.status_code == 201, ok.text
        admin.close()


def test_weak_passwords_are_refused_by_the_command_line(world, tmp_path):
    env = {"TECWATCH_REGISTRY__URL": str(world.engine.url), "TECWATCH_DATA_DIR": str(tmp_path / "data")}
    for username, password in WEAK[:3]:
        done = run_tecwatch(["add-user", username, "--role", "operator", "--password-stdin"], tmp_path, env,
                            input=password + "\n")
        assert done.returncode == 2, (username, password, done.stdout)


def test_the_shipped_list_is_a_real_one():
    from tecwatch.api.passwords import COMMON

    assert len(COMMON) > 10_000
    assert {"123456", "password", "qwerty", "iloveyou", "password1234", "qwertyuiop12"} <= COMMON
