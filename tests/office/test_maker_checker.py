"""Maker-checker for budget amendments, against a real subsidy service: nothing reaches subsidy before a second
person approves; nobody decides their own change; every page and action of a region refuses other regions'
accounts; the audit trail records who, when, from where, before and after, and cannot be changed."""

from __future__ import annotations

import json
import re

from fastapi.routing import APIRoute

from services.office import service
from services.office.models import audit_entries
from tests.office.conftest import CSRF, csrf_of, running_office
from tests.support import assert_append_only

LINES = {"line_id": ["apbd-2026", "csr-bank"], "source": ["apbd_kabkota", "csr"],
         "amount": ["1.500.000.000", "250000000"],
         "legal_reference": ["Perda Kota Cilegon 5/2025 (APBD)", "PKS Bank Banten 12/2025"]}
CHANGE_ID = re.compile(r'id="change-([0-9a-f-]{36})"')


def form(csrf: str, lines: dict[str, list[str]] = LINES) -> dict[str, str | list[str]]:
    """The amendment form as posted: one value per line under each repeated field name."""
    return {"csrf_token": csrf, **lines}


async def subsidy_budget(office, region: str, year: int) -> dict | None:
    async with office.subsidy.client(office.admin_key) as http:
        response = await http.get(f"/v1/budgets/{region}", params={"year": year})
    return response.json() if response.status_code == 200 else None


async def submit(client, region: str, year: int, lines=LINES):
    csrf = await csrf_of(client, f"/regions/{region}/budget?year={year}")
    return await client.post(f"/regions/{region}/budget/{year}/amendments", data=form(csrf, lines))


async def pending_change(client) -> str:
    page = await client.get("/approvals")
    return CHANGE_ID.findall(page.text)[0]


async def decide(client, change_id: str, decision: str, comment: str = ""):
    csrf = await csrf_of(client, "/approvals")
    return await client.post(f"/approvals/{change_id}/decision",
                             data={"csrf_token": csrf, "decision": decision, "comment": comment})


async def test_an_amendment_takes_effect_only_when_another_person_approves_it(isolated_broker, office_settings):
    settings = await office_settings(isolated_broker)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        operator = await office.signed_in("ops-cilegon")
        submitted = await submit(operator, "36.72", year)
        assert submitted.status_code == 303, submitted.text
        assert "done=submitted" in submitted.headers["location"]
        assert await subsidy_budget(office, "36.72", year) is None, "nothing reaches subsidy before approval"
        change_id = await pending_change(operator)
        page = (await operator.get("/approvals")).text
        assert "Rp1.500.000.000" in page and "Rp250.000.000" in page and "Perda Kota Cilegon 5/2025" in page

        # The maker cannot check: not the operator themselves, not another operator, not another region's verifier.
        assert (await decide(operator, change_id, "approve")).status_code == 403
        assert (await decide(await office.signed_in("ops2-cilegon"), change_id, "approve")).status_code == 403
        assert (await decide(await office.signed_in("ver-bekasi"), change_id, "approve")).status_code == 403
        assert (await decide(await office.signed_in("view-cilegon"), change_id, "approve")).status_code == 403
        assert await subsidy_budget(office, "36.72", year) is None

        verifier = await office.signed_in("ver-cilegon")
        home = await verifier.get("/")
        assert change_id in home.text, "Home lists what awaits my approval"
        assert 'id="invoice" data-status="open"' in home.text, "and this month's invoice status"
        approved = await decide(verifier, change_id, "approve", "Sesuai Perda")
        assert approved.status_code == 303 and approved.headers["location"] == "/approvals?done=decided"
        budget = await subsidy_budget(office, "36.72", year)
        assert budget is not None and budget["allocation_rupiah"] == 1_750_000_000
        assert {line["line_id"]: line["legal_reference"] for line in budget["lines"]} == {
            "apbd-2026": "Perda Kota Cilegon 5/2025 (APBD)", "csr-bank": "PKS Bank Banten 12/2025"}
        again = await decide(await office.signed_in("head-banten"), change_id, "approve")
        assert again.headers["location"] == "/approvals?problem=already_decided"

        # The budget page now shows the lines; an amendment rejected by the head changes nothing.
        shown = (await operator.get(f"/regions/36.72/budget?year={year}")).text
        assert "Rp1.750.000.000" in shown and 'data-line="csr-bank"' in shown
        smaller = {**LINES, "amount": ["1.000.000.000", "250000000"]}
        assert (await submit(operator, "36.72", year, smaller)).status_code == 303
        head = await office.signed_in("head-banten")  # a province's head covers its regencies/cities
        second = await pending_change(head)
        assert second != change_id
        no_reason = await decide(head, second, "reject")
        assert no_reason.headers["location"] == "/approvals?problem=comment_required"
        assert (await decide(head, second, "reject", "Menunggu APBD-P")).status_code == 303
        assert (await subsidy_budget(office, "36.72", year))["allocation_rupiah"] == 1_750_000_000

        # The audit trail: who, when, from where, what before and after, in the region, newest first.
        entries = await service.audit_page(office.server.runtime.database, "36.72", None, None, None)
        assert [e.action for e in entries] == ["change_rejected", "budget_amendment_submitted", "change_approved",
                                               "budget_amendment_submitted"]
        rejected, _, approval, submission = entries
        assert (rejected.actor_name, rejected.after["comment"]) == ("head-banten", "Menunggu APBD-P")
        assert submission.actor_name == "ops-cilegon" and submission.ip == "127.0.0.1"
        assert submission.before == {"lines": [], "terms": {"funding_policy": "wait", "backdate_late_grants": False}}
        assert len(submission.after["lines"]) == 2
        assert approval.actor_name == "ver-cilegon" and approval.subject == change_id
        assert {c["line_id"] for c in approval.after["changes"]} == {"apbd-2026", "csr-bank"}
        audit_page = await verifier.get("/regions/36.72/audit?action=change_approved")
        assert audit_page.status_code == 200 and audit_page.text.count('data-action="change_approved"') == 1
        assert "Jenis: Perubahan anggaran" in audit_page.text, "the kind of change in words, not budget_lines"


