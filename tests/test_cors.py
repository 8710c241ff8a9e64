"""`[server] cors_origins`: a web app on a configured origin may call the keyed /v1 routes from
the browser (preflights answered, X-API-Key and Content-Type allowed, X-Request-Id exposed); any
other origin is refused, and with the default (no origins) every keyed route refuses, as the
service presumably does. The public and storage routes answer any origin on their own."""

from __future__ import annotations

import re
import uuid

import pytest

from ojin_local.spec import operations
from tests.conftest import ALICE_KEY, TEST_CONFIG, Api, configured_server, run_cli

APP = "http://localhost:3000"
STRANGER = "http://evil.example"


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory):
    config = TEST_CONFIG.replace(
        "[[api_keys]]", f'[server]\ncors_origins = ["{APP}"]\n\n[[api_keys]]', 1
    )
    server = configured_server(tmp_path_factory.mktemp("cors"), config)
    yield server
    server.stop()


def preflight(client: Api, path: str, origin: str, method: str = "GET"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )


def keyed_paths() -> list[str]:
    """Every keyed /v1 path of the spec, its parameters filled in (a variant id has slashes)."""
    filled = {"{model_variant_id}": "ojin/oris-1.0/standard"}
    paths = []
    for operation in operations().values():
        if operation.operation_id.startswith("ojinPreflight"):
            path = operation.path
            for name, value in filled.items():
                path = path.replace(name, value)
            paths.append(re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path))
    return paths


def test_every_keyed_path_answers_a_configured_origins_preflight(cors_server, contract) -> None:
    with Api(cors_server.url, contract) as browser:
        paths = keyed_paths()
        assert "/v1/model-configs" in paths and "/v1/jobs" in paths
        for path in paths:
            allowed = preflight(browser, path, APP)
            assert allowed.status_code == 204, (path, allowed.text)
            assert allowed.headers["access-control-allow-origin"] == APP
            allowed_headers = allowed.headers["access-control-allow-headers"].lower()
            assert {"x-api-key", "content-type"} <= set(allowed_headers.replace(" ", "").split(","))
            assert "origin" in allowed.headers["vary"].lower()
        methods = preflight(browser, "/v1/model-configs", APP).headers
        assert methods["access-control-allow-methods"] == "GET, POST"

        refused = preflight(browser, "/v1/model-configs", STRANGER)
        assert refused.status_code == 403
        assert refused.json()["code"] == "FORBIDDEN"
        assert "access-control-allow-origin" not in refused.headers


def test_a_configured_origin_reads_the_answer_and_its_request_id(cors_server, contract) -> None:
    with Api(cors_server.url, contract, ALICE_KEY) as app:
        created = app.post(
            "/v1/model-configs",
            json={"title": "from the browser", "model_variant_id": "ojin/oris-1.0/standard"},
            headers={"Origin": APP},
        )
        assert created.status_code == 201
        assert created.headers["access-control-allow-origin"] == APP
        assert "X-Request-Id" in created.headers["access-control-expose-headers"]
        refused = app.get("/v1/model-configs", headers={"Origin": APP, "X-API-Key": "sk-nobody"})
        assert refused.status_code == 401  # errors too, so the app can read why
        assert refused.headers["access-control-allow-origin"] == APP

        other = app.get("/v1/model-configs", headers={"Origin": STRANGER})
        assert other.status_code == 200  # a server answers; the browser withholds it
        assert "access-control-allow-origin" not in other.headers


def test_by_default_keyed_routes_answer_no_origin(alice, anonymous) -> None:
    assert preflight(anonymous, "/v1/model-configs", APP).status_code == 403
    answer = alice.get("/v1/model-configs", headers={"Origin": APP})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    public = anonymous.options(
        "/v1/public/assets/00000000-0000-4000-8000-000000000000",
        headers={"Origin": APP, "Access-Control-Request-Method": "GET"},
    )
    assert public.headers["access-control-allow-origin"] == "*"  # the widget's routes: any


def test_a_malformed_origin_is_a_config_error(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[server]\ncors_origins = ["localhost:3000/"]\n')
    shown = run_cli("config", "show", "--config", str(config))
    assert shown.returncode != 0
    assert "[server] cors_origins: 'localhost:3000/' is not an origin like" in shown.stderr
