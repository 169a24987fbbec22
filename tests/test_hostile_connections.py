"""Slow and piled-up connections against a real `cinema serve` process (SQLite and PostgreSQL).

Attackers connect from 127.0.0.2 and up (all of 127/8 is loopback on Linux); the customer from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.testing.server_process import ServerProcess
from tests.hostile import ADMIN, bearer, call, clean_server, login, new_show

LIMITS = {
    "CINEMA_HEADER_TIMEOUT": "2",
    "CINEMA_BODY_TIMEOUT": "2",
    "CINEMA_MAX_CONNECTIONS": "300",
    "CINEMA_MAX_CONNECTIONS_PER_SOURCE": "100",
}


@pytest.fixture
def server(database_url: str) -> Iterator[ServerProcess]:
    with clean_server(database_url, **LIMITS) as process:
        yield process


def open_slow(server: ServerProcess, count: int, source: str, first: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(source, 0))
        sock.sendall(first)
        sockets.append(sock)
    return sockets


def state(sock: socket.socket) -> str:
    """'open' while the server neither answered nor closed; else 'refused' (a JSON 503) or 'closed'."""
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return "open"
    except ConnectionResetError:
        return "closed"
    finally:
        sock.setblocking(True)
    if data.startswith(b"HTTP/1.1 503") and b'"code":"busy"' in data:
        return "refused"
    return "closed" if not data else f"answered {data[:40]!r}"


def test_slow_headers_are_cut_and_one_source_cannot_take_every_slot(server: ServerProcess) -> None:
    customer = bearer(login(server, *ADMIN))
    show = new_show(server, total_seats=50)
    attack = open_slow(server, 250, "127.0.0.2", f"POST /shows/{show}/book/ HTTP/1.1\r\n".encode())
    try:
        time.sleep(0.3)
        states = [state(sock) for sock in attack]
        assert states.count("open") == 100, states  # the per-source bound
        assert states.count("refused") == 150, states
        # a customer from another address books at once, during the attack
        started = time.monotonic()
        booked = call(server, "POST", f"/shows/{show}/book/", {"seat_number": 1}, customer, timeout=5)
        assert booked.status == 201, booked
        assert time.monotonic() - started < 1.5
        # the attacker keeps trickling header lines; the header deadline (2 s) cuts it regardless
        alive = [sock for sock, seen in zip(attack, states, strict=True) if seen == "open"]
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            for sock in alive:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            time.sleep(0.5)
            if all(state(sock) != "open" for sock in alive):
                break
        assert all(state(sock) == "closed" for sock in alive)
        assert time.monotonic() < deadline
        booked = call(server, "POST", f"/shows/{show}/book/", {"seat_number": 2}, customer)
        assert booked.status == 201, booked
    finally:
        for sock in attack:
            sock.close()


def test_the_total_bound_refuses_cleanly_and_recovers(server: ServerProcess) -> None:
    customer = bearer(login(server, *ADMIN))
    show = new_show(server, total_seats=50)
    attack = []
    try:
        for n in range(2, 6):  # 4 addresses x 90 = 360 connections against a bound of 300
            attack += open_slow(server, 90, f"127.0.0.{n}", b"GET /healthz HTTP/1.1\r\n")
        time.sleep(0.3)
        states = [state(sock) for sock in attack]
        assert states.count("open") == 300 and states.count("refused") == 60, states
        refused = call(server, "GET", "/healthz")
        assert refused.status == 503 and refused.json()["code"] == "busy"
        assert refused.headers["retry-after"] == "1"
    finally:
        for sock in attack:
            sock.close()
    time.sleep(0.3)
    assert call(server, "POST", f"/shows/{show}/book/", {"seat_number": 3}, customer).status == 201


def test_a_half_sent_body_is_cut_with_408(server: ServerProcess) -> None:
    customer = bearer(login(server, *ADMIN))
    show = new_show(server, total_seats=50)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        head = (
            f"POST /shows/{show}/book/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {customer['Authorization']}\r\nContent-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"seat_number": 4')
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"code":"body_timeout"' in answer
        assert 1.5 < time.monotonic() - started < 5
    finally:
        sock.close()
    assert call(server, "GET", f"/shows/{show}/seats/").json()["booked"] == []  # nothing half-done


def test_malformed_http_is_answered_as_json(server: ServerProcess) -> None:
    for raw in (
        b"GET /movies/ HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /movies/ HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0], answer
        assert b"application/json" in answer and b'"code":"malformed_request"' in answer


WS_HANDSHAKE = (
    "GET /shows/{show}/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
BIG_FRAME = 4_000_000


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


async def _unfinished_frame(port: int, show: int) -> int | None:
    """A WebSocket that sends all but the last byte of a 4 MB binary frame (under aiohttp's default 4 MiB
    limit); the close code the server sends meanwhile (None if none came within 10 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(WS_HANDSHAKE.format(show=show).encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

        async def close_code() -> int | None:
            while True:  # server frames are unmasked: opcode, length, payload
                first, second = await reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await reader.readexactly(8))
                payload = await reader.readexactly(length)
                if first & 0x0F == 0x8:
                    return struct.unpack("!H", payload[:2])[0]

        closed = asyncio.create_task(close_code())
        chunk = b"\x00" * 65536
        writer.write(b"\x82\xff" + struct.pack("!Q", BIG_FRAME) + b"\x01\x02\x03\x04" + chunk)
        await writer.drain()
        # A server that refuses the frame says so at once; one that buffers it gets the rest but the last byte.
        # (Writing on after the refusal would make the server's close a reset, which loses the close frame.)
        await asyncio.wait([closed], timeout=1)
        with contextlib.suppress(ConnectionError):
            sent = len(chunk)
            while sent < BIG_FRAME - 1 and not closed.done():
                piece = chunk[: BIG_FRAME - 1 - sent]
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
        try:
            return await asyncio.wait_for(closed, 10)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None
    finally:
        writer.close()


def test_websocket_clients_cannot_make_the_server_buffer_their_frames(server: ServerProcess) -> None:
    """/shows/{id}/events ignores what clients send: a frame bigger than a few KB is refused with close 1009
    as soon as its header says so, and 40 clients each sending an unfinished 4 MB frame leave the server's
    peak RSS within 40 MB (it grew by 4 MB a client before)."""
    show = new_show(server)
    assert call(server, "GET", f"/shows/{show}/seats/").status == 200  # loaded before the baseline
    before = peak_rss_kib(server.process.pid)

    async def flood() -> list[int | None]:
        return await asyncio.gather(*(_unfinished_frame(server.port, show) for _ in range(40)))

    codes = asyncio.run(flood())
    grown_mib = (peak_rss_kib(server.process.pid) - before) / 1024
    assert grown_mib < 40, grown_mib
    assert codes == [1009] * 40, codes
    assert call(server, "GET", "/healthz").status == 200
