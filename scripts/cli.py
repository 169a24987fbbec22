"""The `cinema` command: serve, migrate, seed-demo, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import functools
import getpass
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from alembic.util.exc import CommandError as AlembicError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from engine.layout import Layout, Prices, detailed_layout
from engine.ports import StorageUnavailable
from scripts.backup import BackupRefused, backup
from scripts.bench import main as bench
from scripts.rush import runner as rush
from scripts.settings_table import effective_settings, settings_markdown
from storage.database import open_engine, sqlite_path
from storage.migrate import SchemaBehind, current_revision, ensure_current, head_revision, upgrade
from storage.repository import Repository, UsernameTaken
from web.app import create_app
from web.cluster import workers
from web.cluster.membership import ClusterRefused, default_node_url, settings_problem
from web.http import serving
from web.http.observability import configure_logging
from web.http.serving import event_loop, tune_gc
from web.security.passwords import PasswordHasher
from web.settings import SettingError, Settings, apply_config_file, resolve, secret_path, stored_secret
from web.version import VERSION

# (title, minutes, [(screen, hours after the first show)]); show ids follow this order: 1..5.
DEMO_MOVIES = [
    ("The Grand Premiere", 128, [("Screen 1", 0), ("Screen 2", 3)]),
    ("Midnight Matinee", 95, [("Screen 3", None)]),  # None: starts 40 minutes after seeding, so its door is open
    ("Popcorn Odyssey", 142, [("IMAX", 2), ("Screen 1", 5)]),
]
DEMO_USER = ("demo", "demo@example.com", "demo-password")
DEMO_STAFF = ("door", "door@example.com", "door-password")
DEMO_PRICES = Prices(  # per seat category and ticket type (adult is the default type)
    {"standard": {"adult": 1200, "child": 800, "senior": 900}, "premium": {"adult": 1600, "child": 1200}}, "EUR"
)
DemoRow = tuple[str, list[tuple[str, str, str] | None]]


def _demo_row(label: str, groups: tuple[int, ...], category: str, kinds: str = "") -> DemoRow:
    """Seats in groups split by aisles; `kinds` marks seats by index: w wheelchair, c companion, else standard."""
    positions: list[tuple[str, str, str] | None] = []
    number = 0
    for group_index, size in enumerate(groups):
        if group_index:
            positions.append(None)
        for _ in range(size):
            kind = {"w": "wheelchair", "c": "companion"}.get(kinds[number] if number < len(kinds) else "", "standard")
            number += 1
            positions.append((f"{label}{number}", category, kind))
    return label, positions


def demo_screens() -> dict[str, Layout]:
    """Screen 1: 10 rows of 3 | 4 | 3 seats (two aisles), premium rows E and F, and in row J a wheelchair space
    with its companion seat at each end. The others: plain halls with a centre aisle."""
    screen_1 = [_demo_row(label, (3, 4, 3), "premium" if label in "EF" else "standard") for label in "ABCDEFGHI"]
    screen_1.append(_demo_row("J", (3, 4, 3), "standard", "wcsssssscw"))
    return {
        "Screen 1": detailed_layout(screen_1),
        "Screen 2": detailed_layout([_demo_row(label, (5, 5), "standard") for label in "ABCDEF"]),
        "Screen 3": detailed_layout([_demo_row(label, (4, 4), "standard") for label in "ABCDE"]),
        "IMAX": detailed_layout(
            [_demo_row(label, (5, 15, 5), "premium" if label in "DEFG" else "standard") for label in "ABCDEFGHIJ"]
        ),
    }


def _database_url(args: argparse.Namespace) -> str | None:
    return getattr(args, "database_url", None)


def _require_database_file(url: str) -> None:
    """A SQLite file that is not there yet is an empty database: said before connecting, which would create it."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise SchemaBehind(None, head_revision())


