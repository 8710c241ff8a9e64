"""Deleting a model configuration while agent configurations reference it, and the admin routes."""

from __future__ import annotations

import uuid

from tests.conftest import Api


def references_path(config_id: str) -> str:
    return f"/_ojin/model-configs/{config_id}/references"


def add_reference(admin: Api, config_id: str, agent_id: str | None = None) -> str:
    body = {"agent_config_id": agent_id} if agent_id else None
    response = admin.post(references_path(config_id), json=body)
    assert response.status_code == 201, response.text
    return response.json()["agent_config_id"]


def test_admin_records_lists_and_removes_references(alice: Api, admin: Api) -> None:
    config = alice.create_config()["model_config_id"]
    named = str(uuid.uuid4())
    assert add_reference(admin, config, named) == named
    generated = add_reference(admin, config)
    assert uuid.UUID(generated)
    listed = admin.get(references_path(config)).json()["data"]
    assert {r["agent_config_id"] for r in listed} == {named, generated}
    duplicate = admin.post(references_path(config), json={"agent_config_id": named})
    assert duplicate.status_code == 409
    assert admin.delete(f"{references_path(config)}/{named}").status_code == 204
    assert admin.delete(f"{references_path(config)}/{named}").status_code == 404
    assert [r["agent_config_id"] for r in admin.get(references_path(config)).json()["data"]] == [
        generated
    ]


def test_admin_reference_requests_are_validated(alice: Api, admin: Api) -> None:
    config = alice.create_config()["model_config_id"]
    bad = admin.post(references_path(config), json={"agent_config_id": "nope"})
    assert bad.status_code == 400
    assert bad.json()["details"]["errors"][0]["field"] == "agent_config_id"
    missing = admin.post(references_path(str(uuid.uuid4())), json={})
    assert missing.status_code == 404


def test_delete_is_refused_while_referenced_and_changes_nothing(alice: Api, admin: Api) -> None:
    config = alice.create_config()
    config_id = config["model_config_id"]
    first, second = add_reference(admin, config_id), add_reference(admin, config_id)
    response = alice.delete(f"/v1/model-configs/{config_id}")
    assert response.status_code == 409
    error = response.json()
    assert error["code"] == "CONFLICT"
    assert sorted(error["details"]["referenced_by"]) == sorted([first, second])
    assert alice.get(f"/v1/model-configs/{config_id}").json() == config
    assert len(admin.get(references_path(config_id)).json()["data"]) == 2

    partial = alice.delete(f"/v1/model-configs/{config_id}", params={"referenced_by": first})
    assert partial.status_code == 409
    assert partial.json()["details"]["referenced_by"] == [second]
    assert len(admin.get(references_path(config_id)).json()["data"]) == 2


def test_referenced_by_removes_the_last_reference_as_part_of_the_delete(
    alice: Api, admin: Api
) -> None:
    config_id = alice.create_config()["model_config_id"]
    only = add_reference(admin, config_id)
    response = alice.delete(f"/v1/model-configs/{config_id}", params={"referenced_by": only})
    assert response.status_code == 204
    assert alice.get(f"/v1/model-configs/{config_id}").status_code == 404
    assert admin.get(references_path(config_id)).status_code == 404


def test_referenced_by_must_be_a_uuid(alice: Api) -> None:
    config_id = alice.create_config()["model_config_id"]
    response = alice.delete(f"/v1/model-configs/{config_id}", params={"referenced_by": "x"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"][0]["field"] == "referenced_by"
    assert alice.get(f"/v1/model-configs/{config_id}").status_code == 200
