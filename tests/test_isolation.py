"""The isolation matrix: every operation that takes a key x (no key, unknown key, revoked key,
another organization's resource, a template resource), with the status each must answer.

The rows come from the served spec: every operation with a security requirement must have a row
here (a new operation fails `test_every_operation_is_in_the_matrix` until it gets one), and every
operation without one must be listed in PUBLIC with the rule it follows. A cell is None where the
case has no meaning (there is no template upload session, nothing to own in a create).

Expected statuses, as the README and the real service's semantics have it: a missing, unknown or
revoked key is 401 everywhere (also where a key is optional: a bad key is never taken for none);
another organization's resource is 404, never 403, so its existence does not leak, and it never
shows in a listing; a template resource is readable by everyone and writable by no one (403).
Admin routes (local only) answer 403 to an ordinary organization's key.

Each refusal is checked to change nothing: the listings' totals, the resources themselves (as
their owners read them), their bytes and the upload sessions are compared before and after.

The matrix runs twice locally: between two configured organizations, and between two namespaces
(POST /_ojin/namespaces), whose keys are ordinary keys (403 on admin routes) and whose revoked key
is a deleted namespace's.

Portable (see target.py): against a remote target the local-only rows and the namespace run are
skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ojin_local.spec import operations, seed_spec, served_spec
from tests.conftest import ADMIN_KEY, Api, wait_until
from tests.contract import Contract
from tests.target import Target

pytestmark = [pytest.mark.isolation, pytest.mark.every_database]

CASES = ("no_key", "unknown_key", "revoked_key", "other_org", "template")
CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "RESOURCE_NOT_FOUND"}
OWN, OTHER, TEMPLATE = "own", "other", "template"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None


@dataclass
class World:
    """Resources of three owners on the target: alice's (`own`, the caller's organization),
    bob's (`other`) and the template organization's, and clients for alice, bob and no key."""

    target: Target
    alice: Api
    bob: Api
    anonymous: Api
    observers: dict[str, httpx.Client]
    """Plain clients for alice and bob, for snapshots: what they read is not what is tested."""
    http: httpx.Client
    """No key: for pre-signed URLs."""
    configs: dict[str, dict[str, Any]]
    assets: dict[str, dict[str, Any]]
    sessions: dict[str, dict[str, Any]]
    jobs: dict[str, str]
    tag: str

    def owner_of(self, owner: str) -> httpx.Client:
        return self.observers[OTHER if owner == OTHER else OWN]

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused request could have changed, as the owners see it."""
        state: dict[str, Any] = {}
        for name, client in self.observers.items():
            for collection in ("model-configs", "assets"):
                state[f"{name} {collection}"] = total(client, f"/v1/{collection}")
            if self.target.server is not None:
                state[f"{name} jobs"] = total(client, "/v1/jobs")
        for source in ("model-configs", "assets"):
            state[f"template {source}"] = total(
                self.observers[OWN], f"/v1/{source}", source="template"
            )
        for owner, config in self.configs.items():
            read = self.owner_of(owner).get(f"/v1/model-configs/{config['model_config_id']}")
            state[f"config {owner}"] = (read.status_code, read.json())
        for owner, asset in self.assets.items():
            client = self.owner_of(owner)
            read = client.get(f"/v1/assets/{asset['asset_id']}")
            state[f"asset {owner}"] = (read.status_code, read.json())
            state[f"bytes {owner}"] = object_digest(client, self.http, asset["asset_id"])
        for owner, session in self.sessions.items():
            signed = self.owner_of(owner).post("/v1/assets/sign-part", json=sign_body(session, 1))
            state[f"session {owner} open"] = signed.status_code
        return state


def total(client: httpx.Client, path: str, **params: str) -> int:
    response = client.get(path, params={"limit": 1, **params})
    assert response.status_code == 200, response.text
    return response.json()["pagination"]["total_items"]


def object_digest(client: httpx.Client, http: httpx.Client, asset_id: str) -> str | None:
    download = client.get(f"/v1/assets/{asset_id}/download")
    if download.status_code != 200:
        return None
    return hashlib.sha256(http.get(download.json()["asset_url"]).content).hexdigest()


def sign_body(session: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        "asset_id": session["asset_id"],
        "upload_id": session["upload_id"],
        "part_number": number,
    }


def finalize_body(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "asset_id": session["asset_id"],
        "upload_id": session["upload_id"],
        "name": "session.png",
        "category": "image",
        "content_type": "image/png",
        "size_bytes": len(session["data"]),
        "parts": [{"part_number": 1, "etag": session["etag"]}],
    }


