"""Service settings, read once from flags and CINEMA_* environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from storage.database import DEFAULT_URL, normalize_url, sqlite_path

SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_URL
    jwt_secret: str = field(default="", repr=False)
    access_minutes: int = 60
    refresh_minutes: int = 24 * 60
    user_recheck_seconds: float = 30  # how long a verified token is trusted before its user is looked up again
    bcrypt_rounds: int = 12
    # bcrypt threads: one core is left to the event loop, so a login storm cannot starve bookings.
    bcrypt_threads: int = max(1, (os.cpu_count() or 2) - 1)
    page_size: int = 20
    # Lock-outs are per (username, address) and per address, never per username alone: a stranger's wrong
    # passwords must not lock the real user out.
    login_attempts_per_username: int = 10  # per minute per (username, address); a success starts it again
    login_attempts_per_address: int = 300  # per minute, whatever the username
    signups_per_address: int = 20  # per hour
    refreshes_per_address: int = 60  # per minute
    password_checks_per_address: int = 16  # waiting bcrypt jobs of one address (web/security/passwords.py); more: 429
    password_wait_seconds: float = 5.0  # a bcrypt job that waited this long is answered 503 instead
    max_seats_per_user: int = 10  # held + booked seats of one user in one show (0: no limit)
    max_body_bytes: int = 64 * 1024
    body_timeout_seconds: float = 10.0  # a body that has not fully arrived by then: 408 and the connection closed
    # `cinema serve` only (scripts/cli.py): a connection with no complete request for this long is closed
    # (slow headers as much as idle keep-alive), and connections beyond `max_connections` get a 503 at once.
    header_timeout_seconds: float = 15.0
    max_connections: int = 4096
    max_connections_per_source: int = 256  # per client address: a kiosk hall behind one NAT still fits
    public_url: str = ""  # e.g. https://tickets.example.com; pagination links use it, never the Host header
    mailbox_size: int = 4096
    hold_seconds: float = 300.0
    journal_max_batch: int = 1000
    journal_max_queue: int = 20_000
    migrate_on_start: bool = False
    cleaning_minutes: int = 15  # a screen's gap between one show's end and the next one's start
    cancel_cutoff_minutes: int = 30  # bookings can be cancelled until this long before the start
    check_in_opens_minutes: int = 60  # the door opens this long before the start (and closes at the film's end)
    cluster_secret: str = field(default="", repr=False)  # set: cluster mode (see web/cluster/membership.py)
    node_url: str = ""  # how the other nodes reach this one; `cinema serve` derives it from host and port
    lease_seconds: float = 5.0  # a node silent this long loses its place (and, later, its shows)
    door_rescan_seconds: float = 5.0  # the same staff scanning a ticket again this soon is told ADMITTED again
    kiosk_idle_seconds: float = 60.0  # a shared kiosk logs its customer out after this long without a touch
    kiosk_shared: bool = False  # every kiosk page in shared mode (no token kept across reloads), not only ?shared=1

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": normalize_url(env.get("CINEMA_DATABASE_URL") or DEFAULT_URL),
            "bcrypt_rounds": int(env.get("CINEMA_BCRYPT_ROUNDS", "12")),
            "hold_seconds": float(env.get("CINEMA_HOLD_SECONDS", "300")),
            "bcrypt_threads": int(env.get("CINEMA_BCRYPT_THREADS", "0")) or None,
            "cleaning_minutes": int(env.get("CINEMA_CLEANING_MINUTES", "15")),
            "cancel_cutoff_minutes": int(env.get("CINEMA_CANCEL_CUTOFF_MINUTES", "30")),
            "check_in_opens_minutes": int(env.get("CINEMA_CHECK_IN_OPENS_MINUTES", "60")),
            "cluster_secret": env.get("CINEMA_CLUSTER_SECRET") or None,
            "node_url": env.get("CINEMA_NODE_URL") or None,
            "lease_seconds": _seconds(env, "CINEMA_LEASE_SECONDS", "5"),
            "max_connections": int(env.get("CINEMA_MAX_CONNECTIONS", "4096")),
            "signups_per_address": int(env.get("CINEMA_SIGNUPS_PER_ADDRESS", "20")),
            "login_attempts_per_address": int(env.get("CINEMA_LOGINS_PER_ADDRESS", "300")),
            "refreshes_per_address": int(env.get("CINEMA_REFRESHES_PER_ADDRESS", "60")),
            "password_checks_per_address": int(env.get("CINEMA_PASSWORD_CHECKS_PER_ADDRESS", "16")),
            "max_seats_per_user": int(env.get("CINEMA_MAX_SEATS_PER_USER", "10")),
            "max_connections_per_source": int(env.get("CINEMA_MAX_CONNECTIONS_PER_SOURCE", "256")),
            "header_timeout_seconds": float(env.get("CINEMA_HEADER_TIMEOUT", "15")),
            "body_timeout_seconds": float(env.get("CINEMA_BODY_TIMEOUT", "10")),
            "public_url": env.get("CINEMA_PUBLIC_URL", "").rstrip("/"),
            "door_rescan_seconds": _seconds(env, "CINEMA_DOOR_RESCAN_SECONDS", "5"),
            "kiosk_idle_seconds": _seconds(env, "CINEMA_KIOSK_IDLE_SECONDS", "60"),
            "kiosk_shared": env.get("CINEMA_KIOSK_SHARED", "").lower() in ("1", "true", "yes", "on"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["database_url"] = normalize_url(str(values["database_url"]))
        if not values.get("jwt_secret"):
            values["jwt_secret"] = env.get("CINEMA_JWT_SECRET") or stored_secret(str(values["database_url"]))
        return cls(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def _seconds(env: os._Environ[str], name: str, default: str) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {env.get(name)!r}") from None


def secret_path(database_url: str) -> Path:
    """Beside the SQLite file; for server databases, CINEMA_JWT_SECRET_FILE or ./cinema.jwt-secret."""
    db_file = sqlite_path(database_url)
    if db_file is not None:
        return db_file.with_name(db_file.name + ".jwt-secret")
    return Path(os.environ.get("CINEMA_JWT_SECRET_FILE", "cinema.jwt-secret")).resolve()


def stored_secret(database_url: str) -> str:
    """The signing secret kept on disk, created (readable by the owner only) on first use."""
    path = secret_path(database_url)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: a racing process sees all or nothing.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process won the race: use its secret
    finally:
        temporary.unlink()
    return path.read_text().strip()
