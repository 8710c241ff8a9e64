"""The document served at /openapi.json: the seed spec plus every local addition.

Each addition or change carries `x-ojin-local` with the reason, so a reader can tell the real
service's contract from what ojin-local adds or pins down where the seed is silent. Request bodies
are validated against this document's schemas, so what it says is what the server does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ojin_local import __version__
from ojin_local.spec import seed_spec

LOCAL = "x-ojin-local"
JSON = "application/json"


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
        LOCAL: "Not in the seed spec; answered by ojin-local (and, as far as known, the service).",
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path_item in spec["paths"].values()
        for method, operation in path_item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


def optional_auth_on_model_variants(spec: dict[str, Any]) -> None:
    for operation_id in ("listModelVariants", "getModelVariantById"):
        operation = _operations(spec)[operation_id]
        operation["security"] = [{"APIKeyAuth": []}, {}]
        operation[LOCAL] = (
            "Security made explicit: the key is optional here, as the description says; "
            "without one only variants with status=public are visible."
        )


def model_config_rules(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    for operation_id in ("createModelConfig", "updateModelConfig"):
        operations[operation_id]["responses"]["409"] = _error_response(
            "A model configuration with this title already exists in the organization."
        )
    operations["deleteModelConfig"]["responses"]["400"] = _error_response(
        "referenced_by is not a UUID."
    )
    schemas = spec["components"]["schemas"]
    for name in ("ModelConfigCreationRequest", "ModelConfigUpdateRequest"):
        schemas[name]["properties"]["title"].update(
            {
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^(?=.*\\S)[^\u0000-\u001f\u007f]+$",
                LOCAL: "A title may not be blank or hold control characters.",
            }
        )


def offset_bound(spec: dict[str, Any]) -> None:
    from ojin_local.domain.common import MAX_OFFSET

    spec["components"]["parameters"]["OffsetQueryParameter"]["schema"].update(
        {"maximum": MAX_OFFSET, LOCAL: "A 64-bit integer: a larger offset is a 400."}
    )


def request_body_errors(spec: dict[str, Any]) -> None:
    for operation in _operations(spec).values():
        if "requestBody" in operation:
            operation["responses"]["413"] = _error_response("The request body is too large.")
            operation["responses"]["415"] = _error_response("The request body is not JSON.")


def local_routes(spec: dict[str, Any], public_url: str) -> None:
    schemas = spec["components"]["schemas"]
    schemas.update(
        {
            "Health": {
                "type": "object",
                LOCAL: "Local route.",
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "degraded"]},
                    "version": {"type": "string"},
                    "database": {"type": "object", "additionalProperties": True},
                    "storage": {"type": "object", "additionalProperties": True},
                    "jobs": {"type": "object", "additionalProperties": True},
                },
                "required": ["status", "version", "database", "storage", "jobs"],
            },
            "ModelConfigReferenceRequest": {
                "type": "object",
                LOCAL: "Admin route.",
                "properties": {
                    "agent_config_id": {
                        "type": "string",
                        "format": "uuid",
                        "description": "The referencing agent configuration; generated if absent.",
                    }
                },
            },
            "ModelConfigReference": {
                "type": "object",
                LOCAL: "Admin route.",
                "properties": {
                    "model_config_id": {"type": "string", "format": "uuid"},
                    "agent_config_id": {"type": "string", "format": "uuid"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
                "required": ["model_config_id", "agent_config_id", "created_at"],
            },
        }
    )
    local_server = [{"url": public_url, "description": "Local routes live outside /v1."}]
    config_id = {"$ref": "#/components/parameters/ModelConfigIdPathParameter"}
    not_here = {"description": "S3 error XML (NotImplemented): storage is in S3, not here."}
    admin_errors = {
        "401": {"$ref": "#/components/responses/UnauthorizedError"},
        "403": _error_response("The key is not an admin key."),
        "404": {"$ref": "#/components/responses/NotFoundError"},
    }
    reference = {"$ref": "#/components/schemas/ModelConfigReference"}
    spec["tags"].append(
        {"name": "ojin-local", "description": "Local routes (health, admin).", LOCAL: True}
    )
    spec["paths"].update(
        {
            "/_ojin/health": {
                "servers": local_server,
                LOCAL: "Local route.",
                "get": {
                    "tags": ["ojin-local"],
                    "summary": "Health of the server, its database, storage and job consumer",
                    "operationId": "ojinHealth",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The server is up.",
                            "content": _json_content({"$ref": "#/components/schemas/Health"}),
                        }
                    },
                },
            },
            "/openapi.json": {
                "servers": local_server,
                LOCAL: "Local route.",
                "get": {
                    "tags": ["ojin-local"],
                    "summary": "This document",
                    "operationId": "ojinOpenApi",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The served OpenAPI document.",
                            "content": _json_content({"type": "object"}),
                        }
                    },
                },
            },
            "/_ojin/model-configs/{model_config_id}/references": {
                "servers": local_server,
                LOCAL: "Admin route: stands in for agent configurations, which this API lacks.",
                "parameters": [config_id],
                "get": {
                    "tags": ["ojin-local"],
                    "summary": "List the agent configurations referencing a model configuration",
                    "operationId": "ojinListModelConfigReferences",
                    "responses": {
                        "200": {
                            "description": "The references.",
                            "content": _json_content(
                                {
                                    "type": "object",
                                    "properties": {"data": {"type": "array", "items": reference}},
                                    "required": ["data"],
                                }
                            ),
                        },
                        **admin_errors,
                    },
                },
                "post": {
                    "tags": ["ojin-local"],
                    "summary": "Record an agent configuration's reference to a model configuration",
                    "operationId": "ojinAddModelConfigReference",
                    "requestBody": {
                        "required": False,
                        "content": _json_content(
                            {"$ref": "#/components/schemas/ModelConfigReferenceRequest"}
                        ),
                    },
                    "responses": {
                        "201": {"description": "Recorded.", "content": _json_content(reference)},
                        "400": {"$ref": "#/components/responses/BadRequestError"},
                        **admin_errors,
                        "409": _error_response("That reference already exists."),
                    },
                },
            },
            "/_ojin/storage/{key}": {
                "servers": local_server,
                LOCAL: "Filesystem backend only: where pre-signed URLs point. Behaves as S3 does "
                "for the same requests; the key may contain slashes. Authorised by the URL's "
                "X-Ojin-Expires and X-Ojin-Signature parameters, not by an API key.",
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "put": {
                    "tags": ["ojin-local"],
                    "summary": "Upload one part of a multipart upload (pre-signed URL)",
                    "operationId": "ojinStoragePutPart",
                    "security": [],
                    "responses": {
                        "200": {"description": "Stored; the part's ETag is in the ETag header."},
                        "400": {"description": "S3 error XML (InvalidArgument, EntityTooLarge)."},
                        "403": {
                            "description": "S3 error XML (SignatureDoesNotMatch, AccessDenied)."
                        },
                        "404": {"description": "S3 error XML (NoSuchUpload)."},
                        "501": not_here,
                    },
                },
                "get": {
                    "tags": ["ojin-local"],
                    "summary": "Download an object (pre-signed URL); single byte ranges supported",
                    "operationId": "ojinStorageGetObject",
                    "security": [],
                    "responses": {
                        "200": {"description": "The object's bytes."},
                        "206": {"description": "The requested byte range."},
                        "304": {"description": "Not modified (If-None-Match)."},
                        "403": {
                            "description": "S3 error XML (SignatureDoesNotMatch, AccessDenied)."
                        },
                        "404": {"description": "S3 error XML (NoSuchKey)."},
                        "412": {"description": "S3 error XML (PreconditionFailed, If-Match)."},
                        "416": {"description": "S3 error XML (InvalidRange)."},
                        "501": not_here,
                    },
                },
                "head": {
                    "tags": ["ojin-local"],
                    "summary": "An object's headers (pre-signed GET URL), as S3 answers HEAD",
                    "operationId": "ojinStorageHeadObject",
                    "security": [],
                    "responses": {
                        "200": {"description": "The object's headers, no body."},
                        "304": {"description": "Not modified (If-None-Match)."},
                        "403": {"description": "Signature missing, wrong or expired."},
                        "404": {"description": "No such key."},
                    },
                },
                "options": {
                    "tags": ["ojin-local"],
                    "summary": "CORS preflight: any origin may PUT, GET and HEAD",
                    "operationId": "ojinStoragePreflight",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Allowed; exposes ETag so browsers can read part ETags."
                        }
                    },
                },
            },
            "/_ojin/model-configs/{model_config_id}/references/{agent_config_id}": {
                "servers": local_server,
                LOCAL: "Admin route.",
                "parameters": [
                    config_id,
                    {
                        "name": "agent_config_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "delete": {
                    "tags": ["ojin-local"],
                    "summary": "Remove an agent configuration's reference",
                    "operationId": "ojinRemoveModelConfigReference",
                    "responses": {
                        "204": {"$ref": "#/components/responses/NoContentSuccess"},
                        **admin_errors,
                    },
                },
            },
        }
    )


def asset_rules(spec: dict[str, Any]) -> None:
    from ojin_local.domain.common import CATEGORIES

    schemas = spec["components"]["schemas"]
    name = {
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[^\u0000-\u001f\u007f]+$",
        LOCAL: "1-255 characters, no control characters.",
    }
    category = {"enum": list(CATEGORIES), LOCAL: "The categories ojin-local knows."}
    token = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    media_type = {
        "pattern": f"^{token}/{token}( *;[ -~]*)?$",
        "maxLength": 255,
        LOCAL: "A MIME type, type/subtype and parameters, in printable ASCII (it becomes the "
        "object's Content-Type header); guessed from the name when absent.",
    }
    for schema_name in ("AssetInitiateUploadRequest", "AssetFinalizationRequest"):
        properties = schemas[schema_name]["properties"]
        properties["name"].update(name)
        properties["category"].update(category)
        properties["content_type"].update(media_type)
        properties["size_bytes"].update({"minimum": 0, LOCAL: "Not negative."})
    spec["components"]["parameters"]["AssetCategoryQueryParameter"]["schema"].update(category)
    operations = _operations(spec)
    for operation_id in (
        "initiateAssetUpload",
        "signAssetUploadPart",
        "createAssetRecord",
        "getAssetDownloadById",
        "deleteAsset",
        "publicGetAssetById",
    ):
        operations[operation_id]["responses"]["503"] = _error_response(
            "The storage backend failed or could not be reached."
        )


def job_routes(spec: dict[str, Any]) -> None:
    """The job object the generator's description names ("the `result.asset_id` field in the job
    object") but the seed does not define, and the routes to read it."""
    from ojin_local.domain.common import JOB_STATUSES
    from ojin_local.domain.idle_video import IDLE_VIDEO

    why = "Local route: the seed names job objects but defines no route to read them."
    stamp = {"type": "string", "format": "date-time", "nullable": True}
    spec["components"]["schemas"]["OjinJob"] = {
        "type": "object",
        LOCAL: why,
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "type": {"type": "string", "enum": [IDLE_VIDEO]},
            "status": {"type": "string", "enum": list(JOB_STATUSES)},
            "parameters": {"type": "object", "additionalProperties": True},
            "result": {
                "type": "object",
                "nullable": True,
                "description": "Set when the job succeeded: the generator's `asset_id`.",
                "properties": {"asset_id": {"type": "string", "format": "uuid"}},
            },
            "error": {
                "type": "object",
                "nullable": True,
                "description": "Set when the job failed. Codes: INVALID_SOURCE_IMAGE, "
                "SOURCE_ASSET_NOT_FOUND, STORAGE_ERROR, JOB_INTERRUPTED, JOB_ERROR.",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            },
            "attempts": {"type": "integer", "minimum": 0},
            "organization_id": {"type": "string"},
            "created_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": stamp,
            "finished_at": stamp,
        },
        "required": [
            "job_id",
            "type",
            "status",
            "parameters",
            "result",
            "error",
            "attempts",
            "organization_id",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ],
    }
    job = {"$ref": "#/components/schemas/OjinJob"}
    errors = {
        "401": {"$ref": "#/components/responses/UnauthorizedError"},
        "403": {"$ref": "#/components/responses/ForbiddenError"},
    }
    spec["paths"]["/jobs"] = {
        LOCAL: why,
        "get": {
            "tags": ["ojin-local"],
            "summary": "List the organization's jobs, newest first",
            "operationId": "ojinListJobs",
            "security": [{"APIKeyAuth": []}],
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(JOB_STATUSES)},
                },
                {"name": "type", "in": "query", "schema": {"type": "string", "enum": [IDLE_VIDEO]}},
                {"$ref": "#/components/parameters/LimitQueryParameter"},
                {"$ref": "#/components/parameters/OffsetQueryParameter"},
            ],
            "responses": {
                "200": {
                    "description": "A page of jobs.",
                    "content": _json_content(
                        {
                            "type": "object",
                            "properties": {
                                "data": {"type": "array", "items": job},
                                "pagination": {"$ref": "#/components/schemas/Pagination"},
                            },
                            "required": ["data", "pagination"],
                        }
                    ),
                },
                "400": {"$ref": "#/components/responses/BadRequestError"},
                **errors,
            },
        },
    }
    spec["paths"]["/jobs/{job_id}"] = {
        LOCAL: why,
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": {
            "tags": ["ojin-local"],
            "summary": "A job of the organization; poll it until it succeeds or fails",
            "operationId": "ojinGetJob",
            "security": [{"APIKeyAuth": []}],
            "responses": {
                "200": {"description": "The job.", "content": _json_content(job)},
                **errors,
                "404": _error_response("No such job in the caller's organization."),
            },
        },
    }


