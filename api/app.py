"""The HTTP API (FastAPI). Routers translate; the services do the work."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from tecwatch.api import admin, alerts, auth, family, homes, reports, web
from tecwatch.db import make_engine
from tecwatch.store import open_store
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.registry.url)
        upgrade(engine)
        app.state.registry = engine
        app.state.settings = settings
        app.state.store = open_store(settings.store)
        yield
        app.state.store.close()
        engine.dispose()

    app = FastAPI(title="tecwatch", lifespan=lifespan)
    app.include_router(auth.router)
    app.include_router(alerts.router)
    app.include_router(homes.router)
    app.include_router(family.router)
    app.include_router(reports.router)
    app.include_router(admin.router)

    web.install(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    return app
