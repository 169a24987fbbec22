"""Accounts under attack, against a real `cinema serve` process on SQLite and PostgreSQL, with the default limits.

Attackers connect from 127.0.0.2 and up (all of 127/8 is loopback on Linux); the real customer from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import bcrypt
import pytest

from scripts.testing.server_process import ServerProcess
from tests.hostile import ADMIN, bearer, call, clean_server, login, new_show, signup, start_server

DEFAULTS = {  # web/settings.py's defaults: scripts/testing/server_process.py lifts them for other tests
    "CINEMA_SIGNUPS_PER_ADDRESS": "20",
    "CINEMA_LOGINS_PER_ADDRESS": "300",
    "CINEMA_REFRESHES_PER_ADDRESS": "60",
    "CINEMA_PASSWORD_CHECKS_PER_ADDRESS": "16",
    "CINEMA_MAX_SEATS_PER_USER": "10",
}


@pytest.fixture
def server(database_url: str) -> Iterator[ServerProcess]:
    with clean_server(database_url, **DEFAULTS) as process:
        yield process


def test_a_stranger_cannot_lock_the_user_out(server: ServerProcess) -> None:
    assert signup(server, "victim").status == 201
    statuses = [
        call(server, "POST", "/login", {"username": "victim", "password": "not-it-at-all"}, source="127.0.0.2").status
        for _ in range(12)
    ]
    assert statuses == [401] * 10 + [429] * 2
    assert login(server, "victim", "correct-horse-7")["access"]  # from the user's own address
    assert login(server, "Victim".lower(), "correct-horse-7", source="127.0.0.3")["access"]  # or any other


def test_one_address_is_limited_whatever_the_username(database_url: str) -> None:
    process = start_server(database_url, **{**DEFAULTS, "CINEMA_LOGINS_PER_ADDRESS": "15"})
    try:
        statuses = [
            call(process, "POST", "/login", {"username": f"u{n}", "password": "whatever1"}, source="127.0.0.2").status
            for n in range(17)
        ]
        assert statuses == [401] * 15 + [429] * 2
        limited = call(process, "POST", "/login", {"username": "x", "password": "whatever1"}, source="127.0.0.2")
        assert limited.json()["code"] == "too_many_login_attempts" and int(limited.headers["retry-after"]) >= 1
        assert call(process, "POST", "/login", {"username": "x", "password": "whatever1"}).status == 401
    finally:
        process.close()


def test_a_login_storm_from_one_address_neither_starves_others_nor_queues_for_long(database_url: str) -> None:
    """bcrypt at its production cost (12) on one thread: ~0.25 s a check, ~4 checks a second."""
    process = start_server(database_url, **DEFAULTS, CINEMA_BCRYPT_ROUNDS="12", CINEMA_BCRYPT_THREADS="1")
    try:
        assert signup(process, "customer").status == 201

        async def storm() -> tuple[list[tuple[int, float]], float]:
            connector = aiohttp.TCPConnector(limit=0, local_addr=("127.0.0.2", 0))
            async with aiohttp.ClientSession(connector=connector) as session:

                async def attempt(n: int) -> tuple[int, float]:
                    started = time.monotonic()
                    body = {"username": f"nobody-{n}", "password": "wrong-password"}
                    async with session.post(f"{process.url}/login", json=body) as response:
                        await response.read()
                        return response.status, time.monotonic() - started

                attacks = [asyncio.create_task(attempt(n)) for n in range(200)]
                await asyncio.sleep(0.5)  # the storm is queued: now the customer logs in
                started = time.monotonic()
                customer = await asyncio.to_thread(login, process, "customer", "correct-horse-7")
                customer_seconds = time.monotonic() - started
                assert customer["access"]
                return await asyncio.gather(*attacks), customer_seconds

        answers, customer_seconds = asyncio.run(storm())
        statuses = [status for status, _ in answers]
        started = time.monotonic()
        bcrypt.hashpw(b"what one check costs here", bcrypt.gensalt(12))
        cost = time.monotonic() - started
        # FIFO would put the customer behind the address's 16 waiting checks; fair turns put it behind one
        assert customer_seconds < 6 * cost + 1.0, (customer_seconds, cost)
        assert statuses.count(429) >= 150, statuses  # one address's queue is bounded (16)
        assert set(statuses) <= {401, 429, 503}, statuses
        # refused at once: well before the address's own queue (16 checks) could have drained
        assert max(seconds for status, seconds in answers if status == 429) < max(1.0, 4 * cost)
        assert max(seconds for _, seconds in answers) < 10.0  # nobody waits for minutes
    finally:
        process.close()


def test_signups_are_limited_per_address(server: ServerProcess) -> None:
    statuses = [signup(server, f"bulk-{n}", source="127.0.0.2").status for n in range(22)]
    assert statuses == [201] * 20 + [429] * 2
    assert signup(server, "elsewhere", source="127.0.0.3").status == 201


def test_usernames_are_unique_after_case_folding_and_nfkc(server: ServerProcess) -> None:
    assert signup(server, "Alice").status == 201
    for twin in ("alice", "ALICE", "\uff41lice"):  # the last with a full-width a
        answer = signup(server, twin)
        assert answer.status == 409, (twin, answer)
    assert signup(server, "\ufb01le").status == 201  # with the ligature
    assert signup(server, "file").status == 409
    assert login(server, "Alice", "correct-horse-7")["access"]


@pytest.mark.parametrize(
    "username,password",
    [("jordan.smith", "jordan.smith"), ("jordan", "JORDAN"), ("jordan", " " * 12), ("jordan", "password")],
)
def test_password_policy(server: ServerProcess, username: str, password: str) -> None:
    answer = signup(server, username, password)
    assert answer.status == 400, answer
    assert "password" in answer.json()["errors"]


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(server: ServerProcess, database_url: str) -> None:
    assert signup(server, "rotator").status == 201
    first = login(server, "rotator", "correct-horse-7")
    second = call(server, "POST", "/login/refresh/", {"refresh": first["refresh"]})
    assert second.status == 200
    reused = call(server, "POST", "/login/refresh/", {"refresh": first["refresh"]})
    assert reused.status == 401 and reused.json()["code"] == "refresh_reused"
    revoked = call(server, "POST", "/login/refresh/", {"refresh": second.json()["refresh"]})
    assert revoked.status == 401 and revoked.json()["code"] == "refresh_revoked"
    # another login is another family, untouched; and its token survives a restart
    other = login(server, "rotator", "correct-horse-7")
    assert server.terminate() == 0
    restarted = start_server(database_url, admin=False, **DEFAULTS)
    try:
        assert call(restarted, "POST", "/login/refresh/", {"refresh": other["refresh"]}).status == 200
        assert call(restarted, "POST", "/login/refresh/", {"refresh": other["refresh"]}).status == 401
        # two clients racing with one token: exactly one wins
        racer = login(restarted, "rotator", "correct-horse-7")
        with ThreadPoolExecutor(20) as pool:
            statuses = list(
                pool.map(
                    lambda _: call(restarted, "POST", "/login/refresh/", {"refresh": racer["refresh"]}).status,
                    range(20),
                )
            )
        assert sorted(statuses) == [200] + [401] * 19
        assert "Traceback" not in restarted.output()
    finally:
        restarted.close()


def test_refreshes_are_limited_per_address(database_url: str) -> None:
    process = start_server(database_url, **{**DEFAULTS, "CINEMA_REFRESHES_PER_ADDRESS": "5"})
    try:
        assert signup(process, "refresher").status == 201
        token = login(process, "refresher", "correct-horse-7")["refresh"]
        for _ in range(5):
            answer = call(process, "POST", "/login/refresh/", {"refresh": token}, source="127.0.0.2")
            assert answer.status == 200
            token = answer.json()["refresh"]
        limited = call(process, "POST", "/login/refresh/", {"refresh": token}, source="127.0.0.2")
        assert limited.status == 429 and limited.json()["code"] == "rate_limited"
        assert call(process, "POST", "/login/refresh/", {"refresh": token}).status == 200  # another address
    finally:
        process.close()


def test_one_customer_cannot_hoard_a_show(server: ServerProcess) -> None:
    show = new_show(server, total_seats=100)
    assert signup(server, "hoarder").status == 201
    hoarder = bearer(login(server, "hoarder", "correct-horse-7"))
    held = call(server, "POST", f"/shows/{show}/hold/", {"seat_numbers": list(range(1, 7))}, hoarder)
    assert held.status == 201
    assert call(server, "POST", f"/shows/{show}/book/", {"seat_numbers": [7, 8, 9, 10]}, hoarder).status == 201
    for attempt in (
        ("hold/", {"seat_numbers": [11]}),
        ("book/", {"seat_number": 11}),
        ("book/", {"seat_numbers": [11, 12]}),
    ):
        answer = call(server, "POST", f"/shows/{show}/{attempt[0]}", attempt[1], hoarder)
        assert answer.status == 409 and answer.json()["code"] == "seat_limit", (attempt, answer)
    # everyone else still buys; the hoarder gets seats back as their holds end
    admin = bearer(login(server, *ADMIN))
    assert call(server, "POST", f"/shows/{show}/book/", {"seat_number": 50}, admin).status == 201
    hold_id = held.json()["hold_id"]
    assert call(server, "DELETE", f"/holds/{hold_id}/", headers=hoarder).status == 200
    assert call(server, "POST", f"/shows/{show}/book/", {"seat_numbers": [11, 12]}, hoarder).status == 201
    seats = call(server, "GET", f"/shows/{show}/seats/").json()
    assert len(seats["booked"]) + len(seats["held"]) == 7
