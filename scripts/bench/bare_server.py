"""The yardstick for the HTTP benchmark: a bare aiohttp handler on the service's own stack (uvloop, orjson).

It parses the same JSON body and answers 201 with a body shaped like a booking, and does nothing a booking
needs (no token check, no actor, no commit), so the booking path's requests/s as a share of this one's is the
price of everything the service does per request. It is the fastest handler the project's stack allows:
comparing with plain asyncio and stdlib json would flatter the service.
"""

from __future__ import annotations

import argparse

import orjson
import uvloop
from aiohttp import web

BODY = orjson.dumps(
    {
        "id": 1,
        "user": 1,
        "show": {"id": 1, "screen_name": "S0", "date_time": "2026-01-01T20:00:00+00:00", "total_seats": 10000},
        "seat_number": 1,
        "status": "booked",
        "created_at": "2026-01-01T12:00:00.000000+00:00",
    }
)
INVALID = orjson.dumps({"detail": "Invalid input."})


async def book(request: web.Request) -> web.Response:
    data = orjson.loads(await request.read())
    if not isinstance(data, dict) or type(data.get("seat_number")) is not int:
        return web.Response(body=INVALID, status=400, content_type="application/json")
    return web.Response(body=BODY, status=201, content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post(r"/shows/{id:\d+}/book/", book)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