def listed(client: Api, path: str, id_field: str, **params: str) -> set[str]:
    """Every id a listing shows, all pages."""
    found: set[str] = set()
    offset = 0
    while True:
        page = client.get(path, params={"limit": 100, "offset": offset, **params})
        assert page.status_code == 200, page.text
        body = page.json()
        found |= {item[id_field] for item in body["data"]}
        offset += 100
        if offset >= body["pagination"]["total_items"]:
            return found


# The rows. `call` builds the request on the resources of an owner (the caller's own for the key
# cases); `expect` gives each case's status (None: not applicable); `check` looks at a 2xx answer.


@dataclass(frozen=True)
class Row:
    call: Callable[[World, str], Call]
    expect: dict[str, int | None]
    check: Callable[[World, httpx.Response], None] | None = None
    local_only: bool = False


def keyed(other: int | None, template: int | None, *, no_key: int = 401) -> dict[str, int | None]:
    return {
        "no_key": no_key,
        "unknown_key": 401,
        "revoked_key": 401,
        "other_org": other,
        "template": template,
    }


def config_path(world: World, owner: str) -> str:
    return f"/v1/model-configs/{world.configs[owner]['model_config_id']}"


def asset_path(world: World, owner: str) -> str:
    return f"/v1/assets/{world.assets[owner]['asset_id']}"


def excludes_bobs(path: str, id_field: str, resource: Callable[[World], str]) -> Callable:
    def check(world: World, response: httpx.Response) -> None:
        assert resource(world) not in listed(world.alice, path, id_field)

    return check


def check_list(path: str, id_field: str, resource: Callable[[World, str], str]) -> Callable:
    """A listing: bob's resource is absent from alice's; the template's is in source=template."""

    def check(world: World, response: httpx.Response) -> None:
        params = dict(response.request.url.params)
        if params.get("source") == "template":
            assert resource(world, TEMPLATE) in listed(world.alice, path, id_field, **params)
        else:
            assert resource(world, OTHER) not in listed(world.alice, path, id_field)

    return check


def returns(id_field: str, resource: Callable[[World, str], str]) -> Callable:
    def check(world: World, response: httpx.Response) -> None:
        assert response.json()[id_field] == resource(world, TEMPLATE)

    return check


def list_call(path: str) -> Callable[[World, str], Call]:
    return lambda w, owner: Call("GET", path, {"source": "template"} if owner == TEMPLATE else {})


def config_id(world: World, owner: str) -> str:
    return world.configs[owner]["model_config_id"]


def asset_id(world: World, owner: str) -> str:
    return world.assets[owner]["asset_id"]


def job_id(world: World, owner: str) -> str:
    return world.jobs[owner]


def public_variants_only(world: World, response: httpx.Response) -> None:
    body = response.json()
    variants = body.get("data", [body])
    assert variants and {v["status"] for v in variants} == {"public"}


def started_a_job(world: World, response: httpx.Response) -> None:
    """Locally, waits for the job's end, so its video does not land in a later snapshot."""
    job = response.json()["job_id"]
    if world.target.server is not None:
        done = wait_until(
            lambda: world.alice.get(f"/v1/jobs/{job}").json()["status"] in ("succeeded", "failed"),
            timeout=60,
        )
        assert done, f"job {job} did not end"


REFERENCES = "/_ojin/model-configs/{}/references"
NAMESPACE = "ns_0123456789abcdef"  # well-formed; the admin routes refuse before looking it up

