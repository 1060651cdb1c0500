"""The API against its own OpenAPI schema: schemathesis over the real server (uvicorn on loopback,
SQLite registry), as an admin and as a family member, plus hand-written input errors.

For every operation, generated requests (valid ones, and ones the schema says are invalid) must
never get a 5xx, must be answered within REQUEST_TIMEOUT_S, and every response must be one the
schema documents: its status code, content type and body. The one allowance: a 403 or 404 with
a plain {"detail": "..."} is fine though undocumented ("not yours", "no such thing"). A fixed
number of examples per operation and a fixed seed keep the run bounded and repeatable; no
shrinking, so each kind of failure is reported with the first request that showed it (a curl).

schemathesis's pytest loader for fixtures (``schemathesis.pytest.from_fixture``) does not work on
pytest 9 (it sets ``Function._nodeid``, which pytest 9 no longer has), so the operations are
driven with its Python API instead: each operation's Hypothesis strategy, one test item per
operation and caller, and schemathesis's own checks on every response.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.api.app import create_app
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import ApiSettings, Settings

from apisupport import PASSWORD, Cast, api_server, seed_cast, signed_in

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
SEED = 20261125
MAX_EXAMPLES = 40  # per operation and caller
REQUEST_TIMEOUT_S = 10
CALLERS = ("admin", "family-1")
# The live feed (server-sent events) answers 200 and then keeps the connection open for as long as
# the client listens: a generated request would never complete. test_api_live.py covers it.
STREAMS_FOREVER = {("GET", "/api/alerts/stream")}


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the app documents; the test loads the schema itself from
    the running server, this only names the test items."""
    paths = create_app(Settings()).openapi()["paths"]
    return sorted((method.upper(), path) for path, methods in paths.items() for method in methods
                  if (method.upper(), path) not in STREAMS_FOREVER)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Cast]]:
    """One seeded server for the module (the writes generated requests make are small)."""
    tmp = tmp_path_factory.mktemp("api-schema")
    url = f"sqlite:///{tmp}/registry.db"
    engine = make_engine(url)
    upgrade(engine)
    cast = seed_cast(engine)
    AlertEngine(engine, clock=lambda: T0).raise_hits([
        RuleHit("home-1", "pendant", T0, "Pendant pressed", {}, "pendant-1"),
        RuleHit("home-1", "low_battery", T0 + timedelta(minutes=1), "Battery low on door door-front (9%)",
                {"battery": 9.0}, "door-front"),
        RuleHit("home-2", "fall_detected", T0 + timedelta(minutes=2), "Fall detected in the lounge (fall-1)", {},
                "fall-1"),
        RuleHit("home-2", "not_up", T0 + timedelta(hours=6), "Not up by 09:30", {"up_by": 570}),
    ])
    # Generated sign-ins fail by the dozen: with the usual throttle they would lock this address
    # and keep the next caller out. Throttling has its own tests (tests/security).
    with api_server(url, tmp, api=ApiSettings(login_free_failures=100_000,
                                              login_lockout_failures=100_000)) as (base_url, _settings):
        yield base_url, cast
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(server: tuple[str, Cast]) -> schemathesis.BaseSchema:
    """The schema as the running server publishes it."""
    base_url, _ = server
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {
            "deterministic": True,
            "database": "none",
            # Credentials are the caller's bearer token, not generated security parameters.
            "with-security-parameters": False,
        },
    })
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


