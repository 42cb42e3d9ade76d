"""Staff accounts over HTTP: sign-in, session cookies, lockout, CSRF, disabling, and the command line."""

from __future__ import annotations

from sqlalchemy import select

from services.office import service
from services.office.models import staff
from tests.office.conftest import CSRF, PASSWORD, csrf_of, running_office, sign_in


async def test_sign_in_sets_a_secure_httponly_samesite_session(broker, office_settings):
    settings = await office_settings(broker, office_cookie_secure=True)
    async with running_office(settings) as office:
        client = office.client()
        assert (await client.get("/")).headers["location"] == "/sign-in", "no session: the sign-in page"
        # A Secure cookie is not sent back over plain http by the client: hand the sign-in token over as a browser
        # on https would.
        page = await client.get("/sign-in")
        form_cookie = page.headers["set-cookie"]
        assert {"httponly", "secure", "samesite=strict"} <= {p.strip().lower() for p in form_cookie.split(";")}
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        response = await client.post("/sign-in", headers={"Cookie": form_cookie.split(";")[0]},
                                     data={"csrf_token": token, "username": "ops-cilegon", "password": PASSWORD})
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = next(v for k, v in response.headers.multi_items()
                      if k == "set-cookie" and v.startswith("office_session="))
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
        assert "content-security-policy" in response.headers
        # The password is stored as an argon2id hash only.
        async with office.server.runtime.database.reading() as session:
            stored = (await session.execute(select(staff.c.password_hash).where(
                staff.c.username == "ops-cilegon"))).scalar_one()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_wrong_passwords_lock_the_account_and_the_right_one_then_waits(broker, office_settings):
    settings = await office_settings(broker, office_lockout_attempts=3, office_lockout_minutes=15)
    async with running_office(settings) as office:
        client = office.client()
        for _ in range(2):
            wrong = await sign_in(client, "ver-cilegon", "not the password")
            assert wrong.status_code == 401 and "kata sandi salah" in wrong.text
        locked = await sign_in(client, "ver-cilegon", "not the password")
        assert locked.status_code == 423 and "dikunci" in locked.text
        still = await sign_in(client, "ver-cilegon", PASSWORD)
        assert still.status_code == 423, "locked: even the right password is refused"
        # An unknown name answers like a wrong password.
        unknown = await sign_in(client, "nobody-here", PASSWORD)
        assert unknown.status_code == 401
        # Another account is not affected, and the lock lifts once its minutes have passed.
        assert (await sign_in(office.client(), "ops-cilegon", PASSWORD)).status_code == 303
        clock = office.server.runtime.clock
        clock.set(clock.now().replace(microsecond=0) + __import__("datetime").timedelta(minutes=16))
        assert (await sign_in(office.client(), "ver-cilegon", PASSWORD)).status_code == 303
        entries = await service.audit_page(office.server.runtime.database, None, None, "ver-cilegon", None)
        actions = [e.action for e in entries]
        assert actions.count("sign_in_failed") == 3 and "account_locked" in actions
        assert "sign_in_refused_locked" in actions and actions[0] == "signed_in"


async def test_forms_without_the_csrf_token_are_refused(broker, office_settings):
    settings = await office_settings(broker)
    async with running_office(settings) as office:
        anonymous = office.client()
        # Sign-in: the form's token must match its cookie (a login CSRF cannot sign a victim in).
        refused = await anonymous.post("/sign-in", data={"username": "ops-cilegon", "password": PASSWORD})
        assert refused.status_code == 403 and 'data-code="csrf"' in refused.text
        await anonymous.get("/sign-in")
        forged = await anonymous.post("/sign-in", data={"csrf_token": "forged", "username": "ops-cilegon",
                                                        "password": PASSWORD})
        assert forged.status_code == 403
        operator = await office.signed_in("ops-cilegon")
        body = {"line_id": "apbd", "source": "apbd_kabkota", "amount": "1000000", "legal_reference": "Perda 1/2024"}
        for data in (body, {**body, "csrf_token": "not-the-token"}):
            answer = await operator.post("/regions/36.72/budget/2024/amendments", data=data)
            assert answer.status_code == 403 and 'data-code="csrf"' in answer.text
        assert (await operator.post("/sign-out")).status_code == 403
        # Another session's token is not this session's.
        other = await office.signed_in("ops2-cilegon")
        stolen = await csrf_of(other)
        assert (await operator.post("/sign-out", data={"csrf_token": stolen})).status_code == 403
        # With its own token the same form goes through.
        assert (await operator.post("/sign-out", data={"csrf_token": await csrf_of(operator)})).status_code == 303
        assert (await operator.get("/")).status_code == 303, "signed out: the session is gone"


async def test_a_disabled_account_loses_its_session_and_cannot_sign_in(broker, office_settings):
    settings = await office_settings(broker)
    async with running_office(settings) as office:
        operator = await office.signed_in("ops-cilegon")
        admin = await office.signed_in("admin")
        staff_page = await admin.get("/staff")
        assert staff_page.status_code == 200 and "ops-cilegon" in staff_page.text
        token = CSRF.search(staff_page.text).group(1)  # type: ignore[union-attr]
        assert (await admin.post("/staff/ops-cilegon/disable", data={"csrf_token": token})).status_code == 303
        assert (await operator.get("/")).status_code == 303
        assert (await sign_in(office.client(), "ops-cilegon", PASSWORD)).status_code == 401
        # Only an admin manages accounts.
        verifier = await office.signed_in("ver-cilegon")
        assert (await verifier.get("/staff")).status_code == 403
        created = await admin.post("/staff", data={"csrf_token": token, "username": "ops-new", "display_name": "Baru",
                                                   "role": "operator", "regions": "36.72", "password": PASSWORD})
        assert created.status_code == 303
        weak = await admin.post("/staff", data={"csrf_token": token, "username": "ops-weak", "role": "operator",
                                                "regions": "36.72", "password": "short"})
        assert weak.status_code == 422 and 'data-code="weak_password"' in weak.text
        assert (await sign_in(office.client(), "ops-new", PASSWORD)).status_code == 303
        # The admin's audit view holds the account events, which belong to no region.
        everything = await admin.get("/audit")
        assert everything.status_code == 200
        for action in ("staff_created", "staff_disabled", "signed_in"):
            assert f'data-action="{action}"' in everything.text, action
        filtered = await admin.get("/audit", params={"action": "staff_disabled"})
        assert filtered.text.count('data-action="') == 1
        assert (await verifier.get("/audit")).status_code == 403


def test_the_staff_commands(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from paritrana.cli import main
    from shared.settings import get_settings

    monkeypatch.setenv("PARITRANA_OFFICE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'office.db'}")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        created = runner.invoke(main, ["staff", "create", "ops-serang", "--role", "operator", "--region", "36.04",
                                       "--password", PASSWORD])
        assert created.exit_code == 0, created.output
        weak = runner.invoke(main, ["staff", "create", "ops-weak", "--role", "operator", "--region", "36.04",
                                    "--password", "short"])
        assert weak.exit_code == 2 and "weak_password" in weak.output
        listed = runner.invoke(main, ["staff", "list"])
        assert "ops-serang" in listed.output and "active" in listed.output and PASSWORD not in listed.output
        assert runner.invoke(main, ["staff", "disable", "ops-serang"]).exit_code == 0
        assert "disabled" in runner.invoke(main, ["staff", "list"]).output
        assert runner.invoke(main, ["staff", "disable", "ops-serang"]).exit_code == 1
    finally:
        get_settings.cache_clear()