async def test_the_budget_terms_are_chosen_on_the_budget_page_and_approved_like_its_lines(isolated_broker,
                                                                                          office_settings):
    settings = await office_settings(isolated_broker)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        operator, verifier = await office.signed_in("ops-cilegon"), await office.signed_in("ver-cilegon")
        page = (await operator.get(f"/regions/36.72/budget?year={year}")).text
        new_budget = '<option value="wait" selected>Masuk daftar tunggu sampai ada dana</option>'
        assert new_budget in page, "a new budget waits"
        assert 'name="backdate_late_grants"' in page and 'name="backdate_late_grants" checked' not in page

        refused = await submit(operator, "36.72", year, {**LINES, "funding_policy": ["tunggu"]})
        assert refused.status_code == 422 and 'data-field="funding_policy"' in refused.text
        assert "Pilih kebijakan pendanaan." in refused.text and 'value="PKS Bank Banten 12/2025"' in refused.text

        deny = {**LINES, "funding_policy": ["deny"], "backdate_late_grants": ["on"]}
        assert (await submit(operator, "36.72", year, deny)).status_code == 303
        change_id = await pending_change(verifier)
        shown = (await verifier.get("/approvals")).text
        assert "Masuk daftar tunggu sampai ada dana → <strong>Langsung ditolak</strong>" in shown
        assert "Pendanaan dari daftar tunggu berlaku surut: tidak → <strong>ya</strong>" in shown
        assert await subsidy_budget(office, "36.72", year) is None, "nothing reaches subsidy before approval"
        assert (await decide(verifier, change_id, "approve")).status_code == 303
        budget = await subsidy_budget(office, "36.72", year)
        assert budget is not None and (budget["funding_policy"], budget["backdate_late_grants"]) == ("deny", True)
        page = (await operator.get(f"/regions/36.72/budget?year={year}")).text
        assert 'data-term="funding_policy">Langsung ditolak<' in page and 'data-term="backdate_late_grants">ya<' in page
        assert '<option value="deny" selected>' in page and 'name="backdate_late_grants" checked' in page

        # Only the policy changes: that is an amendment too, under the same approval.
        back = await submit(operator, "36.72", year,
                            {**LINES, "funding_policy": ["wait"], "backdate_late_grants": ["on"]})
        assert back.status_code == 303
        second = await pending_change(verifier)
        # In the meantime an admin key changes the terms directly: the pending change no longer applies.
        async with office.subsidy.client(office.admin_key) as http:
            lines = [{k: line[k] for k in ("line_id", "source", "amount_rupiah", "legal_reference")}
                     for line in budget["lines"]]
            direct = {"lines": lines, "backdate_late_grants": False}
            assert (await http.put(f"/v1/budgets/36.72/{year}/lines", json=direct)).status_code == 200
        answer = await decide(verifier, second, "approve")
        assert answer.headers["location"] == "/approvals?problem=budget_changed_since"
        assert (await subsidy_budget(office, "36.72", year))["funding_policy"] == "deny"
        assert (await decide(verifier, second, "reject", "Diajukan ulang")).status_code == 303
        again = await submit(operator, "36.72", year, {**LINES, "funding_policy": ["wait"]})
        assert again.status_code == 303
        assert (await decide(verifier, await pending_change(verifier), "approve")).status_code == 303
        budget = await subsidy_budget(office, "36.72", year)
        assert (budget["funding_policy"], budget["backdate_late_grants"]) == ("wait", False)
        unchanged = await submit(operator, "36.72", year, {**LINES, "funding_policy": ["wait"]})
        assert unchanged.status_code == 422 and 'data-code="nothing_changes"' in unchanged.text

        audit = (await verifier.get("/regions/36.72/audit?action=budget_amendment_submitted")).text
        assert "Kebijakan pendanaan: Langsung ditolak" in audit and "Kebijakan pendanaan: Masuk daftar tunggu" in audit


