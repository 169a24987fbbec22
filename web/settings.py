"""Service settings, read once from flags, CINEMA_* environment variables and an optional TOML file (CINEMA_CONFIG).

Every setting is described once, here: the Settings fields (type, default, and the comment beside each, its
meaning) and the few the command itself reads (PROCESS_SETTINGS). `settings_table()` joins them; from_env reads
through it, `cinema settings` prints it, and docs/SETTINGS.md is generated from it."""

from __future__ import annotations

import functools
import inspect
import io
import os
import re
import secrets
import tokenize
from collections.abc import Mapping, MutableMapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo

from storage.database import DEFAULT_URL, sqlite_path
from web.http import cors, proxies
from web.setting_values import PREFIX, Setting, SettingError, config_values, parse

__all__ = ["Setting", "SettingError", "Settings", "resolve", "settings_table"]

SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_URL  # SQLAlchemy URL: sqlite:///PATH or postgresql://USER@HOST/DB
    jwt_secret: str = field(default="", repr=False)  # signs the tokens; unset: a random one kept on disk
    access_minutes: int = 60  # an access token's life
    refresh_minutes: int = 24 * 60  # a refresh token's life
    user_recheck_seconds: float = 30.0  # how long a verified token is trusted before its user is looked up again
    bcrypt_rounds: int = 12  # password hashing cost (log2 of the rounds, 4 to 31)
    # bcrypt threads: one core is left to the event loop, so a login storm cannot starve bookings.
    bcrypt_threads: int = max(1, (os.cpu_count() or 2) - 1)  # password hashing threads (0: the default)
    page_size: int = 20  # items per page of the paginated lists
    # Lock-outs are per (username, address) and per address, never per username alone: a stranger's wrong
    # passwords must not lock the real user out.
    login_attempts_per_username: int = 10  # logins a minute per (username, address); a success starts it again
    login_attempts_per_address: int = 300  # logins a minute from one client address, whatever the username
    signups_per_address: int = 20  # sign-ups an hour from one client address
    refreshes_per_address: int = 60  # token refreshes a minute from one client address
    qr_images_per_address: int = 120  # GET /tickets/{code}/qr.png|.svg a minute from one client address
    password_checks_per_address: int = 16  # waiting password checks of one client address; more: 429
    password_wait_seconds: float = 5.0  # a bcrypt job that waited this long is answered 503 instead
    max_seats_per_user: int = 10  # held + booked seats of one user in one show (0: no limit)
    max_body_bytes: int = 64 * 1024  # a request body larger than this: 413
    body_timeout_seconds: float = 10.0  # a body that has not fully arrived by then: 408 and the connection closed
    # `cinema serve` only (scripts/cli.py): a connection with no complete request for this long is closed
    # (slow headers as much as idle keep-alive), and connections beyond `max_connections` get a 503 at once.
    header_timeout_seconds: float = 15.0  # a connection with no complete request for this long is closed
    max_connections: int = 4096  # open connections at once; more get a 503 at once (`cinema serve` only)
    max_connections_per_source: int = 256  # connections of one client address (a kiosk hall behind one NAT fits)
    public_url: str = ""  # e.g. https://tickets.example.com; pagination links use it, never the Host header
    mailbox_size: int = 4096  # waiting commands per show actor; more: 503
    hold_seconds: float = 300.0  # how long a seat hold lasts before the show releases it
    journal_max_batch: int = 1000  # records written in one commit at most
    journal_max_queue: int = 20_000  # records waiting for the journal writer; more: 503
    migrate_on_start: bool = False  # upgrade the schema before serving when it is behind
    cleaning_minutes: int = 15  # a screen's gap between one show's end and the next one's start
    cancel_cutoff_minutes: int = 30  # bookings can be cancelled until this long before the start
    check_in_opens_minutes: int = 60  # the door opens this long before the start (and closes at the film's end)
    cluster_secret: str = field(default="", repr=False)  # shared by every node; set: cluster mode (docs/CLUSTER.md)
    node_url: str = ""  # how the other nodes reach this one; `cinema serve` derives it from host and port
    lease_seconds: float = 5.0  # a node silent this long loses its place (and, later, its shows)
    timezone: str = "UTC"  # the cinema's own clock (IANA name): what "a day" means in the programme and reports
    door_rescan_seconds: float = 5.0  # the same staff scanning a ticket again this soon is told ADMITTED again
    kiosk_idle_seconds: float = 60.0  # a shared kiosk logs its customer out after this long without a touch
    kiosk_shared: bool = False  # every kiosk page in shared mode (no login kept across reloads), not only ?shared=1

    # Webhooks (web/hooks/): retried with exponential back-off from `webhook_backoff_seconds` (doubling, capped
    # at an hour, with jitter) for up to `webhook_retry_hours`, then marked failed.
    webhook_retry_hours: float = 24.0  # how long an event is retried before it is marked failed
    webhook_backoff_seconds: float = 10.0  # the first retry's delay (then doubling, capped at an hour, jittered)
    webhook_timeout_seconds: float = 10.0  # per request, connecting included
    webhook_concurrency: int = 4  # requests in flight per hook
    webhook_allow_private: bool = False  # loopback, private and link-local targets (tests, single-box installs)
    webhook_poll_seconds: float = 0.25  # how often the delivery loop looks for new events when idle
    webhook_retention_days: float = 7.0  # delivered events, deliveries and attempts older than this are pruned

    waitlist_offer_seconds: float = 600.0  # seats offered to a waiting-list entry are held this long for it
    waitlist_max_entries: int = 10_000  # live waiting-list entries per show

    # Reverse proxies whose X-Forwarded-For / Forwarded name the client (web/http/proxies.py): addresses and CIDRs.
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()  # browser apps on these exact origins may call the API (web/http/cors.py)

    def __post_init__(self) -> None:
        """Addresses, networks and origins normalised and checked however the settings were made (the
        environment, a flag, the config file, a test's Settings(...))."""
        try:
            object.__setattr__(self, "trusted_proxies", proxies.parse(self.trusted_proxies))
            object.__setattr__(self, "cors_origins", cors.parse(self.cors_origins))
        except ValueError as error:
            raise SettingError(str(error)) from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, *, create_secret: bool = True, **overrides: object) -> Settings:
        """The defaults, under the environment (where `cinema` also put the CINEMA_CONFIG file's values), under
        `overrides` (the flags, by field name). A bad value raises SettingError naming its variable or flag.
        `create_secret=False`: no signing secret is written to disk (checks before a start must create nothing)."""
        values: dict[str, object] = {}
        for setting, (value, source) in resolve(overrides).items():
            if setting.field and source != "default" and value is not None:
                values[setting.field] = value
        names = {item.name for item in fields(cls)}  # flags of the command (host, port) are not fields
        values.update({k: v for k, v in overrides.items() if v is not None and k in names and k not in values})
        if values.get("bcrypt_threads") == 0:
            del values["bcrypt_threads"]  # 0: the default, cores-1
        if "public_url" in values:
            values["public_url"] = str(values["public_url"]).rstrip("/")
        if not values.get("jwt_secret") and create_secret:
            values["jwt_secret"] = stored_secret(str(values.get("database_url", DEFAULT_URL)))
        return cls(**values)  # type: ignore[arg-type]