MATRIX: dict[str, Row] = {
    "listModelVariants": Row(
        lambda w, o: Call("GET", "/v1/model-variants"),
        keyed(None, None, no_key=200),
        public_variants_only,
    ),
    "getModelVariantById": Row(
        lambda w, o: Call("GET", "/v1/model-variants/ojin/oris-1.0/standard"),
        keyed(None, None, no_key=200),
        public_variants_only,
    ),
    "listModelConfigs": Row(
        list_call("/v1/model-configs"),
        keyed(200, 200),
        check_list("/v1/model-configs", "model_config_id", config_id),
    ),
    "createModelConfig": Row(
        lambda w, o: Call(
            "POST",
            "/v1/model-configs",
            json={"title": f"iso-{uuid.uuid4().hex}", "model_variant_id": "ojin/oris-1.0/fast"},
        ),
        keyed(None, None),
    ),
    "getModelConfigById": Row(
        lambda w, o: Call("GET", config_path(w, o)),
        keyed(404, 200),
        returns("model_config_id", config_id),
    ),
    "updateModelConfig": Row(
        lambda w, o: Call(
            "PUT",
            config_path(w, o),
            json={"title": f"taken-over-{uuid.uuid4().hex}", "model_configurations": {}},
        ),
        keyed(404, 403),
    ),
    "deleteModelConfig": Row(lambda w, o: Call("DELETE", config_path(w, o)), keyed(404, 403)),
    "initiateAssetUpload": Row(
        lambda w, o: Call(
            "POST", "/v1/assets/initiate-upload", json={"name": "x.png", "category": "image"}
        ),
        keyed(None, None),
    ),
    "signAssetUploadPart": Row(
        lambda w, o: Call("POST", "/v1/assets/sign-part", json=sign_body(w.sessions[o], 2)),
        keyed(404, None),
    ),
    "listAssets": Row(
        list_call("/v1/assets"),
        keyed(200, 200),
        check_list("/v1/assets", "asset_id", asset_id),
    ),
    "createAssetRecord": Row(
        lambda w, o: Call("POST", "/v1/assets", json=finalize_body(w.sessions[o])),
        keyed(404, None),
    ),
    "getAssetDownloadById": Row(
        lambda w, o: Call("GET", asset_path(w, o) + "/download"),
        keyed(404, 200),
        returns("asset_id", asset_id),
    ),
    "getAssetById": Row(
        lambda w, o: Call("GET", asset_path(w, o)), keyed(404, 200), returns("asset_id", asset_id)
    ),
    "deleteAsset": Row(lambda w, o: Call("DELETE", asset_path(w, o)), keyed(404, 403)),
    "generateIdleVideo": Row(
        lambda w, o: Call(
            "POST",
            "/v1/assets/generate/ojin/oris-1.0-idle-video-generator",
            json={"source_asset_id": asset_id(w, o), "reference_template": "v1"},
        ),
        keyed(404, 202),
        started_a_job,
    ),
    "ojinListJobs": Row(
        lambda w, o: Call("GET", "/v1/jobs"),
        keyed(200, None),
        excludes_bobs("/v1/jobs", "job_id", lambda w: w.jobs[OTHER]),
        local_only=True,
    ),
    "ojinGetJob": Row(
        lambda w, o: Call("GET", f"/v1/jobs/{job_id(w, o)}"), keyed(404, None), local_only=True
    ),
    # Any valid key may ask who it stands for; there is no resource of another owner to reach.
    "ojinWhoAmI": Row(
        lambda w, o: Call("GET", "/_ojin/whoami"), keyed(None, None), local_only=True
    ),
    # Admin routes: the "other organization" is an ordinary organization's key (not admin).
    "ojinListModelConfigReferences": Row(
        lambda w, o: Call("GET", REFERENCES.format(config_id(w, OWN))),
        keyed(403, None),
        local_only=True,
    ),
    "ojinAddModelConfigReference": Row(
        lambda w, o: Call("POST", REFERENCES.format(config_id(w, OWN)), json={}),
        keyed(403, None),
        local_only=True,
    ),
    "ojinRemoveModelConfigReference": Row(
        lambda w, o: Call("DELETE", REFERENCES.format(config_id(w, OWN)) + f"/{uuid.uuid4()}"),
        keyed(403, None),
        local_only=True,
    ),
    "ojinReset": Row(lambda w, o: Call("POST", "/_ojin/reset"), keyed(403, None), local_only=True),
    "ojinExportState": Row(
        lambda w, o: Call("GET", "/_ojin/state"), keyed(403, None), local_only=True
    ),
    "ojinImportState": Row(
        lambda w, o: Call("PUT", "/_ojin/state"), keyed(403, None), local_only=True
    ),
    "ojinAddFault": Row(
        lambda w, o: Call(
            "POST", "/_ojin/faults", json={"operation_id": "listAssets", "status": 500}
        ),
        keyed(403, None),
        local_only=True,
    ),
    "ojinListFaults": Row(
        lambda w, o: Call("GET", "/_ojin/faults"), keyed(403, None), local_only=True
    ),
    "ojinClearFaults": Row(
        lambda w, o: Call("DELETE", "/_ojin/faults"), keyed(403, None), local_only=True
    ),
    "ojinRemoveFault": Row(
        lambda w, o: Call("DELETE", f"/_ojin/faults/{uuid.uuid4()}"),
        keyed(403, None),
        local_only=True,
    ),
    "ojinListRequests": Row(
        lambda w, o: Call("GET", "/_ojin/requests"), keyed(403, None), local_only=True
    ),
    "ojinClearRequests": Row(
        lambda w, o: Call("DELETE", "/_ojin/requests"), keyed(403, None), local_only=True
    ),
    "ojinGetRequest": Row(
        lambda w, o: Call("GET", f"/_ojin/requests/{uuid.uuid4().hex}"),
        keyed(403, None),
        local_only=True,
    ),
    "ojinCreateNamespace": Row(
        lambda w, o: Call("POST", "/_ojin/namespaces", json={}), keyed(403, None), local_only=True
    ),
    "ojinListNamespaces": Row(
        lambda w, o: Call("GET", "/_ojin/namespaces"), keyed(403, None), local_only=True
    ),
    "ojinResetNamespace": Row(
        lambda w, o: Call("POST", f"/_ojin/namespaces/{NAMESPACE}/reset"),
        keyed(403, None),
        local_only=True,
    ),
    "ojinDeleteNamespace": Row(
        lambda w, o: Call("DELETE", f"/_ojin/namespaces/{NAMESPACE}"),
        keyed(403, None),
        local_only=True,
    ),
    **{
        f"ojin{verb}{scope}Clock": Row(
            lambda w, o, method=method, path=path: Call(
                method, path, json={"advance_seconds": 60} if method == "POST" else None
            ),
            keyed(403, None),
            local_only=True,
        )
        for scope, path in (
            ("", "/_ojin/clock"),
            ("Namespace", f"/_ojin/namespaces/{NAMESPACE}/clock"),
        )
        for verb, method in (("Get", "GET"), ("Advance", "POST"), ("Reset", "DELETE"))
    },
}

