"""The Billing page and maker-checker for billing's money movements, against real enrolment and subsidy services on
both databases: closing a month, recording a BPJS payment, importing BPJS's result file and renewing a cohort each do
nothing until someone other than the submitter approves; approval applies it through the service; another region's
account gets 403; the member file is for heads and verifiers and its download is audited."""

from __future__ import annotations

import io
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from services.office import billing_service, service
from services.office.domain import Staff
from services.subsidy.models import outbox
from shared.events import parse_event
from tests.conftest import BACKENDS, start_broker
from tests.enrolment.sample import item
from tests.office.conftest import Office, _office, csrf_of
from tests.security.stack import Stack, running_stack
from tests.support import create_postgres_database, drop_postgres_database, eventually, postgres_admin_url

REGION = "36.04"  # Kabupaten Serang
MONTHLY = 16_800
CHANGE_ID = re.compile(r'id="change-([0-9a-f-]{36})"')
ACCOUNTS = {
    "ops-serang": ("operator", [REGION]),
    "ver-serang": ("verifier", [REGION]),
    "head-banten": ("head", ["36"]),
    "view-serang": ("viewer", [REGION]),
    "ops-pusat": ("operator", ["*"]),
    "ver-pusat": ("verifier", ["*"]),
    "ops-bekasi": ("operator", ["32.75"]),
    "ver-bekasi": ("verifier", ["32.75"]),
}


@pytest.fixture(scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory) -> AsyncIterator[Stack]:
    if request.param == "postgresql" and not postgres_admin_url():
        pytest.skip("PostgreSQL not configured: set PARITRANA_TEST_POSTGRES_URL")
    broker = start_broker(tmp_path_factory.mktemp("billing-broker"))
    try:
        async with running_stack(broker, request.param, tmp_path_factory.mktemp("billing"),
                                 services=("enrolment", "subsidy")) as running:
            yield running
    finally:
        broker.stop()


@asynccontextmanager
async def office_on(stack: Stack, tmp_path, **overrides) -> AsyncIterator[Office]:
    """An office with its own database, acting on the stack's enrolment and subsidy with a national admin key."""
    made = None
    if stack.backend == "postgresql":
        made = url = await create_postgres_database(postgres_admin_url())  # type: ignore[arg-type]
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / f'office-{uuid.uuid4().hex[:6]}.db'}"
    settings = stack.settings.model_copy(update={
        "office_database_url": url, "office_api_key": stack.keys["admin"],
        "office_subsidy_url": stack.servers["subsidy"].url, "office_enrolment_url": stack.servers["enrolment"].url,
        **overrides})
    try:
        async with _office(settings, ACCOUNTS) as office:
            office.subsidy, office.admin_key = stack.servers["subsidy"], stack.keys["admin"]
            yield office
    finally:
        if made:
            await drop_postgres_database(postgres_admin_url(), made)  # type: ignore[arg-type]


async def post(client, path: str, data: dict, files: dict | None = None, page: str | None = None):
    csrf = await csrf_of(client, page or "/")
    return await client.post(path, data={"csrf_token": csrf, **data}, files=files)


async def pending_of(client, kind: str) -> str:
    page = (await client.get("/approvals")).text
    for change_id in CHANGE_ID.findall(page):
        block = page.split(f'id="change-{change_id}"', 1)[1].split("</article>", 1)[0]
        if 'data-status="pending"' in page.split(f'id="change-{change_id}"', 1)[1][:40] and \
                f'data-kind="{kind}"' in block:
            return change_id
    raise AssertionError(f"no pending {kind}")


async def decide(client, change_id: str, decision: str = "approve", comment: str = "Sesuai"):
    csrf = await csrf_of(client, "/approvals")
    return await client.post(f"/approvals/{change_id}/decision",
                             data={"csrf_token": csrf, "decision": decision, "comment": comment})


