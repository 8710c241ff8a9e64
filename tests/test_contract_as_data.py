"""The served spec is the seed plus overlays, and the server does what it says.

What a client reads in /openapi.json (servers, security, parameter bounds, enums, body schemas)
is what the server enforces at its edge; these tests read the served document and hold the
server to it, so an overlay change that the code ignored would fail here.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from jsonpath_ng.ext import parse as jsonpath
from openapi_spec_validator import validate

from ojin_local import spec
from ojin_local.spec.overlay import OverlayError, apply_overlay, select
from tests.conftest import Api, Server

OVERLAYS = Path(spec.__file__).parent / spec.OVERLAYS


@pytest.fixture(scope="module")
def served(server: Server) -> dict:
    return httpx.get(f"{server.url}/openapi.json").json()


def test_served_document_is_valid_openapi_and_holds_no_raw_control_characters(
    anonymous: Api,
) -> None:
    response = anonymous.get("/openapi.json")
    assert not re.search(r"[\x00-\x1f\x7f]", response.text)
    validate(response.json())


def test_served_document_is_the_seed_with_the_overlays_applied(served: dict) -> None:
    expected = spec.seed_spec()
    for overlay in sorted(OVERLAYS.glob("*.json")):
        apply_overlay(expected, json.loads(overlay.read_text()))
    assert served == expected


def test_every_local_addition_says_why(served: dict) -> None:
    seed = spec.seed_spec()
    for path, item in served["paths"].items():
        if path not in seed["paths"]:
            assert spec.LOCAL in item, path
            continue
        for method, operation in item.items():
            if method not in seed["paths"][path]:
                assert spec.LOCAL in operation, (path, method)
    for kind in ("schemas", "responses", "parameters", "securitySchemes"):
        for name, node in served["components"][kind].items():
            if name not in seed["components"].get(kind, {}):
                assert spec.LOCAL in node, (kind, name)


def test_servers_are_relative_so_any_host_name_works(server: Server, served: dict) -> None:
    assert served["servers"] == [{"url": "/v1", "description": served["servers"][0]["description"]}]
    seed_paths = spec.seed_spec()["paths"]
    for path, item in served["paths"].items():
        if path in seed_paths or path.startswith("/jobs"):
            assert "servers" not in item, path  # under /v1, as the seed's
        else:
            assert [s["url"] for s in item["servers"]] == ["/"], path
    # The document names no host: the docs page works as localhost as well as 127.0.0.1.
    localhost = server.url.replace("127.0.0.1", "localhost")
    assert httpx.get(f"{localhost}/openapi.json").json() == served


def test_storage_routes_declare_their_body_and_signature_parameters(served: dict) -> None:
    storage = served["paths"]["/_ojin/storage/{key}"]
    put = storage["put"]
    assert "application/octet-stream" in put["requestBody"]["content"]
    signed = {"X-Ojin-Expires", "X-Ojin-Signature"}
    assert {p["name"] for p in put["parameters"] if p["required"]} == {
        "partNumber", "uploadId", *signed
    }  # fmt: skip
    for method in ("get", "head"):
        declared = {p["name"]: p.get("required", False) for p in storage[method]["parameters"]}
        assert {name for name, required in declared.items() if required} == signed
        assert {"response-content-disposition", "response-content-type"} <= declared.keys()


def test_every_operation_is_routed_with_its_method(served: dict, server: Server) -> None:
    """Each operation's method and path reach a handler: no "no route" 404 and no 405."""
    for path, item in served["paths"].items():
        prefix = "" if "servers" in item else "/v1"
        url = server.url + prefix + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for method in item:
            if method in spec.METHODS and item[method]["operationId"] != "ojinImportState":
                answer = httpx.request(method.upper(), url, follow_redirects=False)
                assert answer.status_code != 405, (method, path)
                if answer.status_code == 404 and answer.headers["content-type"].startswith(
                    "application/json"
                ):
                    assert "No route matches" not in answer.json()["message"], (method, path)


