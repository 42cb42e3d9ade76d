"""Reading the spreadsheets offices and BPJS Ketenagakerjaan exchange (CSV or XLSX), the same way everywhere.

The header is the first of the first rows that names a NIK column and one more known column; rows above it (a title,
an office's name, blank rows) are not data. Headers are compared without case, punctuation or remarks in brackets.
A NIK typed into a number cell is handed on as Excel holds it (3.67201450190000E+15), never as 16 digits: Excel kept
15 significant digits, so the last one is gone, and the NIK rules refuse it (nik_as_number).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

HEADER_SEARCH_ROWS = 20


def header_key(text: str) -> str:
    """One key for `No. KTP`, `NO KTP ` and `No KTP (16 digit)`, or `Kel/Desa` and `Kel / Desa`."""
    text = re.sub(r"\([^)]*\)", " ", str(text).lower())
    return re.sub(r" ?/ ?", "/", " ".join(re.sub(r"[^a-z0-9/]+", " ", text).split()))


def by_header(aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Header key -> field, from each field's known headers."""
    return {header_key(alias): name for name, aliases_of in aliases.items() for alias in aliases_of}


def map_columns(headers: list[str], known: Mapping[str, str]) -> dict[int, str]:
    """Column index -> field for the headers `known` (header key -> field) names; each field once."""
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        name = known.get(header_key(header or ""))
        if name and name not in mapping.values():
            mapping[index] = name
    return mapping


def find_header(table: list[list[Any]], known: Mapping[str, str],
                anchors: tuple[str, ...] = ("nik",)) -> tuple[int, dict[int, str]] | None:
    """The header's index in the table and its column mapping, or None when no row among the first is a header: one
    naming an anchor column (the NIK, or for a bill also the KPJ number) and one more known column."""
    for index, cells in enumerate(table[:HEADER_SEARCH_ROWS]):
        mapping = map_columns([cell(c) for c in cells], known)
        if any(a in mapping.values() for a in anchors) and len(mapping) >= 2:
            return index, mapping
    return None


def rows_below(table: list[list[Any]], start: int,
               mapping: Mapping[int, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows under the header at `start`: each with its sheet row number and its known columns' values (a NIK
    column read by `nik_cell`). A row with nothing in a known column is skipped: blank, or only numbered ("No.")
    ahead of being filled in."""
    for number, cells in enumerate(table[start + 1:], start=start + 2):
        values = {name: (nik_cell if name == "nik" else cell)(cells[i] if i < len(cells) else None)
                  for i, name in mapping.items()}
        if any(values.values()):
            yield number, values


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone or district code typed into a General cell reads as its digits, not 812345678.0
    return str(value).strip()


def nik_cell(value: Any) -> str:
    """A number in a NIK column as Excel holds it, 3.67201450190000E+15: never matched, never taken as a NIK."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.14E}"
    return cell(value)


def csv_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # Excel's plain "CSV" is in the Windows code page (1252 on Indonesian Windows)
        return raw.decode("cp1252", errors="replace")


def csv_table(text: str, known: Mapping[str, str], anchors: tuple[str, ...] = ("nik",)) -> list[list[Any]]:
    """The file split by the separator under which its header row appears: Excel in an Indonesian locale writes `;`,
    in others `,`; a title row above the header may hold no separator at all."""
    for delimiter in ";,\t":
        if find_header(list(islice(csv.reader(io.StringIO(text), delimiter=delimiter), HEADER_SEARCH_ROWS)), known,
                       anchors):
            return list(csv.reader(io.StringIO(text), delimiter=delimiter))
    return list(csv.reader(io.StringIO(text)))


def read_table(raw: bytes, suffix: str, known: Mapping[str, str],
               anchors: tuple[str, ...] = ("nik",)) -> tuple[str, list[list[Any]]]:
    """(format, rows) of a .csv or .xlsx file's bytes; rows from the sheet's first, blank ones included, so a row's
    index + 1 is its number in the sheet."""
    suffix = suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(raw), read_only=True, data_only=True).active
        return "xlsx", [list(row) for row in sheet.iter_rows(values_only=True)]
    if suffix in (".csv", ".txt"):
        return "csv", csv_table(csv_text(raw), known, anchors)
    raise ValueError("the file must be .csv or .xlsx")


def write_table(header: list[str], rows: list[list[Any]], fmt: str, sheet_title: str) -> bytes:
    """A header and rows as CSV (UTF-8 with BOM, so Excel reads it right) or XLSX; text cells stay text (a NIK or KPJ
    number is never turned into a number)."""
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = sheet_title[:31]
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        for column in sheet.iter_cols(min_row=2):
            for c in column:
                if isinstance(c.value, str):
                    c.number_format = "@"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + text.getvalue()).encode()
