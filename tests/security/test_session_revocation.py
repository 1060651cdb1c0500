"""Finding 10: sessions could not be revoked (after signing out the cookie still worked for its
12 hours). Signing out revokes; an admin disables an account (every token stops at once), resets
a password and revokes an API key; anyone changes their own password. API, CLI and pages."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from apisupport import PASSWORD
from secsupport import Clock, serve
from support import run_tecwatch

NEW_PASSWORD = "a lighthouse keeper's tea"


def _token(base_url: str, username: str, password: str = PASSWORD) -> str:
    r = httpx.post(f"{base_url}/api/auth/token", data={"username": username, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _me(base_url: str, token: str | None = None, key: str | None = None, cookie: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {"X-API-Key": key} if key else {}
    return httpx.get(f"{base_url}/api/me", headers=headers, cookies={"tecwatch_token": cookie} if cookie else None,
                     timeout=10).status_code


def _admin(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {_token(base_url, 'admin')}"}, timeout=30)


def test_signing_out_revokes_the_cookie_and_the_token(world, tmp_path):
    with serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path, clock=Clock()) as (base_url, _):
        signed_in = httpx.post(f"{base_url}/login", data={"username": "operator", "password": PASSWORD},
                               headers={"Origin": base_url}, timeout=30)
        cookie = signed_in.cookies["tecwatch_token"]
        assert _me(base_url, cookie=cookie) == 200
        out = httpx.post(f"{base_url}/logout", cookies={"tecwatch_token": cookie}, headers={"Origin": base_url},
                         timeout=10)
        assert out.status_code in (200, 303)
        assert _me(base_url, cookie=cookie) == 401, "a copy of the cookie still worked after signing out"
        page = httpx.get(f"{base_url}/console", cookies={"tecwatch_token": cookie}, timeout=10)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")

        token = _token(base_url, "operator")
        other = _token(base_url, "operator")
        assert httpx.post(f"{base_url}/api/auth/logout", headers={"Authorization": f"Bearer {token}"},
                          timeout=10).status_code == 204
        assert _me(base_url, token) == 401
        assert _me(base_url, other) == 200, "only that session ends"


def test_an_admin_disables_resets_and_revokes(world, tmp_path):
    with serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path, clock=Clock()) as (base_url, _), \
            _admin(base_url) as admin:
        token = _token(base_url, "operator")
        key = admin.post("/api/admin/api-keys", json={"username": "operator", "name": "care records"}).json()["api_key"]
        assert _me(base_url, token) == 200 and _me(base_url, key=key) == 200

        assert admin.post("/api/admin/users/operator/disable").json()["active"] is False
        assert _me(base_url, token) == 401 and _me(base_url, key=key) == 401, "every token stops at once"
        assert httpx.post(f"{base_url}/api/auth/token", data={"username": "operator", "password": PASSWORD},
                          timeout=30).status_code == 401
        assert admin.post("/api/admin/users/operator/enable").json()["active"] is True
        assert _me(base_url, token) == 401, "enabling again does not bring old sessions back"
        assert _me(base_url, key=key) == 200

        token = _token(base_url, "operator")
        weak = admin.post("/api/admin/users/operator/password", json={"password": "password1234"})
        assert weak.status_code == 422
        assert admin.post("/api/admin/users/operator/password", json={"password": NEW_PASSWORD}).status_code == 204
        assert _me(base_url, token) == 401, "a reset ends every session"
        _token(base_url, "operator", NEW_PASSWORD)

        [listed] = [k for k in admin.get("/api/admin/api-keys", params={"username": "operator"}).json()]
        assert key.startswith(listed["prefix"]) and key not in str(listed)
        assert admin.post(f"/api/admin/api-keys/{listed['id']}/revoke").json()["revoked_at"]
        assert _me(base_url, key=key) == 401
        assert admin.post("/api/admin/users/nobody/disable").status_code == 404


def test_anyone_changes_their_own_password(world, tmp_path):
    with serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path, clock=Clock()) as (base_url, _):
        token, elsewhere = _token(base_url, "family-1"), _token(base_url, "family-1")
        me = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        wrong = me.post("/api/me/password", json={"current_password": "not it", "new_password": NEW_PASSWORD})
        assert wrong.status_code == 401
        for weak in ("family-1 family-1", "password1234", "short"):
            assert me.post("/api/me/password", json={"current_password": PASSWORD, "new_password": weak}).status_code == 422
        done = me.post("/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert done.status_code == 200, done.text
        assert _me(base_url, elsewhere) == 401 and _me(base_url, token) == 401, "every older session ends"
        assert _me(base_url, done.json()["access_token"]) == 200
        _token(base_url, "family-1", NEW_PASSWORD)
        me.close()


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_the_same_from_the_command_line(world, tmp_path):
    env = {"TECWATCH_REGISTRY__URL": str(world.engine.url), "TECWATCH_DATA_DIR": str(tmp_path / "cli")}
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _), _admin(base_url) as admin:
        key = admin.post("/api/admin/api-keys", json={"username": "responder", "name": "rota"}).json()["api_key"]
        token = _token(base_url, "operator")
        done = run_tecwatch(["disable-user", "operator"], tmp_path, env)
        assert done.returncode == 0 and "disabled" in done.stdout, done.stderr
        assert _me(base_url, token) == 401
        assert run_tecwatch(["enable-user", "operator"], tmp_path, env).returncode == 0

        token = _token(base_url, "operator")
        weak = run_tecwatch(["reset-password", "operator", "--password-stdin"], tmp_path, env, input="operator\n")
        assert weak.returncode == 2 and "at least 12 characters" in weak.stderr
        reset = run_tecwatch(["reset-password", "operator", "--password-stdin"], tmp_path, env, input=NEW_PASSWORD + "\n")
        assert reset.returncode == 0, reset.stderr
        assert _me(base_url, token) == 401
        _token(base_url, "operator", NEW_PASSWORD)

        listed = run_tecwatch(["api-keys", "--username", "responder"], tmp_path, env)
        key_id = listed.stdout.split()[0]
        assert key[:10] in listed.stdout and key not in listed.stdout
        assert run_tecwatch(["revoke-api-key", key_id], tmp_path, env).returncode == 0
        assert _me(base_url, key=key) == 401
        assert run_tecwatch(["disable-user", "nobody"], tmp_path, env).returncode == 2


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_the_same_from_the_pages(world, tmp_path, browser):
    def sign_in(username: str, password: str = PASSWORD):
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        operator = sign_in("operator")
        expect(operator).to_have_url(f"{base_url}/console")
        admin = sign_in("admin")
        admin.get_by_role("link", name="Accounts").click()
        admin.get_by_role("button", name="Disable operator").click()
        expect(admin.get_by_role("status")).to_contain_text("Account disabled")
        operator.reload()
        expect(operator).to_have_url(f"{base_url}/login?next=/console")
        admin.get_by_role("button", name="Enable operator").click()
        admin.get_by_label("New password for operator").fill(NEW_PASSWORD)
        admin.get_by_role("button", name="Reset the password of operator").click()
        expect(admin.get_by_role("status")).to_contain_text("Password reset")

        family = sign_in("family-1")
        family.get_by_role("link", name="Your account").click()
        family.get_by_label("Current password").fill(PASSWORD)
        family.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        family.get_by_label("New password again").fill(NEW_PASSWORD)
        family.get_by_role("button", name="Change password").click()
        expect(family.get_by_role("status")).to_contain_text("Password changed")
        family.goto("/family")
        expect(family.get_by_role("heading", name="Arthur Example")).to_be_visible()  # this session goes on
        family.get_by_role("button", name="Sign out").click()
        family.goto("/family")
        expect(family).to_have_url(f"{base_url}/login?next=/family")
        expect(sign_in("family-1", NEW_PASSWORD)).to_have_url(f"{base_url}/family/{world.cast.arthur_id}")