def test_overlay_targets_select_what_jsonpath_selects() -> None:
    """The few-line JSONPath of `spec.overlay` agrees with a full implementation on every
    target the overlays use, on the document as it is when the action runs."""
    document = spec.seed_spec()
    for overlay_file in sorted(OVERLAYS.glob("*.json")):
        overlay = json.loads(overlay_file.read_text())
        for action in overlay["actions"]:
            ours = [id(value) for _, _, value in select(document, action["target"])]
            theirs = [id(match.value) for match in jsonpath(action["target"]).find(document)]
            assert ours == theirs, action["target"]
            apply_overlay(document, {"overlay": "1.0.0", "actions": [action]})


def test_overlay_mistakes_stop_the_start() -> None:
    document = {"a": {"b": [1]}, "c": "text"}
    with pytest.raises(OverlayError, match="selects nothing"):
        apply_overlay(document, {"overlay": "1.0.0", "actions": [{"target": "$.x", "update": {}}]})
    with pytest.raises(OverlayError, match="unsupported"):
        apply_overlay(document, {"overlay": "1.0.0", "actions": [{"target": "$..b", "update": {}}]})
    with pytest.raises(OverlayError, match="cannot replace"):
        apply_overlay(
            document, {"overlay": "1.0.0", "actions": [{"target": "$", "update": {"a": 1}}]}
        )
    apply_overlay(
        document,
        {
            "overlay": "1.0.0",
            "actions": [
                {"target": "$.a", "update": {"b": [2], "d": {"e": True}}},
                {"target": "$.c", "remove": True},
            ],
        },
    )
    assert document == {"a": {"b": [1, 2], "d": {"e": True}}}


# The edge enforces what the document says


def test_bounds_come_from_the_document(served: dict, alice: Api) -> None:
    limit = served["components"]["parameters"]["LimitQueryParameter"]["schema"]
    offset = served["components"]["parameters"]["OffsetQueryParameter"]["schema"]
    page = alice.get("/v1/model-configs", params={"source": "template"}).json()["pagination"]
    assert (page["limit"], page["offset"]) == (limit["default"], offset["default"])
    assert alice.get("/v1/assets", params={"limit": limit["maximum"]}).status_code == 200
    for params in ({"limit": limit["maximum"] + 1}, {"limit": limit["minimum"] - 1}):
        refused = alice.get("/v1/assets", params=params)
        assert refused.status_code == 400
        assert refused.json()["details"]["errors"][0]["field"] == "limit"
    assert alice.get("/v1/jobs", params={"offset": offset["maximum"]}).status_code == 200
    assert alice.get("/v1/jobs", params={"offset": offset["maximum"] + 1}).status_code == 400


def test_enums_come_from_the_document(served: dict, alice: Api) -> None:
    schemas = served["components"]["schemas"]
    for status in schemas["OjinJobStatus"]["enum"]:
        assert alice.get("/v1/jobs", params={"status": status}).status_code == 200
    assert alice.get("/v1/jobs", params={"status": "paused"}).status_code == 400
    categories = schemas["AssetInitiateUploadRequest"]["properties"]["category"]["enum"]
    for category in categories:
        answer = alice.post("/v1/assets/initiate-upload", json={"name": "a", "category": category})
        assert answer.status_code == 200
    refused = alice.post("/v1/assets/initiate-upload", json={"name": "a", "category": "painting"})
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["details"]["errors"]] == ["category"]


def test_security_comes_from_the_document(served: dict, anonymous: Api, alice: Api) -> None:
    """No key: 401 exactly where the operation's security needs one; an ordinary key on an
    operation that needs the admin scheme: 403."""
    for path, item in served["paths"].items():
        if "{" in path or "/storage/" in path:
            continue
        prefix = "" if "servers" in item else "/v1"
        for method in ("get", "delete"):
            if method not in item:
                continue
            security = item[method].get("security", served["security"])
            anonymous_answer = anonymous.request(method.upper(), prefix + path)
            needs_key = bool(security) and {} not in security
            assert (anonymous_answer.status_code == 401) == needs_key, (method, path)
            if any("OjinAdminKey" in requirement for requirement in security):
                assert alice.request(method.upper(), prefix + path).status_code == 403, path


