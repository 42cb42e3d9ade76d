"""The API: keys, scopes and regions; budget amendments with history; the figures a budget office reads."""

from datetime import datetime

from services.subsidy.app import create_app
from services.subsidy.domain import FUNDING_SOURCES
from shared.clock import FISCAL_TZ
from shared.settings import Settings
from shared.vocabulary import REGION_PATTERN
from tests.subsidy.workers import MONTHLY, api_key, decided, lines, publish, published, registered
from tests.support import eventually, serving

YEARLY = 12 * MONTHLY


async def test_keys_scopes_and_regions(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    banten_admin = await api_key(settings, ["admin"], ["36"])
    cilegon = await api_key(settings, ["registrations:read"], ["36.72"])
    writer = await api_key(settings, ["registrations:write"], ["36.72"])
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 3, 15, 9, tzinfo=FISCAL_TZ))
        async with server.client() as anonymous:
            assert (await anonymous.get("/v1/budgets/36.72")).status_code == 401
        async with server.client(writer) as http:
            response = await http.get("/v1/budgets/36.72")
            assert response.status_code == 403 and response.json()["errors"][0]["code"] == "missing_scope"
        async with server.client(cilegon) as http:
            assert (await http.get("/v1/budgets/36.72", params={"year": 2024})).status_code == 404
        async with server.client(banten_admin) as http:
            assert (await http.put("/v1/budgets/36.72/2024/lines", json=lines(10 * YEARLY))).status_code == 200
            assert (await http.put("/v1/budgets/36.73/2024/lines", json=lines(YEARLY))).status_code == 200
            outside = await http.put("/v1/budgets/32.75/2024/lines", json=lines(YEARLY))
            assert outside.status_code == 403 and outside.json()["errors"][0]["code"] == "outside_region"
            assert (await http.post("/v1/billing/2024/2/close")).status_code == 403  # closing is national
        async with server.client(cilegon) as http:
            assert (await http.get("/v1/budgets/36.72", params={"year": 2024})).status_code == 200
            for other in ("36.73", "36.74"):  # one exists, one does not: the same answer
                response = await http.get(f"/v1/budgets/{other}", params={"year": 2024})
                assert response.status_code == 403 and response.json()["errors"][0]["code"] == "outside_region"
            assert (await http.get("/v1/ledger/36.73/2024")).status_code == 403
            assert (await http.put("/v1/budgets/36.72/2024/lines", json=lines(YEARLY))).status_code == 403
            listing = (await http.get("/v1/budgets", params={"province": "36", "year": 2024})).json()
            assert [b["region_code"] for b in listing["budgets"]] == ["36.72"]
            assert (await http.get("/v1/budgets", params={"province": "32", "year": 2024})).status_code == 403
        async with server.client(admin) as http:
            listing = (await http.get("/v1/budgets", params={"province": "36", "year": 2024})).json()
            assert [b["region_code"] for b in listing["budgets"]] == ["36.72", "36.73"]
            assert listing["totals"]["allocation_rupiah"] == 11 * YEARLY


