"""The HTTP API (FastAPI). Routers translate; the services do the work."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from tecwatch.api import (
    admin, alerts, auth, callqualityapi, calls, consents, contacts, devices, docs, enrolment, escalation, family, history, homerecords, homes,
    reports, residents, users, web,
)
from tecwatch.api import attendance
from tecwatch.api.security import SecurityMiddleware, redact_access_log
from tecwatch.api.signin import Clock, SignInService, wall_clock
from tecwatch.db import make_engine
from tecwatch.store import open_store
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import Settings


def create_app(settings: Settings, clock: Clock = wall_clock) -> FastAPI:
    """``clock`` decides token expiry and sign-in backoff (tests pass their own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.registry.url)
        upgrade(engine)
        app.state.registry = engine
        app.state.signin = SignInService(engine, settings.api, clock)
        app.state.store = open_store(settings.store)
        # What exists once started (the libraries, the routes, the models) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise walk all of it
        # every few seconds under load and hold a request up by about 200 ms (bench/api.py).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()
        app.state.store.close()
        engine.dispose()

    # The documentation pages are our own (api/docs.py): local assets, staff only in production.
    app = FastAPI(title="tecwatch", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.clock = clock
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(alerts.router)
    app.include_router(calls.router)
    app.include_router(attendance.router)
    app.include_router(homes.router)
    app.include_router(family.router)
    # The registry's records (enrolment); their errors are answered the same way everywhere.
    for module in (residents, homerecords, devices, contacts, escalation, consents, history):
        app.include_router(module.router)
    enrolment.install(app)
    app.include_router(reports.router)
    app.include_router(admin.router)
    app.include_router(callqualityapi.router)
    app.include_router(docs.router)

    web.install(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    return app


def server_config(app, host: str, port: int, **options) -> uvicorn.Config:
    """How every uvicorn serving the app is set up. Forwarded headers are left to the app, which
    believes them from the configured trusted proxies only (uvicorn would trust 127.0.0.1), and
    the access log never shows an acknowledge link's token."""
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=False, **options)
    redact_access_log()
    return config