async def test_a_budget_changed_since_submission_is_not_overwritten(isolated_broker, office_settings):
    settings = await office_settings(isolated_broker)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        operator = await office.signed_in("ops-cilegon")
        assert (await submit(operator, "36.72", year)).status_code == 303
        change_id = await pending_change(operator)
        # Automation changes the budget directly with an admin key in the meantime.
        async with office.subsidy.client(office.admin_key) as http:
            direct = {"lines": [{"line_id": "apbd-x", "source": "apbd_kabkota", "amount_rupiah": 5,
                                 "legal_reference": "Perda 9/2025"}]}
            assert (await http.put(f"/v1/budgets/36.72/{year}/lines", json=direct)).status_code == 200
        refused = await decide(await office.signed_in("ver-cilegon"), change_id, "approve")
        assert refused.headers["location"] == "/approvals?problem=budget_changed_since"
        assert (await subsidy_budget(office, "36.72", year))["allocation_rupiah"] == 5
        found = await service.change(office.server.runtime.database, change_id)
        assert found is not None and found.status == "pending"


async def test_a_change_subsidy_refuses_is_marked_failed_with_its_reason(isolated_broker, office_settings):
    settings = await office_settings(isolated_broker)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        database, clock = office.server.runtime.database, office.server.runtime.clock
        admin = (await service.list_staff(database))[0].staff
        assert admin.username == "admin"
        # The pages refuse a code that is no region; a change stored for one is refused by subsidy on approval.
        assert (await (await office.signed_in("head-banten")).get("/regions/36.99/budget")).status_code == 404
        lines = [service.Line("apbd", "apbd_kabkota", 1000, "Perda 1/2025")]
        change_id = await service.submit_budget_lines(database, clock, admin, "127.0.0.1", "36.99", year, lines, [])
        answer = await decide(await office.signed_in("head-banten"), change_id, "approve")
        assert answer.headers["location"] == "/approvals?done=decided"
        found = await service.change(database, change_id)
        assert found is not None and (found.status, found.outcome) == ("failed", "unknown_region")
        [entry] = await service.audit_page(database, "36.99", "change_failed", None, None)
        assert entry.after["outcome"] == "unknown_region" and entry.actor_name == "head-banten"


