"""Structured logs with personal data masked, and the /healthz, /readyz and /metrics endpoints."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from lokal.samaran import Samaran
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# Event ids, registration ids and offsets are long digit/hex runs too; only the types below are personal data here.
MASKED_TYPES = ("NIK", "PHONE", "NAME", "BIRTH_DATE", "EMAIL", "KK", "ADDRESS")


class MaskedJsonFormatter(logging.Formatter):
    """One JSON object per line; the whole rendered line goes through lokal-id's Samaran before it is written,
    so a NIK, phone or name that slips into a message, an ``extra`` field or a traceback comes out masked."""

    def __init__(self, service: str, as_json: bool = True) -> None:
        super().__init__()
        self.service, self.as_json = service, as_json

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if self.as_json:
            line = json.dumps({
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(),
                "service": self.service,
                "logger": record.name,
                "message": message,
            }, ensure_ascii=False)
        else:
            line = f"{record.levelname:<7} {self.service} {record.name}: {message}"
        return mask_personal_data(line)


def mask_personal_data(text: str) -> str:
    try:
        return Samaran(mode="partial", types=_types()).mask(text).text
    except Exception:
        return "<log line withheld: masking failed>"


def _types() -> tuple[Any, ...]:  # lokal names its PII types as Literals; these are a subset of them
    from lokal import PII_TYPES

    return tuple(t for t in MASKED_TYPES if t in PII_TYPES)


def configure_logging(service: str, level: str = "INFO", as_json: bool = True, access_log: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskedJsonFormatter(service, as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One line per request costs more than the request at intake rates; opt in with PARITRANA_ACCESS_LOG.
    logging.getLogger("uvicorn.access").disabled = not access_log
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


Check = Callable[[], Awaitable[bool]]


def health_router(checks: dict[str, Check]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and the broker are reachable",
                responses={503: {"description": "A dependency is unreachable"}})
    async def readyz(response: Response) -> dict[str, object]:
        results = {name: await check() for name, check in checks.items()}
        ready = all(results.values())
        response.status_code = 200 if ready else 503
        return {"status": "ready" if ready else "unavailable", "checks": results}

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
