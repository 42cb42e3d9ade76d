"""A region's evidence pack for the Award panel, free of I/O: what it holds, the monthly figures computed from the
registrations' dates, and how numbers, money and dates read in Bahasa Indonesia (or English).

``service.evidence_pack`` gathers a Pack from the projection and the committee's records; ``render`` turns it into
PDF and XLSX bytes. The same Pack gives the same bytes: nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from services.award.domain import IndicatorDefinition, Innovation, RegionIndicators, Regulation, Target
from shared.categories import CATEGORIES
from shared.clock import FISCAL_TZ

Language = Literal["id", "en"]


@dataclass(frozen=True)
class RegistrationDates:
    """The dates of one registration that the monthly figures need (no personal data)."""

    registered_on: date | None
    funded_on: date | None
    denied_on: date | None
    ended_on: date | None
    waitlisted_on: date | None


@dataclass(frozen=True)
class MonthFigures:
    """One month of a region's year: flows within the month and stocks at its end (or at the as-of day)."""

    month: int
    registered: int
    funded: int
    denied: int
    ended: int
    members: int  # funded and not ended at the month's end
    waiting: int  # waiting for funding at the month's end


def month_end(fiscal_year: int, month: int) -> date:
    return date(fiscal_year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)


def months_reported(fiscal_year: int, as_of: date) -> int:
    """How many months of the year have begun by the as-of day: 12 for a year over, 0 for one not begun."""
    if fiscal_year < as_of.year:
        return 12
    return as_of.month if fiscal_year == as_of.year else 0


def _in(day: date | None, start: date, end: date) -> bool:
    return day is not None and start <= day <= end


def _by(day: date | None, end: date) -> bool:
    return day is not None and day <= end


def monthly(rows: Iterable[RegistrationDates], fiscal_year: int, as_of: date) -> list[MonthFigures]:
    """Registrations, newly funded members, denials (not overturned by a grant) and ends per month, with the funded
    members and the waiting list at each month's end; the current month ends at the as-of day.

    The same rules as the tallies (``domain.contribution``): the last month's members and waiting equal the region's
    ``active`` and ``waiting`` counts."""
    rows = list(rows)
    out = []
    for month in range(1, months_reported(fiscal_year, as_of) + 1):
        start, end = date(fiscal_year, month, 1), min(month_end(fiscal_year, month), as_of)
        out.append(MonthFigures(
            month,
            registered=sum(_in(r.registered_on, start, end) for r in rows),
            funded=sum(_in(r.funded_on, start, end) for r in rows),
            denied=sum(r.funded_on is None and _in(r.denied_on, start, end) for r in rows),
            ended=sum(_in(r.ended_on, start, end) for r in rows),
            members=sum(_by(r.funded_on, end) and not _by(r.ended_on, end) for r in rows),
            waiting=sum(_by(r.waitlisted_on, end) and not any(_by(d, end) for d in (r.funded_on, r.denied_on,
                                                                                    r.ended_on))
                        for r in rows)))
    return out


@dataclass(frozen=True)
class BudgetLine:
    line_id: str
    source: str
    amount_rupiah: int
    legal_reference: str


@dataclass(frozen=True)
class BudgetMonth:
    """A month of the region's own budget: premiums committed by grants (less releases), invoiced to BPJS
    Ketenagakerjaan, and paid."""

    month: int
    committed_rupiah: int
    members_invoiced: int | None
    invoiced_rupiah: int | None
    paid_rupiah: int | None
    paid_on: date | None
    payment_reference: str | None


@dataclass(frozen=True)
class Budget:
    allocation_rupiah: int
    lines: list[BudgetLine]
    months: list[BudgetMonth]

    @property
    def committed_rupiah(self) -> int:
        return sum(m.committed_rupiah for m in self.months)

    @property
    def invoiced_rupiah(self) -> int:
        return sum(m.invoiced_rupiah or 0 for m in self.months)

    @property
    def paid_rupiah(self) -> int:
        return sum(m.paid_rupiah or 0 for m in self.months)


def budget_months(committed: dict[int, int], invoices: dict[int, BudgetMonth]) -> list[BudgetMonth]:
    """Twelve months: what was committed for each, with its invoice and payment when there are ones."""
    return [BudgetMonth(m, committed.get(m, 0), *(
        (i.members_invoiced, i.invoiced_rupiah, i.paid_rupiah, i.paid_on, i.payment_reference)
        if (i := invoices.get(m)) is not None else (None, None, None, None, None)))
        for m in range(1, 13)]


