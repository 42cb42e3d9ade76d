"""The enrolment service: registrations from partner apps and field kits, published through an outbox."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.enrolment.api import bpjs_router, router
from services.enrolment.consumers import decisions_handler
from services.enrolment.domain import IntakeRules
from services.enrolment.models import key_actions, outbox, outbox_lease, outbox_marks
from services.enrolment.repository import Registrations
from services.enrolment.service import load_mapping
from shared.key_actions import key_actions_router
from shared.outbox import OutboxRelay
from shared.service import Runtime
from shared.settings import Settings, get_settings
from shared.topics import DECISIONS

MIGRATIONS = Path(__file__).parent / "migrations"
# The field kit's built files (its sources and build are in field-kit/): served from the API's origin, so no CORS.
FIELD_KIT = Path(__file__).parent / "static" / "kit"
# Enrolment reads decisions only to show a registration's status to partner apps and field kits, which ask for it
# again later; nothing waits on it the way the dashboard waits on award. Half a second between fetches while
# decisions flow, instead of every consumer's tenth, spares the broker four empty fetches a second.
STATUS_FETCH_WAIT_MS = 500


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime("enrolment", settings, MIGRATIONS)
    relay = OutboxRelay(runtime.database, outbox, outbox_lease, outbox_marks, runtime.producer, "enrolment")
    runtime.add_worker(relay)
    runtime.consume([DECISIONS.name], decisions_handler(runtime.database, runtime.clock),
                    busy_fetch_wait_ms=STATUS_FETCH_WAIT_MS)
    app = runtime.app([router, bpjs_router, key_actions_router(key_actions)], title="Paritrana enrolment",
                      description=DESCRIPTION, max_body_bytes=settings.enrolment_max_body_bytes,
                      upload_paths=[r"/v1/bpjs/results"])
    app.mount("/kit", StaticFiles(directory=FIELD_KIT, html=True), name="kit")
    app.state.registrations = Registrations(runtime.database)
    app.state.intake_rules = IntakeRules.from_settings(settings)
    app.state.bpjs_mapping = load_mapping(settings.bpjs_member_file_mapping)
    return app


DESCRIPTION = """Registrations of vulnerable workers for premium assistance (BPJS Ketenagakerjaan BPU, JKK + JKM).

Authenticate with an API key: `Authorization: Bearer prt_…` (or `X-API-Key`). Writes need `registrations:write`,
reads `registrations:read`; a key only acts in its regions and gets 403 elsewhere, whether or not a record exists.

Errors are `{"errors": [{"field", "code", "message"}]}`; a 422 lists every problem found. Messages never repeat
the submitted value. Resending a registration with the same `registration_id` is always safe.
"""
