"""Cluster mode, part one: settings, the node registry with heartbeats, GET /cluster, the internal routes'
secret, and the refusal of a lone node beside live cluster nodes. PostgreSQL only (cluster mode needs it)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from scripts.testing.server_process import ServerProcess, free_port, run_cinema
from storage import cluster as registry
from storage.database import open_engine
from tests.conftest import Api
from web.app import create_app
from web.cluster.forwarding import FORWARDER, OwnerUnreachable
from web.cluster.membership import CLUSTER, SECRET_HEADER, ClusterRefused, settings_problem
from web.cluster.relays import RELAYS
from web.settings import Settings

SECRET = "cluster-secret-for-tests-0123456789"
LEASE = 1.0


@pytest.fixture
def backend_url(postgres_database: str) -> str:
    """Every test here runs on PostgreSQL (the shared `database_url` fixture migrates and empties it)."""
    return postgres_database


def node_settings(settings: Settings, port: int, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "cluster_secret": SECRET,
        "node_url": f"http://127.0.0.1:{port}",
        "lease_seconds": LEASE,
        **changes,
    }
    return dataclasses.replace(settings, **values)


@pytest.fixture
async def two_nodes(settings: Settings) -> AsyncIterator[tuple[Api, Api]]:
    clients = []
    try:
        for _ in range(2):
            port = free_port()
            client = TestClient(TestServer(create_app(node_settings(settings, port)), port=port))
            await client.start_server()
            clients.append(client)
        yield Api(clients[0]), Api(clients[1])
    finally:
        for client in clients:
            await client.close()


def test_settings_problems_are_one_line(settings: Settings) -> None:
    assert settings_problem(settings) is None  # cluster mode off: nothing to check
    good = node_settings(settings, 8000)
    assert settings_problem(good) is None
    for changes, fragment in [
        ({"cluster_secret": "short"}, "at least 16"),
        ({"lease_seconds": 0.2}, "between 1 and 300"),
        ({"lease_seconds": float("nan")}, "between 1 and 300"),
        ({"node_url": ""}, "CINEMA_NODE_URL"),
        ({"node_url": "ftp://x:1"}, "CINEMA_NODE_URL"),
        ({"node_url": "http://x:1/some/path"}, "CINEMA_NODE_URL"),
        ({"database_url": "sqlite+aiosqlite:///x.db"}, "needs PostgreSQL"),
    ]:
        problem = settings_problem(dataclasses.replace(good, **changes))
        assert problem is not None and fragment in problem and "\n" not in problem, changes


async def test_nodes_register_heartbeat_and_are_listed_for_admins(two_nodes: tuple[Api, Api]) -> None:
    first, second = two_nodes
    admin = await first.admin()
    user = await first.user()
    assert (await first.client.get("/cluster", headers=user["headers"])).status == 403
    assert (await first.client.get("/cluster")).status == 401

    await asyncio.sleep(2.5 * LEASE)  # several heartbeats, run by both nodes on this loop
    for node in (first, second):  # any node answers with the whole registry, as seen by the database's clock
        response = await node.client.get("/cluster", headers=admin["headers"])
        assert response.status == 200, await response.text()
        view = await response.json()
        assert view["mode"] == "cluster" and view["lease_seconds"] == LEASE
        assert len(view["nodes"]) == 2 and all(n["alive"] for n in view["nodes"]), view
        assert all(0 <= n["heartbeat_age_seconds"] < LEASE for n in view["nodes"]), "heartbeats keep rows fresh"
        assert [n["this"] for n in view["nodes"]].count(True) == 1
        me = next(n for n in view["nodes"] if n["this"])
        assert me["id"] == view["node"] and me["url"] == str(node.client.make_url("")).rstrip("/")

    await second.client.close()  # a node that stops cleanly leaves the registry at once
    view = await (await first.client.get("/cluster", headers=admin["headers"])).json()
    assert [n["url"] for n in view["nodes"]] == [str(first.client.make_url("")).rstrip("/")]


async def test_internal_routes_need_the_secret_and_are_not_documented(two_nodes: tuple[Api, Api]) -> None:
    first, _ = two_nodes
    for headers in ({}, {SECRET_HEADER: ""}, {SECRET_HEADER: SECRET[:-1]}, {SECRET_HEADER: SECRET + "x"}):
        response = await first.client.get("/_cluster/node", headers=headers)
        assert response.status == 403, headers
        assert (await response.json())["code"] == "cluster_secret_required"
    response = await first.client.get("/_cluster/node", headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    assert (await response.json())["healthy"] is True
    spec = await (await first.client.get("/swagger.json")).json()
    assert "/cluster" in spec["paths"]
    assert not [path for path in spec["paths"] if path.startswith("/_cluster")]


async def test_single_mode_has_no_internal_routes_and_an_empty_cluster_view(api: Api) -> None:
    admin = await api.admin()
    view = await (await api.client.get("/cluster", headers=admin["headers"])).json()
    assert view == {"mode": "single", "node": None, "lease_seconds": None, "nodes": []}
    assert (await api.client.get("/_cluster/node", headers={SECRET_HEADER: SECRET})).status == 404


async def test_a_lone_node_or_other_secrets_are_refused_while_nodes_live(
    two_nodes: tuple[Api, Api], settings: Settings
) -> None:
    port = free_port()
    for changes, fragment in [
        ({"cluster_secret": ""}, "live cluster node(s) use this database"),
        ({"cluster_secret": SECRET + "-other"}, "CINEMA_CLUSTER_SECRET differs"),
        ({"jwt_secret": settings.jwt_secret + "-other"}, "CINEMA_JWT_SECRET differs"),
    ]:
        server = TestServer(create_app(node_settings(settings, port, **changes)), port=port)
        with pytest.raises(ClusterRefused, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            await server.start_server()
        await server.close()
    engine = open_engine(settings.database_url)
    try:
        assert len(await registry.nodes(engine)) == 2, "a refused node leaves no row behind"
    finally:
        await engine.dispose()


def test_serve_refusals_are_one_line_and_a_dead_node_stops_counting_after_its_lease(database_url: str) -> None:
    cluster = {"CINEMA_CLUSTER_SECRET": SECRET, "CINEMA_JWT_SECRET": SECRET + "-jwt"}
    node = ServerProcess(database_url, "--lease-seconds", str(LEASE), **cluster)
    try:
        node.wait_ready()
        lone = run_cinema(["serve", "--port", str(free_port())], database_url, CINEMA_JWT_SECRET=SECRET + "-jwt")
        assert lone.returncode == 2
        assert lone.stderr.strip().count("\n") == 0 and "CINEMA_CLUSTER_SECRET" in lone.stderr, lone.stderr
        assert "Traceback" not in lone.stderr + lone.stdout and "serving on" not in lone.stdout
        node.kill()  # kill -9: its row stays until its lease runs out, by the database's clock
        deadline = time.monotonic() + LEASE + 2
        while _live_nodes(database_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _live_nodes(database_url), "a killed node's row must expire after one lease"
    finally:
        node.close()
    lone_server = ServerProcess(database_url, CINEMA_JWT_SECRET=SECRET + "-jwt")
    try:
        lone_server.wait_ready()
    finally:
        assert lone_server.terminate() == 0
        lone_server.close()
    on_sqlite = run_cinema(["serve", "--port", "1", "--cluster-secret", SECRET], "sqlite:///unused.db")
    assert on_sqlite.returncode == 2 and "needs PostgreSQL" in on_sqlite.stderr, on_sqlite.stderr
    assert on_sqlite.stderr.strip().count("\n") == 0


def _live_nodes(url: str) -> list[registry.NodeRow]:
    async def read() -> list[registry.NodeRow]:
        engine = open_engine(url)
        try:
            return await registry.nodes(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def test_cluster_route_answers_503_when_the_registry_is_unreachable(two_nodes: tuple[Api, Api]) -> None:
    first, _ = two_nodes
    admin = await first.admin()
    membership = first.app[CLUSTER]
    real = membership.database
    membership.database = open_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")  # refused
    try:
        response = await first.client.get("/cluster", headers=admin["headers"])
        assert response.status == 503 and "Retry-After" in response.headers
    finally:
        await membership.database.dispose()
        membership.database = real


async def test_forwarded_answers_are_the_owners_byte_for_byte(two_nodes: tuple[Api, Api]) -> None:
    first, second = two_nodes
    show = await second.show(total_seats=5)
    user = await second.user()
    book = f"/shows/{show['id']}/book/"
    refused = await second.client.post(f"/_cluster/relay{book}", json={"seat_number": 1}, headers=user["headers"])
    assert refused.status == 403, "the relay route is internal: no secret, no booking"

    forwarder, owner = first.app[FORWARDER], str(second.client.make_url("")).rstrip("/")
    headers = CIMultiDict({**user["headers"], "Content-Type": "application/json"})
    booked = await forwarder.send(owner, "POST", book, headers, b'{"seat_number": 1}')
    assert booked.status == 201, booked.body
    direct = await second.client.post(book, json={"seat_number": 1}, headers=user["headers"])
    forwarded = await forwarder.send(owner, "POST", book, headers, b'{"seat_number": 1}')
    assert (forwarded.status, forwarded.body) == (409, await direct.read())
    assert forwarded.content_type == "application/json"

    keyed = CIMultiDict({**headers, "Idempotency-Key": "k-1"})  # headers pass through: the key is honoured
    once = await forwarder.send(owner, "POST", book, keyed, b'{"seat_number": 2}')
    again = await forwarder.send(owner, "POST", book, keyed, b'{"seat_number": 2}')
    assert once.status == again.status == 201 and once.body == again.body
    assert again.headers["Idempotent-Replayed"] == "true"

    page = await forwarder.send(owner, "GET", "/movies/?page=99", CIMultiDict(), b"")
    assert (page.status, page.body) == (404, await (await second.client.get("/movies/?page=99")).read())
    again_relayed = await forwarder.send(owner, "GET", "/_cluster/relay/movies/", CIMultiDict(), b"")
    assert again_relayed.status == 404, "never a second hop"

    mine = await (await first.client.get("/my-bookings/", headers=user["headers"])).json()
    assert sorted(b["seat_number"] for b in mine) == [1, 2]

    with pytest.raises(OwnerUnreachable):  # nothing sent: the middleware may ask the database again
        await forwarder.send(f"http://127.0.0.1:{free_port()}", "GET", "/movies/", CIMultiDict(), b"")


async def test_a_show_has_one_owner_and_the_others_forward_to_it(two_nodes: tuple[Api, Api]) -> None:
    first, second = two_nodes
    admin = await first.admin()
    show = await first.show(total_seats=6)
    user = await first.user()
    taken = await first.book(show["id"], 1, user["headers"])  # the first node to be asked takes the lease
    assert taken.status == 201

    via_second = await second.book(show["id"], 2, user["headers"])  # forwarded to the owner
    assert via_second.status == 201, await via_second.text()
    direct = await first.book(show["id"], 1, user["headers"])
    forwarded = await second.book(show["id"], 1, user["headers"])
    assert direct.status == forwarded.status == 409
    assert await direct.read() == await forwarded.read(), "the owner's answer, byte for byte"
    seats = await (await second.client.get(f"/shows/{show['id']}/seats/")).read()
    assert seats == await (await first.client.get(f"/shows/{show['id']}/seats/")).read()

    view = await (await second.client.get("/cluster", headers=admin["headers"])).json()
    owners = {node["url"]: [lease["show_id"] for lease in node["shows"]] for node in view["nodes"]}
    assert owners[_url(first)] == [show["id"]] and owners[_url(second)] == []
    lease = next(n for n in view["nodes"] if n["url"] == _url(first))["shows"][0]
    assert 0 < lease["lease_expires_in_seconds"] <= LEASE and lease["epoch"] >= 1

    await first.client.close()  # a clean stop gives the show up at once: the next node asked takes it
    after = await second.book(show["id"], 3, user["headers"])
    assert after.status == 201, await after.text()
    view = await (await second.client.get("/cluster", headers=admin["headers"])).json()
    assert [lease["show_id"] for lease in view["nodes"][0]["shows"]] == [show["id"]]
    mine = await (await second.client.get("/my-bookings/", headers=user["headers"])).json()
    assert sorted(b["seat_number"] for b in mine) == [1, 2, 3]


def _url(api: Api) -> str:
    return str(api.client.make_url("")).rstrip("/")


async def test_an_idempotency_key_answers_the_same_on_every_node(two_nodes: tuple[Api, Api]) -> None:
    first, second = two_nodes
    show = await first.show(total_seats=4)
    user = await first.user()
    keyed = {**user["headers"], "Idempotency-Key": "retry-me"}
    path = f"/shows/{show['id']}/book/"
    once = await first.client.post(path, json={"seat_number": 2}, headers=keyed)
    assert once.status == 201
    again = await second.client.post(path, json={"seat_number": 2}, headers=keyed)  # the retry lands elsewhere
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.read() == await once.read()
    other = await second.client.post(path, json={"seat_number": 3}, headers=keyed)
    assert other.status == 422


async def test_live_events_reach_subscribers_on_every_node_in_seq_order(two_nodes: tuple[Api, Api]) -> None:
    first, second = two_nodes
    show = await first.show(total_seats=6)
    path = f"/shows/{show['id']}/events"
    user = await first.user()
    assert (await first.book(show["id"], 1, user["headers"])).status == 201  # the first node owns the show
    stream = await second.client.get(path, headers={"Last-Event-ID": "0"})  # SSE, relayed from the owner
    assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"

    async def frame() -> list[bytes]:
        lines = []
        while (line := await asyncio.wait_for(stream.content.readline(), 5)) != b"\n":
            lines.append(line.strip())
        return lines

    first_frame = await frame()  # the node's replica of the show's feed starts at seq 1: a snapshot
    assert first_frame[:2] == [b"id: 1", b"event: snapshot"]
    assert json.loads(first_frame[2].removeprefix(b"data: "))["booked"] == [1]
    async with second.client.ws_connect(path) as ws:  # a WebSocket on the non-owner: snapshot, then changes
        snapshot = await ws.receive_json(timeout=5)
        assert (snapshot["type"], snapshot["seq"], snapshot["booked"]) == ("snapshot", 1, [1])
        assert (await second.book(show["id"], 2, user["headers"])).status == 201  # forwarded to the owner
        assert (await first.book(show["id"], 3, user["headers"])).status == 201
        assert await ws.receive_json(timeout=5) == {"type": "booked", "seq": 2, "seat": 2}
        assert await ws.receive_json(timeout=5) == {"type": "booked", "seq": 3, "seat": 3}
        assert await frame() == [b"id: 2", b"event: booked", b'data: {"type":"booked","seq":2,"seat":2}']
        assert await frame() == [b"id: 3", b"event: booked", b'data: {"type":"booked","seq":3,"seat":3}']
        async with second.client.ws_connect(f"{path}?since=1") as late:  # catch-up through the relay
            assert await late.receive_json(timeout=5) == {"type": "booked", "seq": 2, "seat": 2}
            assert await late.receive_json(timeout=5) == {"type": "booked", "seq": 3, "seat": 3}
        assert first.app[FORWARDER].relayed_streams == 0
        assert second.app[FORWARDER].relayed_streams == 1, "one upstream for the show, however many watch it"
        assert second.app[RELAYS].upstreams == 1

        await first.client.close()  # the owner stops: relayed streams end, the clients reconnect with since
        closed = await ws.receive(timeout=10)
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == aiohttp.WSCloseCode.SERVICE_RESTART
    assert await asyncio.wait_for(stream.content.read(), 10) == b"", "the SSE stream ended"
    stream.close()
    async with second.client.ws_connect(f"{path}?since=3") as ws:  # now decided here: nothing missed
        assert (await second.book(show["id"], 4, user["headers"])).status == 201
        assert await ws.receive_json(timeout=5) == {"type": "booked", "seq": 4, "seat": 4}
    assert second.app[FORWARDER].relayed_streams == 0
    assert (await second.client.get(f"{path}?since=x")).status == 400