def _link(operation_id: str, description: str, **fields: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "description": description,
        **fields,
        LOCAL: "Link between operations, for clients and stateful testing; the seed has none.",
    }


def operation_links(spec: dict[str, Any]) -> None:
    """OpenAPI links from each operation that yields an id to the operations that take it, so a
    client (or a stateful fuzzer) can follow create -> read -> update -> delete -> read, and
    initiate-upload -> sign-part -> finalize -> read."""
    operations = _operations(spec)

    def add(source: str, status: str, links: dict[str, dict[str, Any]]) -> None:
        responses = operations[source]["responses"]
        if "$ref" in responses[status]:
            # A $ref allows no siblings: inline the shared response to give it links.
            name = responses[status]["$ref"].rsplit("/", 1)[-1]
            responses[status] = copy.deepcopy(spec["components"]["responses"][name])
        responses[status].setdefault("links", {}).update(links)

    def config_links(expression: str) -> dict[str, dict[str, Any]]:
        parameters = {"model_config_id": expression}
        return {
            "GetModelConfig": _link("getModelConfigById", "Read it.", parameters=parameters),
            "UpdateModelConfig": _link("updateModelConfig", "Change it.", parameters=parameters),
            "DeleteModelConfig": _link("deleteModelConfig", "Delete it.", parameters=parameters),
            "PublicGetModelConfig": _link(
                "publicGetModelConfigById", "Read it without a key.", parameters=parameters
            ),
        }

    def asset_links(expression: str) -> dict[str, dict[str, Any]]:
        parameters = {"asset_id": expression}
        return {
            "GetAsset": _link("getAssetById", "Read it.", parameters=parameters),
            "GetAssetDownload": _link(
                "getAssetDownloadById", "Read it with a download URL.", parameters=parameters
            ),
            "PublicGetAsset": _link(
                "publicGetAssetById", "Read it without a key.", parameters=parameters
            ),
            "DeleteAsset": _link("deleteAsset", "Delete it.", parameters=parameters),
            "GenerateIdleVideo": _link(
                "generateIdleVideo",
                "Make an idle video of it (an image).",
                requestBody={"source_asset_id": expression},
            ),
        }

    variant = "$response.body#/model_variant_id"
    add(
        "listModelVariants",
        "200",
        {
            "GetModelVariant": _link(
                "getModelVariantById",
                "Read the first variant listed.",
                parameters={"model_variant_id": "$response.body#/data/0/model_variant_id"},
            )
        },
    )
    add(
        "getModelVariantById",
        "200",
        {
            "CreateModelConfig": _link(
                "createModelConfig",
                "Configure this variant.",
                requestBody={"model_variant_id": variant},
            ),
            "ListModelConfigs": _link(
                "listModelConfigs",
                "List the configurations of this variant.",
                parameters={"model_variant_id": variant},
            ),
        },
    )
    add("createModelConfig", "201", config_links("$response.body#/model_config_id"))
    add("updateModelConfig", "200", config_links("$response.body#/model_config_id"))
    add("getModelConfigById", "200", config_links("$response.body#/model_config_id"))
    add("listModelConfigs", "200", config_links("$response.body#/data/0/model_config_id"))
    deleted_config = {"model_config_id": "$request.path.model_config_id"}
    add(
        "deleteModelConfig",
        "204",
        {
            "GetDeletedModelConfig": _link(
                "getModelConfigById", "Gone: 404.", parameters=deleted_config
            ),
            "PublicGetDeletedModelConfig": _link(
                "publicGetModelConfigById", "Gone: 404.", parameters=deleted_config
            ),
        },
    )
    session = {
        "asset_id": "$response.body#/asset_id",
        "upload_id": "$response.body#/upload_id",
        "s3_key": "$response.body#/s3_key",
    }
    add(
        "initiateAssetUpload",
        "200",
        {
            "SignPart": _link("signAssetUploadPart", "Sign a part.", requestBody=session),
            "Finalize": _link(
                "createAssetRecord",
                "Finalize the upload, once its parts are PUT.",
                requestBody={
                    "asset_id": "$response.body#/asset_id",
                    "upload_id": "$response.body#/upload_id",
                    "name": "$request.body#/name",
                    "category": "$request.body#/category",
                },
            ),
        },
    )
    add(
        "signAssetUploadPart",
        "200",
        {
            "Finalize": _link(
                "createAssetRecord",
                "Finalize the upload, once the part is PUT to upload_url.",
                requestBody={
                    "asset_id": "$request.body#/asset_id",
                    "upload_id": "$request.body#/upload_id",
                },
            )
        },
    )
    add("createAssetRecord", "201", asset_links("$response.body#/asset_id"))
    add("getAssetById", "200", asset_links("$response.body#/asset_id"))
    add("listAssets", "200", asset_links("$response.body#/data/0/asset_id"))
    deleted_asset = {"asset_id": "$request.path.asset_id"}
    add(
        "deleteAsset",
        "204",
        {
            "GetDeletedAsset": _link("getAssetById", "Gone: 404.", parameters=deleted_asset),
            "PublicGetDeletedAsset": _link(
                "publicGetAssetById", "Gone: 404.", parameters=deleted_asset
            ),
        },
    )
    job = {"job_id": "$response.body#/job_id"}
    add(
        "generateIdleVideo",
        "202",
        {"GetJob": _link("ojinGetJob", "Poll the job.", parameters=job)},
    )
    add(
        "ojinListJobs",
        "200",
        {
            "GetJob": _link(
                "ojinGetJob",
                "Read the newest job.",
                parameters={"job_id": "$response.body#/data/0/job_id"},
            )
        },
    )
    add(
        "ojinGetJob",
        "200",
        {
            "GetResult": _link(
                "getAssetById",
                "Read the video a succeeded job made.",
                parameters={"asset_id": "$response.body#/result/asset_id"},
            )
        },
    )


