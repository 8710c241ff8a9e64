"""Hostile input: each gets a clear 4xx `ErrorResponse` (S3's XML error on storage routes) and
changes nothing, proven by comparing what the organization can see before and after.

Malformed, deeply nested and non-UTF-8 JSON; bodies over the limit (413 before they are read);
non-UTF-8 query strings and keys; control characters in names; absurd pagination; part numbers
out of range and parts listed twice. File names with quotes, path separators and `..` are
ordinary metadata: accepted, returned verbatim, never part of a storage key or path, and never
able to add or break a header of the download.

Portable (see target.py): the checks that need the local server (raw sockets against its limits,
its data dir) are skipped against a remote target.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from ojin_local.spec import seed_spec, served_spec
from tests.conftest import ALICE_KEY, Api, Server
from tests.contract import Contract
from tests.storage_helpers import md5_etag
from tests.target import Target

pytestmark = pytest.mark.hostile

SPEC = served_spec()


@pytest.fixture(scope="module")
def client(target: Target, contract: Contract) -> Iterator[Api]:
    with Api(target.root, contract, target.key) as made:
        yield made


@pytest.fixture(scope="module")
def own(client: Api) -> dict[str, Any]:
    """An organization's configuration, asset and open upload session, for the body routes."""
    session = client.start_upload("session.png")
    [part] = client.put_parts(session, [b"one small part"])
    return {
        "config": client.create_config(),
        "asset": client.upload(b"not really a png", "own.png"),
        "session": {**session, "part": part},
    }


def state(client: Api, own: dict[str, Any]) -> dict[str, Any]:
    """What a refused request could have changed: totals, the resources, the open session."""
    seen: dict[str, Any] = {}
    for path in ("/v1/model-configs", "/v1/assets"):
        seen[path] = client.get(path, params={"limit": 1}).json()["pagination"]["total_items"]
    config_id = own["config"]["model_config_id"]
    seen["config"] = client.get(f"/v1/model-configs/{config_id}").json()
    seen["asset"] = client.get(f"/v1/assets/{own['asset']['asset_id']}").json()
    session = own["session"]
    signed = client.post(
        "/v1/assets/sign-part",
        json={"asset_id": session["asset_id"], "upload_id": session["upload_id"], "part_number": 1},
    )
    seen["session open"] = signed.status_code
    return seen


def body_operations() -> list[tuple[str, str, str]]:
    """(operationId, method, path) of every /v1 operation that takes a JSON body."""
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "requestBody" in operation and "servers" not in item:
                found.append((operation["operationId"], method.upper(), "/v1" + path))
    return found


BODY_OPERATIONS = body_operations()


def concrete(path: str, own: dict[str, Any]) -> str:
    return path.replace("{model_config_id}", own["config"]["model_config_id"])


# Bodies


