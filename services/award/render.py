"""An evidence pack (services/award/pack.py) as PDF (ReportLab, charts drawn by its own graphics) and as XLSX
(openpyxl). Pure: bytes from a Pack, with every date the files carry taken from the pack's data, so the same data
gives the same bytes."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.award.domain import IndicatorDefinition
from services.award.pack import (
    MONTHS,
    REGULATION_NAMES,
    SEX_NAMES,
    Language,
    Pack,
    category_name,
    day_text,
    instant_text,
    label,
    number,
    rupiah,
    weights_notice,
)
from shared.pdf_pages import INK, page_decoration

PDF_SECTIONS = ("summary", "monthly", "budget", "regulation", "ranking")  # one page each, at least
ACCENT = colors.HexColor("#0b6e4f")
SECOND = colors.HexColor("#d9822b")
THIRD = colors.HexColor("#4c6ef5")
XLSX_SHEETS = ("Ringkasan", "Indikator", "Bulanan", "Anggaran", "Regulasi & inovasi", "Cakupan", "Peringkat")
XLSX_SHEETS_EN = ("Summary", "Indicators", "Monthly", "Budget", "Regulation & innovation", "Coverage", "Ranking")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Free text (innovation notes, references) without the control characters XML and XLSX cannot hold."""
    return _CONTROL.sub("", text)


def text(value: str) -> str:
    """Free text for a ReportLab Paragraph: cleaned and escaped, as Paragraphs read markup."""
    return escape(clean(value))


def _value(pack: Pack, indicator_id: str, lang: Language) -> str:
    value = pack.region.values.get(indicator_id)
    return number(value, lang, 2) if value is not None else "–"


def _rank(rank: int | None, out_of: int, lang: Language) -> str:
    return "–" if rank is None else f"{rank} {label('of', lang)} {out_of}"


def summary_rows(pack: Pack, lang: Language) -> list[tuple[str, str]]:
    counts = pack.region.counts
    rows = [
        (label("score", lang), number(pack.region.score, lang, 2)),
        (label("rank_province", lang), _rank(pack.rank_in_province, pack.regencies_in_province, lang)),
        (label("rank_national", lang), _rank(pack.rank_national, pack.ranked_nationally, lang)),
        (label("active", lang), number(counts.get("active", 0), lang)),
        (label("target", lang), number(counts.get("target"), lang)),
        (label("coverage_rate", lang), f"{_value(pack, 'coverage_rate', lang)} %"),
        (label("waiting", lang), number(counts.get("waiting", 0), lang)),
        (label("allocation", lang), rupiah(pack.budget.allocation_rupiah, lang)),
        (label("committed", lang), rupiah(pack.budget.committed_rupiah, lang)),
        (label("invoiced", lang), rupiah(pack.budget.invoiced_rupiah, lang)),
        (label("paid", lang), rupiah(pack.budget.paid_rupiah, lang)),
    ]
    if pack.target is not None:
        rows.append((label("target_source", lang), pack.target.source))
    return rows


def said(definition: IndicatorDefinition, lang: Language) -> tuple[str, str, str]:
    """An indicator's name, unit and description in the pack's language (English where no Indonesian is given)."""
    d = definition
    if lang == "id":
        return d.name_id or d.name, d.unit_id or d.unit, d.description_id or d.description
    return d.name, d.unit, d.description


def indicator_rows(pack: Pack, lang: Language) -> list[list[str]]:
    return [[said(d, lang)[0], _value(pack, d.id, lang), said(d, lang)[1], number(pack.weights.get(d.id, 0.0), lang, 2),
             number(pack.region.contributions.get(d.id, 0.0), lang, 2), said(d, lang)[2]]
            for d in pack.definitions]


def monthly_rows(pack: Pack, lang: Language) -> list[list[Any]]:
    return [[MONTHS[lang][m.month - 1], m.registered, m.funded, m.denied, m.ended, m.members, m.waiting]
            for m in pack.months]


def monthly_header(lang: Language) -> list[str]:
    return [label(k, lang) for k in ("month", "registered", "funded", "denied", "ended", "members", "waiting_end")]


def budget_header(lang: Language) -> list[str]:
    return [label(k, lang) for k in ("month", "committed", "invoiced", "paid", "paid_on", "payment_reference")]


def ranking_rows(pack: Pack, lang: Language) -> list[list[Any]]:
    return [[r.rank, r.region.region_code, r.region.name, r.region.score, r.region.values.get("coverage_rate"),
             r.region.counts.get("active", 0), r.region.counts.get("waiting", 0)] for r in pack.province_ranking]