def test_a_path_parameter_that_breaks_its_schema_names_nothing(alice: Api) -> None:
    for path in ("/v1/model-configs/not-a-uuid", "/v1/assets/42", "/v1/jobs/x"):
        answer = alice.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "RESOURCE_NOT_FOUND"


# Defects found from outside


def test_repeated_array_values_are_all_applied(anonymous: Api) -> None:
    """openapi-python-client and openapi-fetch send `tags=a&tags=b` for an array parameter.
    The pairs tried are those where AND gives fewer variants than either tag alone, so taking
    only the first or only the last value would show."""
    every = anonymous.get("/v1/model-variants", params={"limit": 100}).json()["data"]
    tagged: dict[str, set[str]] = {}
    for variant in every:
        for tag in variant["tags"]:
            tagged.setdefault(tag, set()).add(variant["model_variant_id"])
    pairs = [
        (a, b)
        for a in tagged
        for b in tagged
        if a < b and tagged[a] & tagged[b] < tagged[a] and tagged[a] & tagged[b] < tagged[b]
    ]
    assert pairs  # the catalog and the test config give several
    for a, b in pairs:
        repeated = anonymous.get(f"/v1/model-variants?tags={a}&tags={b}").json()
        joined = anonymous.get("/v1/model-variants", params={"tags": f"{a},{b}"}).json()
        assert {v["model_variant_id"] for v in repeated["data"]} == tagged[a] & tagged[b]
        assert repeated == joined


@pytest.mark.parametrize(
    "query",
    ["source=template&source=org", "limit=1&limit=2", "model_variant_id=a&model_variant_id=b"],
)
def test_any_other_parameter_given_twice_is_refused(alice: Api, query: str) -> None:
    answer = alice.get(f"/v1/model-configs?{query}")
    assert answer.status_code == 400
    name = query.split("=")[0]
    assert answer.json()["details"]["errors"] == [
        {"field": name, "message": "is given 2 times; give it once"}
    ]


def test_journal_status_filter_is_bounded_as_the_document_says(
    served: dict, admin: Api, alice: Api
) -> None:
    status = next(
        p["schema"]
        for p in served["paths"]["/_ojin/requests"]["get"]["parameters"]
        if p["name"] == "status"
    )
    alice.get(f"/v1/model-configs/{uuid.uuid4()}")
    assert admin.get("/_ojin/requests", params={"status": status["minimum"] - 1}).status_code == 400
    found = admin.get("/_ojin/requests", params={"status": 404, "organization_id": "org_alice"})
    assert found.status_code == 200
    assert found.json()["data"] and {e["status"] for e in found.json()["data"]} == {404}


def test_a_null_reference_body_is_refused_and_records_nothing(admin: Api, alice: Api) -> None:
    config = alice.create_config()
    references = f"/_ojin/model-configs/{config['model_config_id']}/references"
    refused = admin.post(references, content=b"null", headers={"Content-Type": "application/json"})
    assert refused.status_code == 400
    assert admin.get(references).json()["data"] == []
    assert admin.post(references).status_code == 201  # no body at all: a new agent id


def test_no_response_carries_an_alt_svc_header(alice: Api, anonymous: Api) -> None:
    answers = [
        anonymous.get("/v1/model-variants"),
        alice.get("/v1/assets"),
        alice.get("/v1/no-such-route"),
        anonymous.get("/openapi.json"),
        anonymous.get("/_ojin/health"),
    ]
    for answer in answers:
        assert "alt-svc" not in answer.headers, answer.request.url
