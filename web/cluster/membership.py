"""Cluster mode: this node's membership (registration and heartbeat), `GET /cluster`, and the internal
node-to-node routes that only answer callers holding the shared cluster secret.

Cluster mode is on exactly when CINEMA_CLUSTER_SECRET is set; without it nothing here runs beyond one check
at start-up, that no live cluster node uses the database (a lone node beside them would decide for shows
they own).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
import time
import uuid

from aiohttp import web
from aiohttp_apispec import docs, response_schema
from marshmallow import Schema, fields
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from storage import cluster as registry
from storage.database import open_engine
from web.context import SETTINGS
from web.http.errors import ApiError
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.security.auth import require_admin
from web.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Cinema-Cluster-Secret"
INTERNAL_PREFIX = "/_cluster/"  # node-to-node routes: never in the OpenAPI document
MIN_SECRET_LENGTH = 16
LEASE_RANGE = (1.0, 300.0)  # seconds; below one second a GC pause or a slow commit would cost a node its shows
RECENTLY_DEAD_SECONDS = 300  # dead nodes stay listed by GET /cluster this long
MAX_LISTED_SHOWS = 1000  # per node in GET /cluster


class ClusterRefused(Exception):
    """This node must not start; the message says why in one line."""


def settings_problem(settings: Settings) -> str | None:
    """Why these cluster settings cannot work, in one line; None when they can (or cluster mode is off)."""
    low, high = LEASE_RANGE
    if not low <= settings.lease_seconds <= high:
        lease = settings.lease_seconds
        return f"CINEMA_LEASE_SECONDS (--lease-seconds) must be between {low:g} and {high:g} seconds, not {lease:g}"
    if not settings.cluster_secret:
        return None
    if len(settings.cluster_secret) < MIN_SECRET_LENGTH:
        return f"CINEMA_CLUSTER_SECRET must have at least {MIN_SECRET_LENGTH} characters"
    backend = make_url(settings.database_url).get_backend_name()
    if backend != "postgresql":
        return f"cluster mode needs PostgreSQL (the nodes share one database server), not {backend}"
    try:
        url = URL(settings.node_url) if settings.node_url else None
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
        return f"CINEMA_NODE_URL must be http(s)://host:port (how other nodes reach it), not {settings.node_url!r}"
    return None


def default_node_url(host: str, port: int) -> str:
    """This node's address as the others would dial it: a wildcard listen address names no one, the host does."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return str(URL.build(scheme="http", host=host, port=port))


def check_value(secret: str, label: str) -> str:
    """A value that shows whether two nodes hold the same secret, without revealing it."""
    return hmac.new(secret.encode(), f"cinema-cluster-check:{label}".encode(), hashlib.sha256).hexdigest()


