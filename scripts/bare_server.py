"""The yardstick for benchmark 2: a bare aiohttp handler that parses the same JSON body and answers 201.

It does nothing a booking needs (no token check, no actor, no commit), so the real booking path's requests/s
as a share of this one's is the price of everything the service does per request.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

BODY = json.dumps({"id": 1, "user": 1, "seat_number": 1, "status": "booked"}).encode()


async def book(request: web.Request) -> web.Response:
    data = json.loads(await request.read())
    if not isinstance(data.get("seat_number"), int):
        return web.json_response({"detail": "Invalid input."}, status=400)
    return web.Response(body=BODY, status=201, content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post(r"/shows/{id:\d+}/book/", book)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
