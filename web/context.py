"""Typed keys for what the application holds; handlers reach the engine and storage only through these."""

from dataclasses import dataclass

from aiohttp import web

from engine.service import BookingEngine
from storage.journal import GroupCommitJournal
from storage.repository import Repository
from web.security.passwords import PasswordHasher
from web.security.ratelimit import RateLimiter
from web.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", BookingEngine)
JOURNAL = web.AppKey("journal", GroupCommitJournal)
REPOSITORY = web.AppKey("repository", Repository)
HASHER = web.AppKey("hasher", PasswordHasher)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Per-address counters for the account routes (bcrypt makes each attempt expensive)."""

    by_user_and_address: RateLimiter
    by_address: RateLimiter
    signups: RateLimiter
    refreshes: RateLimiter


LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)
