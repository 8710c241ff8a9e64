"""Model configurations: CRUD, validation, organization isolation, templates, references."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.every_database

TEMPLATE_RECEPTIONIST = "6f1c2b8e-2d4a-4a8e-9a51-0c7d1f3e2a10"


def title() -> str:
    return f"config-{uuid.uuid4().hex[:10]}"


def test_create_returns_the_stored_configuration(alice: Api) -> None:
    body = {
        "title": title(),
        "model_variant_id": "ojin/oris-1.0/hd",
        "model_configurations": {"resolution": "1024x1024", "background": {"type": "transparent"}},
    }
    response = alice.post("/v1/model-configs", json=body)
    assert response.status_code == 201
    created = response.json()
    assert created["title"] == body["title"]
    assert created["model_variant_id"] == "ojin/oris-1.0/hd"
    assert created["model_id"] == "ojin/oris-1.0"
    assert created["organization_id"] == "org_alice"
    assert created["created_by"] == "user_alice"
    assert created["model_configurations"] == body["model_configurations"]
    assert created["created_at"] == created["updated_at"]
    assert created["created_at"].endswith("Z")
    assert uuid.UUID(created["model_config_id"]).version == 4
    fetched = alice.get(f"/v1/model-configs/{created['model_config_id']}").json()
    assert fetched == created


def test_model_configurations_default_to_an_empty_object(alice: Api) -> None:
    response = alice.post(
        "/v1/model-configs", json={"title": title(), "model_variant_id": "ojin/oris-1.0/fast"}
    )
    assert response.status_code == 201
    assert response.json()["model_configurations"] == {}


def test_read_only_and_unknown_fields_are_ignored(alice: Api) -> None:
    forged = {
        "title": title(),
        "model_variant_id": "ojin/oris-1.0/standard",
        "model_config_id": "00000000-0000-4000-8000-000000000000",
        "organization_id": "org_bob",
        "created_by": "mallory",
        "model_id": "forged/model",
        "created_at": "2001-01-01T00:00:00Z",
        "colour": "blue",
    }
    created = alice.post("/v1/model-configs", json=forged).json()
    assert created["model_config_id"] != forged["model_config_id"]
    assert created["organization_id"] == "org_alice"
    assert created["created_by"] == "user_alice"
    assert created["model_id"] == "ojin/oris-1.0"
    assert created["created_at"] != forged["created_at"]
    assert "colour" not in created


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title", "model_variant_id"}),
        ({"title": 3, "model_variant_id": ["x"]}, {"title", "model_variant_id"}),
        ({"title": "", "model_variant_id": "ojin/oris-1.0/standard"}, {"title"}),
        ({"title": "   ", "model_variant_id": "ojin/oris-1.0/standard"}, {"title"}),
        (
            {
                "title": "ok",
                "model_variant_id": "ojin/oris-1.0/standard",
                "model_configurations": [],
            },
            {"model_configurations"},
        ),
        ([1, 2], {"(body)"}),
    ],
)
def test_create_rejects_bad_bodies_naming_every_field(
    alice: Api, body: object, fields: set
) -> None:
    before = alice.get("/v1/model-configs", params={"limit": 1}).json()["pagination"]["total_items"]
    response = alice.post("/v1/model-configs", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert {e["field"] for e in error["details"]["errors"]} == fields
    after = alice.get("/v1/model-configs", params={"limit": 1}).json()["pagination"]["total_items"]
    assert after == before


def test_configurations_are_validated_against_the_variant_schema(alice: Api) -> None:
    response = alice.post(
        "/v1/model-configs",
        json={
            "title": title(),
            "model_variant_id": "ojin/oris-1.0/standard",
            "model_configurations": {
                "resolution": "4096x4096",
                "fps": "25",
                "image_asset_id": "not-a-uuid",
                "surprise": True,
            },
        },
    )
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    fields = sorted({e["field"] for e in error["details"]["errors"]})
    assert fields == [
        "model_configurations.fps",
        "model_configurations.image_asset_id",
        "model_configurations.resolution",
        "model_configurations.surprise",  # a property the schema does not have, by name
    ]


def test_config_file_variants_validate_with_their_own_schema(alice: Api) -> None:
    bad = alice.post(
        "/v1/model-configs",
        json={"title": title(), "model_variant_id": "acme/echo-1.0/basic"},
    )
    assert bad.status_code == 400
    assert bad.json()["details"]["errors"][0]["field"] == "model_configurations.voice"
    good = alice.create_config(
        model_variant_id="acme/echo-1.0/basic", model_configurations={"voice": "low"}
    )
    assert good["model_id"] == "acme/echo-1.0"


def test_unknown_variant_is_404(alice: Api) -> None:
    response = alice.post(
        "/v1/model-configs", json={"title": title(), "model_variant_id": "ojin/nope/none"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "RESOURCE_NOT_FOUND"


def test_title_is_unique_per_organization(alice: Api, bob: Api) -> None:
    taken = alice.create_config()
    clash = alice.post(
        "/v1/model-configs",
        json={"title": taken["title"], "model_variant_id": "ojin/oris-1.0/fast"},
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "CONFLICT"
    assert bob.create_config(title=taken["title"])["title"] == taken["title"]


def test_update_changes_title_and_configurations_and_moves_updated_at(alice: Api) -> None:
    created = alice.create_config()
    response = alice.put(
        f"/v1/model-configs/{created['model_config_id']}",
        json={
            "title": created["title"] + "-renamed",
            "model_configurations": {"fps": 30},
            "model_variant_id": "ojin/oris-1.0/hd",
            "organization_id": "org_bob",
        },
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == created["title"] + "-renamed"
    assert updated["model_configurations"] == {"fps": 30}
    assert updated["model_variant_id"] == created["model_variant_id"]
    assert updated["organization_id"] == "org_alice"
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert alice.get(f"/v1/model-configs/{created['model_config_id']}").json() == updated


def test_update_keeping_its_own_title_is_not_a_clash(alice: Api) -> None:
    created = alice.create_config()
    response = alice.put(
        f"/v1/model-configs/{created['model_config_id']}",
        json={"title": created["title"], "model_configurations": {}},
    )
    assert response.status_code == 200


def test_update_to_another_configurations_title_is_409_and_changes_nothing(alice: Api) -> None:
    first, second = alice.create_config(), alice.create_config()
    response = alice.put(
        f"/v1/model-configs/{second['model_config_id']}",
        json={"title": first["title"], "model_configurations": {"fps": 30}},
    )
    assert response.status_code == 409
    assert alice.get(f"/v1/model-configs/{second['model_config_id']}").json() == second


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"title": "only a title"}, {"model_configurations"}),
        ({"title": 5, "model_configurations": {}}, {"title"}),
        ({"title": "x", "model_configurations": {"fps": 12}}, {"model_configurations.fps"}),
    ],
)
def test_update_validates_like_create(alice: Api, body: dict, fields: set) -> None:
    created = alice.create_config()
    response = alice.put(f"/v1/model-configs/{created['model_config_id']}", json=body)
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["details"]["errors"]} == fields
    assert alice.get(f"/v1/model-configs/{created['model_config_id']}").json() == created


def test_delete_removes_the_configuration(alice: Api) -> None:
    created = alice.create_config()
    path = f"/v1/model-configs/{created['model_config_id']}"
    response = alice.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    assert alice.get(path).status_code == 404
    assert alice.delete(path).status_code == 404


# A fixed unknown id: pytest-xdist workers must collect the same test ids.
UNKNOWN_ID = "0b8a5f8e-4c1d-4e2f-9a3b-5c6d7e8f9a0b"


@pytest.mark.parametrize("config_id", ["not-a-uuid", "12345", UNKNOWN_ID])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_malformed_or_unknown_ids_are_404(alice: Api, method: str, config_id: str) -> None:
    body = {"title": "x", "model_configurations": {}} if method == "PUT" else None
    response = alice.request(method, f"/v1/model-configs/{config_id}", json=body)
    assert response.status_code == 404


def test_templates_are_listed_and_readable_by_every_organization(alice: Api, bob: Api) -> None:
    for client in (alice, bob):
        listed = client.get("/v1/model-configs", params={"source": "template"}).json()
        assert TEMPLATE_RECEPTIONIST in [c["model_config_id"] for c in listed["data"]]
        assert all(c["organization_id"] == "org_template" for c in listed["data"])
        fetched = client.get(f"/v1/model-configs/{TEMPLATE_RECEPTIONIST}")
        assert fetched.status_code == 200
        assert fetched.json()["title"] == "Friendly Receptionist"


def test_the_template_organization_manages_its_own_templates(curator: Api, alice: Api) -> None:
    created = curator.create_config()
    path = f"/v1/model-configs/{created['model_config_id']}"
    assert alice.get(path).status_code == 200
    renamed = curator.put(path, json={"title": title(), "model_configurations": {}})
    assert renamed.status_code == 200
    assert curator.delete(path).status_code == 204
    assert alice.get(path).status_code == 404


def test_list_defaults_to_own_organization_and_filters_by_variant(alice: Api, bob: Api) -> None:
    mine = alice.create_config(model_variant_id="ojin/oris-1.0/studio")
    theirs = bob.create_config(model_variant_id="ojin/oris-1.0/studio")
    listed = alice.get(
        "/v1/model-configs", params={"model_variant_id": "ojin/oris-1.0/studio", "limit": 100}
    ).json()
    ids = [c["model_config_id"] for c in listed["data"]]
    assert mine["model_config_id"] in ids
    assert theirs["model_config_id"] not in ids
    assert all(c["model_variant_id"] == "ojin/oris-1.0/studio" for c in listed["data"])
    assert all(c["organization_id"] == "org_alice" for c in listed["data"])
    explicit = alice.get(
        "/v1/model-configs",
        params={"model_variant_id": "ojin/oris-1.0/studio", "limit": 100, "source": "org"},
    ).json()
    assert explicit == listed


def test_public_route_serves_any_configuration_without_internal_fields(
    alice: Api, anonymous: Api
) -> None:
    created = alice.create_config()
    response = anonymous.get(f"/v1/public/model-configs/{created['model_config_id']}")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    public = response.json()
    assert "organization_id" not in public
    assert "created_by" not in public
    assert public == {
        k: v for k, v in created.items() if k not in ("organization_id", "created_by")
    }


def test_public_route_404_keeps_cors_so_a_browser_can_read_it(anonymous: Api) -> None:
    for config_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = anonymous.get(f"/v1/public/model-configs/{config_id}")
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == "*"


def test_public_route_answers_cors_preflight(anonymous: Api) -> None:
    response = anonymous.options(
        f"/v1/public/model-configs/{uuid.uuid4()}",
        headers={
            "Origin": "https://widget.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-custom",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "x-custom"


def test_a_listed_page_shows_every_write_at_once(alice: Api) -> None:
    """Pages are kept between requests until the database changes: each write shows in the very
    next listing of the same page."""

    def last_page() -> dict:
        total = alice.get("/v1/model-configs").json()["pagination"]["total_items"]
        return alice.get("/v1/model-configs", params={"offset": max(total - 1, 0)}).json()

    before = last_page()
    created = alice.create_config()
    after_create = last_page()
    assert after_create["pagination"]["total_items"] == before["pagination"]["total_items"] + 1
    assert after_create["data"][-1]["model_config_id"] == created["model_config_id"]
    renamed = {"title": title(), "model_configurations": {}}
    path = f"/v1/model-configs/{created['model_config_id']}"
    assert alice.put(path, json=renamed).status_code == 200
    assert last_page()["data"][-1]["title"] == renamed["title"]
    assert alice.delete(path).status_code == 204
    assert last_page()["pagination"] == before["pagination"]