def pdf_text(content: bytes, tmp_path) -> str:
    """The PDF's text, by Debian's pdftotext."""
    path = tmp_path / f"invoice-{uuid.uuid4().hex}.pdf"
    path.write_bytes(content)
    return subprocess.run(["/usr/bin/pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


async def subsidy_events(stack: Stack, event_type: str) -> list:
    async with stack.servers["subsidy"].runtime.database.reading() as session:
        events = [parse_event(p) for p in (await session.execute(select(outbox.c.payload))).scalars().all()]
    return [e for e in events if e.type == event_type]


async def funded_members(stack: Stack, count: int) -> list[dict]:
    members = [item(REGION) for _ in range(count)]
    async with stack.client("subsidy") as subsidy:
        body = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 100 * 10 * MONTHLY,
                           "legal_reference": "Perda Kab. Serang 1/2024"}]}
        assert (await subsidy.put(f"/v1/budgets/{REGION}/2025/lines", json=body)).status_code == 200
    async with stack.client("enrolment", "banten") as banten:
        answer = await banten.post("/v1/registrations/batch", json={"items": members})
        assert answer.json()["counts"]["accepted"] == count

        async def active() -> bool:
            return all([(await banten.get(f"/v1/registrations/{m['registration_id']}")).json()["status"] == "active"
                        for m in members])
        await eventually(active, timeout=60, interval=0.5)
    return members


