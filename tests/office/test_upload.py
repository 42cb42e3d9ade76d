"""The Upload page against a real enrolment service, on SQLite and PostgreSQL: an operator's sheet with a title row
and bad rows registers exactly the good rows (never a NIK stored as a number), the counts and the Indonesian error
report name the bad rows without repeating a NIK, uploading the same file again registers no one twice, the import's
progress is read from the office's database, and viewers, verifiers and other regions' accounts cannot upload."""

from __future__ import annotations

import json
import re

from services.office import service
from tests.office.conftest import csrf_of
from tests.office.upload_sheets import (
    REGENCY,
    SIXTEEN_DIGITS,
    expected_report,
    finished,
    office_with_enrolment,
    registered_niks,
    report,
    sheet,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE = f"/regions/{REGENCY}/upload"
COUNT = re.compile(r'data-count="(\w+)">(\d+)<')


async def upload(client, raw: bytes, name: str = "kader-cilegon.xlsx", region: str = REGENCY,
                 media_type: str = XLSX):
    csrf = await csrf_of(client, f"/regions/{region}/upload" if region.count(".") else "/")
    return await client.post(f"/regions/{region}/upload", data={"csrf_token": csrf},
                             files={"file": (name, raw, media_type)})


def counts(fragment: str) -> dict[str, int]:
    return {name: int(value) for name, value in COUNT.findall(fragment)}


async def test_a_sheet_with_a_title_row_and_bad_rows_registers_exactly_the_good_ones(isolated_broker,
                                                                                     office_settings):
    settings = await office_settings(isolated_broker, rate_limit_per_second=10_000, rate_limit_burst=10_000)
    raw, rows, expected = sheet(600, seed=22, every=25)
    assert len(expected) == 24
    async with office_with_enrolment(settings) as office:
        operator = await office.signed_in("ops-cilegon")
        started = await upload(operator, raw)
        assert started.status_code == 303, started.text
        location = started.headers["location"]
        assert re.fullmatch(rf"{PAGE}/[0-9a-f-]{{36}}", location)
        page = await operator.get(location)
        assert page.status_code == 200 and 'id="progress"' in page.text and "kader-cilegon.xlsx" in page.text

        done = await finished(operator, location)
        assert 'data-status="done"' in done and 'data-percent="100"' in done
        assert "hx-trigger" not in done, "a finished import is no longer polled"
        assert counts(done) == {"accepted": 600 - 24, "duplicate": 0, "invalid": 24, "conflict": 0}

        # Exactly the good rows are registered; no one under a NIK Excel stored as a number.
        good = {str(r[1]) for i, r in enumerate(rows) if i + 4 not in expected}
        assert sorted(await registered_niks(office.enrolment)) == sorted(good)

        # The error report: row, column, Indonesian message and code for each bad row, and no NIK in it.
        download = await operator.get(f"{location}/errors.xlsx")
        assert download.status_code == 200 and download.headers["content-type"] == XLSX
        assert "kader-cilegon.kesalahan.xlsx" in download.headers["content-disposition"]
        assert report(download.content) == expected_report(expected)
        assert not any(SIXTEEN_DIGITS.search(" ".join(map(str, r))) for r in report(download.content))
        assert {code for *_, code in report(download.content)} == {
            "nik_as_number", "unknown_category", "missing", "invalid_phone", "nik_format"}

        # A reload reads the progress from the database: a new session, the same counts.
        again = await office.signed_in("view-cilegon")
        assert counts((await again.get(location)).text) == counts(done)
        listed = (await again.get(PAGE)).text
        assert location.rsplit("/", 1)[1] in listed and 'data-status="done"' in listed
        assert 'id="upload-form"' not in listed, "a viewer sees the imports but no upload form"

        # The same file again (an operator unsure whether it went through): every good row is a duplicate.
        retried = await upload(await office.signed_in("ops2-cilegon"), raw)
        second = await finished(operator, retried.headers["location"])
        assert counts(second) == {"accepted": 0, "duplicate": 600 - 24, "invalid": 24, "conflict": 0}
        assert sorted(await registered_niks(office.enrolment)) == sorted(good)

        # Audited: who, the file's name and the counts; no personal data.
        entries = await service.audit_page(office.server.runtime.database, REGENCY, None, None, None)
        actions = [(e.action, e.actor_name) for e in entries]
        assert actions == [("upload_finished", "ops2-cilegon"), ("upload_started", "ops2-cilegon"),
                           ("upload_finished", "ops-cilegon"), ("upload_started", "ops-cilegon")]
        started_entry, first_done = entries[3], entries[2]
        assert started_entry.after == {"file_name": "kader-cilegon.xlsx", "rows": 600, "format": "xlsx",
                                       "resend": False}
        assert entries[1].after["resend"] is True
        assert first_done.after == {"accepted": 576, "duplicate": 0, "invalid": 24, "conflict": 0,
                                    "rows_sent_or_refused": 600}
        trail = json.dumps([[e.before, e.after, e.subject] for e in entries])
        assert not SIXTEEN_DIGITS.search(trail)
        assert not any(str(r[2]) in trail for r in rows if r[2])
        audit_page = (await operator.get(f"/regions/{REGENCY}/audit?action=upload_finished")).text
        assert audit_page.count('data-action="upload_finished"') == 2 and "Diterima 576" in audit_page


async def test_who_may_upload_and_what_is_refused(isolated_broker, office_settings):
    settings = await office_settings(isolated_broker, rate_limit_per_second=10_000, rate_limit_burst=10_000)
    raw, _rows, _ = sheet(20, seed=5, every=0)
    async with office_with_enrolment(settings) as office:
        operator = await office.signed_in("ops-cilegon")
        # A viewer and a verifier see the page but may not upload; another region's operator gets 403 everywhere.
        viewer, verifier = await office.signed_in("view-cilegon"), await office.signed_in("ver-cilegon")
        assert (await viewer.get(PAGE)).status_code == 200
        assert (await upload(viewer, raw)).status_code == 403
        assert (await upload(verifier, raw)).status_code == 403
        bekasi = await office.signed_in("ops-bekasi")
        assert (await bekasi.get(PAGE)).status_code == 403
        csrf = await csrf_of(bekasi, "/regions/32.75/upload")
        refused = await bekasi.post(PAGE, data={"csrf_token": csrf}, files={"file": ("a.xlsx", raw, XLSX)})
        assert refused.status_code == 403
        assert await registered_niks(office.enrolment) == []

        # CSRF: a post without the session's token is refused.
        assert (await operator.post(PAGE, data={"csrf_token": "x"},
                                    files={"file": ("a.xlsx", raw, XLSX)})).status_code == 403

        started = await upload(operator, raw)
        location = started.headers["location"]
        await finished(operator, location)
        import_id = location.rsplit("/", 1)[1]
        for path in (location, f"{location}/progress", f"{location}/errors.xlsx"):
            assert (await bekasi.get(path)).status_code == 403, path
            # Not found under another region's path either (even for an account of both).
            assert (await bekasi.get(path.replace(REGENCY, "32.75"))).status_code == 404, path
        assert (await operator.get(f"{location}/errors.xlsx")).status_code == 404, "no errors, no report"
        assert import_id in (await verifier.get(PAGE)).text

        # Files that are not a list of registrations are refused on the form, in Indonesian.
        no_header = await upload(operator, b"Nama;Alamat\nSiti;Jl. Mawar\n", name="daftar.csv", media_type="text/csv")
        assert no_header.status_code == 422 and 'data-code="no_header"' in no_header.text
        assert "Baris judul kolom tidak ditemukan" in no_header.text
        assert (await upload(operator, raw, name="daftar.pdf")).status_code == 422
        assert 'data-code="unreadable_file"' in (await upload(operator, b"PK\x03\x04 broken", name="x.xlsx")).text
        # A province's page lists imports but takes uploads per regency/city.
        head = await office.signed_in("head-banten")
        assert 'id="upload-form"' not in (await head.get("/regions/36/upload")).text


async def test_a_csv_row_for_another_regency_is_refused_not_sent(isolated_broker, office_settings):
    """The office's key is national, so the office itself keeps an upload inside the page's regency/city: a row
    whose own Kode Wilayah is elsewhere is invalid, and nothing is registered there."""
    settings = await office_settings(isolated_broker, rate_limit_per_second=10_000, rate_limit_burst=10_000)
    raw, rows, _ = sheet(3, seed=9, every=0)
    lines = ["Daftar pekerja rentan", "NIK;Nama;Kategori;Kode Wilayah"]
    lines += [f"{r[1]};{r[2]};{r[4]};{code}" for r, code in zip(rows, ["36.72", "32.75", "36.72"], strict=True)]
    lines.append(f"{rows[0][1]};{rows[0][2]};{rows[0][4]};36.72")  # row 6: row 3's person again
    async with office_with_enrolment(settings) as office:
        operator = await office.signed_in("ops-cilegon")
        started = await upload(operator, "\n".join(lines).encode(), name="campur.csv", media_type="text/csv")
        assert started.status_code == 303, started.text
        done = await finished(operator, started.headers["location"])
        assert counts(done) == {"accepted": 2, "duplicate": 0, "invalid": 2, "conflict": 0}
        assert sorted(await registered_niks(office.enrolment)) == sorted([str(rows[0][1]), str(rows[2][1])])
        found = report((await operator.get(f"{started.headers['location']}/errors.xlsx")).content)
        assert found == [(4, "Kode Wilayah", "Kabupaten/kota pada baris ini di luar wilayah unggahan.",
                          "outside_region"),
                         (6, "NIK", "NIK ini sudah ada di baris 3 berkas ini; satu orang satu baris.",
                          "nik_repeated_in_file")]


async def test_an_unreachable_enrolment_fails_the_import_and_says_to_upload_again(isolated_broker, office_settings):
    """Enrolment down (nothing listens at its address): after the retries the import is marked failed, in words,
    with the rows refused locally still reported; the page stops polling."""
    from tests.office.conftest import ACCOUNTS, _office
    from tests.support import free_port

    settings = await office_settings(isolated_broker)
    raw, _rows, expected = sheet(30, seed=3, every=10)
    down = settings.model_copy(update={"office_api_key": "unused",
                                       "office_enrolment_url": f"http://127.0.0.1:{free_port()}"})
    async with _office(down, ACCOUNTS) as office:
        operator = await office.signed_in("ops-cilegon")
        started = await upload(operator, raw)
        done = await finished(operator, started.headers["location"])
        assert 'data-status="failed"' in done and "hx-trigger" not in done
        assert "Layanan pendaftaran tidak dapat dihubungi" in done
        assert counts(done)["accepted"] == 0
        entries = await service.audit_page(office.server.runtime.database, REGENCY, "upload_failed", None, None)
        assert len(entries) == 1 and entries[0].after["error"] == "upstream_unavailable"
        # The NIK stored as a number was refused before sending; its row is in the report.
        assert counts(done)["invalid"] == 1 and 'id="error-report"' in done
        found = report((await operator.get(f"{started.headers['location']}/errors.xlsx")).content)
        assert [(row, code) for row, _, _, code in found] == [
            (row, code) for row, (_, code) in expected.items() if code == "nik_as_number"]
