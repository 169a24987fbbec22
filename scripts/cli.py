"""The `cinema` command: serve, migrate, seed-demo, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from scripts import bench, rush
from storage.database import open_engine
from storage.migrate import SchemaBehind, current_revision, ensure_current, head_revision, upgrade
from storage.repository import Repository, UsernameTaken
from web import serving, workers
from web.app import create_app
from web.cluster import ClusterRefused, default_node_url, settings_problem
from web.observability import configure_logging
from web.passwords import PasswordHasher
from web.settings import Settings

DEMO_MOVIES = [
    ("The Grand Premiere", 128, [("Screen 1", 100), ("Screen 2", 60)]),
    ("Midnight Matinee", 95, [("Screen 3", 40)]),
    ("Popcorn Odyssey", 142, [("IMAX", 250), ("Screen 1", 100)]),
]
DEMO_USER = ("demo", "demo@example.com", "demo-password")


def _database_url(args: argparse.Namespace) -> str | None:
    return getattr(args, "database_url", None)


async def _with_repository(url: str, work: Callable[[Repository], Coroutine[Any, Any, None]]) -> None:
    engine = open_engine(url)
    try:
        await ensure_current(engine)
        await work(Repository(engine))
    finally:
        await engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    host = args.host or os.environ.get("CINEMA_HOST", "127.0.0.1")
    port = int(args.port or os.environ.get("CINEMA_PORT", "8000"))
    node_url = args.node_url or os.environ.get("CINEMA_NODE_URL") or default_node_url(host, port)
    private = workers.private_listener(host) if args.worker else None
    if private is not None:  # one of several workers: the others reach it on its own port
        node_url = workers.worker_node_url(node_url, private)
    try:
        settings = Settings.from_env(
            database_url=_database_url(args),
            migrate_on_start=args.migrate or None,
            cluster_secret=args.cluster_secret,
            node_url=node_url,
            lease_seconds=args.lease_seconds,
        )
        wanted = args.workers if args.workers is not None else os.environ.get("CINEMA_WORKERS")
        count = int(wanted) if wanted not in (None, "") else workers.default_workers(settings)
    except ValueError as error:
        print(f"cinema: {error}", file=sys.stderr)
        return 2
    problem = settings_problem(settings) or workers.workers_problem(count, settings)
    if problem is not None:
        print(f"cinema: {problem}", file=sys.stderr)
        return 2
    try:
        if settings.migrate_on_start and not args.worker:
            asyncio.run(_migrate(settings.database_url))
        elif not args.worker:
            asyncio.run(_check_schema(settings.database_url))
    except SchemaBehind as error:
        print(f"cinema: {error}", file=sys.stderr)
        return 2
    if count > 1 and not args.worker:
        print(f"cinema: serving on http://{host}:{port}/ with {count} worker processes, database {_safe(settings)}")
        return workers.supervise([a for a in args.argv if a != "--migrate"], count)
    app = create_app(dataclasses.replace(settings, migrate_on_start=False))
    role = f", cluster node {settings.node_url}" if settings.cluster_secret else ""

    async def announce(_: web.Application) -> None:  # after start-up succeeded, not before a refusal
        print(f"cinema: serving on http://{host}:{port}/ (Swagger UI at /swagger/), database {_safe(settings)}{role}")

    app.on_startup.append(announce)
    app.on_startup.append(_tune_gc)
    try:
        serving.run(app, settings, host, port, _event_loop(), private)
    except ClusterRefused as error:
        print(f"cinema: {error}", file=sys.stderr)
        return 2
    return 0


async def _migrate(url: str) -> None:
    engine = open_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _tune_gc(_: web.Application) -> None:
    """Full collections walked every long-lived object and stalled the loop for ~45 ms, fifteen times in
    eight seconds of rush: that was the booking p99. Objects alive after start-up are frozen out of
    collection, and the young generation is collected less often."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the default install has it), unless CINEMA_EVENT_LOOP=asyncio."""
    if os.environ.get("CINEMA_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def _check_schema(url: str) -> None:
    engine = open_engine(url)
    try:
        await ensure_current(engine)
    finally:
        await engine.dispose()


def _safe(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env(database_url=_database_url(args))

    async def run() -> None:
        engine = open_engine(settings.database_url)
        try:
            before = await current_revision(engine)
            await upgrade(engine)
            print(f"cinema: schema {before or 'empty'} -> {head_revision()} on {_safe(settings)}")
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env(database_url=_database_url(args))

    async def seed(repository: Repository) -> None:
        count, _ = await repository.movies_page(0, 1)
        if count:
            print(f"cinema: {count} movies already present; demo movies not added")
        else:
            start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
            for index, (title, minutes, shows) in enumerate(DEMO_MOVIES):
                movie = await repository.create_movie(title, minutes)
                for offset, (screen, seats) in enumerate(shows):
                    when = start + timedelta(hours=3 * offset + index)
                    await repository.create_show(movie.id, screen, when, seats)
            print(f"cinema: added {len(DEMO_MOVIES)} demo movies with their shows")
        username, email, password = DEMO_USER
        hasher = PasswordHasher(settings.bcrypt_rounds)
        try:
            await repository.create_user(username, email, await hasher.hash(password))
            print(f"cinema: demo user '{username}' with password '{password}'")
        except UsernameTaken:
            print(f"cinema: demo user '{username}' already exists")
        finally:
            hasher.close()

    asyncio.run(_with_repository(settings.database_url, seed))
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    settings = Settings.from_env(database_url=_database_url(args))
    if len(args.password) < 8:
        print("cinema: the password must have at least 8 characters", file=sys.stderr)
        return 2

    async def create(repository: Repository) -> None:
        hasher = PasswordHasher(settings.bcrypt_rounds)
        try:
            password_hash = await hasher.hash(args.password)
        finally:
            hasher.close()
        email = args.email or f"{args.username}@localhost"
        try:
            await repository.create_user(args.username, email, password_hash, is_admin=True)
            print(f"cinema: admin '{args.username}' created")
        except UsernameTaken:
            await repository.set_admin(args.username, password_hash)
            print(f"cinema: existing user '{args.username}' is now an admin (password reset)")

    asyncio.run(_with_repository(settings.database_url, create))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cinema", description="Cinema seat-booking engine")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("--database-url", help="SQLAlchemy URL (env CINEMA_DATABASE_URL; default SQLite ./cinema.db)")
        sub.set_defaults(handler=handler)
        return sub

    serve = command("serve", cmd_serve, "Run the HTTP service")
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
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set by the supervisor
    serve.add_argument(
        "--lease-seconds", type=float, help="a silent node loses its place after this (env CINEMA_LEASE_SECONDS; 5)"
    )
    command("migrate", cmd_migrate, "Create or upgrade the database schema to the latest version")
    command("seed-demo", cmd_seed_demo, "Add a few demo movies, shows and a demo user")
    admin = command("create-admin", cmd_create_admin, "Create an admin user, or make an existing user admin")
    admin.add_argument("username")
    admin.add_argument("--password", required=True)
    admin.add_argument("--email")
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
    configure_logging(os.environ.get("CINEMA_LOG_LEVEL", "INFO"), os.environ.get("CINEMA_ACCESS_LOG", "0") == "1")
    args = build_parser().parse_args(argv)
    args.argv = (sys.argv[1:] if argv is None else argv)[1:]  # after the command name: what workers repeat
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