# -- the table of every setting ----------------------------------------------------------------------------------
# Settings fields are read from CINEMA_<FIELD> unless named here; their meaning is the comment beside (or above)
# the field, so a field added above is in the table, in `cinema settings` and in docs/SETTINGS.md without more.
ENV_NAMES = {
    "login_attempts_per_address": "CINEMA_LOGINS_PER_ADDRESS",
    "header_timeout_seconds": "CINEMA_HEADER_TIMEOUT",
    "body_timeout_seconds": "CINEMA_BODY_TIMEOUT",
    "webhook_timeout_seconds": "CINEMA_WEBHOOK_TIMEOUT",
}
FLAGS = {
    "database_url": "--database-url",
    "migrate_on_start": "--migrate",
    "cluster_secret": "--cluster-secret",
    "node_url": "--node-url",
    "lease_seconds": "--lease-seconds",
}
SPECIAL_KINDS = {"database_url": "database_url", "timezone": "timezone"}
KINDS = {"int": "int", "float": "float", "str": "str", "bool": "bool", "tuple[str, ...]": "list", "list[str]": "list"}
LIMITS = {"bcrypt_rounds": (4, 31), "bcrypt_threads": (0, None)}
COMPUTED_DEFAULTS = {
    "bcrypt_threads": "cores-1 (at least 1)",
    "jwt_secret": "random, kept in <database>.jwt-secret or CINEMA_JWT_SECRET_FILE",
    "node_url": "http://HOST:PORT of `cinema serve`",
}
# Read by `cinema` itself or by another layer, not Settings fields.
PROCESS_SETTINGS = (
    Setting("CINEMA_HOST", "str", "127.0.0.1", "address `cinema serve` listens on", "--host", reader="cinema serve"),
    Setting("CINEMA_PORT", "port", 8000, "port `cinema serve` listens on", "--port", reader="cinema serve"),
    Setting(
        "CINEMA_WORKERS",
        "int",
        None,
        "node processes sharing the port",
        "--workers",
        default_text="every core in cluster mode on PostgreSQL, else 1",
        minimum=1,
        reader="cinema serve",
    ),
    Setting("CINEMA_CONFIG", "path", None, "a TOML file of settings (keys: the names without CINEMA_, lower case)"),
    Setting(
        "CINEMA_LOG_LEVEL", "choice:debug|info|warning|error|critical", "INFO", "log level", reader="cinema (logging)"
    ),
    Setting("CINEMA_ACCESS_LOG", "bool", False, "1: one log line per request (costs ~30 % req/s)", reader="cinema"),
    Setting("CINEMA_EVENT_LOOP", "choice:uvloop|asyncio", "uvloop", "asyncio opts out of uvloop", reader="web/http"),
    Setting(
        "CINEMA_LOCK_TIMEOUT_MS",
        "int",
        5000,
        "how long a statement waits for a database lock before the request gets a 503",
        reader="storage",
    ),
    Setting(
        "CINEMA_JWT_SECRET_FILE",
        "path",
        "./cinema.jwt-secret",
        "where the generated signing secret is kept on a server database (SQLite: beside the file)",
        reader="web/settings.py",
    ),
    Setting(
        "CINEMA_ADMIN_PASSWORD",
        "str",
        None,
        "the password for `cinema create-admin` / `create-staff` (else a prompt)",
        secret=True,
        reader="cinema create-admin",
    ),
)
# Read by the test and benchmark tools only (documented apart, not shown by `cinema settings`).
TEST_SETTINGS = (
    Setting(
        "CINEMA_TEST_POSTGRES_URL",
        "str",
        None,
        "a PostgreSQL server URL whose user may create databases: the tests' and benchmarks' PostgreSQL half",
        reader="tests, cinema bench",
    ),
    Setting("CINEMA_TEST_WORKERS", "int", 2, "pytest-xdist workers of scripts/test (0: one process)", reader="tests"),
    Setting("CINEMA_CHROMIUM", "path", None, "the browser the Chromium tests drive (default: chromium on PATH)"),
    Setting(
        "CINEMA_EXTRAS",
        "str",
        None,
        "the pyproject extras scripts/demo and scripts/test install (scripts/test: test)",
        reader="scripts/_venv.sh",
    ),
)


