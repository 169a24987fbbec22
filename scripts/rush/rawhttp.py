"""A minimal HTTP/1.1 keep-alive client for the rush's timed loop, and nothing else.

aiohttp's client spends ~250 us of CPU per request (pool, request and response objects, headers parsing), which
capped `cinema rush` near 3,400 requests/s on a core shared with the server. Here each worker owns one
connection, writes pre-built request bytes and reads a status line, headers and a Content-Length body.
It is not a general client: no chunked bodies, no redirects, no TLS. Setup and read-back still use aiohttp.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


class KeepAliveConnection:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise HttpError("the rush's fast client speaks plain http only")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc.encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def head(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        """The request line and headers up to, not including, Content-Length: built once per user."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header.decode()}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n").encode()

    @staticmethod
    def length(body: bytes) -> bytes:
        return b"Content-Length: %d\r\n\r\n" % len(body)

    def build(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        return self.head(method, path, headers) + self.length(body) + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(request)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise HttpError("chunked responses are not supported by the rush's fast client")
            body = await self._reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError) as error:
            await self.close()
            raise ConnectionError(f"connection lost: {error}") from error
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass
        self._reader = self._writer = None
