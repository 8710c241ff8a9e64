"""Model variants: the catalog, optional auth, filters and ids with slashes."""

from __future__ import annotations

import pytest

from tests.conftest import Api

BUILT_IN = {
    "ojin/oris-1.0/standard": "public",
    "ojin/oris-1.0/hd": "public",
    "ojin/oris-1.0/fast": "public",
    "ojin/oris-1.0/studio": "preview",
    "ojin/oris-1.0/legacy-sd": "deprecated",
}


def ids(body: dict) -> list[str]:
    return [v["model_variant_id"] for v in body["data"]]


def test_with_a_key_every_variant_is_listed_in_a_stable_order(alice: Api) -> None:
    first = alice.get("/v1/model-variants").json()
    assert set(ids(first)) == {*BUILT_IN, "acme/echo-1.0/basic"}
    assert first["pagination"] == {"limit": 20, "offset": 0, "total_items": 6}
    assert {v["model_variant_id"]: v["status"] for v in first["data"]}.items() >= BUILT_IN.items()
    assert alice.get("/v1/model-variants").json() == first


def test_every_variant_carries_a_real_configuration_schema(alice: Api) -> None:
    for variant in alice.get("/v1/model-variants").json()["data"]:
        schema = variant["configuration_schema"]
        assert schema["type"] == "object"
        assert schema["properties"]
        assert variant["tags"]
        assert variant["description"]


def test_without_a_key_only_public_variants_whatever_the_status_filter(anonymous: Api) -> None:
    expected = {v for v, status in BUILT_IN.items() if status == "public"}
    expected.add("acme/echo-1.0/basic")
    assert set(ids(anonymous.get("/v1/model-variants").json())) == expected
    ignored = anonymous.get("/v1/model-variants", params={"status": "deprecated"}).json()
    assert set(ids(ignored)) == expected


def test_status_filter_with_a_key(alice: Api) -> None:
    body = alice.get("/v1/model-variants", params={"status": "deprecated"}).json()
    assert ids(body) == ["ojin/oris-1.0/legacy-sd"]
    assert body["pagination"]["total_items"] == 1


def test_model_id_filter(alice: Api) -> None:
    body = alice.get("/v1/model-variants", params={"model_id": "acme/echo-1.0"}).json()
    assert ids(body) == ["acme/echo-1.0/basic"]
    none = alice.get("/v1/model-variants", params={"model_id": "nobody/none"}).json()
    assert none == {"data": [], "pagination": {"limit": 20, "offset": 0, "total_items": 0}}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("real-time", {"ojin/oris-1.0/standard", "ojin/oris-1.0/hd", "ojin/oris-1.0/fast"}),
        ("real-time,high-quality", {"ojin/oris-1.0/hd"}),
        ("high-quality", {"ojin/oris-1.0/hd", "ojin/oris-1.0/studio"}),
        ("real-time, mobile", {"ojin/oris-1.0/fast"}),
        ("mobile,offline-render", set()),
    ],
)
def test_tags_filter_is_and(alice: Api, tags: str, expected: set) -> None:
    assert set(ids(alice.get("/v1/model-variants", params={"tags": tags}).json())) == expected


def test_paging_the_catalog(alice: Api) -> None:
    everything = ids(alice.get("/v1/model-variants").json())
    page = alice.get("/v1/model-variants", params={"limit": 2, "offset": 3}).json()
    assert ids(page) == everything[3:5]
    assert page["pagination"] == {"limit": 2, "offset": 3, "total_items": 6}


@pytest.mark.parametrize(
    "path", ["ojin/oris-1.0/standard", "ojin%2Foris-1.0%2Fstandard", "ojin%2foris-1.0/standard"]
)
def test_ids_with_slashes_work_literal_and_percent_encoded(anonymous: Api, path: str) -> None:
    response = anonymous.get(f"/v1/model-variants/{path}")
    assert response.status_code == 200
    assert response.json()["model_variant_id"] == "ojin/oris-1.0/standard"


def test_non_public_variant_is_found_only_with_a_key(alice: Api, anonymous: Api) -> None:
    path = "/v1/model-variants/ojin/oris-1.0/studio"
    assert alice.get(path).json()["status"] == "preview"
    hidden = anonymous.get(path)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "RESOURCE_NOT_FOUND"


def test_unknown_variant_is_404(alice: Api) -> None:
    assert alice.get("/v1/model-variants/ojin/oris-9.9/none").status_code == 404
