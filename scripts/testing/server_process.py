"""A real `cinema serve` process, for tests and benchmarks: start, wait until it answers, stop or kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CINEMA = [sys.executable, "-m", "scripts.cli"]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cinema_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Tests and benchmarks play many customers from one address: the per-address and per-user limits are lifted
    # unless the caller sets them (the hostile-client tests and benchmarks do).
    lifted = {
        "CINEMA_SIGNUPS_PER_ADDRESS": "1000000",
        "CINEMA_LOGINS_PER_ADDRESS": "1000000",
        "CINEMA_REFRESHES_PER_ADDRESS": "1000000",
        "CINEMA_PASSWORD_CHECKS_PER_ADDRESS": "100000",
        "CINEMA_MAX_SEATS_PER_USER": "0",
        "CINEMA_MAX_CONNECTIONS_PER_SOURCE": "4096",
    }
    env.update({"CINEMA_DATABASE_URL": database_url, "CINEMA_BCRYPT_ROUNDS": "4", "PYTHONUNBUFFERED": "1"})
    env.update({**lifted, **extra})
    return env


def run_cinema(args: list[str], database_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CINEMA, *args], env=cinema_env(database_url, **extra), cwd=ROOT, capture_output=True, text=True, timeout=120
    )


class ServerProcess:
    def __init__(
        self, database_url: str, *args: str, root: Path = ROOT, module: str = "scripts.cli", **extra: str
    ) -> None:
        """`root`: the source tree to run (benchmarks compare an older revision's checkout with this one);
        `module`: what runs `serve --port N` (scripts.bench.ladder serves the app with its measuring routes)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / ".pytest_cache" / f"server-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--port", str(self.port), *args],
            env=cinema_env(database_url, **extra),
            cwd=root,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/movies/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"server not ready:\n{self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text()

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._out.close()


def demo_server(database_url: str, *setup: list[str]) -> ServerProcess:
    """A ready `cinema serve` on a migrated database holding the demo data, after the `cinema` commands in
    `setup` (an admin, say)."""
    for args in (["migrate"], ["seed-demo"], *setup):
        done = run_cinema(args, database_url)
        if done.returncode != 0:
            raise RuntimeError(f"cinema {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    server = ServerProcess(database_url)
    server.wait_ready()
    return server
