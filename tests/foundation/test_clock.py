"""The service clock: demos move a dev stack in time; production refuses."""

from datetime import datetime

import httpx

from services.subsidy.app import create_app
from tests.support import serving


async def test_an_admin_moves_the_clock_in_dev_mode_only(broker, make_settings):
    settings = await make_settings(broker)
    async with serving(create_app, settings) as server:
        admin = await server.runtime.access.create("ops", "staff", ["admin"], ["*"])
        reader = await server.runtime.access.create("viewer", "partner_app", ["registrations:read"], ["36"])
        async with httpx.AsyncClient(base_url=server.url) as client:
            before = (await client.get("/v1/clock")).json()
            assert before["settable"] is True and before["today"] >= "2026"
            body = {"now": "2024-03-01T08:00:00+07:00"}
            assert (await client.put("/v1/clock", json=body)).status_code == 401
            assert (await client.put("/v1/clock", json=body,
                                     headers={"X-API-Key": reader.secret})).status_code == 403
            moved = await client.put("/v1/clock", json=body, headers={"X-API-Key": admin.secret})
            assert moved.status_code == 200 and moved.json()["today"] == "2024-03-01"
            assert server.runtime.clock.today().isoformat() == "2024-03-01"
            server.runtime.settings.mode = "prod"  # the same request in production
            refused = await client.put("/v1/clock", json={"now": datetime.now().isoformat()},
                                       headers={"X-API-Key": admin.secret})
            assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "clock_fixed"
