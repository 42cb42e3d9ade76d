"""The office's pages: thin routes that read the session, check CSRF and the staff member's regions, call
services/office/service.py and render a template. Every form carries the session's CSRF token; every page of a
region answers 403 to an account without that region."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.office import i18n, service
from services.office.clients import Upstream, UpstreamError
from services.office.domain import (
    FUNDING_POLICIES,
    FUNDING_SOURCES,
    ROLES,
    BudgetTerms,
    Line,
    LockoutPolicy,
    Refused,
    Staff,
    line_changes,
    parse_lines,
    total,
)
from services.office.sso import SingleSignOn
from shared.categories import category_name
from shared.regions import region as region_named
from shared.regions import region_name
from shared.service import ClockDep, DatabaseDep, SettingsDep
from shared.vocabulary import REGION_PATTERN

HERE = FilePath(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(rupiah=i18n.rupiah, day=i18n.day, month=i18n.month, sources=FUNDING_SOURCES,
                             roles=ROLES, funding_policies=FUNDING_POLICIES)

SESSION_COOKIE = "office_session"
SSO_COOKIE = "office_sso"  # state, nonce and PKCE verifier between the redirect to the provider and its callback
SIGN_IN_COOKIE = "office_sign_in"  # the sign-in form's double-submit token (there is no session yet)
LANG_COOKIE = "office_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

router = APIRouter(include_in_schema=False)

RegionPath = Annotated[str, Path(pattern=REGION_PATTERN)]


class PageError(Exception):
    """Answer with the error page: `code` is translated (i18n.TEXT)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


class SignInNeeded(Exception):
    pass


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "id")
    return lang if lang in i18n.LANGUAGES else "id"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def upstream(request: Request) -> Upstream:
    found: Upstream = request.app.state.upstream
    return found


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf_token: str
    token: str
    lang: str
    ip: str | None


async def signed_in(request: Request, database: DatabaseDep, clock: ClockDep) -> Session:
    token = request.cookies.get(SESSION_COOKIE)
    found = await service.current_staff(database, clock, token) if token else None
    if found is None or token is None:
        raise SignInNeeded()
    return Session(found[0], found[1], token, language(request), client_ip(request))


SessionDep = Annotated[Session, Depends(signed_in)]
UpstreamDep = Annotated[Upstream, Depends(upstream)]


async def checked_form(request: Request, session: SessionDep) -> dict[str, Any]:
    """The posted form, after its CSRF token (field or X-CSRF-Token header, as htmx sends it) matched the session's."""
    form = await request.form()
    presented = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if not presented or not hmac.compare_digest(presented, session.csrf_token):
        raise PageError(403, "csrf")
    return {"_form": form}


FormDep = Annotated[dict[str, Any], Depends(checked_form)]


def require(session: Session, action: str, region_code: str | None = None) -> None:
    """403 for a role without the action or a region outside the account's (whether or not it exists), then 404 for
    a code that is no province or regency/city."""
    if not session.staff.may(action):
        raise PageError(403, "forbidden")
    if region_code is not None and not session.staff.may_act_in(region_code):
        raise PageError(403, "outside_region")
    if region_code is not None and region_named(region_code) is None:
        raise PageError(404, "unknown_region")


def render(request: Request, template: str, session: Session | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    lang = session.lang if session else language(request)
    response = templates.TemplateResponse(request, template, {
        "t": i18n.translator(lang), "problem_text": i18n.problem_translator(lang), "lang": lang, "session": session,
        "staff": session.staff if session else None, "category_name": category_name,
        "csrf_token": session.csrf_token if session else None, "region_name": region_name, **context,
    }, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def home_region(staff: Staff) -> str | None:
    return next((code for code in staff.regions if code != "*"), None)


# --- sign-in, sign-out, language ---

def single_sign_on(request: Request) -> SingleSignOn | None:
    found: SingleSignOn | None = request.app.state.sso
    return found


@router.get("/sign-in")
async def sign_in_page(request: Request) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", None, sign_in_token=token, problem=None,
                      sso=single_sign_on(request))
    _set_sign_in_cookie(request, response, token)
    return response


def _set_sign_in_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=request.app.state.settings.cookie_secure, path="/sign-in")


