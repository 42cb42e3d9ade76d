"""The Devices page: field-kit keys for the staff member's region. Issuing goes through the same access store and
call as `paritrana keys create --kind field_kit` (shared.access.AccessStore.create, the store every service's
Runtime holds), with the pairing link of paritrana.pairing; the secret and its QR code (SVG drawn on the server by
segno) are shown once, in the answer to the form, and never stored or logged. Listing and revoking stay inside the
region: a key is the region's when every region it was granted lies inside it."""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import urlsplit

import segno
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from paritrana.pairing import pairing_link
from services.office import service
from services.office.api import FormDep, PageError, RegionPath, Session, SessionDep, render, require, see
from shared.access import AccessStore
from shared.access.keys import region_covers
from shared.clock import Clock
from shared.database import Database
from shared.service import ClockDep, DatabaseDep, SettingsDep
from shared.settings import Settings

router = APIRouter(include_in_schema=False)

FIELD_KIT = "field_kit"
FIELD_KIT_SCOPES = ["registrations:write"]  # as README's `paritrana keys create --kind field_kit` example
NAME_MAX = 100
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


def access_store(request: Request) -> AccessStore:
    store: AccessStore = request.app.state.access
    return store


def reaches_only_this_machine(link: str) -> bool:
    """A link to localhost works on this computer and on no phone: worth saying before a phone scans it."""
    host = urlsplit(link).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def kit_url(settings: Settings) -> str:
    return settings.kit_url or settings.base_url("enrolment") + "/kit/"


def qr_svg(link: str) -> Markup:
    """The pairing link as an inline SVG QR code (error correction M, as the terminal code of the CLI)."""
    out = io.BytesIO()
    segno.make_qr(link, error="m", boost_error=False).save(out, kind="svg", scale=5, border=4, xmldecl=False,
                                                           svgns=True, title="QR", dark="#000", light="#fff")
    # segno's own SVG, with nothing of the user's in it but the link it encodes.
    return Markup(out.getvalue().decode())


def region_keys(keys: list[Any], region_code: str) -> list[Any]:
    return [k for k in keys if k.kind == FIELD_KIT and k.regions
            and all(region_covers(region_code, granted) for granted in k.regions)]


async def _audit(database: Database, clock: Clock, session: Session, action: str, region_code: str, subject: str,
                 after: Any = None) -> None:
    async with database.transaction() as db:
        await service._audit(db, clock, service.Actor.of(session.staff, session.ip), action, region_code, subject,
                             after=after)


async def _page(request: Request, session: Session, region_code: str, *, issued: dict[str, Any] | None = None,
                done: str | None = None, problem: str | None = None, status_code: int = 200) -> HTMLResponse:
    keys = region_keys(await access_store(request).list(), region_code)
    keys.sort(key=lambda k: (k.revoked_at is not None, k.created_at), reverse=False)
    return render(request, "devices.html", session, status_code=status_code, region=region_code, keys=keys,
                  issued=issued, done=done, problem=problem, may_act=session.staff.may("submit"))


@router.get("/regions/{region_code}/devices")
async def devices_page(request: Request, region_code: RegionPath, session: SessionDep,
                       done: str | None = None) -> HTMLResponse:
    require(session, "view", region_code)
    return await _page(request, session, region_code, done=done)


@router.post("/regions/{region_code}/devices")
async def issue_key(request: Request, region_code: RegionPath, session: SessionDep, form: FormDep,
                    database: DatabaseDep, clock: ClockDep, settings: SettingsDep) -> Response:
    require(session, "submit", region_code)
    name = " ".join(str(form["_form"].get("name") or "").split())[:NAME_MAX]
    if len(name) < 2:
        return await _page(request, session, region_code, problem="device_name_required", status_code=422)
    store = access_store(request)
    # One active key per device name in a region: the page that shows a new key is the POST's answer, and a reload
    # sends the POST again; this refuses it rather than issue a second key nobody sees. (The office runs more than
    # one replica, so the guard lives in the key store, not in a process's memory.)
    if any(k.name == name and k.revoked_at is None for k in region_keys(await store.list(), region_code)):
        return await _page(request, session, region_code, problem="device_name_taken", status_code=409)
    issued = await store.create(name, FIELD_KIT, FIELD_KIT_SCOPES, [region_code])
    await _audit(database, clock, session, "device_key_issued", region_code, issued.key_id,
                 after={"kind": FIELD_KIT, "scopes": FIELD_KIT_SCOPES, "regions": [region_code]})
    link = pairing_link(kit_url(settings), issued.secret)
    return await _page(request, session, region_code, issued={"key_id": issued.key_id, "name": name,
                                                               "secret": issued.secret, "link": link,
                                                               "qr": qr_svg(link),
                                                               "loopback": reaches_only_this_machine(link)})


@router.post("/regions/{region_code}/devices/{key_id}/revoke")
async def revoke_key(request: Request, region_code: RegionPath, key_id: KeyId, session: SessionDep,
                     _form: FormDep, database: DatabaseDep, clock: ClockDep) -> Response:
    require(session, "submit", region_code)
    store = access_store(request)
    if key_id not in {k.key_id for k in region_keys(await store.list(), region_code)}:
        raise PageError(404, "unknown_device")
    if await store.revoke(key_id):
        await _audit(database, clock, session, "device_key_revoked", region_code, key_id)
    return see(f"/regions/{region_code}/devices?done=device_revoked")
