"""One error shape for every service: ``{"errors": [{"field", "code", "message"}]}``.

Messages never echo the submitted value: a rejected NIK or phone must not come back in an error body or a log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.failures import is_transient


class FieldError(BaseModel):
    field: str | None = None
    code: str
    message: str


class ErrorBody(BaseModel):
    errors: list[FieldError]


class HttpProblem(Exception):
    """Raised by a route to answer `status` with one error in the shape above. (paritrana.client.ApiError is the
    partner-facing client's error, what such an answer becomes on the other side.)"""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers, self.extra = status, headers, extra or {}
        self.errors = [FieldError(field=field, code=code, message=message)]

    @classmethod
    def listing(cls, status: int, errors: list[FieldError], extra: dict[str, Any] | None = None) -> HttpProblem:
        """One answer naming every problem found, not only the first."""
        first = errors[0]
        problem = cls(status, first.code, first.message, field=first.field, extra=extra)
        problem.errors = list(errors)
        return problem



def error_response(status: int, errors: list[FieldError], headers: dict[str, str] | None = None,
                   extra: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"errors": [e.model_dump() for e in errors]}
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """("body", "items", 3, "nik") -> "items[3].nik"."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or str(loc[0] if loc else "body")


_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "This field is not allowed.",
    "string_too_long": "Too long.",
    "string_too_short": "Too short.",
    "too_long": "Too many items.",
    "too_short": "Too few items.",
}


def validation_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    out = []
    for e in errors:
        code = e.get("type", "invalid")
        message = _MESSAGES.get(code)
        if message is None:
            # Pydantic's message names the expectation ("Input should be a valid integer"); its input is dropped.
            message = str(e.get("msg", "Invalid value."))
        out.append(FieldError(field=field_path(e.get("loc", ())), code=code, message=message))
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HttpProblem)
    async def _problem(_request: Request, exc: HttpProblem) -> JSONResponse:
        return error_response(exc.status, exc.errors, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, [FieldError(field="body", code="malformed_json",
                                                   message="The body is not valid JSON.")])
        return error_response(422, validation_errors(errors))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(ConnectionError)
    async def _database_away(_request: Request, exc: Exception) -> JSONResponse:
        # The database restarting or failing over: 503 with Retry-After, which clients retry, rather than a 500.
        if not is_transient(exc):
            raise exc
        return error_response(503, [FieldError(code="database_unavailable",
                                               message="The database is briefly unavailable; retry shortly.")],
                              {"Retry-After": "1"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return error_response(exc.status_code, [FieldError(code=f"http_{exc.status_code}", message=str(exc.detail))],
                              headers)


def allowed_methods(request: Request) -> str:
    """Every method the request's path answers, for a 405's Allow header. The router hands the request to the first
    route whose path matches, whose Allow lists that route's methods only; a path served by several routes (GET and
    PUT apart) answers them all. A literal path is its own resource, as OpenAPI has it: /v1/registrations/batch
    lists its POST, not also the GET of /v1/registrations/{registration_id} that its text happens to match."""
    # A fresh scope: the one being answered already carries the first route's match.
    scope = {"type": "http", "method": request.method, "path": request.scope["path"],
             "root_path": request.scope.get("root_path", "")}
    matching = [route for route in iter_route_contexts(request.app.router.routes)
                if route.methods and route.matches(scope)[0] is not Match.NONE]
    literal = [route for route in matching if "{" not in (route.path_format or "{")]
    methods: set[str] = set()
    for route in literal or matching:
        methods |= route.methods or set()
    return ", ".join(sorted(methods))


# Spreadsheets uploaded as the body itself (BPJS's result file and bill), on the paths that take them.
FILE_MEDIA_TYPES = frozenset({"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})


class BodyGuard:
    """ASGI middleware: 415 for a body that is not JSON (or, on an upload path, a CSV or XLSX file), 413 for one over
    the limit (declared or streamed).

    ``also_accept``: further media types a service takes everywhere (the office's HTML forms)."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_paths: Sequence[str] = (),
                 also_accept: tuple[str, ...] = ()) -> None:
        self.app, self.max_bytes, self.also_accept = app, max_bytes, also_accept
        self.upload_paths = tuple(re.compile(p) for p in upload_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(send, 413, "body_too_large", f"The body is larger than {self.max_bytes} bytes.")
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = declared not in (None, "0") or "transfer-encoding" in headers
        upload = content_type in FILE_MEDIA_TYPES and any(p.fullmatch(scope["path"]) for p in self.upload_paths)
        if (has_body and content_type != "application/json" and not content_type.endswith("+json") and not upload
                and content_type not in self.also_accept):
            await _send_error(send, 415, "unsupported_media_type", "Send the body as application/json.")
            return

        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        answered = False

        async def guarded_send(message: Message) -> None:
            # A route may catch the overflow while reading its body and answer 400 itself: answer 413 instead.
            nonlocal answered
            if not too_large:
                await send(message)
            elif not answered:
                answered = True
                await _send_error(send, 413, "body_too_large", f"The body is larger than {self.max_bytes} bytes.")

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not answered:
                await _send_error(send, 413, "body_too_large", f"The body is larger than {self.max_bytes} bytes.")


class _BodyTooLarge(Exception):
    pass


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = ErrorBody(errors=[FieldError(field="body", code=code, message=message)]).model_dump_json().encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
