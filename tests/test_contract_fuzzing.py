"""Contract fuzzing: Schemathesis against a live server, with the served spec and with the seed.

Against the served `/openapi.json` every check Schemathesis has is on, in all four phases
(examples, coverage, fuzzing, and stateful sequences that follow the spec's OpenAPI links), with
alice's and bob's keys as the two identities that must not see each other's objects. Against the
seed spec (the packaged copy) only what the seed can promise: no server errors, and every response
body valid against the seed's schema for its status.

The target is the `Target` of the portable suites (see target.py): by default a dedicated local
server (fuzzing creates hundreds of records, so it must not share the session's server), or the
service named by OJIN_TEST_TARGET_URL and its keys. `--fuzz-examples N` (default 100) and
`--fuzz-seed N|random` (default fixed, so CI is reproducible) steer the run; a failure prints
Schemathesis's report with a curl command for each failing case.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from ojin_local import spec as contract
from tests.conftest import (
    ADMIN_KEY,
    ALICE_KEY,
    BOB_KEY,
    TEST_CONFIG,
    Server,
    clean_env,
    configured_server,
)
from tests.target import Target, remote_target

pytestmark = [pytest.mark.contract, pytest.mark.timeout(900)]

SEED_SPEC = Path(contract.__file__).parent / contract.SEED_FILENAME

# Test controls, not the contract: fuzzing them would wipe (reset), replace (state) or break
# (faults) the very server under test, and they need an admin key. The reference routes are the
# same kind of admin-only control, standing in for agent configurations the API does not have.
# Left out of every run: what would wipe or sabotage the run itself (reset, fault rules; the
# state import, by operation id), and what the admin run below covers with an admin key.
TEST_CONTROLS = r"^/_ojin/(reset|faults)"
ADMIN_ROUTES = r"^/_ojin/(requests|model-configs/)"
# One thread per run: with two, Python 3.11 sometimes stopped a run with Hypothesis's "AST
# constructor recursion depth mismatch" (CPython gh-106905, ast construction shared between
# threads), and on two cores one thread finished sooner (2.1 min for the three runs, not 3.5).
WORKERS = "1"


# Every check Schemathesis 4 has, each switched on by name: some are off unless named.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)


@dataclass(frozen=True)
class Exemption:
    """One check switched off for one operation, where no spec can express the rule."""

    operation_id: str
    check: str
    reason: str


EXEMPTIONS = [
    Exemption(
        "createModelConfig",
        "positive_data_acceptance",
        "model_configurations must match the configuration_schema of the variant the request "
        "names, another resource: schema-valid bodies for an existing variant are refused (400).",
    ),
    Exemption(
        "updateModelConfig",
        "positive_data_acceptance",
        "model_configurations must match the configuration_schema of the configuration's "
        "variant, another resource.",
    ),
    Exemption(
        "signAssetUploadPart",
        "positive_data_acceptance",
        "s3_key, optional, must be the key initiate-upload returned for that asset_id and "
        "upload_id, another resource: a schema-valid key of another upload is refused (400).",
    ),
    Exemption(
        "generateIdleVideo",
        "positive_data_acceptance",
        "source_asset_id must name an image asset, another resource: an existing video is "
        "refused (400).",
    ),
    Exemption(
        "createAssetRecord",
        "positive_data_acceptance",
        "A finalize is valid only for the parts PUT to the upload's pre-signed URLs: their ETags "
        "and sizes live in storage, and name and category must repeat the initiate request's.",
    ),
]


# Not a check exemption, a tool limit: fed the ids GET /model-variants returned (which contain
# slashes), Schemathesis filters out nearly every path value it draws and fails its health check.
# The ids still reach the operation through the GetModelVariant link in the stateful phase.
def variant_ids_from_responses_off(operation_id: str) -> dict[str, Any]:
    return {
        "include-operation-id": operation_id,
        "phases": {"fuzzing": {"extra-data-sources": {"responses": False}}},
    }


VARIANT_ROUTES = ("getModelVariantById", "ojinPreflightModelVariantsItem")


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The target from the environment, or a server of this module's own with the shared
    server's keys; its jobs render small videos, so the generator stays cheap to fuzz."""
    remote = remote_target()
    if remote is not None:
        yield remote
        return
    config = TEST_CONFIG + "\n[jobs]\nidle_video_max_side = 64\n"
    server: Server = configured_server(tmp_path_factory.mktemp("fuzz-server"), config)
    yield Target(server.url + "/v1", ALICE_KEY, BOB_KEY, None, server)
    server.stop()


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest) -> int:
    value = request.config.getoption("--fuzz-seed")
    if value == "random":
        return random.SystemRandom().randrange(2**32)
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(
            f"--fuzz-seed must be a number or 'random', not {value!r}"
        ) from None


@dataclass
class Run:
    """One `st run`: its exit code, its report, and how long it took."""

    returncode: int
    output: str
    seconds: float

    def assert_green(self, what: str, seed: int) -> None:
        if self.returncode != 0:
            pytest.fail(
                f"Schemathesis found failures against {what} (seed {seed}; rerun with "
                f"--fuzz-seed {seed}):\n{self.output}",
                pytrace=False,
            )
        print(f"{what}: green in {self.seconds:.1f} s (seed {seed})\n{self.output}")


