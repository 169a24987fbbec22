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


UNDOCUMENTED = ("/swagger", "/kiosk/static")  # the documentation itself and static files


async def test_every_route_the_app_serves_is_documented_and_nothing_else(api: Api) -> None:
    spec = await (await api.client.get("/swagger.json")).json()
    documented = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    served = set()
    for route in api.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if route.method in ("HEAD", "*") or path.startswith(UNDOCUMENTED):
            continue
        served.add((re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path), route.method.lower()))
    assert served == documented
    assert {("/metrics", "get"), ("/healthz", "get"), ("/readyz", "get"), ("/kiosk/{id}", "get")} <= documented


async def test_documented_statuses_and_headers(api: Api) -> None:
    paths = (await (await api.client.get("/swagger.json")).json())["paths"]
    events = paths["/shows/{id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert {"400", "404"} <= set(events["responses"])
    for path in ("/shows/{id}/block/", "/shows/{id}/unblock/"):
        assert {"401", "403", "404", "415"} <= set(paths[path]["post"]["responses"])
    assert {"400", "401", "404", "409", "422"} <= set(paths["/bookings/{id}/cancel/"]["post"]["responses"])
    assert {"400", "401", "404", "409", "422"} <= set(paths["/holds/{hold_id}/confirm/"]["post"]["responses"])
    for path in ("/shows/{id}/book/", "/shows/{id}/hold/", "/holds/{hold_id}/confirm/", "/bookings/{id}/cancel/"):
        names = [parameter["name"] for parameter in paths[path]["post"]["parameters"]]
        assert "Idempotency-Key" in names, path
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert {"408", "413", "415"} <= set(operation["responses"]), (path, method)
