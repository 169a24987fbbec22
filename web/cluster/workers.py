"""`cinema serve --workers N`: N node processes of one cluster on one machine, sharing the public port.

Each worker is a full cluster node (web/cluster/membership.py): the kernel spreads new connections over the workers
(SO_REUSEPORT), a show is decided by the one worker holding its lease, and the others forward to it through a
second, private listener of their own (an ephemeral port on the same address, advertised as the node URL).
The supervising process starts the workers, starts another in place of one that dies (its shows move to the
others once their leases run out, and come back as they are asked for), passes SIGTERM/SIGINT on, and ends
with them; a worker ends with it too (PR_SET_PDEATHSIG), even when the supervisor is killed with SIGKILL.
A worker that refused its settings (exit code 2), or workers that keep dying (MAX_RESTARTS within
RESTART_WINDOW_SECONDS), are not restarted: the supervisor stops the rest and exits with the worst code.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from sqlalchemy.engine import make_url
from yarl import URL

from web.settings import Settings

PR_SET_PDEATHSIG = 1
MAX_WORKERS = 256
MAX_RESTARTS = 5  # worker restarts allowed within RESTART_WINDOW_SECONDS before the supervisor gives up
RESTART_WINDOW_SECONDS = 60.0
REFUSED = 2  # the exit code of a worker that refused its settings (one line said why): never restarted


def default_workers(settings: Settings) -> int:
    """Every core in cluster mode on PostgreSQL; one process otherwise (cluster mode is never implied)."""
    if settings.cluster_secret and make_url(settings.database_url).get_backend_name() == "postgresql":
        return os.cpu_count() or 1
    return 1


def workers_problem(workers: int, settings: Settings) -> str | None:
    """Why `workers` processes cannot serve with these settings, in one line; None when they can."""
    if not 1 <= workers <= MAX_WORKERS:
        return f"--workers must be between 1 and {MAX_WORKERS}, not {workers}"
    if workers == 1:
        return None
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        return (
            "--workers above 1 needs PostgreSQL: SQLite commits from one writer at a time, so more processes "
            "would only wait for each other (and show leases live in PostgreSQL)"
        )
    if not settings.cluster_secret:
        return "--workers above 1 runs a cluster of nodes: set CINEMA_CLUSTER_SECRET (or --cluster-secret)"
    return None


def private_listener(host: str) -> socket.socket:
    """The worker's own listening socket for node-to-node traffic, on an ephemeral port of `host`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def worker_node_url(base_url: str, sock: socket.socket) -> str:
    """The base node URL (its scheme and host) with the port of this worker's private listener."""
    return str(URL(base_url).with_port(sock.getsockname()[1]))


def _die_with_parent() -> None:
    """In the worker, before exec: SIGTERM (a clean drain) when the supervisor dies, however it died."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(argv: list[str], workers: int) -> int:
    """Run `workers` copies of `cinema serve <argv> --worker`, restarting any that dies; end when they end
    (the worst exit code)."""
    command = [sys.executable, "-m", "scripts.cli", "serve", *argv, "--worker"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, preexec_fn=_die_with_parent if sys.platform == "linux" else None)

    children = [start() for _ in range(workers)]
    restarts: list[float] = []  # when workers were restarted, within the window
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worst = 0
    while any(child.poll() is None for child in children):
        for index, child in enumerate(children):
            code = child.poll()
            if code is None or stopping:
                continue
            now = time.monotonic()
            restarts[:] = [at for at in restarts if now - at < RESTART_WINDOW_SECONDS]
            if code == REFUSED or len(restarts) >= MAX_RESTARTS:  # stop the others, end with the worst code
                if code != REFUSED:  # a refusal has said why in its own line
                    print(
                        f"cinema serve: {len(restarts) + 1} workers ended within {RESTART_WINDOW_SECONDS:g} s; "
                        "stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                worst = max(worst, abs(code) or 1)
                stop(signal.SIGTERM, None)
                break
            restarts.append(now)
            children[index] = start()
            print(
                f"cinema serve: worker {child.pid} ended ({_exit_reason(code)}); started worker {children[index].pid}",
                file=sys.stderr,
                flush=True,
            )
        time.sleep(0.2)
    codes = [child.returncode for child in children]
    return max([worst, *(abs(code) for code in codes)])


def _exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