# Operations without a security requirement, and the rule each follows instead.
PUBLIC = {
    "publicGetModelConfigById": "any configuration by id, no key: test_public_routes_ignore_keys",
    "publicGetAssetById": "any asset by id, no key: test_public_routes_ignore_keys",
    "ojinHealth": "no key, nothing private: test_docs_and_health.py",
    "ojinOpenApi": "no key, the served spec: test_docs_and_health.py",
    "ojinStoragePutPart": "a pre-signed URL is the credential: test_presigned_urls.py",
    "ojinStorageGetObject": "a pre-signed URL is the credential: test_presigned_urls.py",
    "ojinStorageHeadObject": "a pre-signed URL is the credential: test_presigned_urls.py",
    "ojinStoragePreflight": "CORS preflight, no credential: test_storage_http.py",
    "ojinPublicModelConfigPreflight": "CORS preflight, no credential: test_model_configs.py",
    "ojinPublicAssetPreflight": "CORS preflight, no credential: test_assets.py",
    "ojinDocs": "no key, the docs page: test_docs_and_health.py",
    "ojinDocsAsset": "no key, the docs page's files: test_docs_and_health.py",
    "ojinIndex": "no key, the console (it asks for one): tests/console/",
    "ojinConsoleFile": "no key, the console's files: tests/console/",
    "ojinDrift": "no key, the proxy's drift report (404 here): tests/proxy/test_proxy.py",
    **{
        operation: "CORS preflight of a keyed route, no credential: test_cors.py"
        for operation in operations()
        if operation.startswith("ojinPreflight")
    },
}


def operations_by_security() -> tuple[set[str], set[str]]:
    """(operations that take a key, operations that take none) in the served spec."""
    spec = served_spec()
    keyed_ops, public_ops = set(), set()
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            security = operation.get("security", spec.get("security", []))
            (keyed_ops if any(security) else public_ops).add(operation["operationId"])
    return keyed_ops, public_ops


SEED_OPERATIONS = {
    operation["operationId"]
    for item in seed_spec()["paths"].values()
    for operation in item.values()
    if isinstance(operation, dict) and "operationId" in operation
}

CELLS = [
    pytest.param(operation, case, id=f"{operation}-{case}")
    for operation, row in MATRIX.items()
    for case in CASES
    if row.expect[case] is not None
]


def test_every_operation_is_in_the_matrix() -> None:
    keyed_ops, public_ops = operations_by_security()
    assert set(MATRIX) == keyed_ops
    assert set(PUBLIC) == public_ops
    assert all(MATRIX[op].local_only == (op not in SEED_OPERATIONS) for op in MATRIX)


@pytest.fixture(scope="module", params=["organizations", "namespaces"])
def world(request: pytest.FixtureRequest, target: Target, contract: Contract) -> Iterator[World]:
    if request.param == "namespaces":
        target = namespaced(target)
    with (
        Api(target.root, contract, target.key) as alice,
        Api(target.root, contract, target.other_key) as bob,
        Api(target.root, contract, None) as anonymous,
        httpx.Client(base_url=target.root, headers={"X-API-Key": target.key}) as alice_reads,
        httpx.Client(base_url=target.root, headers={"X-API-Key": target.other_key}) as bob_reads,
        httpx.Client(timeout=30) as http,
    ):
        tag = uuid.uuid4().hex[:12]
        configs = {
            OWN: alice.create_config(title=f"iso-alice-{tag}"),
            OTHER: bob.create_config(title=f"iso-bob-{tag}"),
            TEMPLATE: first_template(alice, "/v1/model-configs"),
        }
        assets = {
            OWN: alice.upload(b"alice's private bytes", f"iso-alice-{tag}.png"),
            OTHER: bob.upload(b"bob's private bytes", f"iso-bob-{tag}.png"),
            TEMPLATE: first_template(alice, "/v1/assets"),
        }
        sessions = {OWN: open_session(alice), OTHER: open_session(bob)}
        jobs = {}
        if target.server is not None:
            for owner, client in ((OWN, alice), (OTHER, bob)):
                started = client.post(
                    "/v1/assets/generate/ojin/oris-1.0-idle-video-generator",
                    json={"source_asset_id": assets[owner]["asset_id"]},
                )
                assert started.status_code == 202, started.text
                jobs[owner] = started.json()["job_id"]
        observers = {OWN: alice_reads, OTHER: bob_reads}
        yield World(
            target, alice, bob, anonymous, observers, http, configs, assets, sessions, jobs, tag
        )


def namespaced(target: Target) -> Target:
    """The target seen through namespaces: the caller is one namespace's organization, the other
    another namespace's, and the revoked key a deleted namespace's."""
    server = target.local_server()
    with httpx.Client(base_url=server.url, headers={"X-API-Key": ADMIN_KEY}) as admin:
        own, other, deleted = (admin.post("/_ojin/namespaces").json() for _ in range(3))
        assert admin.delete(f"/_ojin/namespaces/{deleted['namespace_id']}").status_code == 204
    return dataclasses.replace(
        target, key=own["api_key"], other_key=other["api_key"], revoked_key=deleted["api_key"]
    )


def first_template(client: Api, path: str) -> dict[str, Any]:
    templates = client.get(path, params={"source": "template"}).json()["data"]
    assert templates, f"the target's template organization has nothing at {path}"
    return templates[0]


def open_session(client: Api) -> dict[str, Any]:
    """An upload session with one part uploaded, left open."""
    session = client.start_upload("session.png", "image")
    data = f"part of {session['asset_id']}".encode()
    [part] = client.put_parts(session, [data])
    return {**session, "data": data, "etag": part["etag"]}


def request_for(world: World, case: str, call: Call) -> httpx.Response:
    headers = {}
    if case == "unknown_key":
        headers["X-API-Key"] = f"sk-unknown-{uuid.uuid4().hex}"
    elif case == "revoked_key":
        headers["X-API-Key"] = world.target.need_revoked_key()
    elif case != "no_key":
        headers["X-API-Key"] = world.target.key
    return world.anonymous.request(
        call.method, call.path, params=call.params, json=call.json, headers=headers
    )


@pytest.mark.parametrize(("operation", "case"), CELLS)
def test_isolation_matrix(world: World, operation: str, case: str) -> None:
    row = MATRIX[operation]
    if row.local_only:
        world.target.local_server()
    expected = row.expect[case]
    assert expected is not None
    call = row.call(world, {"other_org": OTHER, "template": TEMPLATE}.get(case, OWN))
    # GET changes nothing by definition; every other refused method is checked to change nothing.
    observe = expected >= 400 and call.method != "GET"
    before = world.snapshot() if observe else None
    response = request_for(world, case, call)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.json()["code"] == CODES[expected]
        if observe:
            assert world.snapshot() == before
    elif row.check is not None:
        row.check(world, response)


@pytest.mark.parametrize("case", ["no_key", "unknown_key", "revoked_key", "other_org"])
def test_public_routes_ignore_keys(world: World, case: str) -> None:
    """The widget's routes read any organization's resource by id alone; a key, good or bad,
    changes nothing (they declare no security, so none is checked)."""
    config, asset = world.configs[OTHER], world.assets[OTHER]
    for path, id_field, resource in (
        (f"/v1/public/model-configs/{config['model_config_id']}", "model_config_id", config),
        (f"/v1/public/assets/{asset['asset_id']}", "asset_id", asset),
    ):
        response = request_for(world, case, Call("GET", path))
        assert response.status_code == 200, response.text
        public = response.json()
        assert public[id_field] == resource[id_field]
        assert "organization_id" not in public and "created_by" not in public