async def test_another_regions_account_gets_403_on_every_page_and_action(isolated_broker, office_settings):
    settings = await office_settings(isolated_broker)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        assert (await submit(await office.signed_in("ops-cilegon"), "36.72", year)).status_code == 303
        change_id = await pending_change(await office.signed_in("ver-cilegon"))
        for username in ("ops-bekasi", "ver-bekasi"):
            outsider = await office.signed_in(username)
            csrf = await csrf_of(outsider)
            for path in ("/?region=36.72", "/regions/36.72/budget", f"/regions/36.72/budget?year={year}",
                         "/regions/36.72/audit", "/regions/36/budget", "/regions/36/audit"):
                answer = await outsider.get(path)
                assert answer.status_code == 403, (username, path)
            assert (await outsider.post(f"/regions/36.72/budget/{year}/amendments",
                                        data=form(csrf))).status_code == 403
            assert (await outsider.post(f"/approvals/{change_id}/decision",
                                        data={"csrf_token": csrf, "decision": "approve"})).status_code == 403
            assert change_id not in (await outsider.get("/approvals")).text, "other regions' changes are not listed"
            assert (await outsider.get("/regions/32.75/budget")).status_code == 200, "their own region opens"
        viewer = await office.signed_in("view-cilegon")
        assert (await viewer.get("/regions/36.72/budget")).status_code == 200
        assert (await viewer.post(f"/regions/36.72/budget/{year}/amendments",
                                  data=form(await csrf_of(viewer)))).status_code == 403, "a viewer only reads"
        assert await subsidy_budget(office, "36.72", year) is None


async def test_bad_lines_are_shown_on_the_form_and_stored_nowhere(broker, office_settings):
    settings = await office_settings(broker)
    async with running_office(settings) as office:
        operator = await office.signed_in("ops-cilegon")
        csrf = await csrf_of(operator, "/regions/36.72/budget?year=2026")
        bad = {"line_id": ["apbd 2026", "x"], "source": ["apbn", "csr"], "amount": ["1,5 juta", "100"],
               "legal_reference": ["", "PKS 1/2025"]}
        answer = await operator.post("/regions/36.72/budget/2026/amendments", data=form(csrf, bad))
        assert answer.status_code == 422
        for field in ("lines[0].line_id", "lines[0].source", "lines[0].amount", "lines[0].legal_reference"):
            assert f'data-field="{field}"' in answer.text, field
        assert 'value="PKS 1/2025"' in answer.text, "what was typed is kept"
        assert await service.changes_for(office.server.runtime.database,
                                          (await service.list_staff(office.server.runtime.database))[0].staff) == []


async def test_the_audit_trail_cannot_be_changed(broker, office_settings):
    settings = await office_settings(broker)
    async with running_office(settings) as office:
        await office.signed_in("ops-cilegon")
        # No route of the application writes to the audit trail other than by acting; its pages only read.
        for route in office.server.app.routes:
            if isinstance(route, APIRoute) and "audit" in route.path:
                assert route.methods == {"GET"}, route.path
        database = office.server.runtime.database
        await assert_append_only(database, audit_entries, actor_name="someone-else")
        entries = await service.audit_page(database, None, None, None, None)
        assert entries and entries[0].actor_name == "ops-cilegon"
        # No personal data: no NIK-like number, no password, in any entry. Staff ids are 16 hex characters, and
        # one in about 2,000 is all digits, so they are taken out before looking for a NIK.
        dumped = json.dumps([e.__dict__ for e in entries], default=str)
        for account in await service.list_staff(database):
            dumped = dumped.replace(account.staff.staff_id, "<staff id>")
        assert not re.search(r"\d{16}", dumped) and "correct horse" not in dumped


async def test_the_csrf_token_of_a_page_is_the_sessions(broker, office_settings):
    settings = await office_settings(broker)
    async with running_office(settings) as office:
        operator = await office.signed_in("ops-cilegon")
        pages = [await operator.get(p) for p in ("/", "/approvals", "/regions/36.72/audit")]
        tokens = {CSRF.search(p.text).group(1) for p in pages}  # type: ignore[union-attr]
        assert len(tokens) == 1
        assert all('hx-headers=\'{"X-CSRF-Token"' in p.text for p in pages), "htmx requests carry it too"