MALFORMED = {
    "truncated": b'{"title": "x",',
    "trailing garbage": b'{"title": "x"} x',
    "NaN": b'{"title": "x", "n": NaN}',
    "Infinity": b'{"title": Infinity}',
    "overflowing number": b'{"title": "x", "model_configurations": {"a": 1e999}}',
    "not UTF-8": b'{"title": "\xff\xfe"}',
    "Latin-1": '{"title": "café"}'.encode("latin-1"),
    "UTF-16": '{"title": "x"}'.encode("utf-16"),
    "lone surrogate": b'{"title": "\\ud800", "model_variant_id": "ojin/oris-1.0/standard"}',
    "nested 65 deep": b'{"title": "x", "model_variant_id": "ojin/oris-1.0/standard", '
    b'"model_configurations": ' + b'{"a": ' * 64 + b"1" + b"}" * 64 + b"}",
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "empty": b"",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS)
def test_malformed_json_is_400_and_changes_nothing(
    client: Api, own, operation: str, method: str, path: str, body: bytes
) -> None:
    before = state(client, own)
    response = client.request(
        method, concrete(path, own), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["errors"][0]["field"] == "(body)"
    assert state(client, own) == before


@pytest.mark.parametrize("body", [[], None, "x", 3, True])
def test_a_body_that_is_not_an_object_is_400(client: Api, own, body: Any) -> None:
    before = state(client, own)
    for _, method, path in BODY_OPERATIONS:
        response = client.request(method, concrete(path, own), json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert state(client, own) == before


def test_nesting_up_to_the_limit_is_accepted(client: Api) -> None:
    """64 levels are fine (the variant's schema then judges the content)."""
    nested: Any = "deep"
    for _ in range(62):
        nested = {"a": nested}
    response = client.post(
        "/v1/model-configs",
        json={"title": uuid.uuid4().hex, "model_variant_id": "acme/echo-1.0/basic"}
        | {"model_configurations": {"voice": "low", "extra": nested}},
    )
    if response.status_code == 404:  # a remote target has no acme variant
        pytest.skip("acme/echo-1.0/basic is a variant of the local test config")
    assert response.status_code == 201, response.text
    assert response.json()["model_configurations"]["extra"] == nested


def raw_request(server: Server, head: str, body: bytes = b"") -> tuple[int, dict, bytes, float]:
    """Send a request head (and `body`, whatever it claims) and read one answer: status,
    headers, body, seconds until the answer began."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        started = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may stop reading
            sock.sendall(head.encode("latin-1") + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection without an answer"
            received += chunk
        elapsed = time.monotonic() - started
        header_block, _, rest = received.partition(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        fields = {
            k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)
        }
        while len(rest) < int(fields.get("content-length", "0")):
            rest += sock.recv(65536)
    return int(lines[0].split()[1]), fields, rest, elapsed


@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS)
def test_a_huge_body_is_413_before_it_is_read(
    target: Target, client: Api, own, operation: str, method: str, path: str
) -> None:
    """A 10 GB Content-Length, or a chunked body past the limit: 413 at once, nothing read
    beyond the limit (the 10 GB are never sent), nothing changed."""
    server = target.local_server()
    before = state(client, own)
    head = (
        f"{method} {concrete(path, own)} HTTP/1.1\r\nHost: x\r\nX-API-Key: {ALICE_KEY}\r\n"
        "Content-Type: application/json\r\n"
    )
    declared = raw_request(server, head + "Content-Length: 10000000000\r\n\r\n", b'{"title": ')
    chunk = b'{"title": "' + b"x" * 0x100000  # one chunk just past the 1 MiB limit
    chunked = raw_request(
        server, head + "Transfer-Encoding: chunked\r\n\r\n", b"%x\r\n%s\r\n" % (len(chunk), chunk)
    )
    for status, _, body, elapsed in (declared, chunked):
        assert status == 413
        assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"
        assert elapsed < 2
    assert state(client, own) == before


def test_an_oversized_head_is_413_and_says_so(client: Api) -> None:
    response = client.get("/v1/assets/" + "a" * 10_000)
    assert response.status_code in (413, 414, 431)
    assert "body" not in response.json()["message"]


# Keys and query strings


@pytest.mark.parametrize(
    "key",
    [b"", b"sk test alice", "é".encode(), b"sk-\xff\xfe", b"k" * 6000, ALICE_KEY.encode() + b" x"],
    ids=["empty", "spaces", "utf-8", "not utf-8", "6 KB", "a key and more"],
)
def test_keys_that_name_nobody_are_401(client: Api, key: bytes) -> None:
    for path in ("/v1/model-configs", "/v1/model-variants"):
        response = client.get(path, headers={"X-API-Key": key})
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "UNAUTHORIZED"


def test_a_query_that_is_not_utf8_is_400(client: Api) -> None:
    for path in ("/v1/assets", "/v1/model-configs", "/v1/model-variants"):
        response = client.get(f"{path}?name=%ff%fe&model_id=%c3")
        assert response.status_code == 400, response.text
        assert response.json()["details"]["errors"] == [
            {"field": "(query)", "message": "is not UTF-8 once percent-decoded"}
        ]


SEED_PATHS = {"/v1" + path for path in seed_spec()["paths"]}


def need(target: Target, path: str) -> None:
    """Routes only ojin-local has (the job routes) are skipped against a remote target."""
    if path not in SEED_PATHS:
        target.local_server()


def list_operations() -> list[str]:
    """Every /v1 listing, i.e. every operation with a limit parameter."""
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", []) if isinstance(operation, dict) else []
            names = {SPEC["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]]["name"]
                     if "$ref" in p else p["name"] for p in parameters}  # fmt: skip
            if method == "get" and "limit" in names and "servers" not in item:
                found.append("/v1" + path)
    return found


@pytest.mark.parametrize("path", list_operations())
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=101", "limit"),
        ("limit=1e3", "limit"),
        ("limit=" + "9" * 40, "limit"),
        ("limit=ten", "limit"),
        ("limit=%00", "limit"),
        ("offset=-1", "offset"),
        ("offset=" + "9" * 40, "offset"),
        ("offset=9223372036854775808", "offset"),
        ("offset=0x10", "offset"),
    ],
)
def test_absurd_pagination_is_400(
    target: Target, client: Api, path: str, query: str, field: str
) -> None:
    need(target, path)
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["details"]["errors"]] == [field]


@pytest.mark.parametrize("path", list_operations())
def test_the_largest_offset_is_an_empty_page(target: Target, client: Api, path: str) -> None:
    need(target, path)
    response = client.get(path, params={"offset": 2**63 - 1})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []


# Upload sessions: part numbers and parts


@pytest.mark.parametrize("number", [0, -1, 10_001, 2**63, 2**70, 1.5, "1", True, None])
def test_part_numbers_out_of_range_are_400(client: Api, own, number: Any) -> None:
    session = own["session"]
    ids = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
    before = state(client, own)
    signed = client.post("/v1/assets/sign-part", json={**ids, "part_number": number})
    assert signed.status_code == 400, signed.text
    assert [e["field"] for e in signed.json()["details"]["errors"]] == ["part_number"] * len(
        signed.json()["details"]["errors"]
    )
    listed = client.finalize(
        session, [{"part_number": number, "etag": session["part"]["etag"]}], 14
    )
    assert listed.status_code == 400, listed.text
    assert state(client, own) == before


def test_parts_listed_twice_are_invalid_part_order_and_the_upload_stays_open(client: Api) -> None:
    session = client.start_upload("twice.png")
    [part] = client.put_parts(session, [b"the only part"])
    for size in (13, 26):  # the part's size, and what counting it twice would make
        twice = client.finalize(session, [part, part], size, name="twice.png")
        assert twice.status_code == 400, twice.text
        assert twice.json()["details"]["s3_code"] == "InvalidPartOrder"
    done = client.finalize(session, [part], 13, name="twice.png")
    assert done.status_code == 201, done.text
    assert done.json()["size_bytes"] == 13


def test_ten_thousand_and_one_parts_are_400(client: Api) -> None:
    session = client.start_upload("many.png")
    parts = [{"part_number": n, "etag": md5_etag(b"")} for n in range(1, 10_002)]
    response = client.finalize(session, parts, 0, name="many.png")
    assert response.status_code == 400, response.text


# Names


CONTROL_NAMES = ["a\x00b.png", "line\r\nSet-Cookie: a=b.png", "tab\t.png", "esc\x1b[31m.png",
                 "del\x7f.png", "\n"]  # fmt: skip


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_control_characters_in_names_and_titles_are_400(client: Api, own, name: str) -> None:
    before = state(client, own)
    initiated = client.post("/v1/assets/initiate-upload", json={"name": name, "category": "image"})
    assert initiated.status_code == 400, initiated.text
    assert [e["field"] for e in initiated.json()["details"]["errors"]] == ["name"]
    created = client.post(
        "/v1/model-configs", json={"title": name, "model_variant_id": "ojin/oris-1.0/standard"}
    )
    assert created.status_code == 400, created.text
    path = f"/v1/model-configs/{own['config']['model_config_id']}"
    renamed = client.put(path, json={"title": name, "model_configurations": {}})
    assert renamed.status_code == 400, renamed.text
    assert state(client, own) == before


ODD_NAMES = [
    "../../etc/passwd",
    "..",
    "/absolute/path.png",
    "a/b/c.png",
    "..\\..\\windows\\system32.png",
    'report"; filename=x.exe; x=y.pdf',
    "semi;colon=eq,comma.png",
    "%2e%2e%2fencoded.png",
    "vacances 🏖️ été.mp4",
    "\u202etxt.exe",
    "\u0301",
]


# Every name on the target's backend; on S3 (moto is slow) those that attack the header or a path.
ON_S3 = {ODD_NAMES[0], ODD_NAMES[5], ODD_NAMES[9]}
ODD_CASES = [pytest.param("target", name, id=f"target-{name}") for name in ODD_NAMES] + [
    pytest.param("s3", name, id=f"s3-{name}") for name in ODD_NAMES if name in ON_S3
]


@pytest.fixture
def uploader(
    request: pytest.FixtureRequest, target: Target, contract: Contract, backend: str
) -> Iterator[tuple[Api, Server | None]]:
    """The target's storage (with the local server, whose data dir is checked), or, locally,
    the S3 backend against moto."""
    if backend == "target":
        with Api(target.root, contract, target.key) as made:
            yield made, target.server
        return
    target.local_server()
    s3_server: Server = request.getfixturevalue("s3_server")
    with Api(s3_server.url, contract, ALICE_KEY) as made:
        yield made, None


@pytest.mark.parametrize(("backend", "name"), ODD_CASES)
def test_odd_names_are_metadata_only(uploader: tuple[Api, Server | None], name: str) -> None:
    uploader, local = uploader
    session = uploader.start_upload(name)
    assert session["s3_key"] == f"assets/{session['asset_id']}"
    asset = uploader.upload(b"odd", name)
    assert asset["name"] == name
    read = uploader.get(f"/v1/assets/{asset['asset_id']}").json()
    assert read["name"] == name
    listed = uploader.get("/v1/assets", params={"name": name}).json()["data"]
    assert asset["asset_id"] in {a["asset_id"] for a in listed}
    url = uploader.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
    assert urlsplit(url).path.endswith(f"/assets/{asset['asset_id']}")
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200 and response.content == b"odd"
    disposition = response.headers["content-disposition"]
    assert disposition.isascii() and disposition.isprintable()
    found = re.fullmatch(
        r"attachment; filename=\"([\w .()+-]+)\"; filename\*=UTF-8''(\S+)", disposition
    )
    assert found, disposition
    assert "/" not in found[1] and "\\" not in found[1]
    shown = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    assert unquote(found[2]) == shown  # the exact name, less control and format characters
    assert "set-cookie" not in response.headers
    if local is not None:  # no file anywhere in the data dir is named after the asset
        named = [
            str(path.relative_to(local.data_dir))
            for path in local.data_dir.rglob("*")
            if re.search(r"passwd|system32|absolute|encoded|vacances", path.name)
        ]
        assert named == []
