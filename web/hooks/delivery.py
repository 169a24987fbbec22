"""The delivery loop: one task per process that reads the outbox in batches and calls the hooks it holds.

It has its own database pool and its own HTTP session, so a receiver that is slow, hangs or is down holds only
this loop's connections: bookings never wait for it. Per hook at most `webhook_concurrency` requests are in
flight, each bounded by `webhook_timeout_seconds`; per show one at a time, oldest first, so every receiver hears
of a show's changes in order. An event is marked delivered only after a 2xx answer is recorded: a crash in
between sends it again (at least once; receivers deduplicate by `Cinema-Event-Id`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import is_unavailable, open_engine
from storage.outbox import StoredEvent
from storage.webhooks import Due, HookRow, Result, WebhookStore
from web.hooks.payload import ShowCache, render
from web.hooks.schedule import after_attempt
from web.hooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature
from web.hooks.targets import SafeResolver, TargetRefused, check_url
from web.settings import Settings

log = logging.getLogger("cinema.webhooks")
CHAIN = 100  # deliveries of one show sent back to back in one round
FAN_OUT_BATCH = 5000  # outbox events read per hook per round (in SQL: they never pass through Python)
PRUNE_EVERY_SECONDS = 600.0
USER_AGENT = "cinema-webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass(slots=True)
class DeliveryStats:
    attempts: int = 0
    delivered: int = 0
    failed: int = 0
    loop_errors: int = 0
    pruned: int = 0


class Deliverer:
    def __init__(self, settings: Settings, owner: str, lease_seconds: float, database: AsyncEngine | None = None):
        """`owner`: this process's name on the hooks' leases (in cluster mode, the node's id)."""
        self._settings = settings
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._database = database or open_engine(settings.database_url, pool_size=2)
        self.store = WebhookStore(self._database)
        self._shows = ShowCache()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending: dict[int, dict[int, asyncio.Task[None]]] = {}  # hook id -> show key -> its sends
        self._disabled: set[int] = set()
        self._disabling: dict[int, str] = {}  # hook id -> why: disabled in the database at the next round
        self._results: list[Result] = []  # finished attempts, recorded at the next round
        self._next_fan_out: dict[int, float] = {}  # hook id -> when its next events are queued
        self._wake = asyncio.Event()
        self.stats = DeliveryStats()

    def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=SafeResolver(self._settings.webhook_allow_private),
            limit=100,
            limit_per_host=self._settings.webhook_concurrency,
        )
        timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout_seconds)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}, auto_decompress=False
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-delivery")

    def poke(self) -> None:
        """New events were committed: look now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        """Stop sending. Deliveries cut short stay pending and are sent again by whoever holds the hook next."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        sends = [task for hook in self._sending.values() for task in hook.values()]
        for task in sends:
            task.cancel()
        await asyncio.gather(*sends, return_exceptions=True)
        try:
            await self.store.release(self._owner)
        except Exception as error:  # the database may be gone; the leases then simply expire
            log.warning("webhook leases not released: %s", error)
        if self._session is not None:
            await self._session.close()
        await self._database.dispose()

    async def _run(self) -> None:
        poll = self._settings.webhook_poll_seconds
        hooks: list[HookRow] = []
        next_claim = next_prune = 0.0
        while True:
            more = False
            try:
                now = time.time()
                if now >= next_claim:
                    hooks = await self.store.claim(self._owner, self._lease_seconds)
                    next_claim = now + min(1.0, self._lease_seconds / 3)
                    self._disabled.intersection_update(h.id for h in hooks)
                await self._flush()
                for hook in hooks:
                    if hook.id not in self._disabled:
                        more |= await self._round(hook, now)
                if now >= next_prune:
                    next_prune = now + PRUNE_EVERY_SECONDS
                    await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is down, say: keep the loop, try again shortly
                self.stats.loop_errors += 1
                log.warning("webhook delivery round failed: %s: %s", type(error).__name__, error)
                await asyncio.sleep(min(5.0, poll * 8))
            # Even with more waiting, a pause between rounds: this loop shares the event loop (and, on SQLite,
            # the write lock) with the booking path, and must never take it over during a rush.
            await asyncio.sleep(poll / 5)
            if not more:
                try:
                    await asyncio.wait_for(self._wake.wait(), poll)
                except TimeoutError:
                    pass
            self._wake.clear()

    async def _round(self, hook: HookRow, now: float) -> bool:
        """Queue the hook's new events and start what is due; True when more are waiting right now.

        The queueing is a write: at most once per poll interval per hook (unless a full batch is waiting), since
        on SQLite each write waits for, and then holds up, the journal's write lock."""
        read = 0
        if now >= self._next_fan_out.get(hook.id, 0.0):
            read, _ = await self.store.fan_out(hook, FAN_OUT_BATCH, now)
            self._next_fan_out[hook.id] = now if read == FAN_OUT_BATCH else now + self._settings.webhook_poll_seconds
        sending = self._sending.setdefault(hook.id, {})
        room = self._settings.webhook_concurrency - len(sending)
        if room > 0:
            for chain in await self.store.due(hook.id, now, room, CHAIN, set(sending)):
                show_key = chain[0].event.show_id or 0
                sending[show_key] = asyncio.get_running_loop().create_task(self._deliver(hook, chain))
        return read == FAN_OUT_BATCH

    async def _deliver(self, hook: HookRow, chain: list[Due]) -> None:
        """Send one show's due deliveries in order, stopping at the first that is not delivered. Results wait
        in `_results` for the next round to record; the show stays in `_sending` until then, so no round
        sends its events again meanwhile (after a crash before that, they are sent again: at least once)."""
        try:
            for due in chain:
                if hook.id in self._disabled or not await self._attempt(hook, due):
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # what was not recorded stays pending and is tried again
            log.warning("webhook %d: delivery stopped: %s", hook.id, error)
        finally:
            self._wake.set()

    async def _attempt(self, hook: HookRow, due: Due) -> bool:
        event = due.event
        attempt = await self.send(hook, await self.payload(event))
        attempt_no = due.attempts + 1
        now = time.time()
        settings = self._settings
        step = after_attempt(
            attempt.status_code,
            attempt_no,
            now,
            now - event.created_at.timestamp(),
            settings.webhook_retry_hours * 3600,
            settings.webhook_backoff_seconds,
        )
        if step.disable:  # before any await: no round may start this hook's next event meanwhile
            self._disabled.add(hook.id)
            self._disabling[hook.id] = f"the receiver answered 410 Gone to event {event.id}"
        self._results.append(
            Result(
                due.delivery_id,
                hook.id,
                event.id,
                attempt_no,
                attempt.status_code,
                attempt.error,
                attempt.duration_ms,
                step.state,
                step.at,
                datetime.now(UTC),
            )
        )
        return step.state == "delivered"

    async def _flush(self) -> None:
        """Record the finished attempts, then let their shows' next events go."""
        finished = [(hook, key) for hook, shows in self._sending.items() for key, task in shows.items() if task.done()]
        results, self._results = self._results, []
        try:
            await self.store.record(results)
        except Exception as error:
            if is_unavailable(error):
                self._results = results + self._results  # tried again next round; their shows stay held
                raise
            log.exception("webhook attempts not recorded; their deliveries stay pending and are sent again")
        for hook_id, show_key in finished:  # every result of a finished chain was in `results`
            self._sending[hook_id].pop(show_key, None)
        for result in results:
            self.stats.delivered += result.state == "delivered"
            self.stats.failed += result.state == "failed"
        disabling, self._disabling = self._disabling, {}
        for hook_id, reason in disabling.items():
            await self.store.disable(hook_id, reason)
            log.warning("webhook %d disabled: %s", hook_id, reason)

    async def payload(self, event: StoredEvent) -> bytes:
        show_id = event.show_id
        if show_id is not None and self._shows.missing({show_id}):
            self._shows.add(await self.store.shows([show_id]))
        return orjson.dumps(render(event, self._shows.get(show_id)))

    async def send(self, hook: HookRow, body: bytes, event_id: int | None = None) -> Attempt:
        """One signed POST; redirects are not followed (a 3xx is a failed attempt)."""
        assert self._session is not None, "start() first"
        if event_id is None:
            event_id = orjson.loads(body)["id"]
        self.stats.attempts += 1
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(hook.secret, body, int(time.time())),
            EVENT_ID_HEADER: str(event_id),
        }
        started = time.perf_counter()
        try:
            check_url(hook.url, self._settings.webhook_allow_private)
            async with self._session.post(hook.url, data=body, headers=headers, allow_redirects=False) as answer:
                await answer.content.read(4096)  # a little of the body, so the connection can be reused
                return Attempt(answer.status, None, (time.perf_counter() - started) * 1000)
        except TimeoutError:
            error = f"no answer within {self._settings.webhook_timeout_seconds:g} s"
        except TargetRefused as refused:
            error = f"target refused: {refused}"
        except (aiohttp.ClientError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        return Attempt(None, error[:300], (time.perf_counter() - started) * 1000)

    async def ping(self, hook: HookRow) -> Attempt:
        """POST /webhooks/{id}/test/: a `webhook.test` event sent now to this hook only, its attempt recorded
        under event id 0 (it is in no outbox: no one else hears of it)."""
        event: dict[str, Any] = {
            "id": 0,
            "type": "webhook.test",
            "created_at": datetime.now(UTC).isoformat(),
            "data": {"webhook": {"id": hook.id, "url": hook.url}},
        }
        attempt = await self.send(hook, orjson.dumps(event), 0)
        ping = Result(
            None,
            hook.id,
            0,
            1,
            attempt.status_code,
            attempt.error,
            attempt.duration_ms,
            "delivered",
            0.0,
            datetime.now(UTC),
        )
        await self.store.record([ping])
        return attempt

    async def _prune(self) -> None:
        before = datetime.now(UTC) - timedelta(days=self._settings.webhook_retention_days)
        counts = await self.store.prune(before)
        self.stats.pruned += sum(counts)
        if any(counts):
            fields = dict(zip(("deliveries", "attempts", "events"), counts, strict=True))
            log.info("webhooks pruned", extra={"fields": fields})


DELIVERER = web.AppKey("webhook_deliverer", Deliverer)
