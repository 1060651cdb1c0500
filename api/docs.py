"""The API's own documentation (Swagger UI at /docs, the schema at /openapi.json), served from
the installed fastapi-offline package rather than a CDN, so it works offline and under our
content security policy. In production only staff may read it."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from tecwatch.api.access import Credential
from tecwatch.api.deps import STAFF, credential, principal

ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}

router = APIRouter(include_in_schema=False)


def docs_reader(request: Request, cred: Credential | None = Depends(credential)) -> None:
    if not request.app.state.settings.production:
        return
    who = principal(request, cred)
    if who.role not in STAFF:
        raise HTTPException(403, f"a {who.role.value} account cannot read the API documentation")


@router.get("/openapi.json", dependencies=[Depends(docs_reader)])
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse, dependencies=[Depends(docs_reader)])
def docs() -> HTMLResponse:
    # No inline script: docs.js starts Swagger UI, so the content security policy stays strict.
    return HTMLResponse("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tecwatch API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"><link rel="icon" href="/docs/assets/favicon.png"></head>
<body><div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script></body></html>""")


@router.get("/docs/assets/{name}", dependencies=[Depends(docs_reader)])
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return FileResponse(str(files("fastapi_offline") / "static" / name), media_type=ASSETS[name])
