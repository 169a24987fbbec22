"""A real `cinema serve` behind a real nginx and a real HAProxy (SQLite and PostgreSQL), with the limits at their
defaults and every customer on an address of its own (127.0.0.10 and up; all of 127/8 is loopback on Linux).

The service trusts the proxy's address (127.0.0.1) only, so a customer's limits count that customer, a client
talking to the service directly cannot choose its address with a forged X-Forwarded-For, and neither can one
behind the proxy (the proxy appends what it saw; the service takes the right-most address it does not trust).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import aiohttp
import pytest

from scripts.testing.server_process import ServerProcess, free_port, run_cinema
from storage.database import scratch_postgres_database
from tests.conftest import POSTGRES_ENV
from tests.hostile import ADMIN, bearer, call, login, new_show, start_server

# The service's own defaults, not the lifted limits of scripts/testing/server_process.py.
DEFAULT_LIMITS = {
    "CINEMA_SIGNUPS_PER_ADDRESS": "20",
    "CINEMA_LOGINS_PER_ADDRESS": "300",
    "CINEMA_REFRESHES_PER_ADDRESS": "60",
    "CINEMA_PASSWORD_CHECKS_PER_ADDRESS": "16",
    "CINEMA_MAX_CONNECTIONS_PER_SOURCE": "256",
}
PROXY_ADDRESS = "127.0.0.1"

NGINX = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    upstream cinema_nodes {{
        server 127.0.0.1:{upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://cinema_nodes;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""

HAPROXY = """
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client  60s
    timeout server  60s
    timeout tunnel  1h
    option forwardfor
frontend cinema
    bind 127.0.0.1:{port}
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend nodes
backend nodes
    server a 127.0.0.1:{upstream}
"""


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {name} (.ci/run installs Debian's {name} package)")
        pytest.skip(f"no {name} here: apt-get install {name}")
    return path


class Proxy:
    """nginx or HAProxy in the foreground on a free port, with its own configuration in a scratch folder."""

    def __init__(self, kind: str, upstream: int, tmp: Path) -> None:
        self.kind = kind
        self.number = 1 if kind == "nginx" else 2
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / f"{kind}.conf"
        self.log = tmp / f"{kind}.log"
        if kind == "nginx":
            config.write_text(NGINX.format(tmp=tmp, upstream=upstream, port=self.port))
            command = [_binary("nginx"), "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")]
        else:
            config.write_text(HAPROXY.format(upstream=upstream, port=self.port))
            command = [_binary("haproxy"), "-db", "-f", str(config)]
        self._out = self.log.open("w")
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT, cwd=tmp)

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"proxy not ready: {self.log.read_text()}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._out.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One service per database for the module (the tests use addresses and names of their own)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('front') / 'cinema.db'}"
        else:
            admin_url = os.environ.get(POSTGRES_ENV)
            if not admin_url:
                pytest.skip(f"PostgreSQL half skipped: set {POSTGRES_ENV}")
            url = stack.enter_context(scratch_postgres_database(admin_url, "cinema_front"))
        migrated = run_cinema(["migrate"], url)
        assert migrated.returncode == 0, migrated.stderr
        server = start_server(url, CINEMA_TRUSTED_PROXIES=PROXY_ADDRESS, **DEFAULT_LIMITS)
        stack.callback(server.close)
        yield server


@pytest.fixture(scope="module", params=["nginx", "haproxy"])
def proxy(
    request: pytest.FixtureRequest, service: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    front = Proxy(request.param, service.port, tmp_path_factory.mktemp(request.param))
    try:
        front.wait_ready()
        yield front
    finally:
        front.close()


def session(source: str) -> aiohttp.ClientSession:
    """A client whose connections leave from `source`."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20))


def customer(proxy: Proxy, n: int) -> str:
    """Customer n of this proxy's tests: 127.0.1.n behind nginx, 127.0.2.n behind HAProxy."""
    return f"127.0.{proxy.number}.{10 + n}"


async def sign_up(client: aiohttp.ClientSession, base: str, name: str, headers: dict[str, str] | None = None) -> int:
    body = {"username": name, "email": f"{name}@example.com", "password": "correct-horse-7"}
    async with client.post(f"{base}/signup", json=body, headers=headers or {}) as answer:
        await answer.read()
        return answer.status