async def _with_repository(url: str, work: Callable[[Repository], Coroutine[Any, Any, None]]) -> None:
    _require_database_file(url)
    engine = open_engine(url)
    try:
        await ensure_current(engine)
        await work(Repository(engine))
    finally:
        await engine.dispose()


class Fault(Exception):
    """A problem the operator can fix: printed as one line, exit status 2, no traceback."""


def _fault(message: str) -> int:
    print(f"cinema: {message}", file=sys.stderr)
    return 2


def _database_problem(error: BaseException) -> str:
    """One line for what went wrong reaching or using the database (the driver's own first line)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    if isinstance(cause, ConnectionRefusedError | socket.gaierror | TimeoutError):
        return f"cannot connect ({cause.strerror or cause}); is the database server running and the address right?"
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def uses_database(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Database faults (unreachable, missing, behind the code's schema) and bad settings end the command with one
    clear line."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        url = _database_url(args)
        try:
            url = _safe(Settings.from_env(create_secret=False, database_url=url).database_url)
            return command(args)
        except (Fault, SchemaBehind, SettingError) as error:
            return _fault(str(error))
        except AlembicError as error:  # the migration scripts themselves (two heads after a merge, say)
            return _fault(f"the schema migrations cannot be used: {str(error).strip().splitlines()[0]}")
        except ArgumentError as error:
            return _fault(f"database URL {url!r} is not usable: {error}")
        except (DBAPIError, StorageUnavailable, OSError) as error:
            return _fault(f"database {url}: {_database_problem(error)}")

    return run


def serve_flags(args: argparse.Namespace) -> dict[str, object]:
    """The `cinema serve` flags given, by setting (field or config key); None: not given."""
    return {
        "database_url": _database_url(args),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "workers": getattr(args, "workers", None),
        "migrate_on_start": getattr(args, "migrate", False) or None,
        "cluster_secret": getattr(args, "cluster_secret", None),
        "node_url": getattr(args, "node_url", None),
        "lease_seconds": getattr(args, "lease_seconds", None),
    }


@uses_database
def cmd_serve(args: argparse.Namespace) -> int:
    flags = serve_flags(args)
    effective = {setting.key: value for setting, (value, _) in resolve(flags).items()}
    host, port = str(effective["host"]), int(effective["port"])  # type: ignore[call-overload]
    node_url = str(effective["node_url"] or default_node_url(host, port))
    private = workers.private_listener(host) if args.worker else None
    if private is not None:  # one of several workers: the others reach it on its own port
        node_url = workers.worker_node_url(node_url, private)
    # No signing secret is written yet: a start refused below must leave no new file behind.
    settings = Settings.from_env(create_secret=args.worker, **{**flags, "node_url": node_url})
    wanted = effective["workers"]
    count = int(wanted) if wanted is not None else workers.default_workers(settings)  # type: ignore[call-overload]
    problem = settings_problem(settings) or workers.workers_problem(count, settings)
    if problem is not None:
        raise Fault(problem)
    created: Path | None = None
    if not args.worker:  # workers share the port on purpose; the first process checks it for them
        _check_port(host, port)  # before opening the database: a taken port is the commoner mistake
        if settings.migrate_on_start:
            asyncio.run(_migrate(settings.database_url))
        else:
            asyncio.run(_check_schema(settings.database_url))
        if not settings.jwt_secret:
            created = None if secret_path(settings.database_url).exists() else secret_path(settings.database_url)
            settings = dataclasses.replace(settings, jwt_secret=stored_secret(settings.database_url))
    try:
        return _serve(args, settings, host, port, count, private)
    except BaseException:
        if created is not None and not _announced:
            created.unlink(missing_ok=True)  # made for this start only, and nothing was signed with it
        raise


_announced = False  # set once the socket is bound and the start was announced


def _serve(
    args: argparse.Namespace, settings: Settings, host: str, port: int, count: int, private: socket.socket | None
) -> int:
    global _announced
    if count > 1 and not args.worker:
        _announced = True  # the workers bind and announce; the secret is theirs from here on
        database = _safe(settings.database_url)
        print(f"cinema: serving on http://{host}:{port}/ with {count} worker processes, database {database}")
        return workers.supervise([a for a in args.argv if a != "--migrate"], count)
    app = create_app(dataclasses.replace(settings, migrate_on_start=False))
    role = f", cluster node {settings.node_url}" if settings.cluster_secret else ""
    listening = f"serving on http://{host}:{port}/ (Swagger UI at /swagger/), database {_safe(settings.database_url)}"
    app.on_startup.append(tune_gc)

    def announce() -> None:  # called once the socket is bound: never a promise the server cannot keep
        global _announced
        _announced = True
        print(f"cinema: {listening}{role}", flush=True)

    try:
        serving.run(app, settings, host, port, event_loop(), private, announce)
    except ClusterRefused as error:
        raise Fault(str(error)) from None
    except OSError as error:
        if error.errno in LISTEN_ERRORS and not _announced:
            raise _listen_fault(host, port, error) from None
        raise
    print("cinema: stopped", flush=True)
    return 0


async def _migrate(url: str) -> None:
    engine = open_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


LISTEN_ERRORS = {
    errno.EADDRINUSE: "the address is already in use",
    errno.EACCES: "permission denied",
    errno.EADDRNOTAVAIL: "that address is not one of this machine's",
}


def _listen_fault(host: str, port: int, error: OSError) -> Fault:
    reason = LISTEN_ERRORS.get(error.errno or 0, error.strerror)
    which = "--host or CINEMA_HOST" if error.errno == errno.EADDRNOTAVAIL else "--port or CINEMA_PORT"
    return Fault(f"cannot listen on {host}:{port}: {reason} (choose another with {which})")


def _check_port(host: str, port: int) -> None:
    """Fail at once, before any start-up work, when the port is taken; binding for real may still race."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise Fault(f"cannot listen on {host}:{port}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind(address)
        except OSError as error:  # whatever the reason, the host and port are the culprits, not the database
            raise _listen_fault(host, port, error) from None