@pytest.fixture(scope="module", params=CALLERS)
def caller(request: pytest.FixtureRequest, server: tuple[str, Cast]) -> tuple[str, dict[str, str]]:
    base_url, _ = server
    r = httpx.post(f"{base_url}/api/auth/token", data={"username": request.param, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return request.param, {"Authorization": f"Bearer {r.json()['access_token']}"}


def status_code_documented(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                           case: schemathesis.Case) -> bool | None:
    """schemathesis's status_code_conformance, except for 403 and 404: "not yours" (a family member
    asking for another resident, any caller naming what does not exist) is a fine answer, though
    the schema does not list it, as long as it is the API's plain refusal, {"detail": "..."}.
    A 5xx is not_a_server_error's to report, once."""
    if response.status_code >= 500:
        return None
    if response.status_code in (403, 404):
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], (
            f"a {response.status_code} should say why in a 'detail' string, got {response.text[:200]!r}")
        return None
    return status_code_conformance(ctx, response, case)


CHECKS = [not_a_server_error, status_code_documented, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda x: x)
def test_every_operation_conforms(api_schema: schemathesis.BaseSchema, caller: tuple[str, dict[str, str]],
                                  method: str, path: str) -> None:
    username, headers = caller
    operation = api_schema[path][method]
    # Valid requests and requests the schema says are invalid (wrong types, out of range, missing).
    cases = (operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
             | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    found: dict[tuple[str, int], str] = {}  # (what failed, status) -> the first such failure, with a curl to repeat it
    statuses: Counter[int] = Counter()

    @hypothesis.seed(SEED)
    @hypothesis.settings(max_examples=MAX_EXAMPLES, database=None, deadline=None, print_blob=False,
                         # no shrinking: every failure is reported as found, and the run stays bounded
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=cases)
    def exercise(case: schemathesis.Case) -> None:
        if ("no answer", 0) in found:
            return  # one request the server could not answer in time is reported; more would only stall the run
        mode = case.meta.generation.mode.value if case.meta else "?"
        try:
            response = case.call(headers=headers, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as err:
            found[("no answer", 0)] = (f"No answer ({mode} data): {type(err).__name__} after at most "
                                       f"{REQUEST_TIMEOUT_S} s\n  {case.as_curl_command(headers=headers)}")
            return
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            curl = case.as_curl_command(headers=dict(response.request.headers))  # the token is masked
            for failure in group.exceptions:
                found.setdefault((failure.title, response.status_code), (
                    f"{failure.title} ({mode} data): {failure.message.strip()}\n"
                    f"  got {response.status_code}: {response.text[:300]!r}\n  {curl}"))

    exercise()
    assert not found, (f"{method} {path} as {username}: {len(found)} kind(s) of failure "
                       f"(statuses: {dict(sorted(statuses.items()))})\n\n" + "\n\n".join(found.values()))


# --- Input errors, by hand: a 422 whose detail names what was wrong -----------------------------

# (what, method, path, request arguments, the offending field). The alert need not exist: the
# input is checked before anything is looked up.
BAD_INPUT = [
    ("bad date", "GET", "/api/reports/reach", {"params": {"day": "2026-02-30"}}, "day"),
    ("not a date", "GET", "/api/reports/reach/monthly", {"params": {"start": "last tuesday"}}, "start"),
    ("negative offset", "GET", "/api/alerts", {"params": {"offset": -1}}, "offset"),
    ("negative offset", "GET", "/api/homes", {"params": {"offset": -5}}, "offset"),
    ("limit out of range", "GET", "/api/family/residents", {"params": {"limit": 0}}, "limit"),
    ("unknown outcome", "POST", "/api/alerts/1/resolve", {"json": {"outcome": "sorted"}}, "outcome"),
    ("unknown role", "POST", "/api/admin/users",
     {"json": {"username": "new-person", "password": "a long password!", "role": "superuser"}}, "role"),
    ("unknown format", "GET", "/api/reports/reach", {"params": {"format": "xlsx"}}, "format"),
    ("wrong body type", "POST", "/api/alerts/1/notes", {"json": {"text": ["called", "the key holder"]}}, "text"),
    ("wrong body type", "POST", "/api/alerts/1/acknowledge", {"json": ["a note"]}, "body"),
    ("not a number", "GET", "/api/alerts/first", {}, "alert_id"),
    ("not a number", "GET", "/api/homes/home-1/activity", {"params": {"days": "a week"}}, "days"),
    ("start after end", "GET", "/api/reports/outcomes", {"params": {"start": "2026-05-01", "end": "2026-01-01"}},
     "start"),
    # The registry's records: the services' own checks are 422s naming the field as well.
    ("bad NHS number", "POST", "/api/residents",
     {"json": {"name": "Ada Example", "home_id": "home-1", "nhs_number": "943 476 5918"}}, "nhs_number"),
    ("room not in the list", "POST", "/api/devices",
     {"json": {"home_id": "home-1", "type": "motion", "room": "attic", "serial": "S-1", "installed_by": "Sam",
               "installed_at": "2026-01-05T09:00:00+00:00"}}, "room"),
    ("unknown field", "PATCH", "/api/residents/1", {"json": {"mystery": 1}, "headers": {"If-Match": '"1"'}}, "mystery"),
    ("a step for nobody", "POST", "/api/chains", {"json": {"name": "night", "steps": [{"responder_id": 2**31 - 1}]}},
     "responder_id"),
    ("not a home id", "GET", "/api/homes/home 1!/devices", {}, "home_id"),
]


@pytest.fixture(scope="module")
def admin(server: tuple[str, Cast]) -> Iterator[httpx.Client]:
    base_url, _ = server
    with signed_in(base_url, "admin") as client:
        yield client


def _names(detail: object, field: str) -> bool:
    """Whether a 422's detail says which field was wrong, with a message a person can read."""
    if isinstance(detail, str):
        return field in detail
    return isinstance(detail, list) and any(
        isinstance(e, dict) and e.get("loc") and e["loc"][-1] == field and str(e.get("msg", "")).strip()
        for e in detail)


@pytest.mark.parametrize(("what", "method", "path", "kwargs", "field"), BAD_INPUT,
                         ids=[f"{b[0]}-{b[1]}-{b[2]}" for b in BAD_INPUT])
def test_input_errors_are_clear_422s(admin: httpx.Client, what: str, method: str, path: str, kwargs: dict,
                                     field: str) -> None:
    r = admin.request(method, path, **kwargs)
    assert r.status_code == 422, f"{what}: {method} {path} gave {r.status_code}: {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json().get("detail")
    assert _names(detail, field), f"{what}: the detail should name {field!r}: {detail!r}"


@pytest.mark.parametrize("path", ["/api/reports/still-at-home?day=0001-01-01", "/api/reports/reach?day=9999-12-31",
                                  "/api/reports/reach/per-1000?day=9999-12-31",
                                  "/api/reports/alert-rates?start=0001-01-01&end=0001-03-01"])
def test_days_reports_do_not_cover_are_422s(admin: httpx.Client, path: str) -> None:
    r = admin.get(path)
    assert r.status_code == 422 and "outside the days reports cover" in r.json()["detail"], r.text
