"""BPJS's bill against the frozen invoice, and the payment: closing a month issues its invoices, a bill with one extra
member, one missing and one wrong amount yields exactly those three differences, and a paid month stays paid."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from paritrana.bpjs import reconcile_file
from paritrana.invariants import InvariantReport, check_databases
from services.enrolment.repository import Registrations
from services.subsidy.models import outbox
from shared.events import parse_event
from tests.enrolment.sample import item, synthetic_nik
from tests.security.stack import Stack
from tests.support import eventually

REGION = "36.04"  # Kabupaten Serang
MONTHLY = 16_800
CSV = {"Content-Type": "text/csv"}


async def subsidy_events(stack: Stack, event_type: str) -> list:
    async with stack.servers["subsidy"].runtime.database.reading() as session:
        events = [parse_event(p) for p in (await session.execute(select(outbox.c.payload))).scalars().all()]
    return [e for e in events if e.type == event_type]


async def test_a_bill_against_the_invoice_and_its_payment(stack: Stack) -> None:
    members = [item(REGION) for _ in range(5)]
    async with stack.client("subsidy") as subsidy:
        body = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 100 * 10 * MONTHLY,
                           "legal_reference": "Perda Kab. Serang 1/2024"}]}
        assert (await subsidy.put(f"/v1/budgets/{REGION}/2025/lines", json=body)).status_code == 200
    async with stack.client("enrolment", "banten") as banten:
        assert (await banten.post("/v1/registrations/batch", json={"items": members})).json()["counts"][
            "accepted"] == 5

        async def active() -> bool:
            return all([(await banten.get(f"/v1/registrations/{m['registration_id']}")).json()["status"] == "active"
                        for m in members])
        await eventually(active, timeout=60, interval=0.5)

    # Two of them get KPJ numbers, so the bill can name them by KPJ only.
    result = "NIK;KPJ;Status;Alasan\n" + "".join(f"{m['nik']};2500000{i:04d};Terdaftar;\n"
                                                for i, m in enumerate(members[:2]))
    async with stack.client("enrolment", "banten_admin") as admin:
        assert (await admin.post("/v1/bpjs/results", params={"region": REGION, "year": 2025},
                                 content=result.encode(), headers=CSV)).json()["enrolled"] == 2

    # --- closing the month freezes the invoice and issues it ---
    async with stack.client("subsidy") as national, stack.client("subsidy", "banten_admin") as admin, \
            stack.client("subsidy", "jabar_admin") as other:
        early = await admin.post(f"/v1/invoices/2025/3/{REGION}/payment",
                                 json={"paid_on": "2025-04-10", "reference": "SP2D 1/2025", "amount_rupiah": 1})
        assert (early.status_code, early.json()["errors"][0]["code"]) == (409, "month_not_closed")
        assert (await national.post("/v1/billing/2025/3/close")).json()["closed_now"] is True
        assert (await national.post("/v1/billing/2025/3/close")).json()["closed_now"] is False
        invoice = next(i for i in (await national.get("/v1/invoices/2025/3")).json()["invoices"]
                       if i["region_code"] == REGION)
        assert (invoice["members"], invoice["amount_due_rupiah"]) == (5, 5 * MONTHLY)
        issued = [e for e in await subsidy_events(stack, "invoice.issued") if e.data.region_code == REGION]
        assert [(e.data.fiscal_year, e.data.month, e.data.members, e.data.amount_rupiah) for e in issued] == \
            [(2025, 3, 5, 5 * MONTHLY)]

        # --- the bill: one extra member, one missing, one wrong amount ---
        lines = ["TAGIHAN IURAN BPU MARET 2025", "No KPJ;NIK;Iuran (Rp)",
                 f"25000000000;;{MONTHLY}", "25000000001;;Rp16.800",  # by KPJ
                 f";{members[2]['nik']};16.800", f";{members[3]['nik']};20000",  # by NIK, the second one wrong
                 f";{synthetic_nik('360401')};16800"]  # someone Paritrana does not fund; members[4] is not billed
        report = await reconcile_file(Registrations(stack.servers["enrolment"].runtime.database),
                                      stack.servers["subsidy"].runtime.database, stack.servers["subsidy"].runtime.clock,
                                      "\n".join(lines).encode(), "tagihan.csv", REGION, 2025, 3)
        assert (len(report.matched), report.differences) == (3, 3)
        assert [(x.row, x.registration_id) for x in report.billed_not_funded] == [(7, None)]
        assert [x.registration_id for x in report.funded_not_billed] == [members[4]["registration_id"]]
        assert [(x.registration_id, x.funded_rupiah, x.billed_rupiah) for x in report.amount_differences] == \
            [(members[3]["registration_id"], MONTHLY, 20_000)]
        assert (report.invoiced_rupiah, report.billed_rupiah) == (5 * MONTHLY, 4 * MONTHLY + 20_000)

        # The same through the API, with lines already matched, and as a workbook.
        api_lines = [{"row": x.row, "registration_id": x.registration_id, "amount_rupiah": x.billed_rupiah}
                     for x in report.matched + report.amount_differences + report.billed_not_funded]
        as_json = (await admin.post(f"/v1/invoices/2025/3/{REGION}/bill", json={"lines": api_lines})).json()
        assert (len(as_json["matched"]), len(as_json["billed_not_funded"]), len(as_json["funded_not_billed"]),
                len(as_json["amount_differences"]), as_json["difference"]) == (3, 1, 1, 1, "Rp3.200")
        totals = (await admin.post(f"/v1/invoices/2025/3/{REGION}/bill",
                                   json={"members": 5, "amount_rupiah": 5 * MONTHLY})).json()
        assert (totals["per_member"], totals["differences"], totals["difference_rupiah"]) == (False, 0, 0)
        workbook = await admin.post(f"/v1/invoices/2025/3/{REGION}/bill", params={"format": "xlsx"},
                                    json={"lines": api_lines})
        sheet = [list(r) for r in load_workbook(io.BytesIO(workbook.content)).active.iter_rows(values_only=True)]
        assert sheet[2][:2] == ["Tagihan Paritrana", "Rp84.000"]
        assert ["Selisih nominal", 6, members[3]["registration_id"], "Rp16.800", "Rp20.000", "Rp3.200"] in sheet
        assert (await other.post(f"/v1/invoices/2025/3/{REGION}/bill", json={"lines": []})).status_code == 403

        # --- the payment ---
        payment = {"paid_on": "2025-04-10", "reference": "SP2D 00123/BKAD/2025", "amount_rupiah": 5 * MONTHLY}
        first = await admin.post(f"/v1/invoices/2025/3/{REGION}/payment", json=payment)
        again = await admin.post(f"/v1/invoices/2025/3/{REGION}/payment", json=payment)
        changed = await admin.post(f"/v1/invoices/2025/3/{REGION}/payment", json=payment | {"amount_rupiah": 1})
        outside = await other.post(f"/v1/invoices/2025/3/{REGION}/payment", json=payment)
        nothing = await admin.post("/v1/invoices/2025/3/36.71/payment", json=payment)
        read = (await admin.get(f"/v1/invoices/2025/3/{REGION}/payment")).json()
    assert first.status_code == 201, first.text
    assert (first.json()["paid"], first.json()["recorded_by_name"], first.json()["difference_rupiah"]) == \
        ("Rp84.000", "banten_admin", 0)
    assert again.status_code == 200 and again.json() == first.json() == read
    assert (changed.status_code, changed.json()["errors"][0]["code"]) == (409, "already_paid")
    assert outside.status_code == 403
    assert (nothing.status_code, nothing.json()["errors"][0]["code"]) == (404, "no_invoice")
    async with stack.client("subsidy", "banten_admin") as admin:
        budget = (await admin.get(f"/v1/budgets/{REGION}", params={"year": 2025})).json()
    assert (budget["invoiced_rupiah"], budget["paid_rupiah"]) == (5 * MONTHLY, 5 * MONTHLY)
    [paid] = [e for e in await subsidy_events(stack, "invoice.paid") if e.data.region_code == REGION]
    assert (paid.data.invoiced_rupiah, paid.data.paid_rupiah, paid.data.reference, str(paid.data.paid_on)) == \
        (5 * MONTHLY, 5 * MONTHLY, "SP2D 00123/BKAD/2025", "2025-04-10")

    # The award panel's evidence pack shows the same month invoiced and paid: subsidy's events reach award.
    async with stack.client("award") as award:
        async def march_in_pack() -> list | None:
            response = await award.get(f"/v1/reports/{REGION}/2025.xlsx")
            if response.status_code == 404 and response.json()["errors"][0]["code"] == "no_data":
                return None  # award has not counted the region's events yet
            assert response.status_code == 200, response.text
            rows = list(load_workbook(io.BytesIO(response.content)).worksheets[3].iter_rows(values_only=True))
            march = next((r for r in rows if r and r[0] == "Maret" and r[3]), None)
            return list(march) if march else None
        march_row = await eventually(march_in_pack, timeout=30, interval=0.5)
    assert march_row[1:7] == [5 * MONTHLY, 5 * MONTHLY, 5 * MONTHLY, "2025-04-10", "SP2D 00123/BKAD/2025", 5]

    # --- a paid month stays paid: a later rejection releasing March becomes an adjustment of an open month ---
    reject = f"NIK;KPJ;Status;Alasan\n{members[4]['nik']};;Ditolak;Data tidak sesuai Dukcapil\n"
    async with stack.client("enrolment", "banten_admin") as admin:
        assert (await admin.post("/v1/bpjs/results", params={"region": REGION, "year": 2025}, content=reject.encode(),
                                 headers=CSV)).json()["rejections"] == {"data_mismatch": 1}
    async with stack.client("subsidy", "banten_admin") as admin:
        async def adjusted() -> dict | None:
            ledger = (await admin.get(f"/v1/ledger/{REGION}/2025")).json()
            return ledger if ledger["adjustments"] else None
        ledger = await eventually(adjusted, timeout=30, interval=0.5)
        march = next(i for i in (await admin.get("/v1/invoices/2025/3")).json()["invoices"]
                     if i["region_code"] == REGION)
        still = (await admin.get(f"/v1/invoices/2025/3/{REGION}/payment")).json()
    assert march["amount_due_rupiah"] == 5 * MONTHLY and still == read
    assert [(a["covered_month"], a["billed_month"], a["amount_rupiah"]) for a in ledger["adjustments"]] == \
        [("2025-03", "2025-04", -MONTHLY)]
    # Every invariant of `paritrana check` holds: decisions agree with statuses, budgets with grants less
    # releases, the ledger with the invoices.
    async def holds() -> InvariantReport | None:
        report = await check_databases(**{name: server.runtime.database for name, server in stack.servers.items()})
        return report if report.holds else None
    await eventually(holds, timeout=30, interval=0.5)
