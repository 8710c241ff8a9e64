"""Forwarding one request to the upstream and its answer back, both bodies streamed.

Headers pass unchanged except the hop-by-hop ones (RFC 9110 §7.6.1: Connection, the fields it
names, and the classic list), which describe one connection and not the exchange, and Host,
which names the upstream. Both bodies are teed into a `Captured` as they pass, for the drift
check and the recording; neither is held whole in memory beyond its cap.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sanic import Request

from ojin_local.errors import BadGateway, GatewayTimeout

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host"}
NO_BODY_STATUSES = frozenset({204, 304})
CHUNK = 256 * 1024


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """`headers` without the hop-by-hop fields, including those the Connection field names."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(name, value) for name, value in pairs if name.lower() not in NOT_FORWARDED | named]


class Captured:
    """A body as it passed: its size and MD5 always, its bytes up to `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._kept: bytearray | None = bytearray()

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._md5.update(chunk)
        if self._kept is not None:
            if len(self._kept) + len(chunk) > self.limit:
                self._kept = None
            else:
                self._kept += chunk

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def data(self) -> bytes | None:
        """The whole body, or None when it was larger than the limit."""
        return bytes(self._kept) if self._kept is not None else None


@dataclass
class Exchange:
    """One request and its answer as they passed through the proxy."""

    method: str
    url: str  # the upstream URL the request went to
    http_version: str
    request_headers: list[tuple[str, str]]
    request_body: Captured
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    clock: float = field(default_factory=time.perf_counter)
    sent_at: float | None = None  # when the request body was handed over whole
    headers_at: float | None = None  # when the upstream's status and headers arrived
    ended_at: float | None = None
    status: int = 0
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: Captured | None = None
    complete: bool = False  # the upstream's body passed whole
    checked: bool = False  # against the seed, and recorded

    def header(self, name: str) -> str | None:
        """A response header's value (the first of its name)."""
        wanted = name.lower()
        return next((v for n, v in self.response_headers if n.lower() == wanted), None)


class Forwarder:
    """The connection pool to one upstream API base, e.g. https://api.ojin.ai/v1."""

    def __init__(self, upstream: str, timeout: float, capture_limit: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.capture_limit = capture_limit
        # No retries, no redirects followed, no environment proxies: the client sees exactly
        # what the upstream answered.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
        )

    def target(self, raw_url: bytes) -> str:
        """The upstream URL for a request to the proxy: its path after /v1, and its query,
        byte for byte (percent-encodings kept)."""
        return self.upstream + raw_url.decode("ascii", "replace").removeprefix("/v1")

    async def open(self, request: Request) -> tuple[Exchange, httpx.Response]:
        """Send the request on, its body streamed from the client; returns once the
        upstream's status and headers are in. Unreachable: 502; no answer in time: 504."""
        exchange = Exchange(
            method=request.method,
            url=self.target(request.raw_url),
            http_version=f"HTTP/{request.version}",
            request_headers=list(request.headers.items()),
            request_body=Captured(self.capture_limit),
        )
        headers = end_to_end(exchange.request_headers)
        has_body = any(n.lower() in ("content-length", "transfer-encoding") for n, _ in
                       exchange.request_headers)  # fmt: skip
        outgoing = self.client.build_request(
            request.method,
            exchange.url,
            headers=headers,
            content=self._body(request, exchange) if has_body else None,
        )
        try:
            response = await self.client.send(outgoing, stream=True)
        except httpx.TimeoutException as exc:
            raise GatewayTimeout(
                f"The upstream did not answer within {self.client.timeout.read} s.",
                {"upstream": self.upstream},
            ) from exc
        except httpx.TransportError as exc:
            raise BadGateway(
                f"The upstream could not be reached: {exc or type(exc).__name__}.",
                {"upstream": self.upstream},
            ) from exc
        exchange.headers_at = time.perf_counter()
        exchange.sent_at = exchange.sent_at or exchange.headers_at
        exchange.status = response.status_code
        exchange.reason = response.reason_phrase
        exchange.response_headers = list(response.headers.multi_items())
        exchange.response_body = Captured(self.capture_limit)
        return exchange, response

    async def _body(self, request: Request, exchange: Exchange) -> AsyncIterator[bytes]:
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                break
            exchange.request_body.add(chunk)
            yield chunk
        exchange.sent_at = time.perf_counter()

    @staticmethod
    async def relay(exchange: Exchange, response: httpx.Response) -> AsyncIterator[bytes]:
        """The upstream's body as it arrives (still encoded, as sent), teed into the capture."""
        assert exchange.response_body is not None
        try:
            async for chunk in response.aiter_raw(CHUNK):
                exchange.response_body.add(chunk)
                yield chunk
            exchange.complete = True
        finally:
            exchange.ended_at = time.perf_counter()
            await response.aclose()

    async def close(self) -> None:
        await self.client.aclose()