def schemathesis(config_file: Path, location: str, *args: str) -> Run:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config_file),
        "run", location, "--output-truncate", "false", *args,
    ]  # fmt: skip
    started = time.monotonic()
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=clean_env({}),
        cwd=config_file.parent,  # its .schemathesis cache goes there, not into the repository
        timeout=800,
    )
    return Run(finished.returncode, finished.stdout + finished.stderr, time.monotonic() - started)


def write_config(path: Path, settings: dict[str, Any], notes: Sequence[str] = ()) -> Path:
    """The run's schemathesis.toml; `notes` head it as comments (a failure names the file)."""
    path.write_text("".join(f"# {note}\n" for note in notes) + tomli_w.dumps(settings))
    return path


def without_local_routes(spec: dict[str, Any]) -> dict[str, Any]:
    """The served spec as the real service can answer it: no local routes, no links to them."""
    spec["paths"] = {
        path: item for path, item in spec["paths"].items() if contract.LOCAL not in item
    }
    kept = {
        operation["operationId"]
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for item in spec["paths"].values():
        for operation in item.values():
            for response in (
                operation.get("responses", {}).values() if isinstance(operation, dict) else ()
            ):
                links = response.get("links", {})
                for name in [
                    name for name, link in links.items() if link["operationId"] not in kept
                ]:
                    del links[name]
    return spec


def test_served_spec_holds_under_every_check(
    fuzz_target: Target, seed: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    examples = request.config.getoption("--fuzz-examples")
    identities = tmp_path / "identities.json"
    identities.write_text(
        json.dumps(
            {
                "auth": [
                    {"name": name, "fixedHeaders": [{"name": "X-API-Key", "value": key}]}
                    for name, key in (("alice", fuzz_target.key), ("bob", fuzz_target.other_key))
                ]
            }
        )
    )
    operations: list[dict[str, Any]] = [
        *map(variant_ids_from_responses_off, VARIANT_ROUTES),
        *(
            {
                "include-operation-id": exemption.operation_id,
                "checks": {exemption.check: {"enabled": False}},
            }
            for exemption in EXEMPTIONS
        ),
    ]
    config = write_config(
        tmp_path / "schemathesis.toml",
        {
            # alice makes every request; bob only replays her reads of her own objects. Left to
            # pick, Schemathesis would move an operation to bob after alice's 403 (a template is
            # read-only), and then report bob's 404 on alice's object as a lost resource.
            "auth": {"wfc": {"path": str(identities), "user": "alice", "peers": ["alice", "bob"]}},
            "checks": {name: {"enabled": True} for name in CHECKS},
            # Sequences follow the served spec's own links only: the links Schemathesis would
            # infer leave out parameters that must match (s3_key with its upload).
            # Hypothesis ends a sequence run early when few draws can follow a link; three times
            # the examples reaches about a third of the links in ~20 s more.
            "phases": {
                "stateful": {
                    "inference": {"algorithms": []},
                    "generation": {"max-examples": 3 * examples},
                }
            },
            "operations": operations,
        },
        [f"{e.operation_id}: {e.check} off: {e.reason}" for e in EXEMPTIONS],
    )
    if fuzz_target.server is not None:
        location, base = f"{fuzz_target.root}/openapi.json", []
    else:
        # The real service serves no /openapi.json and has none of the local routes.
        spec = without_local_routes(contract.served_spec())
        (tmp_path / "served.json").write_text(json.dumps(spec))
        location, base = str(tmp_path / "served.json"), ["--url", fuzz_target.api_url]
    run = schemathesis(
        config,
        location,
        *base,
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--exclude-path-regex", TEST_CONTROLS,
        "--exclude-path-regex", ADMIN_ROUTES,
        "--exclude-operation-id", "ojinImportState",
        "--workers", WORKERS,
    )  # fmt: skip
    run.assert_green("the served spec", seed)


def test_admin_routes_hold_under_every_check(
    fuzz_target: Target, seed: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The request journal and the reference routes, with an admin key (the scheme their
    `security` names), under every check."""
    if fuzz_target.server is None:
        pytest.skip("the real service has no admin routes")
    examples = request.config.getoption("--fuzz-examples")
    config = write_config(
        tmp_path / "schemathesis.toml",
        {
            "auth": {"openapi": {"OjinAdminKey": {"api_key": ADMIN_KEY}}},
            "checks": {name: {"enabled": True} for name in CHECKS},
            "operations": [
                {
                    "include-operation-id": "ojinListRequests",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                }
            ],
        },
        [
            "ojinListRequests: negative_data_rejection off: Schemathesis counts an undeclared "
            "query parameter as invalid input (status=100&x-schemathesis-unknown-property=42); "
            "the API ignores undeclared parameters, as on the seed's operations. Its bounds are "
            "held by test_contract_as_data.py."
        ],
    )
    run = schemathesis(
        config,
        f"{fuzz_target.root}/openapi.json",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--include-path-regex", ADMIN_ROUTES,
        "--workers", WORKERS,
    )  # fmt: skip
    run.assert_green("the admin routes", seed)


def test_seed_spec_bodies_hold_and_nothing_errs(
    fuzz_target: Target, seed: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    examples = request.config.getoption("--fuzz-examples")
    config = write_config(
        tmp_path / "schemathesis.toml",
        {
            "auth": {"openapi": {"APIKeyAuth": {"api_key": fuzz_target.key}}},
            "operations": [variant_ids_from_responses_off("getModelVariantById")],
        },
    )
    run = schemathesis(
        config,
        str(SEED_SPEC),
        "--url", fuzz_target.api_url,
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--workers", WORKERS,
    )  # fmt: skip
    run.assert_green("the seed spec", seed)