async def _check_schema(url: str) -> None:
    _require_database_file(url)
    engine = open_engine(url)
    try:
        await ensure_current(engine)
    finally:
        await engine.dispose()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@uses_database
def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env(create_secret=False, database_url=_database_url(args))

    async def run() -> None:
        engine = open_engine(settings.database_url)
        try:
            before = await current_revision(engine)
            await upgrade(engine)
            print(f"cinema: schema {before or 'empty'} -> {head_revision()} on {_safe(settings.database_url)}")
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


@uses_database
def cmd_seed_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env(create_secret=False, database_url=_database_url(args))

    async def seed(repository: Repository) -> None:
        count, _ = await repository.movies_page(0, 1)
        if count:
            print(f"cinema: {count} movies already present; demo movies not added")
        else:
            screens = {name: await repository.create_screen(name, layout) for name, layout in demo_screens().items()}
            now = datetime.now(UTC)
            start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
            cleaning = timedelta(minutes=settings.cleaning_minutes)
            for title, minutes, shows in DEMO_MOVIES:
                movie = await repository.create_movie(title, minutes)
                for name, hours in shows:
                    when = (
                        now.replace(microsecond=0) + timedelta(minutes=40)
                        if hours is None
                        else start + timedelta(hours=hours)
                    )
                    screen = screens[name]
                    await repository.create_show(
                        movie.id,
                        name,
                        when,
                        screen.layout.total_seats,
                        screen.layout,
                        screen_id=screen.id,
                        prices=DEMO_PRICES,
                        cleaning=cleaning,
                    )
            print(
                f"cinema: added {len(screens)} screens and {len(DEMO_MOVIES)} demo movies with their shows "
                "(shows 1 to 5, each with rows and prices)"
            )
        hasher = PasswordHasher(settings.bcrypt_rounds)
        try:
            for (username, email, password), role in ((DEMO_USER, "user"), (DEMO_STAFF, "door staff")):
                try:
                    await repository.create_user(username, email, await hasher.hash(password), is_staff=role != "user")
                    print(f"cinema: demo {role} '{username}' with password '{password}'")
                except UsernameTaken:
                    print(f"cinema: demo {role} '{username}' already exists")
        finally:
            hasher.close()

    asyncio.run(_with_repository(settings.database_url, seed))
    return 0