def ranking_header(lang: Language) -> list[str]:
    return ["#", "Kode" if lang == "id" else "Code", label("region", lang), label("score", lang),
            f"{label('coverage_rate', lang)} (%)", label("active", lang), label("waiting", lang)]


def title_of(pack: Pack, lang: Language) -> str:
    return f"{label('title', lang)}: {pack.region.name} · {label('fiscal_year', lang)} {pack.fiscal_year}"


def footer_of(pack: Pack, lang: Language) -> str:
    return (f"{label('current', lang)} {instant_text(pack.current_at, lang)} · {label('as_of', lang)} "
            f"{day_text(pack.as_of, lang)} · {label('aggregates', lang)}")


# --- PDF ---

def _table(rows: list[list[Any]], widths: list[float] | None = None, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONT", (0, 0), (-1, -1), "Helvetica", 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c7ccd1")),
             ("TEXTCOLOR", (0, 0), (-1, -1), INK)]
    if header:
        style += [("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f3ee"))]
    table.setStyle(TableStyle(style))
    return table


def _bar_chart(title: str, categories: list[str], series: list[tuple[str, list[int]]],
               colours: list[Any]) -> Drawing:
    drawing = Drawing(170 * mm, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 14 * mm, 12 * mm, 110 * mm, 42 * mm
    chart.data = [values or [0] for _, values in series]
    chart.categoryAxis.categoryNames = categories or ["–"]
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labelTextFormat = lambda v: number(v)
    chart.barSpacing = 0.5
    for i, colour in enumerate(colours):
        chart.bars[i].fillColor = colour
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = 130 * mm, 50 * mm
    legend.fontSize = 7
    legend.colorNamePairs = [(c, name) for c, (name, _) in zip(colours, series, strict=True)]
    drawing.add(legend)
    drawing.add(String(0, 58 * mm, title, fontName="Helvetica-Bold", fontSize=8, fillColor=INK))
    return drawing


def pdf(pack: Pack, lang: Language = "id") -> bytes:
    """The pack as an A4 PDF: a summary with the indicators, the months, the budget, the regulation, innovations and
    coverage, and the province's ranking, each from a new page; every page's footer says when the data was
    current. Its creation date is the data's, and its id a digest of its content."""
    styles = getSampleStyleSheet()
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontSize=15, textColor=ACCENT)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontSize=11, textColor=INK)
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=8, leading=10)
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=8.5)
    out = io.BytesIO()
    title = title_of(pack, lang)
    footer = footer_of(pack, lang)

    decorate = page_decoration(pack.current_at, footer, label("page", lang))

    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=18 * mm,
        title=title, author="Paritrana", subject=footer, creator="Paritrana award", invariant=True)
    story: list[Any] = [Paragraph(text(title), h1), Paragraph(text(footer), small), Spacer(0, 4 * mm),
                        Paragraph(label("summary", lang), h2),
                        _table([[k, clean(v)] for k, v in summary_rows(pack, lang)], [60 * mm, 110 * mm], header=False),
                        Paragraph(label("indicators", lang), h2),
                        Paragraph(f"<b>{escape(weights_notice(pack, lang))}</b>", body), Spacer(0, 2 * mm)]
    rows = [[label(k, lang) for k in ("indicator", "value", "unit", "weight", "contribution", "definition")]]
    rows += [[Paragraph(text(r[0]), small), r[1], Paragraph(text(r[2]), small), r[3], r[4],
              Paragraph(text(r[5]), small)]
             for r in indicator_rows(pack, lang)]
    story.append(_table(rows, [28 * mm, 20 * mm, 22 * mm, 12 * mm, 18 * mm, 80 * mm]))

    story += [PageBreak(), Paragraph(label("monthly", lang), h2)]
    month_names = [MONTHS[lang][m.month - 1][:3] for m in pack.months]
    story.append(_bar_chart(label("chart_monthly", lang), month_names,
                            [(label("funded", lang), [m.funded for m in pack.months]),
                             (label("members", lang), [m.members for m in pack.months]),
                             (label("waiting_end", lang), [m.waiting for m in pack.months])],
                            [ACCENT, THIRD, SECOND]))
    story.append(_table([monthly_header(lang)] + [[r[0], *(number(v, lang) for v in r[1:])]
                                                  for r in monthly_rows(pack, lang)]))

    story += [PageBreak(), Paragraph(label("budget", lang), h2),
              Paragraph(f"{label('allocation', lang)}: <b>{rupiah(pack.budget.allocation_rupiah, lang)}</b>", body),
              Spacer(0, 2 * mm)]
    if pack.budget.lines:
        story.append(_table([[label(k, lang) for k in ("line", "source", "amount", "legal_reference")]]
                            + [[clean(line.line_id), clean(line.source), rupiah(line.amount_rupiah, lang),
                                Paragraph(text(line.legal_reference), small)] for line in pack.budget.lines],
                            [30 * mm, 30 * mm, 30 * mm, 80 * mm]))
    else:
        story.append(Paragraph(label("no_lines", lang), body))
    story.append(Spacer(0, 3 * mm))
    story.append(_bar_chart(label("chart_budget", lang), [MONTHS[lang][m.month - 1][:3] for m in pack.budget.months],
                            [(label("committed", lang), [m.committed_rupiah for m in pack.budget.months]),
                             (label("invoiced", lang), [m.invoiced_rupiah or 0 for m in pack.budget.months]),
                             (label("paid", lang), [m.paid_rupiah or 0 for m in pack.budget.months])],
                            [ACCENT, SECOND, THIRD]))
    story.append(_table([budget_header(lang)] + [
        [MONTHS[lang][m.month - 1], rupiah(m.committed_rupiah, lang), rupiah(m.invoiced_rupiah, lang),
         rupiah(m.paid_rupiah, lang), day_text(m.paid_on, lang), clean(m.payment_reference or "–")]
        for m in pack.budget.months]
        + [["Total", rupiah(pack.budget.committed_rupiah, lang), rupiah(pack.budget.invoiced_rupiah, lang),
            rupiah(pack.budget.paid_rupiah, lang), "", ""]]))

    story += [PageBreak(), Paragraph(label("regulation", lang), h2)]
    regulation = pack.regulation
    story.append(_table([
        [label("status", lang), REGULATION_NAMES[lang][regulation.status if regulation else "none"]
         + (f" ({regulation.instrument})" if regulation and regulation.instrument else "")],
        [label("reference", lang), clean((regulation.reference if regulation else None) or "–")],
        [label("enacted_on", lang), day_text(regulation.enacted_on if regulation else None, lang)]],
        [40 * mm, 130 * mm], header=False))
    story.append(Paragraph(label("innovations", lang), h2))
    if pack.innovations:
        story.append(_table([[label("innovations", lang), label("points", lang), ""]]
                            + [[Paragraph(text(i.title), small), i.points, Paragraph(text(i.note), small)]
                               for i in pack.innovations], [50 * mm, 15 * mm, 105 * mm]))
    else:
        story.append(Paragraph(label("no_innovations", lang), body))
    story.append(Paragraph(label("coverage", lang), h2))
    active = pack.region.counts.get("active", 0)
    share = (lambda n: f"{number(100 * n / active, lang, 1)} %") if active else (lambda n: "–")
    story.append(_table([[label("category", lang), label("active", lang), label("share", lang)]]
                        + [[category_name(code, lang), number(n, lang), share(n)] for code, n in pack.categories()],
                        [90 * mm, 30 * mm, 30 * mm]))
    story.append(Spacer(0, 3 * mm))
    story.append(_table([[label("sex", lang), label("active", lang), label("share", lang)]]
                        + [[SEX_NAMES[lang].get(s, s), number(n, lang), share(n)] for s, n in pack.sexes()],
                        [90 * mm, 30 * mm, 30 * mm]))

    story += [PageBreak(), Paragraph(escape(f"{label('ranking', lang)}: {pack.province_name or pack.region.name}"), h2),
              Paragraph(f"<b>{escape(weights_notice(pack, lang))}</b>", body), Spacer(0, 2 * mm)]
    rows = [ranking_header(lang)]
    for r in ranking_rows(pack, lang):
        rows.append([r[0], r[1], r[2], number(r[3], lang, 2), number(r[4], lang, 2), number(r[5], lang),
                     number(r[6], lang)])
    table = _table(rows, [10 * mm, 16 * mm, 62 * mm, 22 * mm, 22 * mm, 20 * mm, 20 * mm])
    highlight = [i for i, r in enumerate(pack.province_ranking, 1) if r.region.region_code == pack.region.region_code]
    if highlight:
        table.setStyle(TableStyle([("BACKGROUND", (0, highlight[0]), (-1, highlight[0]), colors.HexColor("#fff3bf")),
                                   ("FONT", (0, highlight[0]), (-1, highlight[0]), "Helvetica-Bold", 8)]))
    story.append(table)
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()