def _field_comments() -> dict[str, str]:
    """Each Settings field's comment: the one on its line, else the block of comment lines just above it."""
    try:
        source = inspect.getsource(Settings)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in source.splitlines()[2:]:
        text = line.strip()
        if text.startswith(("@", "def ")):
            break
        if text.startswith("#"):
            above.append(text[1:].strip())
            continue
        match = re.match(r"(\w+)\s*:", text)
        if match is None:
            above = []
            continue
        trailing = _trailing_comment(text)
        comments[match[1]] = trailing or " ".join(above)
        above = []
    return comments


def _trailing_comment(line: str) -> str:
    """The comment ending a line of code, ignoring any # inside a string."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    return next((token.string[1:].strip() for token in tokens if token.type == tokenize.COMMENT), "")


@functools.cache
def settings_table() -> tuple[Setting, ...]:
    """Every setting: the Settings fields (in their order) then the ones `cinema` and other layers read."""
    comments = _field_comments()
    rows = []
    for item in fields(Settings):
        kind = SPECIAL_KINDS.get(item.name) or KINDS.get(str(item.type), "str")
        low, high = LIMITS.get(item.name, (0, None))
        default = item.default if item.default is not MISSING else None
        rows.append(
            Setting(
                ENV_NAMES.get(item.name, PREFIX + item.name.upper()),
                kind,
                default,
                comments.get(item.name, ""),
                FLAGS.get(item.name),
                item.name,
                secret=not item.repr,
                default_text=COMPUTED_DEFAULTS.get(item.name, ""),
                minimum=low,
                maximum=high,
            )
        )
    return (*rows, *PROCESS_SETTINGS)


def by_env() -> dict[str, Setting]:
    return {setting.env: setting for setting in settings_table()}


# Variables the `cinema` command set from the CINEMA_CONFIG file (so `cinema settings` can say where they came from).
from_config_file: dict[str, str] = {}


def apply_config_file(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """CINEMA_CONFIG's values put into the environment where it has none (so the environment overrides the file
    and every layer, storage's lock timeout too, sees them); returns the file's path, if any."""
    path = environ.get("CINEMA_CONFIG")
    if not path:
        return None
    for name, value in config_values(path, by_env()).items():
        if name not in environ:
            environ[name] = value
            from_config_file[name] = path
    return path


def resolve(
    flags: Mapping[str, object] | None = None, environ: Mapping[str, str] = os.environ
) -> dict[Setting, tuple[object, str]]:
    """Every setting's effective value and where it came from: "flag --x", "config file PATH", "environment" or
    "default". `flags` are by Settings field (database_url=...) or by config key (port=...); None means unset."""
    flags = flags or {}
    resolved: dict[Setting, tuple[object, str]] = {}
    for setting in settings_table():
        given = flags.get(setting.field or "", flags.get(setting.key))
        raw = environ.get(setting.env)
        if given is not None:
            flag = setting.flag or f"--{setting.key.replace('_', '-')}"
            value, source = parse(setting, given, flag), f"flag {flag}"
        elif raw:  # an empty variable counts as unset
            value = parse(setting, raw, setting.env)
            where = from_config_file.get(setting.env)
            source = f"config file {where}" if where else "environment"
        else:
            value, source = setting.default, "default"
        resolved[setting] = (value, source)
    return resolved


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
    if not path.parent.is_dir():  # never a folder made for a mistyped path
        raise SettingError(f"cannot keep the signing secret in {path}: the folder {path.parent} does not exist")
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