async def test_every_customer_has_their_own_sign_up_limit(proxy: Proxy) -> None:
    clients = [session(customer(proxy, n)) for n in range(25)]
    try:
        statuses = await asyncio.gather(
            *(sign_up(client, proxy.url, f"{proxy.kind}-{n}") for n, client in enumerate(clients))
        )
        assert statuses == [201] * 25, statuses
        # one customer's 25 still meet the limit (20 an hour), whatever X-Forwarded-For or Forwarded they send
        one = clients[0]
        forged = [
            {"X-Forwarded-For": f"198.51.100.{n}"} if n % 2 else {"Forwarded": f"for=198.51.100.{n}"} for n in range(25)
        ]
        again = [await sign_up(one, proxy.url, f"{proxy.kind}-0-{n}", forged[n]) for n in range(25)]
        assert again == [201] * 19 + [429] * 6, again
        async with one.post(f"{proxy.url}/signup", json={}) as refused:
            assert refused.status == 429 and int(refused.headers["Retry-After"]) > 3000
            assert (await refused.json())["code"] == "rate_limited"
        # the customer next to them is not affected
        assert await sign_up(clients[1], proxy.url, f"{proxy.kind}-1-again") == 201
    finally:
        for client in clients:
            await client.close()


async def test_a_direct_clients_forged_forwarded_for_is_ignored(proxy: Proxy, service: ServerProcess) -> None:
    async with session(f"127.0.{proxy.number}.200") as direct:
        statuses = [
            await sign_up(direct, service.url, f"{proxy.kind}-direct-{n}", {"X-Forwarded-For": f"198.51.100.{n}"})
            for n in range(21)
        ]
        assert statuses == [201] * 20 + [429], statuses
        forwarded = {"Forwarded": "for=198.51.100.200"}
        assert await sign_up(direct, service.url, f"{proxy.kind}-direct-rfc7239", forwarded) == 429
    async with session(customer(proxy, 5)) as through:  # the proxy's customers are not counted with it
        assert await sign_up(through, proxy.url, f"{proxy.kind}-through-5") == 201


async def _watch(client: aiohttp.ClientSession, url: str, opened: asyncio.Event, seen: list[int]) -> None:
    async with client.get(url, headers={"Accept": "text/event-stream"}) as answer:
        seen.append(answer.status)
        if answer.status != 200:
            return
        async for line in answer.content:
            if line.startswith(b"event: snapshot"):
                seen.append(1)
                break
        await opened.wait()  # every stream stays open until all of them have been served


async def test_300_live_streams_from_15_customers_are_all_served(proxy: Proxy, service: ServerProcess) -> None:
    show = await asyncio.to_thread(new_show, service, 10)
    url = f"{proxy.url}/shows/{show}/events"
    clients = [session(customer(proxy, 40 + n)) for n in range(15)]
    opened = asyncio.Event()
    seen: list[int] = []
    try:
        watchers = [asyncio.create_task(_watch(client, url, opened, seen)) for client in clients for _ in range(20)]
        deadline = time.monotonic() + 15
        while seen.count(1) + sum(1 for s in seen if s not in (1, 200)) < 300 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if any(task.done() and task.exception() for task in watchers):
                break
        assert seen.count(200) == 300 and seen.count(1) == 300, sorted(set(seen))
        opened.set()
        await asyncio.gather(*watchers)
    finally:
        opened.set()
        for task in watchers:
            task.cancel()
        for task in watchers:
            with suppress(asyncio.CancelledError, Exception):
                await task
        for client in clients:
            await client.close()


def test_pagination_links_name_the_proxy_the_customer_used(proxy: Proxy, service: ServerProcess) -> None:
    admin = bearer(login(service, *ADMIN))
    listed = call(service, "GET", "/movies/").json()
    for n in range(listed["count"], 21):  # one page is 20 movies
        made = call(service, "POST", "/movies/", {"title": f"Front {n}", "duration_minutes": 90}, admin)
        assert made.status == 201, made
    with urllib.request.urlopen(f"{proxy.url}/movies/", timeout=10) as answer:
        through = json.loads(answer.read())
    assert through["next"] == f"{proxy.url}/movies/?page=2"  # X-Forwarded-Proto and -Host, from the proxy
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}  # from a direct client: ignored
    direct = call(service, "GET", "/movies/", headers=forged, source=f"127.0.{proxy.number}.201")
    assert direct.json()["next"] == f"{service.url}/movies/?page=2"