async def test_bad_lines_are_refused_naming_the_field(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    line = {"line_id": "apbd", "source": "apbd_kabkota", "amount_rupiah": 1000, "legal_reference": "Perda 1/2024"}
    cases = [
        ({"lines": [{**line, "amount_rupiah": 1000.5}]}, "lines[0].amount_rupiah"),
        ({"lines": [{**line, "amount_rupiah": "1000"}]}, "lines[0].amount_rupiah"),
        ({"lines": [{**line, "amount_rupiah": -1}]}, "lines[0].amount_rupiah"),
        ({"lines": [{**line, "source": "apbn"}]}, "lines[0].source"),
        ({"lines": [{**line, "legal_reference": ""}]}, "lines[0].legal_reference"),
        ({"lines": [line, line]}, "lines"),
    ]
    async with serving(create_app, settings) as server:
        async with server.client(admin) as http:
            for body, field in cases:
                response = await http.put("/v1/budgets/36.72/2024/lines", json=body)
                assert response.status_code == 422, body
                assert response.json()["errors"][0]["field"] == field, response.json()
            unknown = await http.put("/v1/budgets/36.99/2024/lines", json={"lines": [line]})
            assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "region_code"
            assert (await http.get("/v1/budgets/36.72", params={"year": 2024})).status_code == 404  # nothing stored


async def test_amendments_are_recorded_and_never_go_below_what_is_committed(isolated_broker, make_settings):
    settings = await make_settings(isolated_broker)
    admin = await api_key(settings, ["admin"], ["*"])
    async with serving(create_app, settings) as server:
        server.runtime.clock.set(datetime(2024, 3, 15, 9, tzinfo=FISCAL_TZ))
        async with server.client(admin) as http:
            murni = {"line_id": "apbd-2024", "source": "apbd_kabkota", "amount_rupiah": 10 * YEARLY,
                     "legal_reference": "Perda Kota Cilegon 12/2023"}
            first = (await http.put("/v1/budgets/36.72/2024/lines", json={"lines": [murni]})).json()
            assert [c["change"] for c in first["changes"]] == ["added"]
            await publish(settings, [registered("36.72")])
            await eventually(lambda: decided(server.runtime.database, 1))

            perubahan = {"line_id": "apbd-p-2024", "source": "csr", "amount_rupiah": 5 * YEARLY,
                         "legal_reference": "Perda Kota Cilegon 4/2024 (APBD-P)"}
            cut = {**murni, "amount_rupiah": 2 * YEARLY, "legal_reference": "Perda Kota Cilegon 4/2024 (APBD-P)"}
            amended = (await http.put("/v1/budgets/36.72/2024/lines", json={"lines": [cut, perubahan]})).json()
            assert sorted((c["line_id"], c["change"], c["amount_before_rupiah"], c["amount_after_rupiah"])
                          for c in amended["changes"]) == [
                ("apbd-2024", "changed", 10 * YEARLY, 2 * YEARLY), ("apbd-p-2024", "added", None, 5 * YEARLY)]
            assert amended["allocation_rupiah"] == 7 * YEARLY
            assert [(a["revision"], a["line_id"], a["change"]) for a in amended["amendments"]] == [
                (1, "apbd-2024", "added"), (2, "apbd-2024", "changed"), (2, "apbd-p-2024", "added")]
            same = (await http.put("/v1/budgets/36.72/2024/lines", json={"lines": [cut, perubahan]})).json()
            assert same["changes"] == [] and len(same["amendments"]) == 3

            too_low = await http.put("/v1/budgets/36.72/2024/lines",
                                     json={"lines": [{**murni, "amount_rupiah": YEARLY - 1}]})
            assert too_low.status_code == 409
            error = too_low.json()["errors"][0]
            assert (error["code"], error["field"]) == ("allocation_below_committed", "lines")
            assert "Rp201.600" in error["message"]

            budget = (await http.get("/v1/budgets/36.72", params={"year": 2024})).json()
            events = await published(settings, server.runtime.database)

    assert budget["allocation_rupiah"] == 7 * YEARLY and budget["committed_rupiah"] == YEARLY
    assert budget["spent_to_date_rupiah"] == 3 * MONTHLY  # January to March, today being 15 March
    assert budget["remaining_rupiah"] == 6 * YEARLY and budget["formatted"]["remaining"] == "Rp1.209.600"
    assert budget["funded_members"] == 1
    assert budget["utilisation_percent"] == round(100 / 7, 2)
    assert budget["fundable_members_rest_of_year"] == 6 * YEARLY // (10 * MONTHLY)  # March to December
    # At the pace of the last 30 days (one year's premium) the rest lasts 180 days from 15 March.
    assert budget["projected_exhaustion_month"] == "2024-09"
    assert [(e.data.allocation_rupiah, [x.line_id for x in e.data.lines]) for e in events
            if e.type == "budget.allocated"] == [(10 * YEARLY, ["apbd-2024"]),
                                                 (7 * YEARLY, ["apbd-2024", "apbd-p-2024"])]


def test_the_document_describes_every_answer_body_and_the_422s_reference_data_decides(tmp_path):
    """Each route's success body is a named model (so clients and the schema fuzzing see its fields), and where a
    region code of the right shape can still be refused the 422 says so."""
    app = create_app(Settings(data_dir=tmp_path, worker_ref_key="test-worker-ref-key"))
    document = app.openapi()
    components = document["components"]["schemas"]
    operations = [(path, method, operation) for path, item in document["paths"].items() if path.startswith("/v1/")
                  and not path.startswith("/v1/clock") for method, operation in item.items()]
    assert len(operations) == 13
    for path, method, operation in operations:
        # A payment answers 201 when recorded and 200 when sent again: the same body.
        for success in [status for status in operation["responses"] if status.startswith("2")]:
            schema = operation["responses"][success]["content"]["application/json"]["schema"]
            model = components[schema["$ref"].rsplit("/", 1)[-1]]
            assert model["properties"] and set(model["required"]) == set(model["properties"]), (method, path)
    budget = components["BudgetSummaryOut"]["properties"]
    assert budget["region_code"]["pattern"] == REGION_PATTERN
    assert components["FundingLineIn"]["properties"]["source"]["enum"] == list(FUNDING_SOURCES)
    for path, method in (("/v1/budgets/{region_code}/{year}/lines", "put"), ("/v1/ledger/{region_code}/{year}", "get"),
                         ("/v1/invoices/{year}/{month}/{region_code}/payment", "post"),
                         ("/v1/invoices/{year}/{month}/{region_code}/bill", "post")):
        assert "unknown_region" in document["paths"][path][method]["responses"]["422"]["description"]