# --- XLSX ---

def xlsx(pack: Pack, lang: Language = "id") -> bytes:
    """The pack as a workbook, one sheet per section; numbers stay numbers (money in whole rupiah). The workbook's
    dates and its zip entries' times are the data's."""
    names = XLSX_SHEETS if lang == "id" else XLSX_SHEETS_EN
    book = Workbook()
    bold = Font(bold=True)
    footer = footer_of(pack, lang)
    current = pack.current_at.astimezone(UTC).replace(tzinfo=None)
    book.properties.created = book.properties.modified = current
    book.properties.creator = "Paritrana"
    book.properties.title = title_of(pack, lang)

    def sheet(index: int, header: list[str] | None = None) -> Any:
        ws = book.active if index == 0 else book.create_sheet()
        ws.title = names[index]
        ws.append([title_of(pack, lang)])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([footer])
        ws.append([])
        if header:
            ws.append(header)
            for cell in ws[ws.max_row]:
                cell.font = bold
        ws.oddFooter.center.text = footer
        return ws

    ws = sheet(0)
    for key, value in summary_rows(pack, lang):
        ws.append([key, clean(value)])
    ws.append([])
    ws.append([weights_notice(pack, lang)])

    ws = sheet(1, [label(k, lang) for k in ("indicator", "value", "unit", "weight", "contribution", "definition")]
               + ["id"])
    for d in pack.definitions:
        name, unit, description = said(d, lang)
        ws.append([name, pack.region.values.get(d.id), unit, pack.weights.get(d.id, 0.0),
                   pack.region.contributions.get(d.id, 0.0), description, d.id])
    ws.append([])
    ws.append([weights_notice(pack, lang)])

    ws = sheet(2, monthly_header(lang))
    for row in monthly_rows(pack, lang):
        ws.append(row)

    ws = sheet(3, [label("line", lang), label("source", lang), label("amount", lang), label("legal_reference", lang)])
    ws.append(["", label("allocation", lang), pack.budget.allocation_rupiah, ""])
    for line in pack.budget.lines:
        ws.append([clean(line.line_id), clean(line.source), line.amount_rupiah, clean(line.legal_reference)])
    ws.append([])
    ws.append(budget_header(lang) + [label("members", lang)])
    for cell in ws[ws.max_row]:
        cell.font = bold
    for m in pack.budget.months:
        ws.append([MONTHS[lang][m.month - 1], m.committed_rupiah, m.invoiced_rupiah, m.paid_rupiah,
                   m.paid_on.isoformat() if m.paid_on else None, clean(m.payment_reference or "") or None,
                   m.members_invoiced])
    ws.append(["Total", pack.budget.committed_rupiah, pack.budget.invoiced_rupiah, pack.budget.paid_rupiah])

    ws = sheet(4, [label("status", lang), label("reference", lang), label("enacted_on", lang)])
    regulation = pack.regulation
    ws.append([REGULATION_NAMES[lang][regulation.status if regulation else "none"],
               clean(regulation.reference) if regulation and regulation.reference else None,
               regulation.enacted_on.isoformat() if regulation and regulation.enacted_on else None])
    ws.append([])
    ws.append([label("innovations", lang), label("points", lang), ""])
    for cell in ws[ws.max_row]:
        cell.font = bold
    for i in pack.innovations:
        ws.append([clean(i.title), i.points, clean(i.note)])

    ws = sheet(5, [label("category", lang), label("active", lang), "code"])
    for code, n in pack.categories():
        ws.append([category_name(code, lang), n, code])
    ws.append([])
    ws.append([label("sex", lang), label("active", lang), "code"])
    for s, n in pack.sexes():
        ws.append([SEX_NAMES[lang].get(s, s), n, s])

    ws = sheet(6, ranking_header(lang))
    for row in ranking_rows(pack, lang):
        ws.append(row)

    raw = io.BytesIO()
    # Not book.save(): it stamps the workbook's "modified" date with the clock, and the same data must give the same
    # bytes.
    ExcelWriter(book, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
    return _fixed_zip(raw.getvalue(), tuple(pack.current_at.astimezone(UTC).timetuple())[:6])


def _fixed_zip(data: bytes, when: tuple[int, ...]) -> bytes:
    """The same archive with every entry dated ``when``: openpyxl dates them by the clock. ZIP cannot date anything
    before 1980 (a clock set back for a test can be), which then gets the format's first day."""
    when = max(when, (1980, 1, 1, 0, 0, 0))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=when[:6])  # type: ignore[arg-type]
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()
