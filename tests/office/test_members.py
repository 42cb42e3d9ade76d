"""The Members pages against a real enrolment service: the region's list with filters, search by name or NIK for roles
that see personal data (a viewer sees it masked), a member's page with history, ending and replacing a member
(CSRF, audited by registration id only), the XLSX export with NIKs as text, and 403 for another region."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from openpyxl import load_workbook
from sqlalchemy import select

from services.enrolment.app import create_app as create_enrolment
from services.office.models import audit_entries
from services.subsidy.app import create_app as create_subsidy
from tests.enrolment.sample import CLOCK_START, item
from tests.office.conftest import ACCOUNTS, Office, _office, csrf_of
from tests.subsidy.workers import api_key
from tests.support import eventually, serving

DISTRICT, VILLAGE = "36.72.01", "36.72.01.1001"


@asynccontextmanager
async def office_with_enrolment(settings) -> AsyncIterator[tuple[Office, object, str]]:
    key = await api_key(settings, ["admin"], ["*"])
    async with serving(create_enrolment, settings) as enrolment:
        office_settings = settings.model_copy(update={"office_api_key": key, "office_enrolment_url": enrolment.url})
        async with _office(office_settings, ACCOUNTS) as office:
            office.admin_key = key
            yield office, enrolment, key


async def register(enrolment, key: str, **overrides) -> dict:
    async with enrolment.client(key) as http:
        response = await http.post("/v1/registrations", json=item(**overrides))
    assert response.status_code == 201, response.text
    return response.json() | {"nik": overrides.get("nik")}


async def audit_rows(office) -> list:
    async with office.server.runtime.database.reading() as session:
        return list((await session.execute(select(audit_entries).order_by(audit_entries.c.entry_id))).mappings())


async def test_the_members_list_filters_searches_masks_and_exports(broker, office_settings, capfd):
    settings = await office_settings(broker, clock_start=CLOCK_START)
    async with office_with_enrolment(settings) as (office, enrolment, key):
        siti = item(full_name="Siti Rahmawati", district_code=DISTRICT, village_code=VILLAGE)
        budi = item(full_name="Budi Santoso", category="ojol")
        bekasi = item("32.75", full_name="Dewi Bekasi")
        for body in (siti, budi, bekasi):
            async with enrolment.client(key) as http:
                assert (await http.post("/v1/registrations", json=body)).status_code == 201

        operator = await office.signed_in("ops-cilegon")
        page = await operator.get("/regions/36.72/members")
        assert page.status_code == 200, page.text
        assert "Peserta" in page.text and "Kader Posyandu" in page.text and "Pengemudi ojek online" in page.text
        assert siti["nik"] in page.text and "SITI RAHMAWATI" in page.text and "BUDI SANTOSO" in page.text
        assert "DEWI BEKASI" not in page.text, "another region's members are not listed"
        assert "Menunggu keputusan dana" in page.text

        by_name = (await operator.get("/regions/36.72/members", params={"q": "rahma"})).text
        assert "SITI RAHMAWATI" in by_name and "BUDI SANTOSO" not in by_name
        export_link = re.search(r'id="export"[^>]*|href="([^"]+)" id="export"', by_name)
        assert export_link and "q=rahma" in html.unescape(export_link.group(0)), "the export link keeps the search"
        by_nik = (await operator.get("/regions/36.72/members", params={"q": budi["nik"]})).text
        assert "BUDI SANTOSO" in by_nik and "SITI RAHMAWATI" not in by_nik
        by_category = (await operator.get("/regions/36.72/members", params={"category": "ojol_driver"})).text
        assert "BUDI SANTOSO" in by_category and "SITI RAHMAWATI" not in by_category
        by_village = (await operator.get("/regions/36.72/members",
                                         params={"district": DISTRICT, "village": VILLAGE})).text
        assert "SITI RAHMAWATI" in by_village and "BUDI SANTOSO" not in by_village
        by_status = (await operator.get("/regions/36.72/members", params={"status": "ended"})).text
        assert "SITI RAHMAWATI" not in by_status and "Tidak ada peserta yang cocok" in by_status

        # A viewer sees masked data and cannot search by it.
        viewer = await office.signed_in("view-cilegon")
        masked = (await viewer.get("/regions/36.72/members")).text
        assert siti["nik"] not in masked and "SITI RAHMAWATI" not in masked
        assert siti["nik"][:6] + "*" * 10 in masked and "S*** R***" in masked
        refused = (await viewer.get("/regions/36.72/members", params={"q": "Siti"})).text
        assert 'data-code="search_not_allowed"' in refused

        # The export: every row of the filter, NIK as a text cell, audited without the searched name.
        exported = await operator.get("/regions/36.72/members.xlsx", params={"q": "Rahmawati"})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/vnd.openxmlformats")
        sheet = load_workbook(io.BytesIO(exported.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("ID pendaftaran", "NIK", "Nama")
        assert len(rows) == 2 and rows[1][1] == siti["nik"] and rows[1][2] == "SITI RAHMAWATI"
        assert rows[1][12] in (None, ""), "no KPJ number yet: an empty cell, not a dash"
        nik_cell = sheet.cell(row=2, column=2)
        assert nik_cell.data_type == "s" and nik_cell.number_format == "@" and isinstance(nik_cell.value, str)
        full = load_workbook(io.BytesIO((await viewer.get("/regions/36.72/members.xlsx")).content)).active
        assert len(list(full.iter_rows())) == 3
        assert all(siti["nik"] not in str(c) for row in full.iter_rows(values_only=True) for c in row)

        # English switch.
        viewer.cookies.set("office_lang", "en")
        assert "Members" in (await viewer.get("/regions/36.72/members")).text

        logged = "".join(capfd.readouterr())  # the services' log lines, written to stderr
        assert "office uvicorn.error" in logged, "the office's log is captured here"
        assert "rahma" not in logged.lower() and budi["nik"] not in logged, "a search never reaches the logs"

        trail = await audit_rows(office)
        exports = [r for r in trail if r["action"] == "members_exported"]
        assert len(exports) == 2 and exports[0]["region_code"] == "36.72"
        dumped = json.dumps([dict(r) for r in trail], default=str)
        for personal in (siti["nik"], "RAHMAWATI", "Rahmawati", budi["nik"], "BUDI"):
            assert personal not in dumped


async def test_a_member_is_ended_and_replaced_with_csrf_and_audited_by_id(broker, office_settings):
    settings = await office_settings(broker, clock_start=CLOCK_START)
    async with office_with_enrolment(settings) as (office, enrolment, key):
        holder = item(full_name="Ahmad Holder")
        other = item(full_name="Rina Ended")
        for body in (holder, other):
            async with enrolment.client(key) as http:
                assert (await http.post("/v1/registrations", json=body)).status_code == 201
        hid, oid = holder["registration_id"], other["registration_id"]

        operator = await office.signed_in("ops-cilegon")
        member = await operator.get(f"/regions/36.72/members/{hid}")
        assert member.status_code == 200
        assert "AHMAD HOLDER" in member.text and "Riwayat" in member.text and "Didaftarkan" in member.text
        assert 'id="end-form"' in member.text and 'id="replace-form"' in member.text

        # No CSRF token: refused, nothing ends.
        assert (await operator.post(f"/regions/36.72/members/{oid}/end",
                                    data={"reason": "moved"})).status_code == 403
        # A viewer and another region's operator cannot act; another region cannot even read.
        viewer = await office.signed_in("view-cilegon")
        assert 'id="end-form"' not in (await viewer.get(f"/regions/36.72/members/{oid}")).text
        csrf = await csrf_of(viewer, "/regions/36.72/members")
        assert (await viewer.post(f"/regions/36.72/members/{oid}/end",
                                  data={"csrf_token": csrf, "reason": "moved"})).status_code == 403
        bekasi = await office.signed_in("ops-bekasi")
        csrf_b = await csrf_of(bekasi, "/")
        for path in ("/regions/36.72/members", f"/regions/36.72/members/{oid}", "/regions/36.72/members.xlsx"):
            assert (await bekasi.get(path)).status_code == 403, path
        assert (await bekasi.post(f"/regions/36.72/members/{oid}/end",
                                  data={"csrf_token": csrf_b, "reason": "moved"})).status_code == 403
        assert (await bekasi.post(f"/regions/36.72/members/{oid}/replace",
                                  data={"csrf_token": csrf_b, "nik": "1", "full_name": "X"})).status_code == 403
        # A member of another region, asked for through one's own region, is not found.
        assert (await bekasi.get(f"/regions/32.75/members/{oid}")).status_code == 404
        async with enrolment.client(key) as http:
            assert (await http.get(f"/v1/registrations/{oid}")).json()["status"] == "pending_funding"

        csrf = await csrf_of(operator, f"/regions/36.72/members/{oid}")
        form = (await operator.get(f"/regions/36.72/members/{oid}")).text
        assert '<select id="reason" name="reason" required><option value="">' in form, "no reason is preselected"
        unconfirmed = await operator.post(f"/regions/36.72/members/{oid}/end",
                                          data={"csrf_token": csrf, "reason": "moved"})
        assert unconfirmed.headers["location"].endswith("problem=end_not_confirmed")
        async with enrolment.client(key) as http:
            assert (await http.get(f"/v1/registrations/{oid}")).json()["status"] == "pending_funding"
        ended = await operator.post(f"/regions/36.72/members/{oid}/end",
                                    data={"csrf_token": csrf, "reason": "moved", "confirm": "yes"})
        assert ended.status_code == 303 and "done=ended" in ended.headers["location"]
        async with enrolment.client(key) as http:
            assert (await http.get(f"/v1/registrations/{oid}")).json()["status"] == "ended"
        page = (await operator.get(ended.headers["location"])).text
        assert "Kepesertaan diakhiri" in page and "Pindah domisili" in page

        successor = item(full_name="Yusuf Successor")
        refused = await operator.post(f"/regions/36.72/members/{hid}/replace", data={
            "csrf_token": csrf, "nik": successor["nik"][:15], "full_name": "Yusuf Successor",
            "phone": "0812-1111-2222"})
        assert refused.status_code == 422 and 'data-code="nik_format"' in refused.text, refused.text
        assert 'value="Yusuf Successor"' in refused.text and 'value="0812-1111-2222"' in refused.text, \
            "what the officer typed is kept, to correct the one field"
        replaced = await operator.post(f"/regions/36.72/members/{hid}/replace", data={
            "csrf_token": csrf, "nik": successor["nik"], "full_name": "Yusuf Successor", "phone": "0812-1111-2222"})
        assert replaced.status_code == 303, replaced.text
        new_page = (await operator.get(replaced.headers["location"])).text
        assert "YUSUF SUCCESSOR" in new_page and f'href="/regions/36.72/members/{hid}" data-link="replaces"' in new_page
        async with enrolment.client(key) as http:
            assert (await http.get(f"/v1/registrations/{hid}")).json()["status_reason"] == "replaced"
        sid = replaced.headers["location"].split("/members/")[1].split("?")[0]
        holder_page = (await operator.get(f"/regions/36.72/members/{hid}")).text
        assert "Diganti oleh" in holder_page, "the holder's page names its successor"
        assert f'href="/regions/36.72/members/{sid}" data-link="replaced_by"' in holder_page
        assert 'data-link="replaced_by"' not in new_page, "the successor is not replaced"

        # A bad successor: enrolment's refusal shown by its code, nothing audited for it.
        bad = await operator.post(f"/regions/36.72/members/{oid}/replace",
                                  data={"csrf_token": csrf, "nik": "123", "full_name": "X"})
        assert bad.status_code == 422 and 'class="problem"' in bad.text

        trail = await audit_rows(office)
        acted = [r for r in trail if r["action"] in ("member_ended", "member_replaced")]
        assert [(r["action"], r["subject"]) for r in acted] == [("member_ended", oid), ("member_replaced", hid)]
        assert acted[0]["after"]["reason"] == "moved" and acted[0]["before"] == {"status": "pending_funding"}
        dumped = json.dumps([dict(r) for r in trail], default=str)
        for personal in (holder["nik"], other["nik"], successor["nik"], "YUSUF", "AHMAD", "RINA", "0812"):
            assert personal not in dumped
        audit_page = (await operator.get("/regions/36.72/audit")).text
        assert "Kepesertaan diakhiri" in audit_page and "Peserta diganti" in audit_page


async def test_the_list_pages_with_enrolments_cursor_and_keeps_the_filters(broker, office_settings, monkeypatch):
    from services.office import members

    monkeypatch.setattr(members, "PAGE_SIZE", 2)
    settings = await office_settings(broker, clock_start=CLOCK_START)
    async with office_with_enrolment(settings) as (office, enrolment, key):
        names = ["Ani Pagina", "Beni Pagina", "Cici Pagina", "Dodi Lain"]
        async with enrolment.client(key) as http:
            for name in names:
                assert (await http.post("/v1/registrations", json=item(full_name=name))).status_code == 201
        operator = await office.signed_in("ops-cilegon")
        first = (await operator.get("/regions/36.72/members", params={"q": "pagina"})).text
        assert first.count("<tr data-registration=") == 2
        next_url = html.unescape(re.search(r'<a href="([^"]+)" rel="next"', first).group(1))
        assert "q=pagina" in next_url and "cursor=" in next_url
        second = (await operator.get(next_url)).text
        assert second.count("<tr data-registration=") == 1 and 'rel="next"' not in second
        assert "DODI" not in first + second, "the search holds on every page"
        shown = {n for n in ("ANI PAGINA", "BENI PAGINA", "CICI PAGINA") if n in first + second}
        assert len(shown) == 3, "every match once across the pages"
        assert "Halaman pertama" in second


async def test_the_budget_pages_waiting_list_leads_to_each_waiting_member(isolated_broker, office_settings):
    """Subsidy's waiting list holds registration ids only; the office links each to its member page, where the
    region's staff see who waits. (A broker of its own: subsidy must decide these two registrations and no other.)"""
    settings = await office_settings(isolated_broker, clock_start=CLOCK_START)
    key = await api_key(settings, ["admin"], ["*"])
    async with serving(create_enrolment, settings) as enrolment, serving(create_subsidy, settings) as subsidy:
        async with subsidy.client(key) as http:
            one_member = {"lines": [{"line_id": "apbd", "source": "apbd_kabkota", "amount_rupiah": 168_000,
                                     "legal_reference": "Perda Kota Cilegon 1/2025"}]}
            assert (await http.put("/v1/budgets/36.72/2025/lines", json=one_member)).status_code == 200
        funded = await register(enrolment, key, full_name="Siti Didanai")  # 10 months: the whole budget
        waiting = await register(enrolment, key, full_name="Rina Menunggu")
        linked = settings.model_copy(update={"office_api_key": key, "office_enrolment_url": enrolment.url,
                                             "office_subsidy_url": subsidy.url})
        async with _office(linked, ACCOUNTS) as office:
            operator = await office.signed_in("ops-cilegon")

            async def waiting_listed() -> str | None:
                page = (await operator.get("/regions/36.72/budget", params={"year": 2025})).text
                return page if 'id="waiting-table"' in page else None

            page = str(await eventually(waiting_listed, timeout=30))
            assert f'href="/regions/36.72/members/{waiting["registration_id"]}"' in page
            assert funded["registration_id"] not in page
            assert "RINA MENUNGGU" not in page.upper(), "the budget page itself shows ids (subsidy holds no names)"
            member = (await operator.get(f"/regions/36.72/members/{waiting['registration_id']}")).text
            assert "RINA MENUNGGU" in member.upper()
            assert 'href="/regions/36.72/members?status=waiting_funding"' in page

            async def listed_as_waiting() -> str | None:  # once enrolment has read subsidy's decision
                page = (await operator.get("/regions/36.72/members", params={"status": "waiting_funding"})).text
                return page.upper() if "RINA MENUNGGU" in page.upper() else None

            listed = str(await eventually(listed_as_waiting, timeout=30))
            assert "SITI DIDANAI" not in listed
