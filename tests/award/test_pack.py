"""The evidence pack (issue #23): invoices consumed from subsidy.decisions on the real broker, the pack's numbers equal
to the API's, the PDF's pages (rendered to PNGs under tests/artifacts/ with pdftoppm) and the XLSX's sheets, the
same bytes for the same data, and `paritrana award report`."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from services.award.app import create_app
from services.award.pack import RegistrationDates, monthly, number, rupiah
from services.award.render import XLSX_SHEETS
from shared.events import InvoiceIssued, InvoicePaid, SubsidyWaitlisted
from tests.award.factory import PREMIUM, Worker, allocation, at, envelope, publish
from tests.award.test_api import issue_key
from tests.support import caught_up, eventually, serving

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PDFTOTEXT = shutil.which("pdftotext")
PDFTOPPM = shutil.which("pdftoppm")
# The session broker is shared by both backends' runs: each keeps to a province of its own (Gorontalo, Maluku Utara).
AREAS = {"sqlite": ("75.71", "75.01", "75.02"), "postgresql": ("82.71", "82.01", "82.02")}


# --- pure ---

def test_monthly_figures_follow_the_tallies_rules() -> None:
    rows = [
        RegistrationDates(date(2025, 1, 5), date(2025, 1, 6), None, None, None),  # funded in January
        RegistrationDates(date(2025, 1, 7), date(2025, 1, 8), None, date(2025, 2, 20), None),  # ended in February
        RegistrationDates(date(2025, 2, 1), None, date(2025, 3, 2), None, date(2025, 2, 1)),  # waited, then denied
        RegistrationDates(date(2025, 2, 3), date(2025, 3, 4), date(2025, 2, 3), None, None),  # denial overturned
        RegistrationDates(date(2025, 3, 5), None, None, None, date(2025, 3, 5)),  # waiting now
    ]
    months = monthly(rows, 2025, date(2025, 3, 20))
    assert [(m.month, m.registered, m.funded, m.denied, m.ended, m.members, m.waiting) for m in months] == [
        (1, 2, 2, 0, 0, 2, 0),
        (2, 2, 0, 0, 1, 1, 1),
        (3, 1, 1, 1, 0, 2, 1),
    ]
    assert len(monthly(rows, 2024, date(2025, 3, 20))) == 12 and monthly(rows, 2026, date(2025, 3, 20)) == []


def test_numbers_and_money_read_as_in_indonesia() -> None:
    assert rupiah(16_800) == "Rp16.800" and rupiah(16_800, "en") == "Rp16,800"
    assert number(12.5, "id", 1) == "12,5" and number(None) == "–"


# --- on the broker, both backends ---

def invoice_issued(region_code: str, month: int, members: int) -> InvoiceIssued:
    return InvoiceIssued(region_code=region_code, fiscal_year=2025, month=month, members=members,
                         amount_rupiah=members * PREMIUM, issued_at=at(1, month + 1, hour=8))


def invoice_paid(region_code: str, month: int, members: int, reference: str) -> InvoicePaid:
    return InvoicePaid(region_code=region_code, fiscal_year=2025, month=month, invoiced_rupiah=members * PREMIUM,
                       paid_rupiah=members * PREMIUM, paid_on=date(2025, month + 1, 10), reference=reference,
                       paid_at=at(10, month + 1, hour=14))


def waitlisted(worker: Worker, day: int, month: int) -> SubsidyWaitlisted:
    return SubsidyWaitlisted(**worker.attributes(), fiscal_year=2025, start_month=month, months=12 - month + 1,
                             amount_rupiah=PREMIUM, arrival=1, position=1, decided_at=at(day, month))


async def seed(producer, kota: str, others: tuple[str, ...]) -> None:
    """Kota: 4 funded (2 in January, 1 in February, 1 in March; one of January's ended in February), one denied, one
    waiting; its budget with two lines; January and February invoiced, January paid. Two neighbours with fewer."""
    january = [Worker(kota, category="ojol_driver", sex="L"), Worker(kota, category="posyandu_cadre", sex="P")]
    february, march = Worker(kota, category="small_trader", sex="P"), Worker(kota, category="farmer", sex="L")
    denied, waiting = Worker(kota, category="fisher"), Worker(kota, category="linmas")
    events = [envelope(w.registered(at(9, 1))) for w in january]
    events += [envelope(w.granted(at(10, 1))) for w in january]
    events += [envelope(february.registered(at(4, 2))), envelope(february.granted(at(5, 2), start_month=2, months=11)),
               envelope(march.registered(at(9, 3))), envelope(march.granted(at(10, 3), start_month=3, months=10)),
               envelope(january[0].ended(at(20, 2), end_month=2)),
               envelope(january[0].released(at(20, 2), end_month=2)),
               envelope(denied.registered(at(11, 3))), envelope(denied.denied(at(11, 3), start_month=3, months=10)),
               envelope(waiting.registered(at(12, 3))), envelope(waitlisted(waiting, 12, 3))]
    lines = allocation(kota, 60_000_000, at(2, 1))
    lines = lines.model_copy(update={"lines": [
        lines.lines[0].model_copy(update={"amount_rupiah": 50_000_000,
                                          "legal_reference": "Perda Kota No. 9 Tahun 2024 tentang APBD 2025"}),
        lines.lines[0].model_copy(update={"line_id": "dbhcht-1", "source": "DBH CHT", "amount_rupiah": 10_000_000,
                                          "legal_reference": "PMK 215/PMK.07/2021 (DBH CHT)"})]})
    events.append(envelope(lines))
    # February's payment arrives before its invoice, and an older issue of it after: the invoice still fills in,
    # the payment stays, the newer issue wins.
    events += [envelope(invoice_issued(kota, 1, 2)), envelope(invoice_paid(kota, 1, 2, "SP2D-0001/2025")),
               envelope(invoice_paid(kota, 2, 3, "SP2D-0002/2025")), envelope(invoice_issued(kota, 2, 3)),
               envelope(invoice_issued(kota, 2, 3).model_copy(update={"members": 1, "amount_rupiah": PREMIUM,
                                                                       "issued_at": at(28, 2, hour=8)}))]
    for other, members in zip(others, (1, 2), strict=True):
        events += [envelope(Worker(other, category="farmer").granted(at(10, 1))) for _ in range(members)]
    await publish(producer, events)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


async def test_the_evidence_pack_says_what_the_api_says(broker, backend, award_settings, producer_for, artifacts,
                                                        monkeypatch, tmp_path):
    kota, *others = AREAS[backend]
    province = kota[:2]
    settings = await award_settings(broker)
    admin = await issue_key(settings, ["admin"], [province])
    await seed(await producer_for(settings), kota, tuple(others))
    async with serving(create_app, settings) as award, award.client(admin) as client:
        target = {"fiscal_year": 2025, "target_population": 40, "source": "Survei Disnaker 2024"}
        assert (await client.put(f"/v1/regions/{kota}/target", json=target)).status_code == 200
        perwali = {"status": "perkada", "instrument": "perwali", "reference": "Perwali No. 7 Tahun 2024",
                   "enacted_on": "2024-05-02"}
        assert (await client.put(f"/v1/regions/{kota}/regulation", json=perwali)).status_code == 200
        innovation = {"fiscal_year": 2025, "title": "Jemput bola di pasar", "note": "Petugas keliling", "points": 3}
        assert (await client.post(f"/v1/regions/{kota}/innovations", json=innovation)).status_code == 201
        # Free text is text, not markup (the API refuses control characters: tests/award/test_api.py).
        awkward = {"fiscal_year": 2025, "title": "Kerja sama <RT & RW>", "note": "Catatan ✓ <b>tebal", "points": 0}
        assert (await client.post(f"/v1/regions/{kota}/innovations", json=awkward)).status_code == 201

        async def seeded() -> dict | None:
            body = (await client.get(f"/v1/indicators/{kota}", params={"year": 2025})).json()
            counts = body.get("counts", {})
            ready = counts.get("active") == 3 and counts.get("waiting") == 1 and counts.get("denied") == 1
            return body if ready and await caught_up(award.runtime.consumers) else None

        api = await eventually(seeded, timeout=30)
        ranking = (await client.get("/v1/rankings", params={"year": 2025})).json()["regions"]
        national_rank = [r["region_code"] for r in ranking].index(kota) + 1
        in_province = (await client.get("/v1/rankings", params={"year": 2025, "province": province})).json()

        pdf = await client.get(f"/v1/reports/{kota}/2025.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        xlsx = await client.get(f"/v1/reports/{kota}/2025.xlsx")
        assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxml")
        await asyncio.sleep(1.1)  # a clock-stamped date (PDF metadata, workbook, zip entry) would differ a second later
        assert pdf.content == (await client.get(f"/v1/reports/{kota}/2025.pdf")).content
        assert xlsx.content == (await client.get(f"/v1/reports/{kota}/2025.xlsx")).content
        assert (await client.get("/v1/reports/75.99/2025.pdf")).status_code == 404
        english = await client.get(f"/v1/reports/{kota}/2025.xlsx", params={"lang": "en"})
        assert load_workbook(io.BytesIO(english.content)).sheetnames[0] == "Summary"
        provincial = await client.get(f"/v1/reports/{province}/2025.xlsx")
        assert provincial.status_code == 200
        rows = dict(r[:2] for r in load_workbook(io.BytesIO(provincial.content))["Ringkasan"].iter_rows(
            min_row=4, values_only=True) if r and r[0])
        provinces = (await client.get("/v1/rankings", params={"year": 2025, "level": "province"})).json()["regions"]
        assert rows["Peringkat nasional"] == \
            f"{[r['region_code'] for r in provinces].index(province) + 1} dari {len(provinces)}"
        assert rows["Peringkat di provinsi"] == "–"
        assert (await client.get(f"/v1/reports/{others[0]}/2031.xlsx")).status_code == 404

        # `paritrana award report` writes the same pack from the same database.
        monkeypatch.setenv("PARITRANA_AWARD_DATABASE_URL", settings.database_url("award"))
        monkeypatch.setenv("PARITRANA_CLOCK_START", settings.clock_start.isoformat())

    # The XLSX: its sheets, and its numbers equal the API's.
    book = load_workbook(io.BytesIO(xlsx.content))
    assert tuple(book.sheetnames) == XLSX_SHEETS
    indicators = {row[6]: row[1] for row in book["Indikator"].iter_rows(min_row=5, values_only=True) if row[6]}
    assert indicators == api["values"]
    months = [row for row in book["Bulanan"].iter_rows(min_row=5, values_only=True)]
    assert [(m[0], m[2], m[5], m[6]) for m in months] == [("Januari", 2, 2, 0), ("Februari", 1, 2, 0),
                                                          ("Maret", 1, 3, 1)]
    assert sum(m[3] for m in months) == api["counts"]["denied"] and months[-1][5] == api["counts"]["active"]
    budget = list(book["Anggaran"].iter_rows(min_row=5, values_only=True))
    assert budget[0][2] == api["counts"]["allocation_rupiah"] == 60_000_000
    assert {r[3] for r in budget[1:3]} == {"Perda Kota No. 9 Tahun 2024 tentang APBD 2025",
                                            "PMK 215/PMK.07/2021 (DBH CHT)"}
    total = budget[-1]
    assert total[0] == "Total" and total[1] == api["counts"]["committed_rupiah"]
    assert (total[2], total[3]) == (5 * PREMIUM, 5 * PREMIUM)
    january = next(r for r in budget if r[0] == "Januari")
    assert january[3] == 2 * PREMIUM and january[5] == "SP2D-0001/2025"
    february = next(r for r in budget if r[0] == "Februari")
    assert (february[2], february[3], february[5], february[6]) == (3 * PREMIUM, 3 * PREMIUM, "SP2D-0002/2025", 3)
    summary = dict(r[:2] for r in book["Ringkasan"].iter_rows(min_row=4, values_only=True) if r and r[0])
    assert summary["Peringkat nasional"].startswith(f"{national_rank} dari ")
    province_rank = [r["region_code"] for r in in_province["regions"]].index(kota) + 1
    assert summary["Peringkat di provinsi"] == f"{province_rank} dari {len(in_province['regions'])}"
    assert summary["Menunggu pendanaan"] == "1"
    ranked = [r[1] for r in book["Peringkat"].iter_rows(min_row=5, values_only=True)]
    assert ranked == [r["region_code"] for r in in_province["regions"]]
    coverage = {r[2]: r[1] for r in book["Cakupan"].iter_rows(min_row=5, values_only=True) if r and r[2]}
    assert coverage["posyandu_cadre"] == api["counts"]["cat:posyandu_cadre"] == 1
    assert coverage["P"] == api["counts"]["sex:P"] == 2
    assert "Perwali No. 7 Tahun 2024" in [c for r in book["Regulasi & inovasi"].iter_rows(values_only=True) for c in r]

    # The PDF: its pages, each footer saying when the data was current, as PNGs for people to look at.
    path = artifacts / f"pack-{kota}.pdf"
    path.write_bytes(pdf.content)
    if PDFTOTEXT is None or PDFTOPPM is None:
        pytest.skip("poppler-utils is not installed (apt-get install poppler-utils; .ci/run does it)")
    text = subprocess.run([PDFTOTEXT, "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    assert len(pages) == 5
    for page in pages:
        assert "Data terkini per 20 Maret 2025, 10.0" in page  # the innovation noted: the data's latest change
    assert "Upaya anggaran" in pages[0] and "Keragaman kategori" in pages[0]  # indicators in Bahasa Indonesia
    assert "Bobot tidak resmi" in pages[0] and "Kader Posyandu" in pages[3] and "Perwali No. 7 Tahun 2024" in pages[3]
    assert "Rp60.000.000" in pages[2] and "PMK 215/PMK.07/2021 (DBH CHT)" in pages[2] and "SP2D-0002/2025" in pages[2]
    assert f"{national_rank} dari" in pages[0]
    assert "Jemput bola di pasar" in pages[3] and "Kerja sama <RT & RW>" in pages[3] and "<b>tebal" in pages[3]
    subprocess.run([PDFTOPPM, "-png", "-r", "60", str(path), str(artifacts / f"pack-{kota}")], check=True)
    assert len(list(artifacts.glob(f"pack-{kota}-*.png"))) == 5

    if backend == "sqlite":
        from paritrana.cli import main
        from shared.settings import get_settings

        get_settings.cache_clear()
        out = tmp_path / "pack.pdf"
        result = await asyncio.to_thread(CliRunner().invoke, main, ["award", "report", kota, "2025", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == pdf.content
        get_settings.cache_clear()