ADMIN_PASSWORD_ENV = "CINEMA_ADMIN_PASSWORD"


def _admin_password(args: argparse.Namespace) -> str:
    """From CINEMA_ADMIN_PASSWORD, else a prompt (twice) in a terminal, else one line of standard input; never
    the command line, where every user of the machine can read it."""
    if args.password is not None:
        print(f"cinema: warning: --password is visible to other users; prefer {ADMIN_PASSWORD_ENV}", file=sys.stderr)
        password = args.password
    elif os.environ.get(ADMIN_PASSWORD_ENV):
        password = os.environ[ADMIN_PASSWORD_ENV]
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.username}: ")
        if getpass.getpass("The same again: ") != password:
            raise Fault("the two passwords differ; nothing changed")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise Fault(f"no password: set {ADMIN_PASSWORD_ENV}, or type it at the prompt; nothing changed")
    if len(password) < 8:
        raise Fault("the password must have at least 8 characters; nothing changed")
    return password


@uses_database
def cmd_create_admin(args: argparse.Namespace) -> int:
    return _create_role_user(args, "is_admin", "an admin")


@uses_database
def cmd_create_staff(args: argparse.Namespace) -> int:
    return _create_role_user(args, "is_staff", "door staff")


def _create_role_user(args: argparse.Namespace, role: str, title: str) -> int:
    """A new user with `role` (is_admin or is_staff), or with --reset-password an existing one given it."""
    settings = Settings.from_env(create_secret=False, database_url=_database_url(args))
    password = _admin_password(args)

    async def create(repository: Repository) -> None:
        existing = await repository.user_by_name(args.username)
        if existing is not None and not args.reset_password:
            raise Fault(
                f"user '{args.username}' already exists; nothing changed "
                f"(add --reset-password to make them {title} with this password)"
            )
        hasher = PasswordHasher(settings.bcrypt_rounds)
        try:
            password_hash = await hasher.hash(password)
        finally:
            hasher.close()
        if existing is not None:
            await repository.set_admin(args.username, password_hash, role)
            print(f"cinema: existing user '{args.username}' is now {title}, with the new password")
            return
        try:
            email = args.email or f"{args.username}@localhost"
            await repository.create_user(args.username, email, password_hash, **{role: True})
        except UsernameTaken:
            raise Fault(f"user '{args.username}' was created meanwhile by someone else; nothing changed") from None
        print(f"cinema: {'admin' if role == 'is_admin' else 'door staff'} '{args.username}' created")

    asyncio.run(_with_repository(settings.database_url, create))
    return 0