async def test_billing_moves_money_only_when_a_second_person_approves(stack: Stack, tmp_path) -> None:
    members = await funded_members(stack, 5)
    async with office_on(stack, tmp_path) as office:
        database = office.server.runtime.database
        ops, ver = await office.signed_in("ops-serang"), await office.signed_in("ver-serang")
        ops_pusat, ver_pusat = await office.signed_in("ops-pusat"), await office.signed_in("ver-pusat")
        bekasi_ops, bekasi_ver = await office.signed_in("ops-bekasi"), await office.signed_in("ver-bekasi")

        page = await ops.get(f"/regions/{REGION}/billing?year=2025")
        assert page.status_code == 200
        assert 'id="nothing-to-pay"' in page.text, "no closed month yet: no payment form"
        assert 'data-month="2025-03" data-status="open"' in page.text and "Rp84.000" in page.text

        # --- closing a month: national accounts only, nothing before approval ---
        close = f"/regions/{REGION}/billing/2025/close"
        assert (await post(ops, close, {"month": "3"})).status_code == 403, "a regency's operator cannot close"
        assert (await post(bekasi_ops, close, {"month": "3"})).status_code == 403
        submitted = await post(ops_pusat, close, {"month": "3"})
        assert submitted.headers["location"].endswith("done=submitted"), submitted.headers["location"]
        async with stack.client("subsidy") as national:
            assert (await national.get("/v1/invoices/2025/3")).json()["status"] == "open", "not before approval"
        assert not await subsidy_events(stack, "invoice.issued")
        closing = await pending_of(ver_pusat, "month_close")
        assert closing not in (await ops.get("/approvals")).text, "a regency's account does not see it"
        assert (await decide(ops_pusat, closing)).status_code == 403, "the submitter cannot approve"
        assert (await decide(ver, closing)).status_code == 403, "a regency's verifier cannot decide a national act"
        assert (await decide(bekasi_ver, closing)).status_code == 403
        approved = await decide(ver_pusat, closing)
        assert approved.headers["location"] == "/approvals?done=decided"
        async with stack.client("subsidy") as national:
            march = (await national.get("/v1/invoices/2025/3")).json()
        assert march["status"] == "closed"
        issued = [e for e in await subsidy_events(stack, "invoice.issued") if e.data.region_code == REGION]
        assert len(issued) == 1 and issued[0].data.amount_rupiah == 5 * MONTHLY
        assert (await service.change(database, closing)).status == "approved"

        # --- recording a payment: the form offers the closed, unpaid month ---
        form_page = (await ops.get(f"/regions/{REGION}/billing?year=2025")).text
        assert '<select id="pay-month" name="month"><option value="3">Maret 2025</option></select>' in form_page
        assert 'id="close-form"' not in form_page, "a regency's operator is not offered closing"
        payment = {"month": "3", "paid_on": "2025-03-10", "reference": "SP2D 00123/BKAD/2025",
                   "amount": "Rp84.000"}
        pay = f"/regions/{REGION}/billing/2025/payment"
        assert (await post(bekasi_ops, pay, payment)).status_code == 403, "another region's account"
        assert (await post(await office.signed_in("view-serang"), pay, payment)).status_code == 403, "a viewer"
        assert (await post(ops, pay, {**payment, "paid_on": "2099-01-02"})).headers["location"].endswith(
            "problem=paid_in_future")
        assert (await post(ops, pay, payment)).headers["location"].endswith("done=submitted")
        assert (await post(ops, pay, {**payment, "reference": "SP2D 00124/BKAD/2025"})).headers["location"].endswith(
            "problem=payment_pending"), "one payment per month waits for approval at a time"
        async with stack.client("subsidy") as national:
            assert (await national.get(f"/v1/invoices/2025/3/{REGION}/payment")).status_code == 404
        paying = await pending_of(ver, "bpjs_payment")
        approvals = (await ver.get("/approvals")).text
        assert "SP2D 00123/BKAD/2025" in approvals and "Rp84.000" in approvals
        assert (await decide(ops, paying)).status_code == 403, "the submitter cannot approve"
        assert (await decide(bekasi_ver, paying)).status_code == 403
        assert (await decide(ver, paying)).headers["location"] == "/approvals?done=decided"
        async with stack.client("subsidy") as national:
            paid = (await national.get(f"/v1/invoices/2025/3/{REGION}/payment")).json()
        assert (paid["paid_rupiah"], paid["reference"]) == (5 * MONTHLY, "SP2D 00123/BKAD/2025")
        assert [e.data.paid_rupiah for e in await subsidy_events(stack, "invoice.paid")] == [5 * MONTHLY]
        assert (await post(ops, pay, payment)).headers["location"].endswith("problem=already_paid")
        refused = (await ops.get(f"/regions/{REGION}/billing?year=2025&problem=already_paid")).text
        assert "Tagihan ini sudah dicatat dibayar." in refused
        unknown = (await ops.get(f"/regions/{REGION}/billing?year=2025&problem=some_newer_code")).text
        assert "Ditolak layanan (kode some_newer_code)." in unknown, "a code with no words still reads as a sentence"
        # The audit trail shows what was paid, and when and under which reference, as the approver saw it.
        trail = (await ver.get(f"/regions/{REGION}/audit", params={"action": "bpjs_payment_submitted"})).text
        assert "SP2D 00123/BKAD/2025" in trail and "Rp84.000" in trail and "10 Maret 2025" in trail, trail
        applied = (await ver.get(f"/regions/{REGION}/audit", params={"action": "change_applied"})).text
        assert "Jenis: Pembayaran BPJS" in applied and "Dibayar: Rp84.000" in applied, applied  # words, not codes

        shown = (await ops.get(f"/regions/{REGION}/billing?year=2025")).text
        assert 'data-month="2025-03" data-status="closed" data-paid="84000"' in shown

        # --- the invoice as XLSX, for the region's accounts only ---
        download = await ops.get(f"/regions/{REGION}/billing/2025/3/invoice.xlsx")
        assert download.status_code == 200
        sheet = load_workbook(io.BytesIO(download.content)).active
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert [REGION, "Kabupaten Serang", 5, 5 * MONTHLY, 0, 0, 5 * MONTHLY, "Rp84.000"] in rows
        total = next(r for r in sheet.iter_rows() if r[0].value == REGION)[6]
        assert (total.value, total.number_format) == (5 * MONTHLY, "#,##0"), "a number, shown as 84.000"
        assert (await bekasi_ops.get(f"/regions/{REGION}/billing/2025/3/invoice.xlsx")).status_code == 403

        # --- the invoice as PDF: amount, region, closed and paid; the same bytes twice; another region 403 ---
        pdf = await ops.get(f"/regions/{REGION}/billing/2025/3/invoice.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content == (await ver.get(f"/regions/{REGION}/billing/2025/3/invoice.pdf")).content, \
            "reproducible: the same data gives the same bytes"
        text = pdf_text(pdf.content, tmp_path)
        assert "Rp84.000" in text and "Kabupaten Serang" in text and "36.04" in text, text
        assert "Maret 2025" in text and "Ditutup" in text and "SP2D 00123/BKAD/2025" in text, text
        assert "Rp16.800" in text, "the monthly rate"
        assert (await bekasi_ops.get(f"/regions/{REGION}/billing/2025/3/invoice.pdf")).status_code == 403
        assert f"/regions/{REGION}/billing/2025/3/invoice.pdf" in shown

        # --- bill reconciliation (totals): the differences are shown ---
        bill = await post(ver, f"/regions/{REGION}/billing/2025/bill",
                          {"month": "3", "members": "6", "amount": "100.800"})
        assert bill.status_code == 200
        assert 'data-differences="1" data-difference="16800"' in bill.text and "Rp16.800" in bill.text
        assert (await post(bekasi_ver, f"/regions/{REGION}/billing/2025/bill",
                           {"month": "3", "members": "5", "amount": "84000"})).status_code == 403

        # --- bill reconciliation per member: BPJS's file matched here, subsidy sees rows and ids only ---
        stranger = item(REGION)["nik"]
        bill = ("NIK;Nama;Iuran\n" + "".join(f"{m['nik']};{m['full_name']};16.800\n" for m in members[:3])
                + f"{members[3]['nik']};{members[3]['full_name']};Rp20.000\n{stranger};Orang Lain;16800\n")
        files = {"file": ("tagihan-bpjs.csv", bill.encode(), "text/csv")}
        by_file = await post(ver, f"/regions/{REGION}/billing/2025/bill-file", {"month": "3"}, files=files)
        assert by_file.status_code == 200, by_file.text
        assert 'data-matched="3" data-billed-not-funded="1" data-funded-not-billed="1" ' \
               'data-amount-differences="1"' in by_file.text, by_file.text
        assert 'data-differences="3"' in by_file.text
        assert '<span data-row="6">6</span>' in by_file.text and '<span data-row="5">5</span>' in by_file.text
        assert f'data-missing="{members[4]["registration_id"]}"' in by_file.text
        assert not any(m["nik"] in by_file.text or m["full_name"] in by_file.text for m in members)
        assert stranger not in by_file.text
        no_header = await post(ver, f"/regions/{REGION}/billing/2025/bill-file", {"month": "3"},
                               files={"file": ("x.csv", b"a;b\n1;2\n", "text/csv")})
        assert 'data-code="bill_no_header"' in no_header.text
        assert (await post(bekasi_ver, f"/regions/{REGION}/billing/2025/bill-file", {"month": "3"},
                           files=files)).status_code == 403
        assert (await post(await office.signed_in("view-serang"), f"/regions/{REGION}/billing/2025/bill-file",
                           {"month": "3"}, files=files)).status_code == 403

        # --- the member file: heads and verifiers only, audited here and in enrolment ---
        assert (await ops.get(f"/regions/{REGION}/billing/2025/3/member-file")).status_code == 403
        assert (await bekasi_ver.get(f"/regions/{REGION}/billing/2025/3/member-file")).status_code == 403
        member_file = await ver.get(f"/regions/{REGION}/billing/2025/3/member-file?format=csv")
        assert member_file.status_code == 200 and all(m["nik"] in member_file.text for m in members)
        [entry] = await service.audit_page(database, REGION, "bpjs_member_file_downloaded", None, None)
        assert entry.actor_name == "ver-serang" and entry.after == {"year": 2025, "month": 3, "format": "csv",
                                                                    "rows": 5}
        async with stack.client("enrolment") as admin:
            downloads = (await admin.get("/v1/bpjs/member-file/downloads",
                                         params={"region": REGION, "year": 2025, "month": 3})).json()["downloads"]
        assert len(downloads) == 1 and downloads[0]["rows"] == 5

        # --- BPJS's result file: kept until approval, the approver sees counts only ---
        result = "Hasil verifikasi BPJS\nNIK;KPJ;Status;Alasan\n" + "".join(
            f"{m['nik']};2500000{i:04d};Terdaftar;\n" for i, m in enumerate(members[:3])) + \
            f"{members[3]['nik']};;Ditolak;Penerima upah\n"
        upload = f"/regions/{REGION}/billing/2025/results"
        files = {"file": ("hasil.csv", result.encode(), "text/csv")}
        assert (await post(bekasi_ops, upload, {}, files=files)).status_code == 403
        assert (await post(ops, upload, {}, files=files)).headers["location"].endswith("done=submitted")
        async with stack.client("enrolment") as admin:
            assert (await admin.get(f"/v1/registrations/{members[0]['registration_id']}")).json()[
                "worker"]["kpj_number"] is None, "nothing before approval"
        importing = await pending_of(ver, "bpjs_results")
        approvals = (await ver.get("/approvals")).text
        assert 'data-figure="rows">4<' in approvals and 'data-figure="enrolled-rows">3<' in approvals
        assert 'data-figure="rejected-rows">1<' in approvals
        assert not any(m["nik"] in approvals for m in members) and "25000000000" not in approvals
        assert (await decide(ops, importing)).status_code == 403
        assert (await decide(await office.signed_in("head-banten"), importing)).headers["location"] == \
            "/approvals?done=decided", "a province's head decides its regencies' changes"
        async with stack.client("enrolment") as admin:
            first = (await admin.get(f"/v1/registrations/{members[0]['registration_id']}")).json()
            rejected = (await admin.get(f"/v1/registrations/{members[3]['registration_id']}")).json()
        assert first["worker"]["kpj_number"] == "25000000000" and first["bpjs_status"] == "enrolled"
        assert rejected["bpjs_status"] == "rejected"
        found = await service.change(database, importing)
        assert found is not None and "file" not in found.payload, "the file is forgotten once decided"
        [applied] = [e for e in await service.audit_page(database, REGION, "change_applied", None, None)
                     if e.subject == importing]
        assert (applied.after["enrolled"], applied.after["rejected"]) == (3, 1)

        # --- renewal of the cohort: the dry run is shown; a rejection changes nothing; approval renews ---
        renew = {"from_year": "2025", "start_month": "1", "months": "12"}
        offered = (await ops.get(f"/regions/{REGION}/billing?year=2025")).text
        assert '<select id="renew-category" name="category">' in offered
        assert '"posyandu_cadre">Kader Posyandu<' in offered
        assert (await post(ops, f"/regions/{REGION}/renewals", {**renew, "category": "xyz"})).headers[
            "location"].endswith("problem=unknown_category")
        assert (await post(bekasi_ops, f"/regions/{REGION}/renewals", renew)).status_code == 403
        assert (await post(ops, f"/regions/{REGION}/renewals", renew)).headers["location"].endswith(
            "done=submitted")
        # No 2026 budget yet: the approver is told that those renewed would wait for funding.
        assert 'data-warning="no-budget"' in (await ver.get("/approvals")).text
        async with stack.client("enrolment") as admin:
            dry = (await admin.post("/v1/renewals", json={"region_code": REGION, "from_year": 2025, "to_year": 2026,
                                                          "dry_run": True})).json()
        assert dry["renewable"] == 4 and dry["already_renewed"] == 0, dry
        renewing = await pending_of(ver, "renewal")
        assert 'data-figure="renewable">4<' in (await ver.get("/approvals")).text
        assert (await decide(ops, renewing)).status_code == 403
        assert (await decide(ver, renewing, "reject", "Tunggu APBD 2026")).status_code == 303
        assert (await service.change(database, renewing)).status == "rejected"
        assert (await post(ops, f"/regions/{REGION}/renewals", renew)).status_code == 303
        renewing = await pending_of(ver, "renewal")
        assert (await decide(ver, renewing)).headers["location"] == "/approvals?done=decided"
        async with stack.client("enrolment") as admin:
            after = (await admin.post("/v1/renewals", json={"region_code": REGION, "from_year": 2025,
                                                            "to_year": 2026, "dry_run": True})).json()
        assert after["already_renewed"] == 4 and after["renewable"] == 0

        # Every step is in the audit trail, and none holds personal data.
        actions = [e.action for e in await service.audit_page(database, REGION, None, None, None, limit=200)]
        for action in ("bpjs_payment_submitted", "bpjs_results_submitted", "renewal_submitted", "change_approved",
                       "change_rejected", "change_applied", "bill_reconciled"):
            assert action in actions, action
        national = [e.action for e in await service.audit_page(database, "*", None, None, None)]
        assert {"month_close_submitted", "change_approved", "change_applied"} <= set(national)
        everything = str([e.__dict__ for e in await service.audit_page(database, None, None, None, None, limit=500)])
        assert not any(m["nik"] in everything or m["full_name"] in everything for m in members)

        # Another region's account: 403 on every billing page and action.
        for path in (f"/regions/{REGION}/billing", f"/regions/{REGION}/billing/2025/3/invoice.xlsx",
                     f"/regions/{REGION}/billing/2025/3/invoice.pdf",
                     f"/regions/{REGION}/billing/2025/3/member-file", "/regions/36/billing"):
            assert (await bekasi_ver.get(path)).status_code == 403, path


RESULT = "NIK;KPJ;Status;Alasan\n3604010101900001;25000000001;Terdaftar;\n"


async def test_a_refused_change_is_failed_and_an_unreachable_service_keeps_it_pending(stack: Stack,
                                                                                      tmp_path) -> None:
    async with office_on(stack, tmp_path) as office:
        database, clock = office.server.runtime.database, office.server.runtime.clock
        # A change stored for a code that is no region: enrolment refuses it on approval, so it is failed, with
        # enrolment's error code.
        maker = Staff("ops-x", "ops-x", "Ops", "operator", ("36",))
        change_id = await billing_service.submit_results(database, clock, maker, "127.0.0.1", "36.99", 2025,
                                                         RESULT.encode(), "csv")
        head = await office.signed_in("head-banten")
        assert (await decide(head, change_id)).headers["location"] == "/approvals?done=decided"
        found = await service.change(database, change_id)
        assert found is not None and found.status == "failed" and found.outcome, found
        [entry] = await service.audit_page(database, "36.99", "change_failed", None, None)
        assert entry.after["outcome"] == found.outcome
    async with office_on(stack, tmp_path, office_enrolment_url="http://127.0.0.1:9") as dark:
        ops, ver = await dark.signed_in("ops-serang"), await dark.signed_in("ver-serang")
        files = {"file": ("hasil.csv", RESULT.encode(), "text/csv")}
        assert (await post(ops, f"/regions/{REGION}/billing/2025/results", {}, files=files)).status_code == 303
        change_id = await pending_of(ver, "bpjs_results")
        answer = await decide(ver, change_id)
        assert answer.headers["location"] == "/approvals?problem=upstream_unavailable"
        found = await service.change(dark.server.runtime.database, change_id)
        assert found is not None and found.status == "pending", "unreachable: it stays pending, to approve later"
        # A file the office cannot read is refused at submission and stored nowhere.
        bad = {"file": ("hasil.csv", b"just;some;text\n1;2;3\n", "text/csv")}
        assert (await post(ops, f"/regions/{REGION}/billing/2025/results", {}, files=bad)).headers[
            "location"].endswith("problem=result_no_header")
