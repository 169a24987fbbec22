"""The OpenAPI document and Swagger UI, served from local assets."""

from __future__ import annotations

import re

from tests.conftest import Api

SEED_OPERATIONS = [
    ("/signup", "post"),
    ("/login", "post"),
    ("/movies/", "get"),
    ("/movies/{id}/shows/", "get"),
    ("/shows/{id}/book/", "post"),
    ("/bookings/{id}/cancel/", "post"),
    ("/my-bookings/", "get"),
]


async def test_spec_documents_every_seed_path(api: Api) -> None:
    spec = await (await api.client.get("/swagger.json")).json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, method in SEED_OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation["responses"], (path, method)
        success = next(code for code in operation["responses"] if code.startswith("2"))
        assert operation["responses"][success]["content"]["application/json"]["schema"], (path, method)
        if method == "post" and "{id}/cancel" not in path:
            assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"], path
        if "{id}" in path:
            assert {
                "in": "path",
                "name": "id",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            } in operation["parameters"]
    for path, method in [("/shows/{id}/book/", "post"), ("/bookings/{id}/cancel/", "post"), ("/my-bookings/", "get")]:
        assert spec["paths"][path][method]["security"] == [{"bearer": []}]
        assert "401" in spec["paths"][path][method]["responses"]
    assert spec["paths"]["/login"]["post"]["security"] == []
    book = spec["components"]["schemas"]["BookRequest"]
    assert book["properties"]["seat_number"]["type"] == "integer"
    assert {"seat_numbers", "count"} <= set(book["properties"])
    for path, method in [
        ("/shows/{id}/hold/", "post"),
        ("/holds/{hold_id}/confirm/", "post"),
        ("/holds/{hold_id}/", "delete"),
        ("/shows/{id}/seats/", "get"),
        ("/shows/{id}/block/", "post"),
    ]:
        assert spec["paths"][path][method]["responses"], (path, method)


async def test_swagger_ui_is_served_locally(api: Api) -> None:
    page = await api.client.get("/swagger/")
    assert page.status == 200
    html = await page.text()
    assert "/swagger.json" in html
    assets = re.findall(r'(?:src|href)="(/swagger/static/[^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert not re.search(r'(?:src|href)="https?://', html), "kiosks are offline: no CDN"
    for asset in assets:
        response = await api.client.get(asset)
        assert response.status == 200, asset
        assert len(await response.read()) > 100
    redirect = await api.client.get("/swagger", allow_redirects=False)
    assert redirect.status == 302 and redirect.headers["Location"] == "/swagger/"
