"""The month's BPJS invoice of a region as an A4 PDF (ReportLab, as award's pack): region, month, members billed,
the monthly rate, the amount due, adjustments when there are any, whether the month is closed (frozen) and paid.
Pure: it takes subsidy's invoice JSON and payment JSON and gives bytes. The same data gives the same bytes: the
creation date and the footer's time are the data's (the month's close, or the payment's record), never the clock's,
and the document id is a digest of its content (invariant)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.office.i18n import day, month, rupiah
from shared.pdf_pages import INK, page_decoration

ACCENT = colors.HexColor("#0b6e4f")

WORDS: dict[str, tuple[str, str]] = {
    "title": ("Tagihan iuran BPJS Ketenagakerjaan", "BPJS Ketenagakerjaan premium invoice"),
    "region": ("Wilayah", "Region"),
    "month": ("Bulan", "Month"),
    "status": ("Status", "Status"),
    "closed": ("Ditutup (final) pada", "Closed (frozen) on"),
    "open": ("Terbuka: belum final, angka dapat berubah", "Open: not final, the figures may change"),
    "paid": ("Dibayar", "Paid"),
    "not_paid": ("Belum dibayar", "Not paid yet"),
    "reference": ("Referensi", "Reference"),
    "code": ("Kode", "Code"),
    "members": ("Peserta", "Members"),
    "rate": ("Iuran per bulan", "Monthly rate"),
    "amount": ("Iuran", "Premiums"),
    "adjustment_members": ("Peserta penyesuaian", "Adjusted members"),
    "adjustment": ("Penyesuaian", "Adjustments"),
    "due": ("Total tagihan", "Amount due"),
    "total": ("Jumlah", "Total"),
    "no_lines": ("Tidak ada tagihan untuk wilayah ini pada bulan ini.", "No invoice for this region this month."),
    "as_of": ("Data per", "Data as of"),
    "made": ("Dibuat oleh Paritrana dari data subsidi", "Made by Paritrana from subsidy's data"),
    "page": ("Halaman", "Page"),
}


def _w(key: str, lang: str) -> str:
    return WORDS[key][1 if lang == "en" else 0]


def _instant(value: str | None) -> datetime | None:
    """An instant of subsidy's JSON; one without an offset is UTC."""
    if not value:
        return None
    found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def as_of(found: dict[str, Any], paid: dict[str, Any] | None) -> datetime | None:
    """The data's time: the latest of the month's close and the payment's record; None for an open month."""
    moments = [m for m in (_instant(found.get("closed_at")), _instant((paid or {}).get("recorded_at"))) if m]
    return max(moments) if moments else None


def rate_of(line: dict[str, Any]) -> int | None:
    """The monthly rate of a line: its premiums over its members, when that divides exactly."""
    members, amount = line["members"], line["amount_rupiah"]
    return amount // members if members and amount % members == 0 else None


def invoice_pdf(region_code: str, region_name: str, year: int, month_number: int, found: dict[str, Any],
                paid: dict[str, Any] | None, lang: str = "id", now: datetime | None = None) -> bytes:
    """`found` is subsidy's GET /v1/invoices/{y}/{m} with its lines already cut to the region; `paid` its payment
    of the region (or None). `now` is used only for an open month, which has no time of its own."""
    styles = getSampleStyleSheet()
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontSize=15, textColor=ACCENT)
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=8.5)
    when = as_of(found, paid) or now or datetime(year, month_number, 1, tzinfo=UTC)
    key = f"{year}-{month_number:02d}"
    title = f"{_w('title', lang)} · {region_name} ({region_code}) · {month(key, lang)}"
    footer = f"{_w('made', lang)} · {_w('as_of', lang)} {day(when, lang)}"
    closed = found["status"] == "closed"

    lines = found["invoices"]
    adjusted = any(line["adjustment_members"] or line["adjustment_rupiah"] for line in lines)
    header = [_w(k, lang) for k in ("code", "region", "members", "rate", "amount")]
    header += [_w(k, lang) for k in ("adjustment_members", "adjustment")] if adjusted else []
    header.append(_w("due", lang))
    rows: list[list[Any]] = [header]
    for line in lines:
        row = [line["region_code"], Paragraph(escape(line["region_name"] or ""), small), str(line["members"]),
               rupiah(rate_of(line)), rupiah(line["amount_rupiah"])]
        row += [str(line["adjustment_members"]), rupiah(line["adjustment_rupiah"])] if adjusted else []
        row.append(rupiah(line["amount_due_rupiah"]))
        rows.append(row)
    total_due = sum(line["amount_due_rupiah"] for line in lines)
    total = [_w("total", lang), "", str(sum(line["members"] for line in lines)), "",
             rupiah(sum(line["amount_rupiah"] for line in lines))]
    total += ["", rupiah(sum(line["adjustment_rupiah"] for line in lines))] if adjusted else []
    total.append(rupiah(total_due))
    rows.append(total)

    status = (f"{_w('closed', lang)} {day(_instant(found.get('closed_at')), lang)}" if closed
              else _w("open", lang))
    if paid:
        payment = (f"{_w('paid', lang)} {rupiah(paid['paid_rupiah'])} · {day(paid['paid_on'], lang)} · "
                   f"{_w('reference', lang)} {paid['reference']}")
    else:
        payment = _w("not_paid", lang)
    summary = [[_w("region", lang), f"{region_name} ({region_code})"], [_w("month", lang), month(key, lang)],
               [_w("status", lang), status], [_w("paid", lang), payment],
               [_w("due", lang), rupiah(total_due)]]

    decorate = page_decoration(when, footer, _w("page", lang))

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=18 * mm,
        title=title, author="Paritrana", subject=footer, creator="Paritrana office", invariant=True)
    story: list[Any] = [Paragraph(escape(title), h1), Spacer(0, 3 * mm), _table(summary, header=False),
                        Spacer(0, 5 * mm)]
    story.append(_table(rows, total=True) if lines else Paragraph(_w("no_lines", lang), body))
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()


def _table(rows: list[list[Any]], header: bool = True, total: bool = False) -> Table:
    table = Table(rows, repeatRows=1 if header else 0)
    style: list[Any] = [("FONT", (0, 0), (-1, -1), "Helvetica", 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c7ccd1")),
                        ("TEXTCOLOR", (0, 0), (-1, -1), INK)]
    if header:
        style += [("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f3ee")),
                  ("ALIGN", (2, 1), (-1, -1), "RIGHT")]
    else:
        style.append(("FONT", (0, 0), (0, -1), "Helvetica-Bold", 8))
    if total:
        style.append(("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 8))
    table.setStyle(TableStyle(style))
    return table
