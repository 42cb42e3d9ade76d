"""An admin key may still change a service directly (automation), and that is recorded as such: the service appends
the change to its own append-only key actions in the change's transaction, and the office copies them into its one
trail, where the Audit page lists them beside the staff's entries. The office's own key is not copied twice."""

from __future__ import annotations

from services.office import service
from services.subsidy.models import key_actions
from shared.access.keys import key_id_of
from tests.office.conftest import running_office
from tests.office.test_maker_checker import decide, pending_change, submit
from tests.subsidy.workers import api_key
from tests.support import assert_append_only


def lines(amount: int) -> dict:
    return {"lines": [{"line_id": "apbd-2026", "source": "apbd_kabkota", "amount_rupiah": amount,
                       "legal_reference": "Perda Kota Cilegon 5/2025 (APBD)"}]}


async def test_what_a_key_changes_directly_reaches_the_offices_trail_once(isolated_broker, office_settings):
    settings = await office_settings(isolated_broker)
    async with running_office(settings, with_subsidy=True) as office:
        year = office.server.runtime.clock.today().year
        automation = await api_key(settings, ["admin"], ["36"])
        async with office.subsidy.client(automation) as http:
            assert (await http.put(f"/v1/budgets/36.72/{year}/lines", json=lines(16_800_000))).status_code == 200
            assert (await http.put(f"/v1/budgets/36.72/{year}/lines", json=lines(33_600_000))).status_code == 200
            same = await http.put(f"/v1/budgets/36.72/{year}/lines", json=lines(33_600_000))
            assert same.status_code == 200 and same.json()["changes"] == [], "nothing changed, nothing recorded"

        # The same kind of change made by staff through the office: maker, then checker.
        operator = await office.signed_in("ops-cilegon")
        assert (await submit(operator, "36.72", year)).status_code == 303
        verifier = await office.signed_in("ver-cilegon")
        assert (await decide(verifier, await pending_change(operator), "approve", "Sesuai Perda")).status_code == 303

        # Subsidy's own record: the automation key's two amendments and the office key's one, with before and after.
        async with office.subsidy.client(automation) as http:
            trail = (await http.get("/v1/audit/key-actions")).json()["items"]
            assert (await http.get("/v1/audit/key-actions", params={"region_code": "32.75"})).status_code == 403
        assert [(e["action"], e["key_id"]) for e in trail] == [
            ("budget_amended", key_id_of(automation)), ("budget_amended", key_id_of(automation)),
            ("budget_amended", key_id_of(office.admin_key or ""))]
        first, second, _ = trail
        assert (first["before"]["allocation_rupiah"], first["after"]["allocation_rupiah"]) == (0, 16_800_000)
        assert second["after"]["lines"] == [{
            "line_id": "apbd-2026", "change": "changed", "source": "apbd_kabkota", "before_rupiah": 16_800_000,
            "after_rupiah": 33_600_000, "legal_reference": "Perda Kota Cilegon 5/2025 (APBD)"}]
        assert (first["region_code"], first["subject"], first["ip"]) == ("36.72", str(year), "127.0.0.1")
        async with office.subsidy.client(await api_key(settings, ["admin"], ["32"])) as jabar:
            assert (await jabar.get("/v1/audit/key-actions")).json()["items"] == [], "another province sees none"
        async with office.subsidy.client(await api_key(settings, ["registrations:read"], ["*"])) as reader:
            assert (await reader.get("/v1/audit/key-actions")).status_code == 403

        # The office's Audit page lists the key's two changes, once, as the key's, beside the staff's entries.
        head = await office.signed_in("head-banten")
        page = (await head.get("/regions/36.72/audit")).text
        assert page.count('data-source="subsidy"') == 2
        assert "kunci API, langsung di layanan subsidy" in page and "Anggaran diubah" in page
        assert "Rp16.800.000 → Rp33.600.000" in page
        assert "Alokasi: Rp16.800.000" in page and "Kebijakan pendanaan: Masuk daftar tunggu sampai ada dana" in page
        assert 'data-action="change_approved"' in page
        assert await service.copy_key_actions(office.server.runtime.database, office.server.app.state.upstream) == 0
        assert (await head.get("/regions/36.72/audit")).text.count('data-source="subsidy"') == 2
        copied = [e for e in await service.audit_page(office.server.runtime.database, "36.72", None, None, None)
                  if e.source]
        assert [(e.actor_kind, e.actor_name, e.action) for e in copied] == [("key", "test", "budget_amended")] * 2
        # Another region's account does not see them.
        bekasi = await office.signed_in("ops-bekasi")
        assert (await bekasi.get("/regions/36.72/audit")).status_code == 403

        # The service's record is append-only too.
        await assert_append_only(office.subsidy.runtime.database, key_actions, key_name="someone-else")