@router.post("/sign-in")
async def sign_in(request: Request, database: DatabaseDep, clock: ClockDep, settings: SettingsDep) -> Response:
    form = await request.form()
    presented, expected = str(form.get(CSRF_FIELD) or ""), request.cookies.get(SIGN_IN_COOKIE) or ""
    if not presented or not expected or not hmac.compare_digest(presented, expected):
        raise PageError(403, "csrf")
    policy = LockoutPolicy(settings.office_lockout_attempts, settings.office_lockout_minutes)
    try:
        done = await service.sign_in(database, clock, policy, settings.office_session_hours,
                                     str(form.get("username") or "").strip().lower(), str(form.get("password") or ""),
                                     client_ip(request))
    except Refused as refused:
        token = secrets.token_urlsafe(32)
        response = render(request, "sign_in.html", None, status_code=423 if refused.code == "locked" else 401,
                          sign_in_token=token, problem=refused.code, sso=single_sign_on(request))
        _set_sign_in_cookie(request, response, token)
        return response
    response = see("/")
    _set_session_cookie(response, settings, done.token)
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


def _set_session_cookie(response: Response, settings: Any, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.office_session_hours * 3600), httponly=True,
                        samesite="strict", secure=settings.cookie_secure, path="/")


@router.get("/sign-in/sso")
async def sso_start(request: Request, settings: SettingsDep) -> Response:
    sso = single_sign_on(request)
    if sso is None:
        raise PageError(404, "not_found")
    url, kept = await sso.start(str(request.url_for("sso_callback")))
    response = RedirectResponse(url, status_code=302)
    # Lax, not Strict: the provider's redirect back is a navigation from another site.
    response.set_cookie(SSO_COOKIE, kept, max_age=600, httponly=True, samesite="lax", secure=settings.cookie_secure,
                        path="/sign-in/sso")
    return response


@router.get("/sign-in/sso/callback", name="sso_callback")
async def sso_callback(request: Request, database: DatabaseDep, clock: ClockDep, settings: SettingsDep,
                       state: str = "", code: str = "") -> Response:
    sso = single_sign_on(request)
    if sso is None:
        raise PageError(404, "not_found")
    try:
        username = await sso.finish(request.cookies.get(SSO_COOKIE, ""), state, code,
                                    str(request.url_for("sso_callback")))
    except Exception:  # the provider refused the code, or the ID token failed Authlib's checks
        username = None
    if not username:
        raise PageError(403, "sso_failed")
    try:
        done = await service.sign_in_vouched(database, clock, settings.office_session_hours, username, "oidc",
                                             client_ip(request))
    except Refused as refused:
        raise PageError(403, refused.code) from None
    # A page that moves on by itself, rather than a redirect: the Strict session cookie is then sent, since the next
    # request starts from this site, not from the provider's redirect.
    response = render(request, "signed_in.html", None)
    _set_session_cookie(response, settings, done.token)
    response.delete_cookie(SSO_COOKIE, path="/sign-in/sso")
    return response


@router.post("/sign-out")
async def sign_out(session: SessionDep, _form: FormDep, database: DatabaseDep, clock: ClockDep) -> Response:
    await service.sign_out(database, clock, session.token, service.Actor.of(session.staff, session.ip))
    response = see("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/language/{lang}")
async def choose_language(request: Request, lang: str, back: str = "/") -> Response:
    response = see(back if back.startswith("/") and not back.startswith("//") else "/")
    if lang in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/",
                            secure=request.app.state.settings.cookie_secure)
    return response


# --- home ---

async def figures(up: Upstream, region_code: str, year: int, *, award: bool = False) -> dict[str, Any]:
    """A region's figures from subsidy (the budget and, for a regency/city, its waiting list) and, for Home, the
    award service's score and rank."""
    shown: dict[str, Any] = {"budget": None, "waiting": None, "award": None, "unavailable": False}
    try:
        shown["budget"] = await up.budget(region_code, year)
        shown["waiting"] = await up.waiting(region_code, year, limit=1) if region_code.count(".") == 1 else None
    except UpstreamError:
        shown["unavailable"] = True
    if award:
        try:
            shown["award"] = await up.indicators(region_code, year)
        except UpstreamError:
            shown["award"] = None
    return shown


async def invoice(up: Upstream, region_code: str, year: int, month: int) -> dict[str, Any] | None:
    """This month's invoice for the region: the month's status (open, closed) and what the region owes."""
    try:
        found = await up.invoices(year, month)
    except UpstreamError:
        return None
    if found is None:
        return None
    lines = [i for i in found["invoices"] if i["region_code"] == region_code]
    return {"status": found["status"], "month": f"{year}-{month:02d}", "members": sum(i["members"] for i in lines),
            "amount_due_rupiah": sum(i["amount_due_rupiah"] for i in lines)}