@dataclass(frozen=True)
class RankedRow:
    rank: int
    region: RegionIndicators


@dataclass(frozen=True)
class Pack:
    """Everything a region's evidence pack shows, from the same projection the API reads."""

    region: RegionIndicators
    province_name: str | None
    fiscal_year: int
    as_of: date  # the day time-dependent counts are taken at
    current_at: datetime  # the latest change recorded for the region: what the footer says the data is current at
    definitions: list[IndicatorDefinition]
    weights: dict[str, float]
    weights_note: str
    rank_in_province: int | None  # a regency's among its province's regencies
    regencies_in_province: int
    rank_national: int | None  # among all regencies, or all provinces for a province
    ranked_nationally: int
    months: list[MonthFigures]
    budget: Budget
    target: Target | None
    regulation: Regulation | None
    innovations: list[Innovation]
    province_ranking: list[RankedRow]

    def categories(self) -> list[tuple[str, int]]:
        """Active members per category, by the name people use, in the categories' order; empty ones left out."""
        counts = self.region.counts
        return [(c.code, counts[f"cat:{c.code}"]) for c in CATEGORIES if counts.get(f"cat:{c.code}")]

    def sexes(self) -> list[tuple[str, int]]:
        counts = self.region.counts
        return [(s, counts[f"sex:{s}"]) for s in ("P", "L") if counts.get(f"sex:{s}")]


def latest_change(instants: Iterable[datetime | None], days: Iterable[date | None], fallback: date) -> datetime:
    """When the data was last current: the latest recorded instant, or the start (WIB) of the latest day a
    registration changed on when that is later; the fallback day's start when nothing is recorded."""
    found = [i.astimezone(FISCAL_TZ) for i in instants if i is not None]
    found += [datetime.combine(d, time(0), FISCAL_TZ) for d in days if d is not None]
    return max(found, default=datetime.combine(fallback, time(0), FISCAL_TZ))


# --- how it reads ---

MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def number(value: float | int | None, lang: Language = "id", decimals: int = 0) -> str:
    """1.234,5 in Indonesian, 1,234.5 in English; a dash for no value."""
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "id" else text


def rupiah(value: int | None, lang: Language = "id") -> str:
    return "–" if value is None else f"Rp{number(value, lang)}"


def day_text(day: date | None, lang: Language = "id") -> str:
    return "–" if day is None else f"{day.day} {MONTHS[lang][day.month - 1]} {day.year}"


def instant_text(instant: datetime, lang: Language = "id") -> str:
    local = instant.astimezone(FISCAL_TZ)
    clock = f"{local:%H.%M}" if lang == "id" else f"{local:%H:%M}"
    return f"{day_text(local.date(), lang)}, {clock} WIB"


def category_name(code: str, lang: Language = "id") -> str:
    for c in CATEGORIES:
        if c.code == code:
            return c.name_id if lang == "id" else c.name_en
    return code


SEX_NAMES = {"id": {"L": "Laki-laki", "P": "Perempuan"}, "en": {"L": "Men", "P": "Women"}}
REGULATION_NAMES = {
    "id": {"none": "Belum ada", "in_preparation": "Dalam penyusunan", "perkada": "Perkada", "perda": "Perda"},
    "en": {"none": "None", "in_preparation": "In preparation", "perkada": "Perkada", "perda": "Perda"},
}

