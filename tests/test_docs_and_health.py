"""The served spec, the offline docs page and the health route."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Api, Server

SEED = json.loads(
    (Path(__file__).parent.parent / "ojin_local" / "spec" / "ojin-rest-v1.json").read_text()
)


def test_bundled_seed_is_the_shared_spec_unchanged() -> None:
    shared = Path(__file__).parent.parent.parent / "shared" / "openapi" / "ojin-rest-v1.json"
    if not shared.exists():
        pytest.skip(f"no shared spec at {shared} to compare the bundled copy with")
    assert json.loads(shared.read_text()) == SEED


def test_served_spec_has_every_seed_operation_and_marked_local_additions(
    anonymous: Api, server: Server
) -> None:
    served = anonymous.get("/openapi.json").json()
    assert served["servers"][0]["url"] == "/v1"
    for path, item in SEED["paths"].items():
        for method, operation in item.items():
            assert served["paths"][path][method]["operationId"] == operation["operationId"]
    create = served["paths"]["/model-configs"]["post"]
    assert "x-ojin-local" in create["responses"]["409"]
    assert (
        "x-ojin-local"
        in served["paths"]["/model-configs/{model_config_id}"]["put"]["responses"]["409"]
    )
    variants = served["paths"]["/model-variants"]["get"]
    assert {} in variants["security"]
    assert "x-ojin-local" in variants
    for local in ("/_ojin/health", "/_ojin/model-configs/{model_config_id}/references"):
        assert "x-ojin-local" in served["paths"][local]
        assert served["paths"][local]["servers"] == [
            {"url": "/", "description": "Local routes live outside /v1."}
        ]


def test_docs_page_works_offline(anonymous: Api) -> None:
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", page.text)
    assert external == []
    for asset in re.findall(r"""(?:src|href)="(/docs/static/[^"]+)\"""", page.text):
        assert anonymous.get(asset).status_code == 200, asset
    assert anonymous.get("/docs/static/../../etc/passwd").status_code == 404
    assert anonymous.get("/docs/static/index.j2").status_code == 404


def test_health_reports_components(anonymous: Api) -> None:
    health = anonymous.get("/_ojin/health").json()
    assert health["status"] == "ok"
    assert health["version"] == "0.1.0"
    assert health["database"]["status"] == "ok"
    assert health["storage"]["backend"] == "filesystem"
    assert "status" in health["jobs"]