class Membership:
    """This node's row in the registry, renewed every third of a lease on its own small connection pool, so
    that a flood of bookings cannot starve the heartbeat."""

    def __init__(self, settings: Settings) -> None:
        self.identity = registry.NodeIdentity(
            id=uuid.uuid4().hex,
            url=str(URL(settings.node_url)).rstrip("/"),
            secret_check=check_value(settings.cluster_secret, "secret"),
            jwt_check=check_value(settings.jwt_secret, "jwt"),
            lease_seconds=settings.lease_seconds,
        )
        self.secret = settings.cluster_secret
        self.database: AsyncEngine = open_engine(settings.database_url, pool_size=1)
        self._last_beat = time.monotonic()
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        """False once a whole lease has passed without a heartbeat reaching the database."""
        return time.monotonic() - self._last_beat < self.identity.lease_seconds

    async def join(self) -> None:
        try:
            await registry.join(self.database, self.identity)
        except registry.JoinRefused as error:
            raise ClusterRefused(str(error)) from None
        self._last_beat = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._beat())
        log.info("joined the cluster as node %s at %s", self.identity.id, self.identity.url)

    async def leave(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.wait_for(registry.leave(self.database, self.identity.id), self.identity.lease_seconds)
        except Exception as error:  # the row then expires by itself after one lease
            log.warning("could not leave the cluster registry (%s); the row expires by itself", type(error).__name__)
        await self.database.dispose()

    async def _beat(self) -> None:
        interval = self.identity.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(registry.heartbeat(self.database, self.identity), interval)
            except Exception as error:  # a heartbeat that fails must not end the loop: the next one may work
                if not self._failing:
                    log.warning("cluster heartbeat failed (%s: %s)", type(error).__name__, error)
                self._failing = True
                continue
            if self._failing:
                log.info("cluster heartbeat works again")
            self._failing = False
            self._last_beat = time.monotonic()


CLUSTER = web.AppKey("cluster", Membership)


async def enter(app: web.Application, database: AsyncEngine) -> None:
    """Join the cluster in cluster mode; otherwise make sure no live cluster node shares this database."""
    settings = app[SETTINGS]
    problem = settings_problem(settings)
    if problem is not None:
        raise ClusterRefused(problem)
    if not settings.cluster_secret:
        if database.dialect.name == "postgresql":
            live = await registry.nodes(database)
            if live:
                raise ClusterRefused(
                    f"{len(live)} live cluster node(s) use this database (e.g. {live[0].url}); start this one with "
                    "CINEMA_CLUSTER_SECRET (or --cluster-secret) to join them"
                )
        return
    membership = Membership(settings)
    try:
        await membership.join()
    except BaseException:
        await membership.database.dispose()
        raise
    app[CLUSTER] = membership


async def leave(app: web.Application) -> None:
    if CLUSTER in app:
        await app[CLUSTER].leave()


def require_secret(request: web.Request) -> Membership:
    """Internal routes answer only callers that hold the cluster secret (compared in constant time)."""
    membership = request.app.get(CLUSTER)
    offered = request.headers.get(SECRET_HEADER, "")
    if membership is None or not hmac.compare_digest(offered.encode(), membership.secret.encode()):
        raise ApiError(403, "This route is for cluster nodes only.", code="cluster_secret_required")
    return membership


class LeaseView(Schema):
    show_id = fields.Integer(required=True)
    epoch = fields.Integer(required=True, metadata={"description": "the fencing token the owner loaded with"})
    held_seconds = fields.Float(required=True, metadata={"description": "since the owner took the show"})
    lease_expires_in_seconds = fields.Float(required=True, metadata={"description": "negative: free to take"})


class NodeView(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    heartbeat_age_seconds = fields.Float(required=True, metadata={"description": "by the database's clock"})
    expires_in_seconds = fields.Float(required=True, metadata={"description": "negative: dead that long"})
    alive = fields.Boolean(required=True)
    this = fields.Boolean(required=True, metadata={"description": "the node that answered"})
    shows = fields.List(fields.Nested(LeaseView), required=True, metadata={"description": "at most 1,000"})


class ClusterView(Schema):
    mode = fields.String(required=True, metadata={"description": "cluster, or single without a cluster secret"})
    node = fields.String(allow_none=True, metadata={"description": "the id of the node that answered"})
    lease_seconds = fields.Float(allow_none=True)
    nodes = fields.List(fields.Nested(NodeView), required=True)


routes = web.RouteTableDef()


@docs(tags=["admin"], summary="Cluster nodes: addresses, heartbeat ages, their shows and lease ages (admin)")
@response_schema(ClusterView, 200, description="The live nodes, and those dead for up to five minutes")
@errors(401, 403)
@routes.get("/cluster")
async def cluster_view(request: web.Request) -> web.Response:
    await require_admin(request)
    membership = request.app.get(CLUSTER)
    if membership is None:
        return json_response({"mode": "single", "node": None, "lease_seconds": None, "nodes": []})
    rows = await registry.nodes(membership.database, dead_for_at_most=RECENTLY_DEAD_SECONDS)
    leases = await registry.leases(membership.database, [row.id for row in rows], MAX_LISTED_SHOWS)
    return json_response(
        {
            "mode": "cluster",
            "node": membership.identity.id,
            "lease_seconds": membership.identity.lease_seconds,
            "nodes": [_node_json(row, membership.identity.id, leases[row.id]) for row in rows],
        }
    )


def _node_json(row: registry.NodeRow, me: str, leases: list[registry.Lease]) -> dict[str, object]:
    return {
        "id": row.id,
        "url": row.url,
        "started_at": row.started_at.isoformat(),
        "heartbeat_age_seconds": round(row.heartbeat_age, 3),
        "expires_in_seconds": round(row.expires_in, 3),
        "alive": row.alive,
        "this": row.id == me,
        "shows": [
            {
                "show_id": lease.show_id,
                "epoch": lease.epoch,
                "held_seconds": round(lease.held_for, 3),
                "lease_expires_in_seconds": round(lease.expires_in, 3),
            }
            for lease in leases
        ],
    }


internal_routes = web.RouteTableDef()


@internal_routes.get(INTERNAL_PREFIX + "node")
async def internal_node(request: web.Request) -> web.Response:
    """Who this node is and whether its heartbeat holds, for the other nodes (not documented publicly)."""
    membership = require_secret(request)
    identity = membership.identity
    return json_response(
        {"id": identity.id, "url": identity.url, "lease_seconds": identity.lease_seconds, "healthy": membership.healthy}
    )
