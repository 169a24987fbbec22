"""Cluster mode with real `cinema serve` processes on one real PostgreSQL: a rush over three nodes, kill -9 of
an owner mid-rush, a SIGSTOPped owner fenced off, and a node cut off from the database. Loopback only; every
loop is bounded in count and time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from scripts.testing.server_process import ServerProcess, free_port, run_cinema
from storage.database import open_engine

SECRET = "cluster-secret-for-failover-tests-0123"
JWT = "cluster-jwt-secret-for-failover-tests-0123"
LEASE = 1.5
DECIDED = (201, 409)  # answers that say what the show's owner decided


@pytest.fixture
def backend_url(postgres_database: str) -> str:
    return postgres_database


def start_nodes(database_url: str, count: int, lease: float = LEASE, **extra: str) -> list[ServerProcess]:
    env = {"CINEMA_CLUSTER_SECRET": SECRET, "CINEMA_JWT_SECRET": JWT, **extra}
    # One process per node: a kill -9 then hits the deciding process itself (see the --workers test below).
    nodes = [ServerProcess(database_url, "--workers", "1", "--lease-seconds", str(lease), **env) for _ in range(count)]
    for node in nodes:
        node.wait_ready()
    return nodes


@contextlib.contextmanager
def cluster(database_url: str, count: int, **extra: str) -> Iterator[list[ServerProcess]]:
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(database_url, count, **extra)
        yield nodes
    finally:
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.process.pid, signal.SIGCONT)
            node.close()


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as response:
        data = await response.json(content_type=None)
        return response.status, data


async def setup(session: aiohttp.ClientSession, database_url: str, base: str, users: int, seats: int) -> Any:
    """An admin, a show of `seats` seats and `users` customers with their tokens."""
    assert run_cinema(["create-admin", "boss", "--password", "boss-password"], database_url).returncode == 0
    _, boss = await call(session, "POST", f"{base}/login", {"username": "boss", "password": "boss-password"})
    _, movie = await call(session, "POST", f"{base}/movies/", {"title": "M", "duration_minutes": 90}, boss["access"])
    status, show = await call(
        session,
        "POST",
        f"{base}/movies/{movie['id']}/shows/",
        {"screen_name": "S", "date_time": "2030-01-01T20:00:00+00:00", "total_seats": seats},
        boss["access"],
    )
    assert status == 201, show
    tokens = []
    for index in range(users):
        name = f"fan{index}"
        body = {"username": name, "email": f"{name}@example.com", "password": "correct-horse-7"}
        assert (await call(session, "POST", f"{base}/signup", body))[0] == 201
        tokens.append((await call(session, "POST", f"{base}/login", body))[1]["access"])
    return boss["access"], show["id"], tokens


async def stored(database_url: str, show_id: int) -> list[tuple[int, int, str]]:
    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, seat_number, status FROM bookings WHERE show_id = :id"), {"id": show_id}
            )
            return [(row.id, row.seat_number, row.status) for row in rows]
    finally:
        await engine.dispose()


async def check_invariants(database_url: str, show_id: int, seats: int, confirmed: dict[int, int]) -> None:
    """No seat twice, not over capacity, every 201 (booking id -> seat) stored as booked."""
    rows = await stored(database_url, show_id)
    live = [seat for _, seat, status in rows if status == "booked"]
    twice = [seat for seat, n in Counter(live).items() if n > 1]
    assert not twice, f"seats booked twice: {twice}"
    assert len(live) <= seats
    by_id = {booking_id: (seat, status) for booking_id, seat, status in rows}
    lost = [b for b, seat in confirmed.items() if by_id.get(b) != (seat, "booked")]
    assert not lost, f"answered 201 but not stored: {lost}"


async def owner_of(session: aiohttp.ClientSession, base: str, admin: str, show_id: int) -> str | None:
    _, view = await call(session, "GET", f"{base}/cluster", token=admin)
    for node in view["nodes"]:
        if node["alive"] and any(lease["show_id"] == show_id for lease in node["shows"]):
            return node["url"]
    return None


async def test_three_nodes_round_robin_rush_keeps_every_invariant(database_url: str) -> None:
    seats, users, requests = 60, 12, 240
    with cluster(database_url, 3) as nodes:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=90)) as session:
            admin, show_id, tokens = await setup(session, database_url, nodes[0].url, users, seats)
            confirmed: dict[int, int] = {}
            statuses: Counter[int] = Counter()

            async def one(index: int) -> None:
                seat = 1 + (index * 7) % seats  # every seat asked for four times, from different nodes
                base = nodes[index % 3].url
                status, body = await call(
                    session, "POST", f"{base}/shows/{show_id}/book/", {"seat_number": seat}, tokens[index % users]
                )
                statuses[status] += 1
                if status == 201:
                    confirmed[body["id"]] = seat

            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(requests))), 60)
            assert set(statuses) <= {201, 409}, statuses
            assert statuses[201] == seats, statuses  # every seat sold exactly once, whichever node was asked
            await check_invariants(database_url, show_id, seats, confirmed)
            owners = {await owner_of(session, node.url, admin, show_id) for node in nodes}
            assert len(owners) == 1 and None not in owners, "every node sees the same single owner"


async def test_sigterm_of_a_node_ends_the_live_streams_it_relays_at_once(database_url: str) -> None:
    with cluster(database_url, 2) as (owner, other):
        async with aiohttp.ClientSession() as session:
            _, show_id, tokens = await setup(session, database_url, owner.url, 1, 5)
            book = f"{owner.url}/shows/{show_id}/book/"
            assert (await call(session, "POST", book, {"seat_number": 1}, tokens[0]))[0] == 201  # the owner
            async with session.get(f"{other.url}/shows/{show_id}/events") as stream:  # relayed from the owner
                assert stream.status == 200
                assert (await asyncio.wait_for(stream.content.readline(), 5)) == b"id: 1\n"
                started = time.monotonic()
                other.process.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(other.process.wait, 60) == 0
                assert time.monotonic() - started < 10, "the drain waited for a relayed stream"


async def test_a_thousand_watchers_on_one_node_leave_the_owner_free_for_bookings(database_url: str) -> None:
    """1,000 watchers of one show on the node that does not own it cost the owner one connection (the node's
    replica of the feed serves them), so 60 customers booking through that node, each from an address of its
    own, all get 201 on the default connection caps, and every watcher sees their seats go."""
    watchers, bookers = 1000, 60
    with cluster(database_url, 2, CINEMA_MAX_CONNECTIONS_PER_SOURCE="256") as (owner, other):  # the default
        async with aiohttp.ClientSession() as session:
            admin, show_id, tokens = await setup(session, database_url, owner.url, bookers, bookers + 1)
            taken = await call(session, "POST", f"{owner.url}/shows/{show_id}/book/", {"seat_number": 61}, tokens[0])
            assert taken[0] == 201 and await owner_of(session, other.url, admin, show_id) == owner.url
        # watchers from five addresses (200 each: under the default 256 per address)
        crowds = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(f"127.0.1.{n}", 0)))
            for n in range(1, 6)
        ]
        streams: list[aiohttp.ClientResponse] = []
        try:
            for index in range(watchers):
                streams.append(await crowds[index % 5].get(f"{other.url}/shows/{show_id}/events"))
            assert {stream.status for stream in streams} == {200}
            for stream in streams:
                assert (await asyncio.wait_for(stream.content.readline(), 10)).startswith(b"id: ")

            async def book(index: int) -> int:
                connector = aiohttp.TCPConnector(local_addr=(f"127.0.2.{index + 1}", 0))
                async with aiohttp.ClientSession(connector=connector) as fresh:
                    url = f"{other.url}/shows/{show_id}/book/"
                    return (await call(fresh, "POST", url, {"seat_number": index + 1}, tokens[index]))[0]

            statuses = await asyncio.wait_for(asyncio.gather(*(book(i) for i in range(bookers))), 60)
            assert Counter(statuses) == {201: bookers}
            for stream in (streams[0], streams[-1]):  # watchers on both ends of the crowd saw every seat go
                seen: set[int] = set()
                while len(seen) < bookers:
                    line = await asyncio.wait_for(stream.content.readline(), 10)
                    event = json.loads(line[6:]) if line.startswith(b"data: ") else {}
                    if event.get("type") == "booked":
                        seen.add(event["seat"])
                assert seen == set(range(1, bookers + 1))
        finally:
            for stream in streams:
                stream.close()
            for crowd in crowds:
                await crowd.close()


async def test_kill_9_of_the_owner_mid_rush(database_url: str) -> None:
    seats, users = 3000, 10
    with cluster(database_url, 3) as nodes:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=60), timeout=aiohttp.ClientTimeout(total=15)
        ) as session:
            admin, show_id, tokens = await setup(session, database_url, nodes[0].url, users, seats)
            first = await call(session, "POST", f"{nodes[1].url}/shows/{show_id}/book/", {"seat_number": 1}, tokens[0])
            assert first[0] == 201, first
            owner_url = await owner_of(session, nodes[0].url, admin, show_id)
            victim = next(node for node in nodes if node.url == owner_url)
            survivors = [node for node in nodes if node is not victim]
            confirmed: dict[int, int] = {}
            statuses: Counter[int] = Counter()
            killed_at: float | None = None
            first_decided_after_kill: float | None = None
            seat_numbers = iter(range(2, seats + 1))

            async def worker(index: int) -> None:
                nonlocal first_decided_after_kill
                deadline = time.monotonic() + 20
                for seat in seat_numbers:
                    now = time.monotonic()
                    if now > deadline or (first_decided_after_kill and now > first_decided_after_kill + 0.5):
                        return
                    targets = nodes if killed_at is None else survivors
                    base = targets[(index + seat) % len(targets)].url
                    sent = now
                    try:
                        status, body = await call(
                            session, "POST", f"{base}/shows/{show_id}/book/", {"seat_number": seat}, tokens[index]
                        )
                    except (aiohttp.ClientError, TimeoutError):
                        continue  # the killed node's connections: unanswered, so nothing was promised
                    statuses[status] += 1
                    if status == 201:
                        confirmed[body["id"]] = seat
                    after_kill = killed_at is not None and sent > killed_at
                    if status in DECIDED and after_kill and first_decided_after_kill is None:
                        first_decided_after_kill = time.monotonic()
                    if status == 503:
                        await asyncio.sleep(0.05)

            async def killer() -> None:
                nonlocal killed_at
                await asyncio.sleep(1.0)
                victim.process.kill()
                killed_at = time.monotonic()

            await asyncio.gather(killer(), *(worker(i) for i in range(users)))
            assert killed_at is not None and first_decided_after_kill is not None, statuses
            failover = first_decided_after_kill - killed_at
            print(f"\nfailover after kill -9: {failover:.2f} s (lease {LEASE} s); answers {dict(statuses)}")
            assert failover <= LEASE + 2, f"the show moved after {failover:.2f} s"
            assert set(statuses) <= {201, 409, 503}, statuses
            assert confirmed, "the rush confirmed something"
            await check_invariants(database_url, show_id, seats, confirmed)


async def decided_through(
    session: aiohttp.ClientSession, base: str, show_id: int, seat: int, token: str, deadline: float
) -> tuple[int, Any]:
    """Book through `base`, retrying the 503s of a show that is changing node until its owner decides."""
    while True:
        status, body = await call(session, "POST", f"{base}/shows/{show_id}/book/", {"seat_number": seat}, token)
        if status in DECIDED:
            return status, body
        assert status == 503, (status, body)
        assert time.monotonic() < deadline, "the show was not taken over in time"
        await asyncio.sleep(0.1)


async def test_a_stopped_owner_is_fenced_off_when_it_wakes(database_url: str) -> None:
    seats, users = 20, 6
    with cluster(database_url, 2) as (stale, fresh):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            admin, show_id, tokens = await setup(session, database_url, stale.url, users, seats)
            assert (await call(session, "POST", f"{stale.url}/shows/{show_id}/book/", {"seat_number": 1}, tokens[0]))[
                0
            ] == 201
            assert await owner_of(session, fresh.url, admin, show_id) == stale.url
            for token in tokens:  # every token verified and cached there: queued requests go straight to the show
                assert (await call(session, "GET", f"{stale.url}/my-bookings/", token=token))[0] == 200

            os.kill(stale.process.pid, signal.SIGSTOP)
            contested = range(2, 2 + users)
            queued = [
                asyncio.create_task(
                    call(session, "POST", f"{stale.url}/shows/{show_id}/book/", {"seat_number": s}, tokens[i])
                )
                for i, s in enumerate(contested)
            ]
            stopped_at = time.monotonic()
            confirmed: dict[int, int] = {}
            for i, seat in enumerate(contested):  # the other node takes the show once the lease runs out
                status, body = await decided_through(
                    session, fresh.url, show_id, seat, tokens[i], stopped_at + LEASE + 5
                )
                assert status == 201, body
                confirmed[body["id"]] = seat
            print(f"\nshow taken over {time.monotonic() - stopped_at:.2f} s after SIGSTOP (lease {LEASE} s)")
            assert await owner_of(session, fresh.url, admin, show_id) == fresh.url

            os.kill(stale.process.pid, signal.SIGCONT)
            answers = await asyncio.wait_for(asyncio.gather(*queued), 30)
            statuses = Counter(status for status, _ in answers)
            print(f"answers to the requests queued at the stopped owner: {dict(statuses)}")
            assert statuses[503] >= 1, "its stale batch must have been refused by the fence"
            assert set(statuses) <= {503, 409}, f"a stale owner must never confirm: {statuses}"
            await check_invariants(database_url, show_id, seats, confirmed)
            rows = await stored(database_url, show_id)
            assert sorted(seat for _, seat, status in rows if status == "booked") == [1, *contested]


class TcpProxy:
    """A TCP relay to PostgreSQL that can be cut, as a network split would cut one node off the database."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.port = free_port()
        self._target = target
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        """Refuse new connections and reset the open ones (the database ends their sessions)."""

        def cut_now() -> None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()

        self._loop.call_soon_threadsafe(cut_now)
        time.sleep(0.2)

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def test_a_node_cut_off_from_postgresql_answers_503_and_the_others_take_over(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    seats, users = 20, 4
    direct = make_url(database_url)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    behind_proxy = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with cluster(database_url, 1) as (healthy,):
            cut_off = start_nodes(behind_proxy, 1)[0]
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                    admin, show_id, tokens = await setup(session, database_url, healthy.url, users, seats)
                    first = await call(
                        session, "POST", f"{cut_off.url}/shows/{show_id}/book/", {"seat_number": 1}, tokens[0]
                    )
                    assert first[0] == 201, first
                    assert await owner_of(session, healthy.url, admin, show_id) == cut_off.url

                    proxy.cut()
                    cut_at = time.monotonic()
                    for seat in (2, 3, 4):  # the cut-off owner decides nothing any more
                        status, body = await call(
                            session, "POST", f"{cut_off.url}/shows/{show_id}/book/", {"seat_number": seat}, tokens[1]
                        )
                        assert status == 503 and body["detail"], (status, body)
                    status, body = await decided_through(
                        session, healthy.url, show_id, 2, tokens[2], cut_at + LEASE + 5
                    )
                    took = time.monotonic() - cut_at
                    print(f"\nshow taken over {took:.2f} s after its owner lost PostgreSQL (lease {LEASE} s)")
                    assert status == 201, body
                    assert took <= LEASE + 2
                    assert await owner_of(session, healthy.url, admin, show_id) == healthy.url
                    status, _ = await call(
                        session, "POST", f"{cut_off.url}/shows/{show_id}/book/", {"seat_number": 5}, tokens[1]
                    )
                    assert status == 503
                    await check_invariants(database_url, show_id, seats, {first[1]["id"]: 1, body["id"]: 2})
            finally:
                cut_off.close()
    finally:
        proxy.close()


def test_workers_are_refused_on_sqlite_and_without_the_secret(database_url: str, tmp_path: Any) -> None:
    on_sqlite = run_cinema(["serve", "--port", "1", "--workers", "2"], f"sqlite:///{tmp_path / 'w.db'}")
    assert on_sqlite.returncode == 2 and "needs PostgreSQL" in on_sqlite.stderr, on_sqlite.stderr
    no_secret = run_cinema(["serve", "--port", "1", "--workers", "2"], database_url)
    assert no_secret.returncode == 2 and "CINEMA_CLUSTER_SECRET" in no_secret.stderr, no_secret.stderr
    for result in (on_sqlite, no_secret):
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


async def test_workers_share_one_port_and_end_with_their_supervisor(database_url: str) -> None:
    seats = 30
    env = {"CINEMA_CLUSTER_SECRET": SECRET, "CINEMA_JWT_SECRET": JWT}
    server = ServerProcess(database_url, "--workers", "2", "--lease-seconds", str(LEASE), **env)
    try:
        server.wait_ready()
        children = _children(server.process.pid)
        assert len(children) == 2
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            admin, show_id, tokens = await setup(session, database_url, server.url, 6, seats)
            answered_by = set()
            for _ in range(30):  # new connections: the kernel spreads them over both workers
                _, view = await call(session, "GET", f"{server.url}/cluster", token=admin)
                answered_by.add(view["node"])
                if len(answered_by) == 2:
                    break
            assert len(answered_by) == 2, "both workers take connections on the one port"
            assert len(view["nodes"]) == 2 and server.url not in [n["url"] for n in view["nodes"]]
            confirmed: dict[int, int] = {}
            statuses: Counter[int] = Counter()

            async def one(index: int) -> None:
                seat = 1 + index % seats
                status, body = await call(
                    session, "POST", f"{server.url}/shows/{show_id}/book/", {"seat_number": seat}, tokens[index % 6]
                )
                statuses[status] += 1
                if status == 201:
                    confirmed[body["id"]] = seat

            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(90))), 60)
            assert statuses == Counter({201: seats, 409: 90 - seats}), statuses
            await check_invariants(database_url, show_id, seats, confirmed)

            dead = children[0]
            os.kill(dead, signal.SIGKILL)  # a worker dies: the supervisor starts another in its place
            said = f"worker {dead} ended (killed by SIGKILL); started worker"
            for _ in range(100):  # up to 10 s (the supervisor says so just after the new worker starts)
                children = [pid for pid in _children(server.process.pid) if _alive(pid)]
                if len(children) == 2 and dead not in children and said in server.output():
                    break
                await asyncio.sleep(0.1)
            assert len(children) == 2 and dead not in children, server.output()
            assert said in server.output()
            deadline = time.monotonic() + LEASE + 10  # the dead worker's shows move once their leases run out
            while True:
                status, _ = await call(
                    session, "POST", f"{server.url}/shows/{show_id}/book/", {"seat_number": 1}, tokens[0]
                )
                if status in DECIDED or time.monotonic() > deadline:
                    break
                assert status == 503, status
                await asyncio.sleep(0.2)
            assert status == 409, "the sold-out show is decided again after a worker died"

        server.process.kill()  # kill -9 of the supervisor: its workers stop too (and drain cleanly)
        for _ in range(150):  # up to 15 s
            if not any(_alive(pid) for pid in children):
                break
            await asyncio.sleep(0.1)
        assert not any(_alive(pid) for pid in children), "workers outlived their supervisor"
    finally:
        server.close()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is dead: only its exit status is left
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    return True
