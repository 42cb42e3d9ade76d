"""The Devices page: a field-kit key for the staff member's region, issued through the access store as `paritrana keys
create --kind field_kit` does, shown once with its pairing link and an SVG QR code, listed, and revoked (the field
kit's key stops working at once); audited by key id without the secret; 403 for other regions and viewers."""

from __future__ import annotations

import json
import re

from tests.office.conftest import csrf_of
from tests.office.test_members import audit_rows, office_with_enrolment

SECRET = re.compile(r'<code id="secret">(prt_[^<]+)</code>')
LINK = re.compile(r'id="pairing-link">([^<]+)<')


async def test_a_field_kit_key_is_issued_shown_once_listed_and_revoked(broker, office_settings):
    settings = await office_settings(broker, kit_url="https://kit.example.go.id/kit/")
    async with office_with_enrolment(settings) as (office, enrolment, _key):
        operator = await office.signed_in("ops-cilegon")
        page = await operator.get("/regions/36.72/devices")
        assert page.status_code == 200 and "Perangkat" in page.text and "Belum ada kunci field kit" in page.text
        csrf = await csrf_of(operator, "/regions/36.72/devices")

        assert (await operator.post("/regions/36.72/devices", data={"name": "kit-0042"})).status_code == 403
        issued = await operator.post("/regions/36.72/devices", data={"csrf_token": csrf, "name": "kit-0042 Cibeber"})
        assert issued.status_code == 200, issued.text
        assert issued.headers["cache-control"] == "no-store"
        secret = SECRET.search(issued.text).group(1)
        link = LINK.search(issued.text).group(1)
        assert link.startswith("https://kit.example.go.id/kit/#pair=prt_")
        assert 'data-warning="loopback"' not in issued.text
        assert "<svg" in issued.text and 'class="qr"' in issued.text
        key_id = re.search(r'id="issued" data-key="([0-9a-f]{16})"', issued.text).group(1)

        # Reloading the page that showed the key sends the form again: refused, no second key, the secret not shown.
        reloaded = await operator.post("/regions/36.72/devices", data={"csrf_token": csrf, "name": "kit-0042 Cibeber"})
        assert reloaded.status_code == 409 and 'data-code="device_name_taken"' in reloaded.text
        assert secret not in reloaded.text and "prt_" not in reloaded.text
        assert len([k for k in await office.server.runtime.access.list() if k.name == "kit-0042 Cibeber"]) == 1

        # The field kit's key: a field_kit key of this region, that enrolment accepts.
        [stored] = [k for k in await office.server.runtime.access.list() if k.key_id == key_id]
        assert (stored.kind, stored.regions, stored.scopes) == ("field_kit", ["36.72"], ["registrations:write"])
        async with enrolment.client(secret) as http:
            assert (await http.get("/v1/reference")).status_code == 200

        listed = (await operator.get("/regions/36.72/devices")).text
        assert key_id in listed and "kit-0042 Cibeber" in listed and secret not in listed, "shown once"
        viewer = await office.signed_in("view-cilegon")
        seen = (await viewer.get("/regions/36.72/devices")).text
        assert key_id in seen and 'id="issue-form"' not in seen and "/revoke" not in seen
        viewer_csrf = await csrf_of(viewer, "/regions/36.72/devices")
        assert (await viewer.post("/regions/36.72/devices",
                                  data={"csrf_token": viewer_csrf, "name": "kit-x"})).status_code == 403
        assert (await viewer.post(f"/regions/36.72/devices/{key_id}/revoke",
                                  data={"csrf_token": viewer_csrf})).status_code == 403

        bekasi = await office.signed_in("ops-bekasi")
        bekasi_csrf = await csrf_of(bekasi, "/regions/32.75/devices")
        assert key_id not in (await bekasi.get("/regions/32.75/devices")).text, "another region's keys are not listed"
        assert (await bekasi.get("/regions/36.72/devices")).status_code == 403
        assert (await bekasi.post("/regions/36.72/devices",
                                  data={"csrf_token": bekasi_csrf, "name": "kit-x"})).status_code == 403
        assert (await bekasi.post(f"/regions/36.72/devices/{key_id}/revoke",
                                  data={"csrf_token": bekasi_csrf})).status_code == 403
        assert (await bekasi.post(f"/regions/32.75/devices/{key_id}/revoke",
                                  data={"csrf_token": bekasi_csrf})).status_code == 404

        revoked = await operator.post(f"/regions/36.72/devices/{key_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert 'data-state="revoked"' in (await operator.get(revoked.headers["location"])).text
        async with enrolment.client(secret) as http:
            assert (await http.get("/v1/reference")).status_code == 401

        trail = await audit_rows(office)
        acted = [(r["action"], r["subject"], r["region_code"]) for r in trail if r["action"].startswith("device_")]
        assert acted == [("device_key_issued", key_id, "36.72"), ("device_key_revoked", key_id, "36.72")]
        assert secret not in json.dumps([dict(r) for r in trail], default=str)
