"""The Award data page against a real award service: the target population with its source, the regulation with its
reference, and innovations are recorded through award's API, shown back in Bahasa Indonesia, and audited; a viewer
cannot record and another region's account gets 403."""

from __future__ import annotations

from contextlib import asynccontextmanager

from services.award.app import create_app as create_award
from tests.enrolment.sample import CLOCK_START
from tests.office.conftest import ACCOUNTS, _office, csrf_of
from tests.office.test_members import audit_rows
from tests.subsidy.workers import api_key
from tests.support import serving

YEAR = 2025
PAGE = f"/regions/36.72/award-data?year={YEAR}"


@asynccontextmanager
async def office_with_award(settings):
    key = await api_key(settings, ["admin"], ["*"])
    async with serving(create_award, settings) as award:
        async with _office(settings.model_copy(update={"office_api_key": key, "office_award_url": award.url}),
                           ACCOUNTS) as office:
            office.admin_key = key
            yield office, award, key


async def test_target_regulation_and_innovations_are_recorded_in_award_and_audited(broker, office_settings):
    settings = await office_settings(broker, clock_start=CLOCK_START)
    async with office_with_award(settings) as (office, award, key):
        operator = await office.signed_in("ops-cilegon")
        page = await operator.get(PAGE)
        assert page.status_code == 200, page.text
        assert "Data Penghargaan" in page.text and "Belum dicatat." in page.text
        csrf = await csrf_of(operator, PAGE)

        target = await operator.post(f"/regions/36.72/award-data/{YEAR}/target", data={
            "csrf_token": csrf, "target_population": "12.500", "source": "Survei Disnaker 2024"})
        assert target.status_code == 303 and "done=award_recorded" in target.headers["location"], target.headers
        regulation = await operator.post(f"/regions/36.72/award-data/{YEAR}/regulation", data={
            "csrf_token": csrf, "status": "perkada", "instrument": "perwali",
            "reference": "Perwali Cilegon No. 12 Tahun 2023", "enacted_on": "2023-05-02"})
        assert "done=award_recorded" in regulation.headers["location"], regulation.headers
        innovation = await operator.post(f"/regions/36.72/award-data/{YEAR}/innovations", data={
            "csrf_token": csrf, "title": "Jemput bola di posyandu", "note": "Petugas mendaftar di posyandu.",
            "points": "8"})
        assert "done=award_recorded" in innovation.headers["location"], innovation.headers
        # award refuses a Perbup for a kota: its code is shown, nothing audited for it.
        wrong = await operator.post(f"/regions/36.72/award-data/{YEAR}/regulation", data={
            "csrf_token": csrf, "status": "perkada", "instrument": "perbup", "reference": "X",
            "enacted_on": "2023-05-02"})
        assert "problem=" in wrong.headers["location"]

        shown = (await operator.get(PAGE)).text
        assert "12.500" in shown and "Survei Disnaker 2024" in shown and "Tersimpan" not in shown
        assert "Perwali Cilegon No. 12 Tahun 2023" in shown and "Peraturan Kepala Daerah (Perkada)" in shown
        assert "Jemput bola di posyandu" in shown and "8 poin" in shown
        async with award.client(key) as http:
            listed = (await http.get("/v1/regions/36.72/innovations", params={"year": YEAR})).json()
            report = (await http.get("/v1/indicators/36.72", params={"year": YEAR})).json()
        assert [i["title"] for i in listed["innovations"]] == ["Jemput bola di posyandu"]
        assert report["target"]["target_population"] == 12500
        assert report["regulation"]["reference"] == "Perwali Cilegon No. 12 Tahun 2023"

        operator.cookies.set("office_lang", "en")
        english = (await operator.get(PAGE)).text
        assert "Award data" in english and "Target population" in english

        viewer = await office.signed_in("view-cilegon")
        seen = (await viewer.get(PAGE)).text
        assert "12.500" in seen and 'id="target-form"' not in seen and 'id="innovation-form"' not in seen
        viewer_csrf = await csrf_of(viewer, PAGE)
        assert (await viewer.post(f"/regions/36.72/award-data/{YEAR}/target", data={
            "csrf_token": viewer_csrf, "target_population": "1", "source": "abc"})).status_code == 403
        bekasi = await office.signed_in("ops-bekasi")
        bekasi_csrf = await csrf_of(bekasi, "/")
        assert (await bekasi.get(PAGE)).status_code == 403
        for what in ("target", "regulation", "innovations"):
            assert (await bekasi.post(f"/regions/36.72/award-data/{YEAR}/{what}",
                                      data={"csrf_token": bekasi_csrf})).status_code == 403
        assert (await operator.post(f"/regions/36.72/award-data/{YEAR}/target", data={
            "target_population": "1", "source": "abc"})).status_code == 403, "CSRF"

        trail = [r for r in await audit_rows(office) if r["action"].startswith("award_")]
        assert [r["action"] for r in trail] == ["award_target_recorded", "award_regulation_recorded",
                                                "award_innovation_recorded"]
        assert trail[0]["before"] is None and trail[0]["after"]["target_population"] == 12500
        assert trail[1]["after"]["reference"] == "Perwali Cilegon No. 12 Tahun 2023"
        assert all(r["region_code"] == "36.72" for r in trail)
        audit_page = (await operator.get("/regions/36.72/audit")).text
        assert "Target population recorded" in audit_page