@router.get("/")
async def home(request: Request, session: SessionDep, database: DatabaseDep, clock: ClockDep, up: UpstreamDep,
               region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
               year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> HTMLResponse:
    require(session, "view", region)
    region = region or home_region(session.staff)
    year = year or clock.today().year
    shown = await figures(up, region, year, award=True) if region else None
    today = clock.today()
    billed = await invoice(up, region, today.year, today.month) if region else None
    awaiting = [c for c in await service.changes_for(database, session.staff, "pending")
                if c.submitted_by != session.staff.staff_id] if session.staff.may("approve") else []
    return render(request, "home.html", session, region=region, year=year, figures=shown, invoice=billed,
                  awaiting=awaiting)


# --- budget ---

@router.get("/regions/{region_code}/budget")
async def budget_page(request: Request, region_code: RegionPath, session: SessionDep, database: DatabaseDep,
                      clock: ClockDep, up: UpstreamDep,
                      year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                      done: str | None = None) -> HTMLResponse:
    require(session, "view", region_code)
    return await _budget(request, session, database, up, region_code, year or clock.today().year, done=done)


async def _budget(request: Request, session: Session, database: Any, up: Upstream, region_code: str, year: int,
                  *, done: str | None = None, rows: list[dict[str, str]] | None = None,
                  problems: dict[str, str] | None = None, problem: str | None = None,
                  terms: BudgetTerms | None = None, status_code: int = 200) -> HTMLResponse:
    shown = await figures(up, region_code, year)
    waiting = None
    if region_code.count(".") == 1 and not shown["unavailable"]:
        try:
            waiting = await up.waiting(region_code, year, limit=50)
        except UpstreamError:
            waiting = None
    current = (shown["budget"] or {}).get("lines", [])
    if terms is None:
        terms = BudgetTerms.from_json(shown["budget"])
    if rows is None:
        rows = [{"line_id": x["line_id"], "source": x["source"], "amount": str(x["amount_rupiah"]),
                 "legal_reference": x["legal_reference"]} for x in current]
        rows += [{"line_id": "", "source": "", "amount": "", "legal_reference": ""}]
    pending = [c for c in await service.changes_for(database, session.staff, "pending")
               if c.region_code == region_code and c.fiscal_year == year]
    return render(request, "budget.html", session, status_code=status_code, region=region_code, year=year,
                  figures=shown, waiting=waiting, rows=rows, terms=terms,
                  problems=problems or {}, problem=problem, done=done, pending=pending,
                  may_submit=session.staff.may("submit"))


def _rows(form: Any) -> list[dict[str, str]]:
    columns = {name: [str(v) for v in form.getlist(name)] for name in ("line_id", "source", "amount",
                                                                        "legal_reference")}
    count = max((len(v) for v in columns.values()), default=0)
    return [{name: (values[i] if i < len(values) else "") for name, values in columns.items()} for i in range(count)]


@router.post("/regions/{region_code}/budget/{year}/amendments")
async def submit_amendment(request: Request, region_code: RegionPath,
                           year: Annotated[int, Path(ge=2000, le=2100)], session: SessionDep, form: FormDep,
                           database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "submit", region_code)
    posted = form["_form"]
    rows = _rows(posted)
    policy = posted.get("funding_policy")
    parsed = parse_lines(rows, None if policy is None else str(policy), posted.get("backdate_late_grants") == "on")
    if parsed.problems:
        return await _budget(request, session, database, up, region_code, year, rows=rows, status_code=422,
                             terms=parsed.terms, problems={p.field: p.code for p in parsed.problems})
    try:
        before, terms_before = await up.lines(region_code, year)
        await service.submit_budget_lines(database, clock, session.staff, session.ip, region_code, year,
                                          parsed.lines, before, parsed.terms or terms_before, terms_before)
    except UpstreamError:
        return await _budget(request, session, database, up, region_code, year, rows=rows, terms=parsed.terms,
                             status_code=503, problem="upstream_unavailable")
    except Refused as refused:
        return await _budget(request, session, database, up, region_code, year, rows=rows, terms=parsed.terms,
                             status_code=422, problem=refused.code)
    return see(f"/regions/{region_code}/budget?year={year}&done=submitted")


@router.get("/fragments/line-row")
async def line_row(request: Request, session: SessionDep) -> HTMLResponse:
    """One empty funding-line row for the amendment form (htmx appends it)."""
    return render(request, "_line_row.html", session, row={}, index=0, problems={})


# --- approvals ---

@router.get("/approvals")
async def approvals(request: Request, session: SessionDep, database: DatabaseDep,
                    done: str | None = None, problem: str | None = None) -> HTMLResponse:
    require(session, "view")
    listed = await service.changes_for(database, session.staff)
    names = await service.usernames(database, {c.submitted_by for c in listed} | {
        c.decided_by for c in listed if c.decided_by})
    budgets = [c for c in listed if c.kind == service.BUDGET_LINES]  # the other kinds show their own summary
    diffs = {c.change_id: line_changes([Line.from_json(x) for x in c.before["lines"]],
                                       [Line.from_json(x) for x in c.payload["lines"]]) for c in budgets}
    totals = {c.change_id: (total([Line.from_json(x) for x in c.before["lines"]]),
                            total([Line.from_json(x) for x in c.payload["lines"]])) for c in budgets}
    terms = {c.change_id: service.budget_change_terms(c) for c in budgets}
    return render(request, "approvals.html", session, changes=listed, names=names, diffs=diffs, totals=totals,
                  terms=terms, done=done, problem=problem)


@router.post("/approvals/{change_id}/decision")
async def decide(change_id: Annotated[str, Path(max_length=36)], session: SessionDep, form: FormDep,
                 database: DatabaseDep, clock: ClockDep, up: UpstreamDep) -> Response:
    require(session, "approve")
    found = await service.change(database, change_id)
    if found is None:
        raise PageError(404, "unknown_change")
    if not session.staff.may_act_in(found.region_code):
        raise PageError(403, "outside_region")
    posted = form["_form"]
    approve = posted.get("decision") == "approve"
    try:
        await service.decide(database, clock, up, session.staff, session.ip, change_id, approve,
                             str(posted.get("comment") or ""))
    except Refused as refused:
        if refused.code in ("own_change", "not_an_approver", "outside_region"):
            raise PageError(403, refused.code) from None
        return see(f"/approvals?problem={quote(refused.code)}")
    return see("/approvals?done=decided")


# --- audit ---

@router.get("/regions/{region_code}/audit")
async def audit(request: Request, region_code: RegionPath, session: SessionDep, database: DatabaseDep, up: UpstreamDep,
                action: Annotated[str | None, Query(max_length=48)] = None,
                actor: Annotated[str | None, Query(max_length=64)] = None,
                before: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    require(session, "view", region_code)
    if before is None:
        await service.copy_key_actions(database, up)
    entries = await service.audit_page(database, region_code, action or None, actor or None, before, limit=50)
    older = entries[-1].entry_id if len(entries) == 50 else None
    return render(request, "audit.html", session, region=region_code, entries=entries, action=action or "",
                  actor=actor or "", older=older, actions=[k[7:] for k in i18n.TEXT if k.startswith("action_")])


@router.get("/audit")
async def audit_everywhere(request: Request, session: SessionDep, database: DatabaseDep, up: UpstreamDep,
                           action: Annotated[str | None, Query(max_length=48)] = None,
                           actor: Annotated[str | None, Query(max_length=64)] = None,
                           before: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    """Every entry, account events (sign-ins, lockouts, accounts) included: for admins."""
    require(session, "manage_staff")
    if before is None:
        await service.copy_key_actions(database, up)
    entries = await service.audit_page(database, None, action or None, actor or None, before, limit=50)
    older = entries[-1].entry_id if len(entries) == 50 else None
    return render(request, "audit.html", session, region=None, entries=entries, action=action or "",
                  actor=actor or "", older=older, actions=[k[7:] for k in i18n.TEXT if k.startswith("action_")])


# --- staff accounts (admin) ---

@router.get("/staff")
async def staff_page(request: Request, session: SessionDep, database: DatabaseDep,
                     done: str | None = None) -> HTMLResponse:
    require(session, "manage_staff")
    return render(request, "staff.html", session, accounts=await service.list_staff(database), done=done,
                  problem=None)


@router.post("/staff")
async def create_staff(request: Request, session: SessionDep, form: FormDep, database: DatabaseDep,
                       clock: ClockDep) -> Response:
    require(session, "manage_staff")
    posted = form["_form"]
    regions = [r.strip() for r in str(posted.get("regions") or "").split(",") if r.strip()]
    try:
        await service.create_staff(database, clock, service.Actor.of(session.staff, session.ip),
                                   str(posted.get("username") or "").strip().lower(),
                                   str(posted.get("display_name") or "").strip(), str(posted.get("role") or ""),
                                   regions, str(posted.get("password") or ""))
    except Refused as refused:
        return render(request, "staff.html", session, status_code=422,
                      accounts=await service.list_staff(database), done=None, problem=refused.code)
    return see("/staff?done=created")


@router.post("/staff/{username}/disable")
async def disable_staff(username: Annotated[str, Path(max_length=64)], session: SessionDep, _form: FormDep,
                        database: DatabaseDep, clock: ClockDep) -> Response:
    require(session, "manage_staff")
    await service.disable_staff(database, clock, service.Actor.of(session.staff, session.ip), username)
    return see("/staff")
