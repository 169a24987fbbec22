"""The node registry of cluster mode, in PostgreSQL: who is alive, where to reach it, and since when.

Every time is the database's clock (`now()`), never a node's own: nodes on different machines then agree on
which heartbeat is fresh however far their clocks drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.ports import StorageUnavailable
from storage.database import is_unavailable

JOIN_LOCK = 0x63696E656D61  # pg_advisory_xact_lock key ("cinema"): joins happen one at a time
FORGET_AFTER_SECONDS = 3600  # rows of nodes dead this long are deleted by the next node that joins

LIVE_NODES = text(
    "SELECT id, url, lease_seconds, started_at, heartbeat_at, expires_at, secret_check, jwt_check, "
    "EXTRACT(EPOCH FROM now() - heartbeat_at) AS age, EXTRACT(EPOCH FROM expires_at - now()) AS left_ "
    "FROM cluster_nodes WHERE expires_at > now() - make_interval(secs => :grace) ORDER BY started_at, id"
)
HEARTBEAT = text(
    "INSERT INTO cluster_nodes (id, url, secret_check, jwt_check, lease_seconds, started_at, heartbeat_at, "
    "expires_at) VALUES (:id, :url, :secret_check, :jwt_check, :lease, now(), now(), "
    "now() + make_interval(secs => :lease)) "
    "ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = now() + make_interval(secs => :lease)"
)

# A node's show leases (issue 15's show_owners rows naming it) are renewed with its heartbeat, in the same
# transaction; a lease another node took names that node and is left alone.
RENEW_LEASES = text("UPDATE show_owners SET expires_at = now() + make_interval(secs => :lease) WHERE owner = :id")
RELEASE_LEASES = text("UPDATE show_owners SET expires_at = now() WHERE owner = :id")
LEASES = text(
    "SELECT owner, show_id, epoch, EXTRACT(EPOCH FROM now() - taken_at) AS held, "
    "EXTRACT(EPOCH FROM expires_at - now()) AS left_ FROM show_owners "
    "WHERE owner = ANY(:ids) AND expires_at IS NOT NULL ORDER BY owner, show_id"
)


@dataclass(frozen=True, slots=True)
class Lease:
    show_id: int
    epoch: int
    held_for: float  # seconds since the owner took it
    expires_in: float  # negative: expired that long ago (and free to take)


@dataclass(frozen=True, slots=True)
class NodeRow:
    id: str
    url: str
    lease_seconds: float
    started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    secret_check: str
    jwt_check: str
    heartbeat_age: float  # seconds since its last heartbeat
    expires_in: float  # seconds until it counts as dead (negative: dead that long)

    @property
    def alive(self) -> bool:
        return self.expires_in > 0


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    id: str
    url: str
    secret_check: str
    jwt_check: str
    lease_seconds: float


class JoinRefused(Exception):
    """A live node disagrees with this one on a shared secret; the message says which, in one line."""


async def nodes(engine: AsyncEngine, *, dead_for_at_most: float = 0.0) -> list[NodeRow]:
    """Live nodes, and those dead for at most `dead_for_at_most` seconds; raises StorageUnavailable."""
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(LIVE_NODES, {"grace": dead_for_at_most})).all()
    except Exception as error:
        if is_unavailable(error):
            raise StorageUnavailable(str(error)) from error
        raise
    return [
        NodeRow(
            id=row.id,
            url=row.url,
            lease_seconds=row.lease_seconds,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            expires_at=row.expires_at,
            secret_check=row.secret_check,
            jwt_check=row.jwt_check,
            heartbeat_age=float(row.age),
            expires_in=float(row.left_),
        )
        for row in rows
    ]


async def join(engine: AsyncEngine, me: NodeIdentity) -> list[NodeRow]:
    """Register `me` unless a live node was started with other secrets; returns the live nodes, `me` included."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": JOIN_LOCK})
        rows = (await conn.execute(LIVE_NODES, {"grace": 0})).all()
        others = [row for row in rows if row.id != me.id]
        for row in others:
            if row.secret_check != me.secret_check:
                raise JoinRefused(
                    f"CINEMA_CLUSTER_SECRET differs from that of the live node {row.url}; every node needs the same"
                )
            if row.jwt_check != me.jwt_check:
                raise JoinRefused(
                    f"CINEMA_JWT_SECRET differs from that of the live node {row.url}; every node needs the same, "
                    "or tokens issued by one node are refused by the others"
                )
        await conn.execute(
            text("DELETE FROM cluster_nodes WHERE expires_at < now() - make_interval(secs => :after)"),
            {"after": FORGET_AFTER_SECONDS},
        )
        await conn.execute(HEARTBEAT, _params(me))
    return await nodes(engine)


async def heartbeat(engine: AsyncEngine, me: NodeIdentity) -> None:
    """Push this node's expiry and its shows' leases one lease ahead (re-registering it if it was forgotten)."""
    async with engine.begin() as conn:
        await conn.execute(HEARTBEAT, _params(me))
        await conn.execute(RENEW_LEASES, {"id": me.id, "lease": me.lease_seconds})


async def leave(engine: AsyncEngine, node_id: str) -> None:
    """Give up this node's shows at once (the next node to be asked takes them) and its registry row."""
    async with engine.begin() as conn:
        await conn.execute(RELEASE_LEASES, {"id": node_id})
        await conn.execute(text("DELETE FROM cluster_nodes WHERE id = :id"), {"id": node_id})


async def leases(engine: AsyncEngine, node_ids: list[str], most_per_node: int) -> dict[str, list[Lease]]:
    """The show leases held by each of `node_ids`, at most `most_per_node` each; raises StorageUnavailable."""
    found: dict[str, list[Lease]] = {node_id: [] for node_id in node_ids}
    try:
        async with engine.connect() as conn:
            for row in await conn.execute(LEASES, {"ids": node_ids}):
                held = found[row.owner]
                if len(held) < most_per_node:
                    held.append(Lease(row.show_id, row.epoch, float(row.held), float(row.left_)))
    except Exception as error:
        if is_unavailable(error):
            raise StorageUnavailable(str(error)) from error
        raise
    return found


def _params(me: NodeIdentity) -> dict[str, object]:
    return {
        "id": me.id,
        "url": me.url,
        "secret_check": me.secret_check,
        "jwt_check": me.jwt_check,
        "lease": me.lease_seconds,
    }
