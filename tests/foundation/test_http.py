"""The answers shared/http.py gives every service beside its routes' own."""

import httpx
from fastapi import APIRouter, FastAPI

from shared.http import install_error_handlers


async def test_a_405_allows_every_method_its_path_answers_not_only_the_first_routes() -> None:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()  # as the services' routes come: included, not added to the app one by one

    @router.get("/v1/regions/{code}/target")
    async def read_target(code: str) -> dict[str, str]:
        return {"code": code}

    @router.put("/v1/regions/{code}/target")
    async def put_target(code: str) -> dict[str, str]:
        return {"code": code}

    @app.post("/v1/regions")
    async def add_region() -> dict[str, str]:
        return {}

    @app.get("/v1/regions")
    async def list_regions() -> list[str]:
        return []

    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for method in ("OPTIONS", "DELETE", "POST"):
            response = await client.request(method, "/v1/regions/36.01/target")
            assert response.status_code == 405
            assert response.headers["allow"] == "GET, PUT"
            assert response.json()["errors"][0]["code"] == "http_405"
        response = await client.options("/v1/regions")
        assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")


async def test_a_literal_path_allows_its_own_methods_not_those_of_a_template_its_text_matches() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/registrations/batch")
    async def register_batch() -> dict[str, str]:
        return {}

    @app.get("/v1/registrations/{registration_id}")
    async def read_registration(registration_id: str) -> dict[str, str]:
        return {"registration_id": registration_id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.options("/v1/registrations/batch")
        assert (response.status_code, response.headers["allow"]) == (405, "POST")
        response = await client.options("/v1/registrations/0b1c")
        assert (response.status_code, response.headers["allow"]) == (405, "GET")