EXTENSIONS: list[Callable[[dict[str, Any]], None]] = [
    optional_auth_on_model_variants,
    model_config_rules,
    asset_rules,
    job_routes,
    offset_bound,
    request_body_errors,
    operation_links,
]


def test_tools(spec: dict[str, Any], public_url: str) -> None:
    """Admin routes for integration tests: reset, fault injection and the request journal."""
    why = "Admin route for integration tests."
    nullable_string = {"type": "string", "nullable": True}
    spec["components"]["schemas"]["OjinFaultRule"] = {
        "type": "object",
        LOCAL: why,
        "description": "Match by `operation_id`, or `method` and/or `path` (a glob over the "
        "request path); then answer `status` with an ErrorResponse of `code` (default "
        "SERVICE_UNAVAILABLE), and/or wait `latency_ms` first, or `drop_connection`. Fires with "
        "`probability` (default 1), `times` times (absent: until removed). Applies to /v1 routes.",
        "properties": {
            "fault_id": {"type": "string", "format": "uuid", "readOnly": True},
            "operation_id": nullable_string,
            "method": nullable_string,
            "path": nullable_string,
            "status": {"type": "integer", "minimum": 400, "maximum": 599, "nullable": True},
            "code": nullable_string,
            "message": nullable_string,
            "latency_ms": {"type": "integer", "minimum": 0, "maximum": 600000},
            "drop_connection": {"type": "boolean"},
            "probability": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1},
            "times": {"type": "integer", "minimum": 1, "nullable": True},
            "hits": {"type": "integer", "readOnly": True},
            "created_at": {"type": "string", "format": "date-time", "readOnly": True},
        },
    }
    spec["components"]["schemas"]["OjinJournalEntry"] = {
        "type": "object",
        LOCAL: why,
        "properties": {
            "time": {"type": "string", "format": "date-time"},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "operation_id": nullable_string,
            "status": {"type": "integer", "description": "444: a fault dropped the connection."},
            "duration_ms": {"type": "number"},
            "organization_id": nullable_string,
            "request_id": {"type": "string"},
        },
        "required": ["time", "method", "path", "status", "duration_ms", "request_id"],
    }
    rule = {"$ref": "#/components/schemas/OjinFaultRule"}
    servers = [{"url": public_url, "description": "Local routes live outside /v1."}]
    errors = {
        "401": {"$ref": "#/components/responses/UnauthorizedError"},
        "403": {"$ref": "#/components/responses/ForbiddenError"},
    }
    gone = {"204": {"$ref": "#/components/responses/NoContentSuccess"}, **errors}

    def listing(item: dict[str, Any]) -> dict[str, Any]:
        schema = {
            "type": "object",
            "properties": {"data": {"type": "array", "items": item}},
            "required": ["data"],
        }
        return {"description": "The list.", "content": _json_content(schema)}

    def operation(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
        return {
            "tags": ["ojin-local"],
            "summary": summary,
            "operationId": operation_id,
            "responses": responses,
        }

    add = operation(
        "ojinAddFault",
        "Add a fault rule",
        {
            "201": {"description": "Added.", "content": _json_content(rule)},
            "400": {"$ref": "#/components/responses/BadRequestError"},
            **errors,
        },
    )
    add["requestBody"] = {"required": True, "content": _json_content(rule)}
    journal_filters = [
        {"name": name, "in": "query", "schema": schema}
        for name, schema in (
            ("method", {"type": "string"}),
            ("path", {"type": "string", "description": "A glob."}),
            ("operation_id", {"type": "string"}),
            ("status", {"type": "integer"}),
            ("organization_id", {"type": "string"}),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        )
    ]
    spec["paths"]["/_ojin/reset"] = {
        "servers": servers,
        LOCAL: why,
        "post": operation(
            "ojinReset",
            "Back to the seed state: records, objects, queued jobs, fault rules and the "
            "journal go; the demo seed is loaded again; API keys stay",
            gone,
        ),
    }
    archive = {
        "application/gzip": {"schema": {"type": "string", "format": "binary"}},
    }
    export = operation(
        "ojinExportState",
        "The whole state as one gzipped tar archive (manifest.json, database.sqlite3, "
        "objects/<key>), streamed",
        {"200": {"description": "The archive.", "content": archive}, **errors},
    )
    restore = operation(
        "ojinImportState",
        "Replace the whole state with an archive from GET /_ojin/state; a corrupt, foreign or "
        "newer archive is refused (400) and nothing changes",
        {
            "200": {
                "description": "Imported; the archive's manifest.",
                "content": _json_content(
                    {
                        "type": "object",
                        "properties": {"imported": {"type": "object"}},
                        "required": ["imported"],
                    }
                ),
            },
            "400": {"$ref": "#/components/responses/BadRequestError"},
            **errors,
        },
    )
    restore["requestBody"] = {"required": True, "content": archive}
    spec["paths"]["/_ojin/state"] = {"servers": servers, LOCAL: why, "get": export, "put": restore}
    spec["paths"]["/_ojin/faults"] = {
        "servers": servers,
        LOCAL: why,
        "post": add,
        "get": operation("ojinListFaults", "List fault rules", {"200": listing(rule), **errors}),
        "delete": operation("ojinClearFaults", "Remove every fault rule", gone),
    }
    spec["paths"]["/_ojin/faults/{fault_id}"] = {
        "servers": servers,
        LOCAL: why,
        "parameters": [
            {"name": "fault_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "delete": operation(
            "ojinRemoveFault",
            "Remove one fault rule",
            {**gone, "404": _error_response("No such fault rule.")},
        ),
    }
    entry = {"$ref": "#/components/schemas/OjinJournalEntry"}
    spec["paths"]["/_ojin/requests"] = {
        "servers": servers,
        LOCAL: why,
        "get": {
            **operation(
                "ojinListRequests",
                "The most recent requests, newest first (a ring buffer of 1,000)",
                {
                    "200": listing(entry),
                    "400": {"$ref": "#/components/responses/BadRequestError"},
                    **errors,
                },
            ),
            "parameters": journal_filters,
        },
        "delete": operation("ojinClearRequests", "Empty the request journal", gone),
    }


def served_spec(public_url: str) -> dict[str, Any]:
    spec = seed_spec()
    spec["servers"] = [{"url": f"{public_url}/v1", "description": "This ojin-local server."}]
    spec["info"][LOCAL] = {
        "version": __version__,
        "about": "Served by ojin-local, an offline stand-in for the Ojin REST API. Objects marked "
        f"{LOCAL} are local additions or rules the seed spec leaves unstated.",
    }
    for extend in EXTENSIONS:
        extend(spec)
    local_routes(spec, public_url)
    test_tools(spec, public_url)
    return spec
