"""Pre-signed URLs handed out by the API are credentials for exactly one thing: one part of one
upload, or one object with one disposition, until they expire. Any change is refused and writes
nothing; a URL for one upload cannot write into another, not even another organization's.

The filesystem backend's URLs point at this server, which checks them: every tampering is sent and
refused. On the S3 backend the bucket checks them. moto checks nothing (it accepts a flipped
signature, another upload id, an expired URL: see `test_s3_urls_are_signed_over_everything_that_
names_the_target`), so there the suite verifies each URL's SigV4 signature itself, with the
bucket's credentials, which is the check AWS makes: the untouched URL verifies, each tampering
does not, and the expiry is the configured one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest

from tests.conftest import ALICE_KEY, BOB_KEY, TEST_CONFIG, Api, Server, configured_server
from tests.storage_helpers import (
    flipped_signature,
    later_expiry,
    md5_etag,
    query_of,
    s3_error,
    with_query,
)

pytestmark = pytest.mark.presigned

INTRUDER = b"written by whoever holds a tampered URL"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def sign(client: Api, session: dict[str, Any], number: int = 1) -> str:
    body = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
    response = client.post("/v1/assets/sign-part", json={**body, "part_number": number})
    assert response.status_code == 200, response.text
    return response.json()["upload_url"]


def assert_no_part(client: Api, session: dict[str, Any], number: int, data: bytes) -> None:
    """Through the API only: a finalize listing the part `data` would have made finds that the
    listed parts hold 0 bytes, so there is no part `number` (the refusal leaves the upload open;
    had the part been stored, this finalize would have made an asset of it)."""
    parts = [{"part_number": number, "etag": md5_etag(data)}]
    refused = client.finalize(session, parts, len(data), name="a.png")
    assert refused.status_code == 400, refused.text
    [error] = refused.json()["details"]["errors"]
    assert error == {"field": "size_bytes", "message": "must be 0, the size of the listed parts"}


def complete_with(client: Api, http: httpx.Client, session: dict[str, Any], data: bytes) -> None:
    """The owner's own upload still works, and the object holds the owner's bytes only."""
    assert http.put(sign(client, session), content=data).status_code == 200
    etag = md5_etag(data)
    done = client.finalize(session, [{"part_number": 1, "etag": etag}], len(data), name="a.png")
    assert done.status_code == 201, done.text
    url = client.get(f"/v1/assets/{session['asset_id']}/download").json()["asset_url"]
    assert http.get(url).content == data


# The filesystem backend: every tampering is sent, refused, and changes nothing.

TAMPERINGS: dict[str, Callable[[str, dict[str, Any]], str]] = {
    "path to another upload's key": lambda url, other: url.replace(
        urlsplit(url).path, f"/_ojin/storage/{other['s3_key']}"
    ),
    "upload id of another upload": lambda url, other: with_query(url, uploadId=other["upload_id"]),
    "both key and upload id": lambda url, other: with_query(
        url.replace(urlsplit(url).path, f"/_ojin/storage/{other['s3_key']}"),
        uploadId=other["upload_id"],
    ),
    "part number": lambda url, _: with_query(url, partNumber="2"),
    "expiry": lambda url, _: later_expiry(url),
    "signature": lambda url, _: flipped_signature(url),
    "added parameter": lambda url, _: with_query(url, extra="1"),
    "repeated parameter": lambda url, _: url + "&partNumber=1",
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_a_tampered_part_url_writes_nothing_anywhere(alice: Api, bob: Api, http, tamper) -> None:
    """alice's URL, changed to point at bob's upload (or any other change), writes neither."""
    mine, theirs = alice.start_upload("a.png"), bob.start_upload("a.png")
    url = tamper(sign(alice, mine), theirs)
    response = http.put(url, content=INTRUDER)
    assert response.status_code == 403, response.text
    assert s3_error(response)["Code"] == "SignatureDoesNotMatch"
    for client, session in ((alice, mine), (bob, theirs)):
        for number in (1, 2):
            assert_no_part(client, session, number, INTRUDER)
        complete_with(client, http, session, f"{session['asset_id']} by its owner".encode())


def test_a_part_url_without_its_signature_or_expiry_is_access_denied(alice: Api, http) -> None:
    session = alice.start_upload("a.png")
    url = sign(alice, session)
    for removed in ("X-Ojin-Signature", "X-Ojin-Expires"):
        response = http.put(with_query(url, **{removed: None}), content=INTRUDER)
        assert response.status_code == 403
        assert s3_error(response)["Code"] == "AccessDenied"
    assert_no_part(alice, session, 1, INTRUDER)


def test_a_part_url_does_not_download_and_a_download_url_does_not_upload(alice: Api, http) -> None:
    asset = alice.upload(b"the object", "obj.png")
    download = alice.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
    overwrite = http.put(with_query(download, uploadId="x", partNumber="1"), content=INTRUDER)
    assert (overwrite.status_code, s3_error(overwrite)["Code"]) == (403, "SignatureDoesNotMatch")
    assert http.put(download, content=INTRUDER).status_code == 403
    session = alice.start_upload("a.png")
    part_url = sign(alice, session)
    read = http.get(part_url)
    assert (read.status_code, s3_error(read)["Code"]) == (403, "SignatureDoesNotMatch")
    assert http.get(download).content == b"the object"


def test_a_download_url_reads_only_its_own_object(alice: Api, bob: Api, http) -> None:
    """alice's URL with bob's object's key (or a changed disposition) reads nothing."""
    mine, theirs = alice.upload(b"alice's", "a.png"), bob.upload(b"bob's secret", "b.png")
    url = alice.get(f"/v1/assets/{mine['asset_id']}/download").json()["asset_url"]
    theirs_key = f"/_ojin/storage/assets/{theirs['asset_id']}"
    for tampered in (
        url.replace(urlsplit(url).path, theirs_key),
        with_query(url, **{"response-content-disposition": "attachment; filename=x.exe"}),
        with_query(url, **{"response-content-type": "text/html"}),
        later_expiry(url),
        flipped_signature(url),
    ):
        response = http.get(tampered)
        assert response.status_code == 403, tampered
        assert s3_error(response)["Code"] == "SignatureDoesNotMatch"
        assert b"bob's secret" not in response.content


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose URLs expire one second after they are signed."""
    config = TEST_CONFIG + "\n[storage]\npresign_expires_seconds = 1\n"
    running = configured_server(tmp_path_factory.mktemp("short-lived"), config)
    yield running
    running.stop()


def test_expired_urls_are_access_denied(short_lived: Server, api, http) -> None:
    alice = api(short_lived, ALICE_KEY)
    asset = alice.upload(b"expiring", "e.png")
    session = alice.start_upload("a.png")
    part_url = sign(alice, session)
    download = alice.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
    expires = int(query_of(part_url)["X-Ojin-Expires"])
    time.sleep(max(0.0, expires + 1.05 - time.time()))
    for response in (http.put(part_url, content=INTRUDER), http.get(download)):
        assert response.status_code == 403
        error = s3_error(response)
        assert (error["Code"], error["Message"]) == ("AccessDenied", "Request has expired")
        assert {"Expires", "ServerTime"} <= error.keys()
    assert_no_part(alice, session, 1, INTRUDER)


# The S3 backend: moto refuses none of this, so each URL's signature is verified here.

S3_SECRET = "testing"  # s3_storage_config's credentials


def sigv4_valid(method: str, url: str, secret: str = S3_SECRET) -> bool:
    """Whether `url` carries a valid SigV4 query signature for `method` (UNSIGNED-PAYLOAD, host
    the only signed header), as S3 verifies a pre-signed URL."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(pairs)
    signature = params.pop("X-Amz-Signature", None)
    if signature is None or len(params) + 1 != len(pairs):
        return False
    query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in sorted(params.items())
    )
    canonical = "\n".join(
        [method, parts.path, query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(
        hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature
    )


def s3_flipped(url: str) -> str:
    signature = query_of(url)["X-Amz-Signature"]
    return with_query(
        url, **{"X-Amz-Signature": signature[:-1] + ("0" if signature[-1] != "0" else "1")}
    )


@pytest.fixture(scope="module")
def s3_clients(s3_server: Server, contract) -> Iterator[tuple[Api, Api]]:
    with (
        Api(s3_server.url, contract, ALICE_KEY) as alice,
        Api(s3_server.url, contract, BOB_KEY) as bob,
    ):
        yield alice, bob


def test_with_s3_this_server_has_no_storage_routes(s3_clients, server) -> None:
    """The S3 backend's URLs lead to the bucket; a URL of the filesystem backend's form, even
    one signed by a filesystem server, finds no route here: the unknown-route 404."""
    alice, _ = s3_clients
    filesystem = Api(server.url, alice.contract, ALICE_KEY)
    signed = sign(filesystem, filesystem.start_upload("a.png"))
    path_and_query = signed.removeprefix(server.url)
    for method in ("PUT", "GET", "OPTIONS"):
        response = alice.request(method, path_and_query, content=b"x" if method == "PUT" else None)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "RESOURCE_NOT_FOUND"
    assert httpx.head(alice.base_url.join(path_and_query)).status_code == 404  # no body to check
    filesystem.close()


def test_s3_urls_are_signed_over_everything_that_names_the_target(s3_clients) -> None:
    alice, bob = s3_clients
    mine, theirs = alice.start_upload("a.png"), bob.start_upload("a.png")
    url = sign(alice, mine)
    query = query_of(url)
    assert query["uploadId"] == mine["upload_id"] and query["partNumber"] == "1"
    assert urlsplit(url).path.endswith("/" + mine["s3_key"])
    assert query["X-Amz-Expires"] == "3600"  # [storage] presign_expires_seconds
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    assert sigv4_valid("PUT", url)
    assert not sigv4_valid("GET", url)  # not a download URL
    bucket_path = urlsplit(url).path.removesuffix(mine["s3_key"])
    tampered = {
        "path": url.replace(urlsplit(url).path, bucket_path + theirs["s3_key"]),
        "upload id": with_query(url, uploadId=theirs["upload_id"]),
        "part number": with_query(url, partNumber="2"),
        "expiry": with_query(url, **{"X-Amz-Expires": "604800"}),
        "date": with_query(url, **{"X-Amz-Date": "20991231T000000Z"}),
        "signature": s3_flipped(url),
        "added parameter": with_query(url, extra="1"),
        "no signature": with_query(url, **{"X-Amz-Signature": None}),
    }
    for what, changed in tampered.items():
        assert not sigv4_valid("PUT", changed), what
    # moto would store a part sent to any of these (it verifies no signature); AWS answers 403.


def test_s3_download_urls_are_signed_over_key_and_disposition(s3_clients) -> None:
    alice, bob = s3_clients
    mine, theirs = alice.upload(b"alice's", "a.png"), bob.upload(b"bob's", "b.png")
    url = alice.get(f"/v1/assets/{mine['asset_id']}/download").json()["asset_url"]
    assert sigv4_valid("GET", url)
    assert not sigv4_valid("PUT", url)
    path = urlsplit(url).path
    for changed in (
        url.replace(path, path.replace(mine["asset_id"], theirs["asset_id"])),
        with_query(url, **{"response-content-disposition": "attachment; filename=x.exe"}),
        with_query(url, **{"response-content-type": "text/html"}),
        with_query(url, **{"X-Amz-Expires": "604800"}),
        s3_flipped(url),
    ):
        assert not sigv4_valid("GET", changed), changed


def test_sigv4_check_is_not_vacuous() -> None:
    """The verifier rejects a URL signed with another secret (so it does check signatures)."""
    from ojin_local.config import S3Config
    from ojin_local.storage.s3 import S3Storage

    other = S3Storage(
        S3Config(
            bucket="never-contacted",
            endpoint_url="http://127.0.0.1:9",
            access_key_id="testing",
            secret_access_key="another-secret",
        )
    )
    url = other.presign_upload_part("assets/k", "upload", 1, 300)
    assert sigv4_valid("PUT", url, "another-secret")
    assert not sigv4_valid("PUT", url)
