"""`ojin-local proxy`: forwards /v1 unchanged, checks each exchange against the seed spec, and
records HAR 1.2 without secrets."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.conftest import ALICE_KEY, Api, Server, configured_server
from tests.contract import Contract
from tests.proxy.conftest import Proxy, Session, Stub, json_answer, run_session, upstream_config

SIGNED = ("X-Ojin-Signature", "X-Amz-Signature", "X-Amz-Credential")


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def upstream(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    moto = request.getfixturevalue("moto") if request.param == "s3" else None
    config = upstream_config(request.param, moto, "ojin-proxy-upstream")
    running = configured_server(tmp_path_factory.mktemp(f"upstream-{request.param}"), config)
    yield running, moto
    running.stop()


@pytest.fixture(scope="module")
def recorded(
    upstream: tuple[Server, Any], tmp_path_factory: pytest.TempPathFactory, contract: Contract
) -> Iterator[tuple[Proxy, Path, Session]]:
    """One whole session through a recording proxy."""
    har = tmp_path_factory.mktemp("har") / "session.har"
    proxy = Proxy(upstream[0].url + "/v1", "--record", str(har))
    try:
        with Api(proxy.url, contract, ALICE_KEY) as api, httpx.Client(timeout=60) as http:
            session = run_session(api, http)
        yield proxy, har, session
    finally:
        proxy.stop()


def test_a_whole_session_passes_through_unchanged_with_zero_drift(
    upstream: tuple[Server, Any], recorded: tuple[Proxy, Path, Session], contract: Contract
) -> None:
    server, moto = upstream
    proxy, _, session = recorded
    # The parts went straight to the upstream's storage, as with the real service and S3.
    storage = moto.url if moto is not None else f"{server.url}/_ojin/storage/"
    assert all(url.startswith(storage) for url in session.part_urls)
    report = proxy.drift()
    assert report == {
        "upstream": server.url + "/v1",
        "exchanges": session.requests,
        "upstream_errors": 0,
        "violations": [],
    }
    # Byte for byte: the same answer through the proxy as from the upstream itself.
    with Api(server.url, contract, ALICE_KEY) as direct:
        path = f"/v1/assets/{session.asset['asset_id']}"
        via, straight = (
            httpx.get(base + path, headers={"X-API-Key": ALICE_KEY, "X-Request-Id": "same-id"})
            for base in (proxy.url, server.url)
        )
        assert via.content == straight.content
        assert dict(via.headers) == dict(straight.headers)
        assert direct.get(path).json() == session.asset


def test_the_recording_is_har_1_2_without_a_secret(
    upstream: tuple[Server, Any], recorded: tuple[Proxy, Path, Session]
) -> None:
    server, _ = upstream
    _, har, session = recorded
    text = har.read_text()
    log = json.loads(text)["log"]
    assert log["version"] == "1.2"
    assert log["creator"]["name"] == "ojin-local proxy"
    # The session's exchanges first (other tests of the module may have added more).
    assert len(log["entries"]) >= session.requests
    for entry in log["entries"]:
        assert {"startedDateTime", "time", "request", "response", "timings"} <= entry.keys()
        assert {"method", "url", "httpVersion", "cookies", "headers", "queryString",
                "headersSize", "bodySize"} <= entry["request"].keys()  # fmt: skip
        assert {"status", "statusText", "httpVersion", "cookies", "headers", "content",
                "redirectURL", "headersSize", "bodySize"} <= entry["response"].keys()  # fmt: skip
        assert {"size", "mimeType"} <= entry["response"]["content"].keys()
        assert all(entry["timings"][name] >= 0 for name in ("send", "wait", "receive"))
        keys = [h["value"] for h in entry["request"]["headers"] if h["name"].lower() == "x-api-key"]
        assert keys == ["REDACTED"]
    finalize = next(e for e in log["entries"] if e["request"]["url"].endswith("/v1/assets")
                    and e["request"]["method"] == "POST")  # fmt: skip
    assert json.loads(finalize["response"]["content"]["text"]) == session.asset
    # No key, no URL signature or credential, no signing secret.
    assert ALICE_KEY not in text
    for url in session.part_urls:
        for name, value in parse_qsl(urlsplit(url).query):
            if name in SIGNED:
                assert value not in text
                assert f"{name}=REDACTED" in text
    for secret in server.data_dir.rglob("signing.key"):
        assert secret.read_text().strip() not in text


def test_hop_by_hop_headers_stay_on_their_hop(stub: Stub, start_proxy: Any) -> None:
    stub.answers["/v1/model-variants"] = (
        200,
        {"content-type": "application/json", "connection": "X-Upstream-Hop",
         "x-upstream-hop": "1", "x-end-to-end": "kept"},
        json.dumps({"data": [], "pagination": {"limit": 20, "offset": 0, "total_items": 0}})
        .encode(),
    )  # fmt: skip
    proxy = start_proxy(stub.url)
    answer = httpx.get(
        f"{proxy.url}/v1/model-variants?limit=5",
        headers={"Connection": "keep-alive, X-Client-Hop", "X-Client-Hop": "1", "TE": "trailers",
                 "X-API-Key": "the-clients-key", "X-End-To-End": "yes"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["x-end-to-end"] == "kept"
    assert "x-upstream-hop" not in answer.headers
    sent = {name.lower(): value for name, value in stub.received[-1]["headers"].items()}
    assert stub.received[-1]["path"] == "/v1/model-variants?limit=5"
    assert sent["x-api-key"] == "the-clients-key"
    assert sent["x-end-to-end"] == "yes"
    assert sent["host"] == urlsplit(stub.url).netloc
    assert not {"x-client-hop", "te"} & sent.keys()
    assert proxy.drift()["violations"] == []


def test_large_bodies_stream_both_ways_intact(stub: Stub, start_proxy: Any) -> None:
    size = 48 * 1024 * 1024
    stub.answers["/v1/anything"] = (200, {"content-type": "application/octet-stream"},
                                    bytes(range(256)) * (size // 256))  # fmt: skip
    proxy = start_proxy(stub.url)
    sent = bytes(reversed(range(256))) * (size // 256)
    answer = httpx.put(f"{proxy.url}/v1/anything", content=sent, timeout=60)
    assert answer.status_code == 200
    assert (
        hashlib.md5(answer.content).digest()
        == hashlib.md5(stub.answers["/v1/anything"][2]).digest()
    )
    assert hashlib.md5(stub.received[-1]["body"]).digest() == hashlib.md5(sent).digest()
    peak = int(next(line.split()[1] for line in
                    Path(f"/proc/{proxy.process.pid}/status").read_text().splitlines()
                    if line.startswith("VmHWM")))  # fmt: skip
    # Neither 48 MiB body was held whole (only the check's 8 MiB at most, then dropped).
    assert peak < 150 * 1024, f"peak RSS {peak} KiB"


def test_an_undocumented_status_is_drift(server: Server, admin: Api, start_proxy: Any) -> None:
    rule = {"operation_id": "listModelVariants", "status": 418, "code": "TEAPOT", "times": 2}
    assert admin.post("/_ojin/faults", json=rule).status_code == 201
    try:
        proxy = start_proxy(server.url + "/v1")
        answers = [httpx.get(f"{proxy.url}/v1/model-variants") for _ in range(2)]
    finally:
        assert admin.delete("/_ojin/faults").status_code == 204
    assert [a.status_code for a in answers] == [418, 418]
    assert answers[0].json()["code"] == "TEAPOT"
    (violation,) = proxy.drift()["violations"]
    assert violation["operation_id"] == "listModelVariants"
    assert (violation["kind"], violation["expected"], violation["found"]) == (
        "status", "one of 200, 400, 401, 403", "418"
    )  # fmt: skip
    assert violation["count"] == 2
    assert violation["request_id"] == answers[1].headers["x-request-id"]


def test_schema_content_type_request_and_path_drift(
    stub: Stub, start_proxy: Any, contract: Contract
) -> None:
    config_id = "6f1c2b8e-2d4a-4a8e-9a51-0c7d1f3e2a10"
    broken = {  # a PublicModelConfig but for two fields
        "model_config_id": "not-a-uuid", "model_id": "ojin/oris-1.0",
        "model_variant_id": "ojin/oris-1.0/standard", "title": 5, "model_configurations": {},
        "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z",
    }  # fmt: skip
    stub.answers[f"/v1/public/model-configs/{config_id}"] = json_answer(200, broken)
    stub.answers["/v1/model-variants"] = (200, {"content-type": "text/html"}, b"<p>hi</p>")
    stub.answers["/v1/model-configs"] = json_answer(
        400, {"code": "VALIDATION_ERROR", "message": "limit"}
    )
    proxy = start_proxy(stub.url)
    httpx.get(f"{proxy.url}/v1/public/model-configs/{config_id}")
    httpx.get(f"{proxy.url}/v1/model-variants")
    httpx.get(f"{proxy.url}/v1/model-configs?limit=1000")
    httpx.get(f"{proxy.url}/v1/no-such-thing")
    report = proxy.drift()
    contract.check(httpx.get(f"{proxy.url}/_ojin/drift"))  # the report is the served schema
    found = {(v["operation_id"], v["kind"]): v for v in report["violations"]}
    assert set(found) == {
        ("publicGetModelConfigById", "body"),
        ("listModelVariants", "content_type"),
        ("listModelConfigs", "request"),
        (None, "operation"),
    }
    body = found["publicGetModelConfigById", "body"]
    assert body["path"] == "/public/model-configs/{model_config_id}"
    assert body["found"] == (
        "model_config_id: 'not-a-uuid' is not a 'uuid'; title: 5 is not of type 'string'"
    )
    assert found["listModelVariants", "content_type"]["found"] == "text/html"
    assert "limit" in found["listModelConfigs", "request"]["found"]
    assert found[None, "operation"]["path"] == "/v1/no-such-thing"
    assert proxy.stop() == 0
    assert "4 distinct violations" in proxy.log
    assert "publicGetModelConfigById): body:" in proxy.log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_upstream_is_a_502_at_once(start_proxy: Any, contract: Contract) -> None:
    proxy = start_proxy(f"http://127.0.0.1:{free_port()}/v1")
    with Api(proxy.url, contract, ALICE_KEY) as api:
        started = time.monotonic()
        answer = api.get("/v1/model-variants")
        elapsed = time.monotonic() - started
    assert answer.status_code == 502
    assert answer.json()["code"] == "BAD_GATEWAY"
    assert elapsed < 0.5
    assert proxy.drift()["upstream_errors"] == 1


def test_a_silent_upstream_is_a_504_after_the_timeout(
    stub: Stub, start_proxy: Any, contract: Contract
) -> None:
    stub.delay = 3
    proxy = start_proxy(stub.url, "--timeout", "0.5")
    with Api(proxy.url, contract, ALICE_KEY) as api:
        started = time.monotonic()
        answer = api.get("/v1/model-variants")
        elapsed = time.monotonic() - started
    assert answer.status_code == 504
    assert answer.json()["code"] == "GATEWAY_TIMEOUT"
    assert 0.5 <= elapsed < 2


def test_bodies_over_the_cap_are_recorded_by_size_and_md5(
    server: Server, start_proxy: Any, tmp_path: Path
) -> None:
    har = tmp_path / "capped.har"
    proxy = start_proxy(server.url + "/v1", "--record", str(har), "--body-cap", "100")
    answer = httpx.get(f"{proxy.url}/v1/model-variants")
    assert len(answer.content) > 100
    (entry,) = json.loads(har.read_text())["log"]["entries"]
    content = entry["response"]["content"]
    assert "text" not in content
    assert content["size"] == len(answer.content)
    assert content["_md5"] == hashlib.md5(answer.content).hexdigest()
    assert content["_md5"] in content["comment"]


def test_serve_is_not_a_proxy(anonymous: Api) -> None:
    answer = anonymous.get("/_ojin/drift")
    assert answer.status_code == 404
    assert "not a proxy" in answer.json()["message"]
