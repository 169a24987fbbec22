"""bcrypt on worker threads, shared fairly between client addresses.

A hash costs tens to hundreds of milliseconds and must not stall the event loop, so it runs on its own threads.
Who gets those threads matters as much: one address sending wrong passwords faster than bcrypt can check them
used to queue ahead of everyone (a real user's login took 14 s and rising). Here each source has its own queue
and the threads take one job from each waiting source in turn, so a storm from one address delays only that
address. Every queue is bounded, and so is the time a job may wait: a storm is answered 429 (one source's queue
full) or 503 (all of them full, or the job waited too long) at once rather than after minutes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import bcrypt

from engine.errors import Busy

MAX_PASSWORD_BYTES = 72  # bcrypt ignores the rest; longer passwords are refused rather than silently cut
LOCAL = "local"  # the source of work that is not a client's (the CLI)


class SourceBusy(Exception):
    """This source already has its share of password checks waiting; the caller should answer 429."""


@dataclass(slots=True)
class _Job:
    fn: Callable[[bytes, bytes], Any]
    password: bytes
    other: bytes
    answer: asyncio.Future[Any]
    queued_at: float


class PasswordHasher:
    def __init__(
        self,
        rounds: int = 12,
        threads: int = 2,
        max_waiting: int = 512,
        max_per_source: int = 32,
        max_wait_seconds: float = 5.0,
    ) -> None:
        assert 4 <= rounds <= 31 and threads >= 1 and max_waiting >= 1 and max_per_source >= 1
        self._rounds = rounds
        self._threads = threads
        self._max_waiting = max_waiting
        self._max_per_source = max_per_source
        self._max_wait = max_wait_seconds
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()  # sources in turn order
        self._waiting = 0
        self._running = 0  # never above `threads`: the executor's own (unbounded, unfair) queue stays empty
        # bcrypt releases the GIL, so these threads run beside the loop.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        self._dummy = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds))

    @property
    def waiting(self) -> int:
        return self._waiting

    def has_room(self, source: str) -> bool:
        """Whether `source` may queue another job: checked before any other work of a login, so that one
        address's storm is refused before it reaches the database."""
        queue = self._queues.get(source)
        return queue is None or len(queue) < self._max_per_source

    async def hash(self, password: str, source: str = LOCAL) -> str:
        assert len(password.encode()) <= MAX_PASSWORD_BYTES, "validate the length before hashing"
        salt = bcrypt.gensalt(self._rounds)
        digest = await self._run(source, bcrypt.hashpw, password.encode(), salt)
        return digest.decode()

    async def check(self, password: str, password_hash: str | None, source: str = LOCAL) -> bool:
        """Always spends one bcrypt check, even for an unknown user, so timing does not reveal usernames."""
        target = password_hash.encode() if password_hash else self._dummy
        candidate = password.encode()
        too_long = len(candidate) > MAX_PASSWORD_BYTES  # could never have been set; bcrypt would refuse it
        ok = await self._run(source, bcrypt.checkpw, candidate[:MAX_PASSWORD_BYTES], target)
        return bool(ok) and password_hash is not None and not too_long

    async def _run(self, source: str, fn: Callable[[bytes, bytes], Any], password: bytes, other: bytes) -> Any:
        if self._waiting >= self._max_waiting:
            raise Busy("the password checker")
        queue = self._queues.get(source)
        if queue is None:
            queue = self._queues[source] = deque()
        elif len(queue) >= self._max_per_source:
            raise SourceBusy(source)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        queue.append(_Job(fn, password, other, answer, loop.time()))
        self._waiting += 1
        self._dispatch()
        return await answer

    def _dispatch(self) -> None:
        """Start jobs while threads are free, one per source in turn."""
        loop = asyncio.get_running_loop()
        while self._running < self._threads and self._queues:
            source, queue = next(iter(self._queues.items()))
            job = queue.popleft()
            self._waiting -= 1
            if queue:
                self._queues.move_to_end(source)  # its next job waits for every other source's turn
            else:
                del self._queues[source]
            if job.answer.done():  # the caller went away
                continue
            if loop.time() - job.queued_at > self._max_wait:
                job.answer.set_exception(Busy("the password checker"))
                continue
            self._running += 1
            done = self._pool.submit(job.fn, job.password, job.other)
            done.add_done_callback(lambda work, job=job: _call_soon(loop, self._finished, work, job))
        assert self._waiting >= 0 and self._running <= self._threads

    def _finished(self, work: Future[Any], job: _Job) -> None:
        self._running -= 1
        if work.cancelled():
            if not job.answer.done():
                job.answer.set_exception(Busy("the password checker"))
        elif not job.answer.done():
            error = work.exception()
            if error is None:
                job.answer.set_result(work.result())
            else:
                job.answer.set_exception(error)
        self._dispatch()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """From a bcrypt thread: hand the result to the loop, unless the loop is already gone (shutdown)."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass
