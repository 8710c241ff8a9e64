"""The Kubernetes manifests (packaging/kubernetes/ojin-local.yaml) are valid objects of the
Kubernetes API, carry a config ojin-local accepts for a shared instance, and run the commands and
probes the README describes. No cluster runs here: the schema check is kubernetes-validate's
bundled OpenAPI schemas, strict (an unknown field is an error)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import clean_env, run_cli

MANIFESTS = Path(__file__).resolve().parents[1] / "packaging" / "kubernetes" / "ojin-local.yaml"
KUBERNETES_VERSION = "1.30"


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(MANIFESTS.read_text()) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


def pod_spec(objects: dict, name: str) -> dict[str, Any]:
    return objects["Deployment", name]["spec"]["template"]["spec"]


def config_path(spec: dict[str, Any], container: dict[str, Any]) -> str:
    """The --config argument, checked to lie in the volume the ConfigMap is mounted from."""
    path = container["args"][container["args"].index("--config") + 1]
    volume = next(v["name"] for v in spec["volumes"] if v.get("configMap", {}).get("name"))
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume)
    assert path.startswith(mount["mountPath"] + "/")
    return path.removeprefix(mount["mountPath"] + "/")


def test_every_object_is_valid_for_kubernetes(objects: dict) -> None:
    assert set(objects) == {
        ("ConfigMap", "ojin-local"),
        ("Secret", "ojin-local"),
        ("Deployment", "ojin-local-api"),
        ("Service", "ojin-local"),
        ("Deployment", "ojin-local-worker"),
    }
    for document in objects.values():
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_field_kubernetes_does_not_know_is_caught(objects: dict) -> None:
    broken = dict(objects["Service", "ojin-local"])
    broken["spec"] = {**broken["spec"], "replicas": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_config_and_secret_make_a_shared_instance_ojin_local_accepts(
    objects: dict, tmp_path: Path
) -> None:
    api = pod_spec(objects, "ojin-local-api")
    key = config_path(api, api["containers"][0])
    config = tmp_path / "shared.toml"
    config.write_text(objects["ConfigMap", "ojin-local"]["data"][key])
    secret = objects["Secret", "ojin-local"]["stringData"]
    shown = run_cli("config", "show", "--config", str(config), env=clean_env(secret))
    assert shown.returncode == 0, shown.stderr
    effective = tomllib.loads(shown.stdout)
    assert effective["server"]["processes"] == 2 and effective["server"]["host"] == "0.0.0.0"
    assert effective["database"]["url"].startswith("postgresql://ojin:")
    assert "CHANGE-ME" not in effective["database"]["url"]  # masked
    assert effective["jobs"]["queue"] == "redis"
    assert effective["jobs"]["redis_url"] == secret["OJIN_LOCAL_JOBS_REDIS_URL"]
    assert effective["storage"]["backend"] == "s3"
    assert effective["storage"]["s3"]["access_key_id"] == "CHANGE-ME"


def test_api_pods_serve_with_health_probes_and_worker_pods_run_the_jobs(objects: dict) -> None:
    config = tomllib.loads(objects["ConfigMap", "ojin-local"]["data"]["shared.toml"])
    api_spec = pod_spec(objects, "ojin-local-api")
    worker_spec = pod_spec(objects, "ojin-local-worker")
    [api] = api_spec["containers"]
    [worker] = worker_spec["containers"]
    assert api["args"][0] == "serve" and worker["args"][0] == "worker"
    assert config_path(api_spec, api) == config_path(worker_spec, worker) == "shared.toml"
    [port] = api["ports"]
    assert port["containerPort"] == config["server"]["port"]
    for probe in (api["readinessProbe"], api["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/_ojin/health", "port": port["name"]}
    service = objects["Service", "ojin-local"]["spec"]
    assert (
        service["selector"]
        == objects["Deployment", "ojin-local-api"]["spec"]["selector"]["matchLabels"]
    )
    assert service["ports"][0]["targetPort"] == port["name"]
    for container, spec in ((api, api_spec), (worker, worker_spec)):
        assert container["envFrom"] == [{"secretRef": {"name": "ojin-local"}}]
        data = next(m for m in container["volumeMounts"] if m["name"] == "data")
        assert data["mountPath"] == config["server"]["data_dir"]
        mounted = {mount["name"] for mount in container["volumeMounts"]}
        assert mounted <= {volume["name"] for volume in spec["volumes"]}
