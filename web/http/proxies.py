"""Who the client is behind a reverse proxy: plain functions over addresses and header values, no I/O.

Only a peer listed in CINEMA_TRUSTED_PROXIES may speak for its client through `X-Forwarded-For` (or RFC 7239
`Forwarded`) and `X-Forwarded-Proto` / `X-Forwarded-Host`; from any other peer those headers are ignored, so a
client cannot choose the address its limits are counted under. Behind a chain of proxies the client is the
right-most address that is not itself a trusted proxy: every entry to its left was written by the client, or
by proxies it chose, and can be forged.

aiohttp-remotes was weighed and not used: its XForwardedStrict (and ForwardedStrict) wants an exact hop count and
answers 400 to every direct client, which this service must keep serving beside its proxy, and its
XForwardedFiltered takes the header from any peer (spoofable); neither tells the connection guard
(web/http/serving.py) which peers are proxies, and each clones every request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
SETTING = "CINEMA_TRUSTED_PROXIES"
# What X-Forwarded-Host may say: a host name or an address, and a port. Anything else (a path, a user, spaces)
# is ignored, as it would end up in the links of an answer.
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")
_SCHEMES = frozenset({"http", "https"})


def address(text: str) -> Address | None:
    """An address as proxies write it (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `"[::1]"`), else None (`unknown`,
    an obfuscated `_name`, garbage). IPv4 mapped into IPv6 counts as the IPv4 address it is."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        found = ip_address(text)
    except ValueError:
        return None
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def parse(entries: Iterable[str]) -> tuple[str, ...]:
    """CINEMA_TRUSTED_PROXIES' items (addresses and CIDRs), normalised; ValueError names the one that is neither."""
    parsed = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            parsed.append(str(ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{SETTING}: {entry!r} is neither an IP address nor a CIDR network") from None
    return tuple(parsed)


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        return cls(tuple(ip_network(entry, strict=False) for entry in parse(entries)))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, peer: str) -> bool:
        return bool(self.networks) and _trusted(self, peer)

    def trusts_address(self, found: Address) -> bool:
        return any(found in network for network in self.networks)


@functools.lru_cache(maxsize=4096)
def _trusted(proxies: TrustedProxies, peer: str) -> bool:
    found = address(peer)
    return found is not None and proxies.trusts_address(found)


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent a request: `address` is what per-client limits count. `proxied`: it came through a trusted proxy,
    which also says the scheme and host the client used (None where it said nothing usable)."""

    address: str
    proxied: bool = False
    scheme: str | None = None
    host: str | None = None


def resolve(
    peer: str,
    proxies: TrustedProxies,
    forwarded: Sequence[Mapping[str, str]] = (),
    forwarded_for: Sequence[str] = (),
    proto: Sequence[str] = (),
    host: Sequence[str] = (),
) -> Client:
    """The client of a request from `peer`: from the X-Forwarded-For, -Proto and -Host header values (each may
    repeat) when there is an X-Forwarded-For, else from the RFC 7239 elements (aiohttp's `request.forwarded`).

    X-Forwarded-For wins because it is what nginx and HAProxy write as usually configured (docs/CLUSTER.md), and
    they pass a client's own `Forwarded` header through untouched: preferring that would let a client name its
    address. A proxy that writes `Forwarded` only must remove X-Forwarded-For from what clients send."""
    if not proxies.trusts(peer):
        return Client(peer)
    if forwarded_for or not forwarded:
        hops = _items(forwarded_for)
        scheme, named_host = _last(proto), _last(host)
    else:
        hops = [element.get("for", "") for element in forwarded]
        nearest = forwarded[-1]  # the element our own proxy wrote: the only one it vouches for
        scheme, named_host = nearest.get("proto"), nearest.get("host")
    client = peer
    for hop in reversed(hops):
        found = address(hop)
        if found is None:  # `unknown` or garbage: the last hop that named a real address is the best known
            break
        client = str(found)
        if not proxies.trusts_address(found):
            break
    scheme = scheme.strip().lower() if scheme else None
    named_host = named_host.strip() if named_host else None
    return Client(
        client,
        proxied=True,
        scheme=scheme if scheme in _SCHEMES else None,
        host=named_host if named_host and _HOST.match(named_host) else None,
    )


def _items(values: Sequence[str]) -> list[str]:
    """Repeated headers are one comma-separated list (RFC 9110 5.3), in order."""
    return [item for value in values for item in value.split(",")]


def _last(values: Sequence[str]) -> str | None:
    items = [item.strip() for item in _items(values) if item.strip()]
    return items[-1] if items else None