class Parser(argparse.ArgumentParser):
    """A mistyped command line is one line too, naming the argument, and exit status 2 (as argparse's own)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"cinema: {message} (see `{self.prog} --help`)\n")


def serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", help="address to listen on (env CINEMA_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env CINEMA_PORT; default 8000)")
    serve.add_argument("--migrate", action="store_true", help="upgrade the schema first if it is behind")
    serve.add_argument(
        "--cluster-secret",
        help="shared by every node: cluster mode on (env CINEMA_CLUSTER_SECRET, better: a flag shows in ps)",
    )
    serve.add_argument("--node-url", help="how the other nodes reach this one (env CINEMA_NODE_URL; default host:port)")
    serve.add_argument(
        "--workers",
        type=int,
        help="node processes sharing the port (env CINEMA_WORKERS; default: every core in cluster mode on "
        "PostgreSQL, else 1)",
    )
    serve.add_argument(
        "--lease-seconds", type=float, help="a silent node loses its place after this (env CINEMA_LEASE_SECONDS; 5)"
    )


@uses_database
def cmd_backup(args: argparse.Namespace) -> int:
    settings = Settings.from_env(create_secret=False, database_url=_database_url(args))
    try:
        said = backup(settings.database_url, Path(args.path))
    except BackupRefused as error:
        raise Fault(str(error)) from None
    except sqlite3.Error as error:
        raise Fault(f"backup of {_safe(settings.database_url)} failed: {error}") from None
    for line in said:
        print(f"cinema: {line}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    try:
        print(settings_markdown() if args.markdown else effective_settings(serve_flags(args)), end="")
    except SettingError as error:
        return _fault(str(error))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cinema", description="Cinema seat-booking engine")
    parser.add_argument("--version", action="version", version=f"cinema {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("--database-url", help="SQLAlchemy URL (env CINEMA_DATABASE_URL; default SQLite ./cinema.db)")
        sub.set_defaults(handler=handler)
        return sub

    serve = command("serve", cmd_serve, "Run the HTTP service")
    serve_arguments(serve)
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set by the supervisor
    serve.epilog = "Every setting, its variable and default: `cinema settings --help` and docs/SETTINGS.md."
    shown = command(
        "settings",
        cmd_settings,
        "Print every setting's effective value and where it came from (default, config file, environment, "
        "flag), secrets masked; takes the flags of `cinema serve`",
    )
    serve_arguments(shown)
    shown.add_argument("--markdown", action="store_true", help="print the table of every setting (docs/SETTINGS.md)")
    command("migrate", cmd_migrate, "Create or upgrade the database schema to the latest version")
    copy = command(
        "backup",
        cmd_backup,
        "Copy a live SQLite database to PATH, consistently, while it serves (SQLite's online backup API); "
        "says how to restore it. PostgreSQL: use pg_dump.",
    )
    copy.add_argument("path", help="the new file (refused if it exists)")
    command("seed-demo", cmd_seed_demo, "Add demo screens, movies, priced shows, a demo user and door staff")
    for name, handler, title in (
        ("create-admin", cmd_create_admin, "an admin user"),
        ("create-staff", cmd_create_staff, "a door staff user (ticket check-in)"),
    ):
        role_user = command(
            name,
            handler,
            f"Create {title}. The password comes from {ADMIN_PASSWORD_ENV}, else a prompt (or one line of "
            "standard input when it is not a terminal).",
        )
        role_user.add_argument("username")
        role_user.add_argument("--email", help="default: <username>@localhost")
        role_user.add_argument(
            "--reset-password",
            action="store_true",
            help="when the user exists: give them the role and replace their password (refused otherwise)",
        )
        role_user.add_argument("--password", help=argparse.SUPPRESS)  # kept for old scripts; warns
    rush_parser = commands.add_parser(
        "rush", help="Simulate a seat rush against a running service", description=rush.__doc__
    )
    rush.add_arguments(rush_parser)
    rush_parser.set_defaults(handler=rush.run)
    bench_parser = commands.add_parser("bench", help="Run the benchmarks and rewrite docs/BENCHMARKS.md")
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(handler=bench.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        # The config file's values join the environment (which overrides them), then every setting is checked
        # once, whichever layer reads it later: a bad value is one line naming it, before anything starts.
        apply_config_file()
        effective = {setting.env: value for setting, (value, _) in resolve().items()}
    except SettingError as error:
        return _fault(str(error))
    configure_logging(str(effective["CINEMA_LOG_LEVEL"]).upper(), bool(effective["CINEMA_ACCESS_LOG"]))
    args = build_parser().parse_args(argv)
    args.argv = (sys.argv[1:] if argv is None else argv)[1:]  # after the command name: what workers repeat
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
