"""bcrypt on worker threads: a hash costs tens to hundreds of milliseconds and must not stall the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

from engine.errors import Busy

T = TypeVar("T")

MAX_PASSWORD_BYTES = 72  # bcrypt ignores the rest; longer passwords are refused rather than silently cut


class PasswordHasher:
    def __init__(self, rounds: int = 12, threads: int = 2, max_waiting: int = 512) -> None:
        assert 4 <= rounds <= 31
        self._rounds = rounds
        self._max_waiting = max_waiting
        self._waiting = 0
        # bcrypt releases the GIL, so these threads run beside the loop; the bound keeps a login storm queued.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        self._dummy = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        assert len(password.encode()) <= MAX_PASSWORD_BYTES, "validate the length before hashing"
        salt = bcrypt.gensalt(self._rounds)
        digest = await self._run(bcrypt.hashpw, password.encode(), salt)
        return digest.decode()

    async def check(self, password: str, password_hash: str | None) -> bool:
        """Always spends one bcrypt check, even for an unknown user, so timing does not reveal usernames."""
        target = password_hash.encode() if password_hash else self._dummy
        candidate = password.encode()
        too_long = len(candidate) > MAX_PASSWORD_BYTES  # could never have been set; bcrypt would refuse it
        ok = await self._run(bcrypt.checkpw, candidate[:MAX_PASSWORD_BYTES], target)
        return bool(ok) and password_hash is not None and not too_long

    async def _run(self, fn: Callable[[bytes, bytes], T], password: bytes, other: bytes) -> T:
        if self._waiting >= self._max_waiting:  # the executor's own queue has no bound
            raise Busy("the password checker")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, password, other)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
