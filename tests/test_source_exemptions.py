"""Who the connection guard of `cinema serve` does not cap per source: a trusted proxy (its customers are bounded per
client instead) and, in cluster mode, another node of the cluster (its first request holds the cluster secret).
The bound in all still holds for both. Real processes, connections from distinct loopback addresses."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from scripts.testing.server_process import ServerProcess
from tests.hostile import call
from tests.test_hostile_connections import state

SECRET = "exemption-test-cluster-secret-0123"
LIMITS = {"CINEMA_MAX_CONNECTIONS": "20", "CINEMA_MAX_CONNECTIONS_PER_SOURCE": "5", "CINEMA_HEADER_TIMEOUT": "5"}


def idle(server: ServerProcess, count: int, source: str) -> list[socket.socket]:
    opened = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(source, 0))
        opened.append(sock)
    return opened


def served(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def proxied(database_url: str) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, CINEMA_TRUSTED_PROXIES="127.0.0.1", **LIMITS)
    try:
        server.wait_ready()
        yield server
    finally:
        server.close()


def test_a_trusted_proxy_is_held_to_the_bound_in_all_only(proxied: ServerProcess) -> None:
    others = idle(proxied, 8, "127.0.0.9")
    proxy = idle(proxied, 12, "127.0.0.1")
    try:
        time.sleep(0.3)
        assert [state(sock) for sock in others].count("refused") == 3  # 5 per source
        assert all(state(sock) == "open" for sock in proxy)  # 12 > 5 from the proxy, all served
        over = idle(proxied, 2, "127.0.0.1")  # 5 + 12 + 2 + 1 fill the 20; the last one is refused
        extra = idle(proxied, 2, "127.0.0.1")
        time.sleep(0.3)
        assert [state(sock) for sock in over + extra].count("refused") == 1
        for sock in over + extra:
            sock.close()
    finally:
        for sock in others + proxy:
            sock.close()
    time.sleep(0.3)
    assert call(proxied, "GET", "/healthz", source="127.0.0.9").status == 200


@pytest.fixture
def node(postgres_database: str) -> Iterator[ServerProcess]:
    """A cluster node (cluster mode runs on PostgreSQL only)."""
    server = ServerProcess(postgres_database, "--workers", "1", "--migrate", CINEMA_CLUSTER_SECRET=SECRET, **LIMITS)
    try:
        server.wait_ready()
        yield server
    finally:
        server.close()


def test_another_node_is_not_capped_per_source(node: ServerProcess) -> None:
    held = idle(node, 5, "127.0.0.9")  # the per-source bound of 127.0.0.9 is taken
    try:
        peer = idle(node, 3, "127.0.0.9")
        secret = f"GET /_cluster/node HTTP/1.1\r\nHost: x\r\nX-Cinema-Cluster-Secret: {SECRET}\r\n\r\n".encode()
        for sock in peer:
            assert served(sock, secret).startswith(b"HTTP/1.1 200"), "a node holding the secret is served"
        wrong = idle(node, 1, "127.0.0.9")[0]
        refused = served(wrong, b"GET /_cluster/node HTTP/1.1\r\nHost: x\r\nX-Cinema-Cluster-Secret: guess\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 503") and b'"code":"busy"' in refused
        customer = idle(node, 1, "127.0.0.9")[0]
        assert served(customer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 503")
        silent = idle(node, 1, "127.0.0.9")[0]  # says nothing: refused once the probation ends (2 s)
        started = time.monotonic()
        silent.settimeout(5)
        assert silent.recv(4096).startswith(b"HTTP/1.1 503")
        assert 1.5 < time.monotonic() - started < 4
        for sock in [*peer, wrong, customer, silent]:
            sock.close()
    finally:
        for sock in held:
            sock.close()
