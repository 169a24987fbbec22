"""Trusted proxies: the pure resolution of the client behind them, and the app counting that client (SQLite and
PostgreSQL). The same through a real nginx and HAProxy: tests/test_front_door.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Api
from web.app import create_app
from web.context import HASHER, REPOSITORY
from web.http.client_bounds import per_client_requests
from web.http.clients import TRUSTED_PROXIES
from web.http.proxies import Client, TrustedProxies, address, parse, resolve
from web.settings import Settings

PROXIES = TrustedProxies.of(["10.0.0.0/8", "192.168.1.1"])
CLUSTER_SECRET = "proxies-test-cluster-secret-0123"


def test_addresses_as_proxies_write_them() -> None:
    assert str(address("203.0.113.7")) == "203.0.113.7"
    assert str(address(" 203.0.113.7:5555 ")) == "203.0.113.7"
    assert str(address('"[2001:db8::17]:4711"')) == "2001:db8::17"
    assert str(address("::ffff:10.1.2.3")) == "10.1.2.3"
    assert address("unknown") is None and address("_hidden") is None and address("") is None


def test_the_setting_is_checked_and_normalised() -> None:
    assert parse(["10.0.0.0/8", " 127.0.0.1 ", "", "10.1.2.3/8"]) == ("10.0.0.0/8", "127.0.0.1/32", "10.0.0.0/8")
    with pytest.raises(ValueError, match=r"CINEMA_TRUSTED_PROXIES: 'nginx' is neither"):
        parse(["nginx"])


def test_only_a_trusted_peer_speaks_for_its_client() -> None:
    forged = resolve("203.0.113.9", PROXIES, forwarded_for=["1.1.1.1"], proto=["https"], host=["evil.example"])
    assert forged == Client("203.0.113.9")
    through = resolve("10.0.0.2", PROXIES, forwarded_for=["198.51.100.4"], proto=["https"], host=["tickets.example"])
    assert through == Client("198.51.100.4", proxied=True, scheme="https", host="tickets.example")


def test_the_right_most_untrusted_address_is_the_client() -> None:
    # the client forged the left-most entry; our two proxies appended what they saw
    chain = resolve("10.0.0.2", PROXIES, forwarded_for=["6.6.6.6, 198.51.100.4", "192.168.1.1"])
    assert chain.address == "198.51.100.4"
    every_hop_trusted = resolve("10.0.0.2", PROXIES, forwarded_for=["10.9.9.9, 10.0.0.3"])
    assert every_hop_trusted.address == "10.9.9.9"
    assert resolve("10.0.0.2", PROXIES).address == "10.0.0.2"  # the proxy's own request (a health check)
    assert resolve("10.0.0.2", PROXIES, forwarded_for=["198.51.100.4, unknown"]).address == "10.0.0.2"


def test_rfc_7239_forwarded_is_read_when_there_is_no_x_forwarded_for() -> None:
    elements = [{"for": "6.6.6.6"}, {"for": "[2001:db8::17]:4711", "proto": "HTTPS", "host": "tickets.example:8443"}]
    seen = resolve("10.0.0.2", PROXIES, forwarded=elements)
    assert seen == Client("2001:db8::17", proxied=True, scheme="https", host="tickets.example:8443")
    # nginx and HAProxy pass a client's own Forwarded through and write X-Forwarded-For: that one counts
    forged = resolve("10.0.0.2", PROXIES, forwarded=[{"for": "6.6.6.6"}], forwarded_for=["198.51.100.4"])
    assert forged.address == "198.51.100.4"


def test_a_forwarded_host_that_is_not_a_host_is_ignored() -> None:
    for bad in ("evil.example/path", "user@evil.example", "a b", "x" * 300):
        assert resolve("10.0.0.2", PROXIES, forwarded_for=["1.2.3.4"], host=[bad]).host is None
    assert resolve("10.0.0.2", PROXIES, forwarded_for=["1.2.3.4"], proto=["gopher"]).scheme is None


async def _signups(client: Any, forwarded_for: str | None, count: int, start: int) -> list[int]:
    statuses = []
    for n in range(start, start + count):
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        body = {"username": f"proxied-{n}", "email": "p@example.com", "password": "correct-horse-7"}
        statuses.append((await client.post("/signup", json=body, headers=headers)).status)
    return statuses


async def test_behind_a_trusted_proxy_each_client_has_its_own_limits(aiohttp_client: Any, settings: Settings) -> None:
    limited = replace(settings, signups_per_address=3, trusted_proxies=("127.0.0.1",), page_size=1)
    client = await aiohttp_client(create_app(limited))
    assert await _signups(client, "198.51.100.1", 4, 0) == [201, 201, 201, 429]
    assert await _signups(client, "198.51.100.2", 3, 10) == [201, 201, 201]  # another customer of the proxy
    assert await _signups(client, "6.6.6.6, 198.51.100.1", 1, 20) == [429]  # a forged entry changes nothing


async def test_without_trust_the_header_is_ignored(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(replace(settings, signups_per_address=3)))
    assert await _signups(client, "198.51.100.1", 2, 0) == [201, 201]
    assert await _signups(client, "198.51.100.2", 2, 10) == [201, 429]  # one address, whatever it claims


async def test_pagination_links_use_the_proxied_scheme_and_host(aiohttp_client: Any, settings: Settings) -> None:
    headers = {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "t.example"}
    proxied = await aiohttp_client(create_app(replace(settings, trusted_proxies=("127.0.0.1",), page_size=1)))
    app = proxied.server.app
    await app[REPOSITORY].create_user("root", "r@example.com", await app[HASHER].hash("adminpassword"), is_admin=True)
    token = await (await proxied.post("/login", json={"username": "root", "password": "adminpassword"})).json()
    for title in ("A", "B"):
        made = await proxied.post(
            "/movies/",
            json={"title": title, "duration_minutes": 90},
            headers={"Authorization": f"Bearer {token['access']}"},
        )
        assert made.status == 201
    assert (await (await proxied.get("/movies/", headers=headers)).json())["next"] == "https://t.example/movies/?page=2"
    direct = await aiohttp_client(create_app(replace(settings, page_size=1)))
    assert (await (await direct.get("/movies/", headers=headers)).json())["next"].startswith("http://127.0.0.1:")
    public = await aiohttp_client(
        create_app(replace(settings, trusted_proxies=("127.0.0.1",), page_size=1, public_url="https://p.example"))
    )
    assert (await (await public.get("/movies/", headers=headers)).json())["next"] == "https://p.example/movies/?page=2"


async def test_behind_a_trusted_proxy_open_requests_are_bounded_per_client(
    aiohttp_client: Any, settings: Settings
) -> None:
    app = create_app(replace(settings, trusted_proxies=("127.0.0.1",), max_connections_per_source=2))
    api = Api(await aiohttp_client(app))
    show = await api.show()
    url = f"/shows/{show['id']}/events"

    def through(client: str) -> dict[str, str]:
        return {"X-Forwarded-For": client, "Accept": "text/event-stream"}

    first = await api.client.get(url, headers=through("198.51.100.1"))
    second = await api.client.get(url, headers=through("198.51.100.1"))
    assert first.status == second.status == 200
    third = await api.client.get(url, headers=through("198.51.100.1"))
    assert third.status == 503 and (await third.json())["code"] == "busy" and third.headers["Retry-After"] == "1"
    neighbour = await api.client.get(url, headers=through("198.51.100.2"))
    assert neighbour.status == 200
    metrics = await (await api.client.get("/metrics")).text()
    assert 'cinema_limit_refusals_total{kind="connections_per_source"} 1.0' in metrics
    first.close()
    await asyncio.sleep(0.2)  # the server sees the stream end, and the client has room again
    again = await api.client.get(url, headers=through("198.51.100.1"))
    assert again.status == 200
    for response in (second, neighbour, again):
        response.close()


async def test_cluster_peers_in_a_trusted_range_are_not_bounded_per_client(aiohttp_client: Any) -> None:
    """Should the operator's trusted range hold the nodes too, their relays (which carry the secret) still pass."""
    release = asyncio.Event()

    async def hold(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    app = web.Application(middlewares=[per_client_requests(1, cluster_secret=CLUSTER_SECRET)])
    app[TRUSTED_PROXIES] = TrustedProxies.of(["127.0.0.1"])
    app.router.add_get("/hold", hold)
    client = await aiohttp_client(app)
    node = {"X-Cinema-Cluster-Secret": CLUSTER_SECRET}
    held = [asyncio.create_task(client.get("/hold", headers=node)) for _ in range(3)]
    customer = asyncio.create_task(client.get("/hold", headers={"X-Forwarded-For": "198.51.100.1"}))
    await asyncio.sleep(0.2)
    second = await client.get("/hold", headers={"X-Forwarded-For": "198.51.100.1"})
    assert second.status == 503  # a customer is bounded (1 here)
    guess = {"X-Cinema-Cluster-Secret": "guess"}  # not a node: the proxy's own address, bounded like a customer
    guessing = asyncio.create_task(client.get("/hold", headers=guess))
    await asyncio.sleep(0.2)
    assert (await client.get("/hold", headers=guess)).status == 503
    release.set()
    assert [(await task).status for task in [*held, customer, guessing]] == [200] * 5
