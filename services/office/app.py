"""The office service: the Disnaker workspace, a backend-for-frontend.

Staff sign in with an account of this service (role and regions); pages are rendered on the server (Jinja2, htmx
served from /static, no CDN). It keeps accounts, sessions, change requests (maker-checker) and the append-only audit
trail in its own database, and reads and changes the other services only through their APIs, with its own API key.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.office import award_data, devices, members, service, upload_service
from services.office.api import STATIC, PageError, SignInNeeded, render, router
from services.office.billing import router as billing_router
from services.office.clients import Upstream
from services.office.sso import SingleSignOn
from services.office.upload import router as upload_router
from shared.database import Database
from shared.service import Runtime, every
from shared.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
# The largest file a page takes (the Upload page's spreadsheet, upload.MAX_UPLOAD_BYTES; a BPJS result file on the
# Billing page is at most 4 MiB), with its multipart framing.
MAX_BODY_BYTES = 9 * 1024 * 1024

# Pages load only what this service serves: no inline script, no other origin, never framed.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class UpstreamClients:
    """Closes the office's HTTP clients on shutdown (a Runtime worker)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream, self._stopped = upstream, asyncio.Event()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        await self.upstream.close()


class KeyActionCopier:
    """Copies what API keys changed directly in the other services into the audit trail, every few seconds (the
    Audit page also copies before it lists)."""

    def __init__(self, database: Database, upstream: Upstream) -> None:
        self.database, self.upstream, self._stopped = database, upstream, asyncio.Event()

    async def run(self) -> None:
        await every(service.KEY_ACTIONS_EVERY_SECONDS,
                    lambda: service.copy_key_actions(self.database, self.upstream), self._stopped)

    async def stop(self) -> None:
        self._stopped.set()


class UploadTasks:
    """Imports still sending when the office stops are cancelled and marked failed ("interrupted")."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        await upload_service.stop_all()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.mode == "prod":
        settings.service_key()  # refuse to start without the key approvals need
    runtime = Runtime("office", settings, MIGRATIONS)
    # httpx logs every request's URL at INFO; the Members page's search sends a name or NIK in enrolment's query
    # string, which must not reach the logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    upstream = Upstream(settings)
    runtime.add_worker(UpstreamClients(upstream))
    runtime.add_worker(UploadTasks())
    runtime.add_worker(KeyActionCopier(runtime.database, upstream))
    app = runtime.app([router, upload_router, billing_router, members.router, devices.router,
                       award_data.router], title="Paritrana office",
                      description="The Disnaker workspace: staff sign-in, maker-checker approvals and the audit trail.",
                      also_accept=FORMS, max_body_bytes=MAX_BODY_BYTES)
    app.state.upstream = upstream
    app.state.sso = SingleSignOn.configured(settings)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, _exc: SignInNeeded) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "error.html", None, status_code=exc.status, code=exc.code, status=exc.status)

    return app
