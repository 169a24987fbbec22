"""The aiohttp application: wiring, and the start-up and shut-down order that keeps confirmed bookings safe."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import Info

from engine.actor import Timing
from engine.service import BookingEngine, EngineLimits
from storage.database import open_engine
from storage.journal import GroupCommitJournal
from storage.migrate import ensure_current, upgrade
from storage.repository import Repository
from web.api import (
    accounts,
    bookings,
    catalog,
    changes,
    counter,
    events,
    history,
    home,
    kiosk,
    orders,
    programme,
    reports,
    screens,
    tickets,
    waitlist,
    webhooks,
)
from web.cluster import forwarding
from web.cluster import membership as cluster
from web.cluster.relays import RELAYS, RelayHub
from web.context import ENGINE, HASHER, JOURNAL, LOGIN_LIMITS, REPOSITORY, SETTINGS, LoginLimits
from web.hooks.delivery import DELIVERER, Deliverer
from web.http import cors, observability
from web.http.client_bounds import per_client_requests
from web.http.clients import TRUSTED_PROXIES
from web.http.errors import error_middleware
from web.http.observability import METRICS, Metrics, add_request_id, observer
from web.http.openapi import OpenApi3
from web.http.proxies import TrustedProxies
from web.http.qr_images import QR_IMAGES, QR_LIMIT, QrImages
from web.security.auth import TOKENS, Tokens
from web.security.passwords import PasswordHasher
from web.security.ratelimit import RateLimiter
from web.security.ticket_codes import TICKETS, TicketCodes
from web.settings import Settings
from web.version import VERSION

log = logging.getLogger("cinema")


def create_app(settings: Settings) -> web.Application:
    # Cluster mode only: a middleware on the hot path of a single node would cost it for nothing.
    clustered = [forwarding.forward_to_owner] if settings.cluster_secret else []
    metrics = Metrics()
    Info("cinema_build", "The running version", registry=metrics.registry).info({"version": VERSION})
    trusted = TrustedProxies.of(settings.trusted_proxies)
    # Behind a trusted proxy its customers share its connections: the per-source bound counts their requests.
    over = functools.partial(metrics.limit_refusals.note, "connections_per_source")
    bound = per_client_requests(settings.max_connections_per_source, over, settings.cluster_secret)
    proxied = [bound] if trusted else []
    cross_origin = [cors.preflights(settings.cors_origins)] if settings.cors_origins else []
    app = web.Application(
        middlewares=[observer(metrics), *cross_origin, error_middleware, *proxied, *clustered],
        client_max_size=settings.max_body_bytes,
        handler_args={"auto_decompress": False},  # web/http/body.py decodes, with a bound and JSON errors
    )
    app[SETTINGS] = settings
    app[TRUSTED_PROXIES] = trusted
    app[METRICS] = metrics
    metrics.watch(app)
    app.on_response_prepare.append(add_request_id)
    if settings.cors_origins:
        app.on_response_prepare.append(cors.allow_headers(settings.cors_origins))
    app[TICKETS] = TicketCodes(settings.jwt_secret)
    app[TOKENS] = Tokens(
        settings.jwt_secret, settings.access_minutes, settings.refresh_minutes, settings.user_recheck_seconds
    )
    app[LOGIN_LIMITS] = LoginLimits(
        by_user_and_address=RateLimiter(settings.login_attempts_per_username, 60),
        by_address=RateLimiter(settings.login_attempts_per_address, 60),
        signups=RateLimiter(settings.signups_per_address, 3600),
        refreshes=RateLimiter(settings.refreshes_per_address, 60),
    )
    app[QR_IMAGES] = QrImages()
    app[QR_LIMIT] = RateLimiter(settings.qr_images_per_address, 60)
    app.on_cleanup.append(_close_qr_images)
    app.add_routes(accounts.routes)
    app.add_routes(catalog.routes)
    app.add_routes(bookings.routes)
    app.add_routes(screens.routes)
    app.add_routes(orders.routes)
    app.add_routes(counter.routes)
    app.add_routes(tickets.routes)
    app.add_routes(events.routes)
    app.add_routes(observability.routes)
    app.add_routes(kiosk.routes)
    app.add_routes(waitlist.routes)
    app.add_routes(home.routes)
    app.add_routes(cluster.routes)
    app.add_routes(programme.routes)
    app.add_routes(webhooks.routes)
    app.add_routes(changes.routes)
    app.add_routes(history.routes)
    app.add_routes(reports.routes)
    if settings.cluster_secret:
        app.add_routes(cluster.internal_routes)  # undocumented: OpenApi3 lists only @docs handlers
        app.add_routes(forwarding.routes)
    OpenApi3(app, VERSION)
    app.cleanup_ctx.append(_lifecycle)
    app.on_startup.append(waitlist.wake_offers)  # after _lifecycle's start: the engine exists
    app.on_shutdown.append(_end_live_streams)
    return app


async def _close_qr_images(app: web.Application) -> None:
    app[QR_IMAGES].close()


async def _end_live_streams(app: web.Application) -> None:
    """Shutdown waits for running handlers; live event streams would never end by themselves."""
    if ENGINE in app:
        app[ENGINE].end_subscriptions()
    if forwarding.FORWARDER in app:  # streams relayed from other nodes end too
        await app[forwarding.FORWARDER].end_streams()
        await app[RELAYS].close()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    database = open_engine(settings.database_url)
    hasher = PasswordHasher(
        settings.bcrypt_rounds,
        settings.bcrypt_threads,
        max_per_source=settings.password_checks_per_address,
        max_wait_seconds=settings.password_wait_seconds,
    )
    try:
        if settings.migrate_on_start:
            await upgrade(database)
        await ensure_current(database)
        await cluster.enter(app, database)
        if settings.cluster_secret:
            app[forwarding.FORWARDER] = forwarding.Forwarder(settings.cluster_secret, settings.lease_seconds)
            await app[forwarding.FORWARDER].start()
            app[RELAYS] = RelayHub(app[forwarding.FORWARDER])  # live events of shows decided elsewhere
        membership = app.get(cluster.CLUSTER)
        if membership is None:
            repository = Repository(database)
        else:  # shows are loaded under a lease (and forwarded to their owner when another node holds it)
            repository = Repository(database, node=membership.identity.id, lease_seconds=settings.lease_seconds)
        # Webhooks: their own task, database pool and HTTP session; told of each commit so it sends at once.
        deliverer = app[DELIVERER] = Deliverer(settings, repository.node, settings.lease_seconds)
        observe_batch = app[METRICS].observe_batch

        def committed(records: int, seconds: float) -> None:
            observe_batch(records, seconds)
            deliverer.poke()

        journal = GroupCommitJournal(
            database,
            max_batch=settings.journal_max_batch,
            max_queue=settings.journal_max_queue,
            observer=committed,
        )
        journal.start()
        deliverer.start()
        engine = BookingEngine(
            repository,
            journal,
            EngineLimits(
                mailbox_size=settings.mailbox_size,
                hold_seconds=settings.hold_seconds,
                max_seats_per_user=settings.max_seats_per_user,
                user_recheck_seconds=settings.user_recheck_seconds,
                timing=Timing(settings.cancel_cutoff_minutes * 60.0, settings.check_in_opens_minutes * 60.0),
                waitlist_offer_seconds=settings.waitlist_offer_seconds,
                waitlist_max_entries=settings.waitlist_max_entries,
            ),
        )
        app[REPOSITORY], app[JOURNAL], app[ENGINE], app[HASHER] = repository, journal, engine, hasher
        log.info("started", extra={"fields": {"version": VERSION}})
        yield
        # Order matters: actors finish their mailboxes, then the journal commits the last batch.
        log.info("shutting down: finishing the shows' mailboxes and the journal's last batch")
        await deliverer.close()
        await engine.close()
        await journal.close()
        stats = journal.stats
        log.info("stopped", extra={"fields": {"records_committed": stats.records, "batches": stats.batches}})
    finally:
        if forwarding.FORWARDER in app:
            await app[forwarding.FORWARDER].close()
        await cluster.leave(app)
        hasher.close()
        await database.dispose()
