"""Recording exchanges as HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), secrets out.

A recording is meant to be committed, so nothing in it may act for anyone: the API key (and any
other credential header) is replaced by a placeholder, and the signature, credential and
session token of every pre-signed URL (S3's X-Amz-*, the filesystem backend's X-Ojin-Signature)
are replaced wherever they appear: URLs, query strings, headers and bodies (the sign-part and
download answers carry such URLs). Bodies are kept up to a cap; a larger one is recorded by its
size and MD5.

The file is valid HAR after every entry: each one is written over the closing brackets, which
are written again after it, so a proxy stopped by SIGKILL still leaves a readable recording.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ojin_local import __version__
from ojin_local.proxy.forward import Captured, Exchange
from ojin_local.storage.signing import SIGNATURE

PLACEHOLDER = "REDACTED"
SECRET_HEADERS = frozenset(
    {"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie",
     "x-amz-security-token"}
)  # fmt: skip
SIGNED_PARAMETERS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", SIGNATURE)
_SIGNED = re.compile(
    "(" + "|".join(re.escape(name) for name in SIGNED_PARAMETERS) + r")=[^&#\"'\s\\<]*",
    re.IGNORECASE,
)
TEXT_TYPES = re.compile(r"^(text/.*|application/((.+\+)?(json|xml)|x-www-form-urlencoded))$")
TAIL = "\n]}}\n"


def scrub(text: str) -> str:
    """`text` with every pre-signed URL's secret parameters replaced by the placeholder."""
    return _SIGNED.sub(lambda found: f"{found[1]}={PLACEHOLDER}", text)


def headers_of(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {"name": name, "value": PLACEHOLDER if name.lower() in SECRET_HEADERS else scrub(value)}
        for name, value in pairs
    ]


def content_of(body: Captured, media_type: str, encoding: str | None, cap: int) -> dict[str, Any]:
    """A HAR `content` (or the fields of `postData`): the text when the body is within the cap,
    base64 when it is not text, else only its size and MD5."""
    data = body.data
    if data is not None and encoding and encoding.lower() in ("gzip", "deflate"):
        try:
            data = zlib.decompress(data, wbits=31 if encoding.lower() == "gzip" else 15)
        except zlib.error:
            data = None
    found: dict[str, Any] = {"size": len(data) if data is not None else body.size,
                             "mimeType": media_type}  # fmt: skip
    if data is None or len(data) > cap:
        found["comment"] = (
            f"body not kept: {body.size} bytes over the recording's cap of {cap} bytes, "
            f"MD5 {body.md5}"
        )
        found["_md5"] = body.md5
        return found
    if TEXT_TYPES.match(media_type.split(";")[0].strip().lower() or "text/plain"):
        try:
            found["text"] = scrub(data.decode("utf-8"))
            return found
        except UnicodeDecodeError:
            pass
    found["text"] = base64.b64encode(data).decode("ascii")
    found["encoding"] = "base64"
    return found


def entry_of(exchange: Exchange, cap: int) -> dict[str, Any]:
    request_headers = dict((n.lower(), v) for n, v in exchange.request_headers)
    url = scrub(exchange.url)
    request: dict[str, Any] = {
        "method": exchange.method,
        "url": url,
        "httpVersion": exchange.http_version,
        "cookies": [],
        "headers": headers_of(exchange.request_headers),
        "queryString": [
            {"name": name, "value": value}
            for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": exchange.request_body.size,
    }
    if exchange.request_body.size or "content-type" in request_headers:
        media_type = request_headers.get("content-type", "application/octet-stream")
        posted = content_of(exchange.request_body, media_type, None, cap)
        posted.pop("size")
        posted.setdefault("text", "")
        request["postData"] = posted
    response_headers = dict((n.lower(), v) for n, v in exchange.response_headers)
    assert exchange.response_body is not None
    ended = exchange.ended_at or exchange.headers_at or exchange.clock
    sent = exchange.sent_at or exchange.clock
    headers_at = exchange.headers_at or sent
    timings = {
        "blocked": -1,
        "dns": -1,
        "connect": -1,
        "send": _ms(sent - exchange.clock),
        "wait": _ms(headers_at - sent),
        "receive": _ms(ended - headers_at),
        "ssl": -1,
    }
    return {
        "startedDateTime": exchange.started.isoformat(timespec="milliseconds"),
        "time": round(timings["send"] + timings["wait"] + timings["receive"], 3),
        "request": request,
        "response": {
            "status": exchange.status,
            "statusText": exchange.reason,
            "httpVersion": exchange.http_version,
            "cookies": [],
            "headers": headers_of(exchange.response_headers),
            "content": content_of(
                exchange.response_body,
                response_headers.get("content-type", ""),
                response_headers.get("content-encoding"),
                cap,
            ),
            "redirectURL": scrub(response_headers.get("location", "")),
            "headersSize": -1,
            "bodySize": exchange.response_body.size,
        },
        "cache": {},
        "timings": timings,
    }


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 3)


class HarWriter:
    """Appends entries to a HAR file that stays valid after each one."""

    def __init__(self, path: Path, upstream: str, cap: int) -> None:
        self.path = path
        self.cap = cap
        self.count = 0
        head = {
            "version": "1.2",
            "creator": {"name": "ojin-local proxy", "version": __version__},
            "pages": [],
            "comment": "Recorded by ojin-local proxy; API keys and URL signatures removed.",
            "_ojin": {"upstream": upstream, "placeholder": PLACEHOLDER},
        }
        text = json.dumps({"log": head}, ensure_ascii=False)
        opening = text[: -len("}}")] + ', "entries": ['
        self._file = path.open("w", encoding="utf-8")
        self._file.write(opening)
        self._end = self._file.tell()
        self._file.write(TAIL)
        self._file.flush()

    def add(self, exchange: Exchange) -> None:
        text = json.dumps(entry_of(exchange, self.cap), ensure_ascii=False)
        self._file.seek(self._end)
        self._file.write(("," if self.count else "") + "\n" + text)
        self._end = self._file.tell()
        self._file.write(TAIL)
        self._file.truncate()
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        self._file.close()
