"""Pre-signed URLs of the filesystem backend, and the download headers they carry.

S3 signs a URL with the caller's secret key (SigV4); here a random secret kept in the data dir
plays that part, so URLs survive restarts and only servers of this data dir honour them. The
HMAC-SHA256 covers the method, the decoded path and every query parameter but the signature, in
canonical order: changing any of them (part number, upload id, expiry, disposition) breaks it.

Expiry is by the virtual clock (domain.clock) of whoever asked for the URL: a URL signed for a
namespace's organization names the namespace (X-Ojin-Namespace, signed too), and the route that
verifies it enters that namespace's clock first.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import string
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from ojin_local.domain.clock import current_namespace, now_epoch
from ojin_local.errors import S3Error
from ojin_local.storage.files import fsync_dir, make_dirs

URL_PREFIX = "/_ojin/storage"
EXPIRES = "X-Ojin-Expires"
SIGNATURE = "X-Ojin-Signature"
NAMESPACE = "X-Ojin-Namespace"
SECRET_BYTES = 32

_FALLBACK_SAFE = frozenset(string.ascii_letters + string.digits + " ._()+-")
# What `content_disposition` produces.
_DISPOSITION = re.compile(
    r"attachment; filename=\"[A-Za-z0-9 ._()+-]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+"
)
_PRINTABLE_ASCII = re.compile(r"[ -~]{1,1024}")


class Signer:
    """Signs and verifies URLs with one secret (the data dir's `signing.key`)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def url(
        self,
        base_url: str,
        method: str,
        key: str,
        params: Mapping[str, str],
        expires_in: int,
    ) -> str:
        """`{base_url}/_ojin/storage/{key}?{params}&X-Ojin-Expires=..&X-Ojin-Signature=..`."""
        signed = {**params, EXPIRES: str(int(now_epoch()) + expires_in)}
        namespace = current_namespace()
        if namespace is not None:
            signed[NAMESPACE] = namespace
        signed[SIGNATURE] = self._signature(method, key, signed.items())
        return f"{base_url}{URL_PREFIX}/{quote(key, safe='/')}?{_encode(signed.items())}"

    def verify(self, method: str, key: str, query: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The URL's parameters if it was signed here for `method` and `key` and has not expired;
        otherwise S3's answer: AccessDenied or SignatureDoesNotMatch (403)."""
        pairs = list(query)
        params = dict(pairs)
        provided = params.pop(SIGNATURE, None)
        if provided is None or EXPIRES not in params:
            raise S3Error(
                "AccessDenied",
                f"Query-string authentication requires the {SIGNATURE} and {EXPIRES} parameters.",
                403,
            )
        expected = self._signature(method, key, params.items())
        if len(params) + 1 != len(pairs) or not hmac.compare_digest(
            provided.encode(), expected.encode()
        ):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                403,
                SignatureProvided=provided,
            )
        _check_expiry(int(params[EXPIRES]))
        return params

    def _signature(self, method: str, key: str, params: Iterable[tuple[str, str]]) -> str:
        """Over the method, the decoded path and the parameters sorted (the signature excluded)."""
        text = f"{method}\n{URL_PREFIX}/{key}\n{_encode(sorted(params))}"
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()


def _encode(params: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)


def _check_expiry(expires: int) -> None:
    now = int(now_epoch())
    if now > expires:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            403,
            Expires=_iso(expires),
            ServerTime=_iso(now),
        )


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_or_create_secret(path: Path) -> bytes:
    """The data dir's signing secret, made on first start (mode 0600). Two processes starting at
    once agree on one secret: it is linked into place, which never replaces an existing file."""
    if not path.exists():
        make_dirs(path.parent)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secrets.token_hex(SECRET_BYTES) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
        fsync_dir(path.parent)
    secret = bytes.fromhex(path.read_text().strip())
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"{path} is not a signing key ({SECRET_BYTES} bytes, hex); remove it")
    return secret


def content_disposition(filename: str) -> str:
    """RFC 6266 `attachment`: a conservative ASCII fallback plus the exact name, RFC 5987-encoded.

    Control and format characters (CR/LF, bidi overrides) are dropped from the name, and the
    fallback keeps only letters, digits, space and `._()+-` (accents stripped, anything else
    `_`), so no name can add a header, end the quoted string, look like a parameter to a naive
    parser, or carry a path.
    """
    name = "".join(c for c in filename if unicodedata.category(c)[0] != "C").strip() or "download"
    ascii_name = "".join(
        c if c in _FALLBACK_SAFE else "_"
        for c in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(c)
    )
    fallback = ascii_name or "download"  # a name of combining marks only
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def check_disposition(value: str) -> str:
    """A signed `response-content-disposition` is still checked before it becomes a header."""
    if not _DISPOSITION.fullmatch(value):
        raise _invalid("response-content-disposition", value)
    return value


def check_header_value(name: str, value: str) -> str:
    """Printable ASCII only: a content type can never split or add a header."""
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise _invalid(name, value)
    return value


def _invalid(name: str, value: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        f"{name} is not a valid header value.",
        ArgumentName=name,
        ArgumentValue=value.encode("unicode_escape").decode("ascii")[:200],
    )
