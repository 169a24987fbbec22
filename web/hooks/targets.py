"""Which URLs a hook may call: never this machine, a private network or link-local addresses (cloud metadata
at 169.254.169.254 among them) unless CINEMA_WEBHOOK_ALLOW_PRIVATE=1.

A URL is checked when the hook is created (numeric hosts without any look-up; names resolved) and every address
a name resolves to is checked again at each connection (SafeResolver), so a name that later points inside is
refused too."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

MAX_URL_LENGTH = 2000


class TargetRefused(Exception):
    """The URL is not one a hook may call; the message says why."""


def refused_address(address: str) -> str | None:
    """Why `address` (numeric) may not be called, or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "not a unicast public address"
    return None


def check_url(url: str, allow_private: bool) -> tuple[URL, str | None]:
    """The parsed URL and, when its host is numeric, the address; raises TargetRefused. A name is left to
    `check_resolved` (after a look-up) and to SafeResolver at each connection."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = URL(url)
    except ValueError as error:
        raise TargetRefused(f"not a URL ({error})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("the URL must be http:// or https:// with a host")
    if parsed.user or parsed.password:
        raise TargetRefused("the URL must not carry a user name or password")
    host = parsed.host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not allow_private and (host == "localhost" or host.endswith((".localhost", ".local", ".internal"))):
            raise TargetRefused(f"{host} names this machine or a private network") from None
        return parsed, None
    reason = refused_address(host)
    if reason is not None and not allow_private:
        raise TargetRefused(f"{host} is {reason}")
    return parsed, host


def check_resolved(host: str, addresses: list[str], allow_private: bool) -> None:
    if allow_private:
        return
    for address in addresses:
        reason = refused_address(address)
        if reason is not None:
            raise TargetRefused(f"{host} resolves to {address}, {reason}")


async def check_target(url: str, allow_private: bool) -> None:
    """check_url, and for a name its addresses (a look-up: never in the tests, which use numeric hosts)."""
    parsed, address = check_url(url, allow_private)
    if address is None and not allow_private:
        assert parsed.host is not None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, parsed.port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise TargetRefused(f"{parsed.host} does not resolve ({error.strerror or error})") from None
        check_resolved(parsed.host, [str(info[4][0]) for info in infos], allow_private)


class SafeResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to an address a hook may not call."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            try:
                check_resolved(host, [r["host"] for r in results], False)
            except TargetRefused as refused:
                raise OSError(str(refused)) from None
        return results

    async def close(self) -> None:
        await self._inner.close()