LABELS: dict[str, dict[Language, str]] = {
    "title": {"id": "Paket bukti Paritrana Award", "en": "Paritrana Award evidence pack"},
    "fiscal_year": {"id": "Tahun anggaran", "en": "Fiscal year"},
    "as_of": {"id": "Angka dihitung per", "en": "Figures as of"},
    "current": {"id": "Data terkini per", "en": "Data current as of"},
    "page": {"id": "Halaman", "en": "Page"},
    "summary": {"id": "Ringkasan", "en": "Summary"},
    "score": {"id": "Skor komposit", "en": "Composite score"},
    "rank_province": {"id": "Peringkat di provinsi", "en": "Rank in province"},
    "rank_national": {"id": "Peringkat nasional", "en": "National rank"},
    "of": {"id": "dari", "en": "of"},
    "active": {"id": "Peserta aktif", "en": "Active members"},
    "target": {"id": "Target", "en": "Target"},
    "waiting": {"id": "Menunggu pendanaan", "en": "Waiting for funding"},
    "indicators": {"id": "Indikator dan definisinya", "en": "Indicators and their definitions"},
    "indicator": {"id": "Indikator", "en": "Indicator"},
    "value": {"id": "Nilai", "en": "Value"},
    "unit": {"id": "Satuan", "en": "Unit"},
    "weight": {"id": "Bobot", "en": "Weight"},
    "contribution": {"id": "Kontribusi", "en": "Contribution"},
    "definition": {"id": "Definisi", "en": "Definition"},
    "weights_notice": {"id": "Bobot tidak resmi: Paritrana Award menerbitkan kriteria tetapi tidak menerbitkan "
                             "bobot. Bobot ini adalah bawaan proyek dari konfigurasi indikator.",
                       "en": "Unofficial weights"},
    "monthly": {"id": "Kepesertaan per bulan", "en": "Enrolment by month"},
    "month": {"id": "Bulan", "en": "Month"},
    "registered": {"id": "Terdaftar", "en": "Registered"},
    "funded": {"id": "Didanai", "en": "Funded"},
    "denied": {"id": "Ditolak", "en": "Denied"},
    "ended": {"id": "Berakhir", "en": "Ended"},
    "members": {"id": "Peserta didanai (akhir bulan)", "en": "Funded members (month end)"},
    "waiting_end": {"id": "Menunggu (akhir bulan)", "en": "Waiting (month end)"},
    "budget": {"id": "Anggaran", "en": "Budget"},
    "allocation": {"id": "Alokasi", "en": "Allocation"},
    "committed": {"id": "Terikat", "en": "Committed"},
    "invoiced": {"id": "Ditagihkan", "en": "Invoiced"},
    "paid": {"id": "Dibayar", "en": "Paid"},
    "paid_on": {"id": "Tanggal bayar", "en": "Paid on"},
    "payment_reference": {"id": "Referensi pembayaran", "en": "Payment reference"},
    "line": {"id": "Baris", "en": "Line"},
    "source": {"id": "Sumber dana", "en": "Source"},
    "amount": {"id": "Jumlah", "en": "Amount"},
    "legal_reference": {"id": "Dasar hukum", "en": "Legal reference"},
    "no_lines": {"id": "Belum ada baris anggaran yang tercatat.", "en": "No budget lines recorded."},
    "regulation": {"id": "Regulasi", "en": "Regulation"},
    "status": {"id": "Status", "en": "Status"},
    "reference": {"id": "Nomor", "en": "Reference"},
    "enacted_on": {"id": "Ditetapkan", "en": "Enacted on"},
    "innovations": {"id": "Inovasi", "en": "Innovations"},
    "points": {"id": "Poin", "en": "Points"},
    "no_innovations": {"id": "Belum ada inovasi yang dicatat tahun ini.", "en": "No innovations recorded this year."},
    "coverage": {"id": "Cakupan menurut kategori dan jenis kelamin", "en": "Coverage by category and sex"},
    "category": {"id": "Kategori", "en": "Category"},
    "sex": {"id": "Jenis kelamin", "en": "Sex"},
    "share": {"id": "Porsi", "en": "Share"},
    "ranking": {"id": "Peringkat kabupaten/kota di provinsi", "en": "The province's regencies and cities ranked"},
    "region": {"id": "Wilayah", "en": "Region"},
    "coverage_rate": {"id": "Cakupan", "en": "Coverage"},
    "aggregates": {"id": "Hanya agregat: tidak ada data pribadi.", "en": "Aggregates only: no personal data."},
    "chart_monthly": {"id": "Didanai per bulan dan peserta didanai di akhir bulan",
                      "en": "Funded per month and funded members at month end"},
    "chart_budget": {"id": "Terikat, ditagihkan dan dibayar per bulan (Rp)",
                     "en": "Committed, invoiced and paid per month (Rp)"},
    "target_source": {"id": "Sumber target", "en": "Target source"},
}


def label(key: str, lang: Language = "id") -> str:
    return LABELS[key][lang]


def weights_notice(pack: Pack, lang: Language) -> str:
    return pack.weights_note if lang == "en" else label("weights_notice", "id")


def ordered(rows: Sequence[RankedRow]) -> list[RankedRow]:
    return sorted(rows, key=lambda r: r.rank)
