"""OpenAPI 3 from the handlers' aiohttp-apispec annotations, and Swagger UI from the package's local assets.

aiohttp-apispec writes Swagger 2.0; this subclass keeps its decorators, route walk and bundled UI, and only
translates each operation into OpenAPI 3 (request bodies, response content, typed path parameters).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp_apispec import AiohttpApiSpec, response_schema
from aiohttp_apispec.utils import get_path_keys
from apispec import APISpec

from web.http.errors import Handler, catalogue_markdown
from web.schemas.common import Error
from web.security.idempotency import HEADER

TITLE = "Cinema seat booking"
LOCATIONS = {"querystring": "query", "match_info": "path", "headers": "header", "cookies": "cookie"}
INTEGER_ID = {"type": "integer", "minimum": 1}
PATH_KEYS = {
    "hold_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "code": {"type": "string", "pattern": "^[0-9]{1,10}-[A-Za-z2-7]{24}$", "description": "a ticket code"},
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
DESCRIPTION = (
    "Book seats at cinema shows. Log in with `POST /login` (the demo data has `demo` / `demo-password`), then "
    "press **Authorize** and paste the `access` token. Every booking endpoint needs it.\n\n"
    '## Errors\n\nEvery error answer is JSON `{"detail": ..., "code": ...}` (validation errors add `errors` '
    "per field, refusals about seats add `seats`). The codes:\n\n"
)


class OpenApi3(AiohttpApiSpec):
    def __init__(self, app: web.Application, version: str) -> None:
        super().__init__(
            url="/swagger.json",
            swagger_path="/swagger/",
            static_path="/swagger/static",
            title=TITLE,
            version=version,
        )
        self.spec = APISpec(
            title=TITLE,
            version=version,
            openapi_version="3.0.3",
            plugins=(self.plugin,),
            info={"description": DESCRIPTION + catalogue_markdown()},
        )
        self.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        self.register(app, in_place=True)
        app.router.add_get("/swagger", _to_swagger_ui)

    def _update_paths(self, data: dict[str, Any], method: str, url_path: str) -> None:
        if method == "head":  # aiohttp adds HEAD beside every GET; documenting it twice only adds noise
            return
        data = copy.copy(data)
        operation: dict[str, Any] = {
            k: v for k, v in data.items() if k not in ("schemas", "responses", "parameters", "produces")
        }
        operation.setdefault("security", [{"bearer": []}])
        parameters = list(data["parameters"])
        for item in data["schemas"]:
            if item["location"] == "json":
                media: dict[str, Any] = {"schema": item["schema"]}
                if item.get("example"):  # what Swagger UI's "Try it out" starts from: a request that works
                    media["example"] = {k: v for k, v in item["example"].items() if k != "add_to_refs"}
                operation["requestBody"] = {"required": True, "content": {"application/json": media}}
            else:
                parameters.append({"in": LOCATIONS.get(item["location"], item["location"]), "schema": item["schema"]})
        parameters += [
            {"in": "path", "name": key, "required": True, "schema": PATH_KEYS.get(key, INTEGER_ID)}
            for key in get_path_keys(url_path)
        ]
        if parameters:
            operation["parameters"] = parameters
        responses: dict[str, Any] = {}
        for code, response in data["responses"].items():
            entry = {"description": response.get("description") or code}
            if "content" in response:  # written out already, e.g. a oneOf of two shapes
                entry["content"] = response["content"]
            elif "schema" in response:
                entry["content"] = {"application/json": {"schema": response["schema"]}}
            responses[code] = entry
        # Answers the shared helpers give, so each route need not repeat them: every id route refuses an id it
        # cannot hold; every body is size-, type- and time-checked (web/http/body.py); every token is checked.
        idempotent = any(parameter.get("name") == HEADER for parameter in parameters)
        has_body = "requestBody" in operation
        for code, description, applies in (
            ("404", "Not found (or an id not written in canonical decimal)", "{" in url_path),
            ("400", "Invalid Idempotency-Key header", idempotent),
            ("422", "Idempotency-Key reused with a different request", idempotent),
            ("401", "Not authenticated", operation["security"] != []),
            ("408", "The request body did not arrive in time", has_body),
            ("413", "Request body too large", has_body),
            ("415", "The body is not application/json, or has an unsupported Content-Encoding", has_body),
        ):
            if applies:
                responses.setdefault(code, {"description": description, "content": ERROR_CONTENT})
        responses.setdefault(
            "503",
            {"description": "Busy or storage unavailable; nothing changed (see Retry-After)", "content": ERROR_CONTENT},
        )
        operation["responses"] = dict(sorted(responses.items()))
        self.spec.path(path=url_path, operations={method: operation})


async def _to_swagger_ui(_: web.Request) -> web.Response:
    raise web.HTTPFound("/swagger/")


# What these statuses mean is the same on every route that answers them.
COMMON_ERRORS = {
    401: "Not authenticated",
    403: "Not an admin",
    422: "Idempotency-Key reused with a different request",
}


def errors(*answers: int | dict[int, str]) -> Callable[[Handler], Handler]:
    """A route's error answers, declared once, all as the `Error` shape: a common status by its number
    (COMMON_ERRORS says what it means), the others with what they mean on this route."""
    described: dict[int, str] = {}
    for answer in answers:
        described.update({answer: COMMON_ERRORS[answer]} if isinstance(answer, int) else answer)

    def declare(handler: Handler) -> Handler:
        for status, description in reversed(described.items()):
            handler = response_schema(Error, status, description=description)(handler)
        return handler

    return declare
