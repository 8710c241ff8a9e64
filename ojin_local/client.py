"""A small typed client for the Ojin REST API: every operation of the spec, ojin-local's job
routes and its admin routes for tests.

The base URL is the API's, as `https://api.ojin.ai/v1` is for the real service, so the same
code talks to either; `/v1` may be left out (`http://127.0.0.1:8080` means its `/v1`). Every
error answer raises `OjinApiError`, carrying the spec's `ErrorResponse`. `upload_file` runs the
whole multipart flow (initiate, sign each part, parallel PUTs straight to the pre-signed URLs,
finalize); `wait_for_job` polls a job to its end.

    with OjinClient("http://127.0.0.1:8080/v1", api_key="ojin-local-dev-key") as ojin:
        asset = ojin.upload_file("portrait.png", category="image")
        job = ojin.wait_for_job(ojin.generate_idle_video(asset["asset_id"])["job_id"])
"""

from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

JSON = dict[str, Any]
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
FINISHED = ("succeeded", "failed")
API_PREFIX = "/v1"


def api_base_url(url: str) -> str:
    """The API's base URL from one given with or without its `/v1`."""
    base = url.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


class OjinApiError(Exception):
    """An error answer: `status`, and the ErrorResponse's `code`, `message` and `details`."""

    def __init__(self, status: int, body: Any, method: str, url: str) -> None:
        error = body if isinstance(body, dict) else {}
        self.status = status
        self.code: str = error.get("code") or f"HTTP_{status}"
        self.message: str = error.get("message") or str(body)[:500]
        self.details: Any = error.get("details")
        super().__init__(f"{method} {url}: {status} {self.code}: {self.message}")


class OjinClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.base_url = api_base_url(base_url)
        # One transport for both clients: each new one loads the CA bundle (~27 ms).
        transport = transport or httpx.HTTPTransport()
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        # Pre-signed URLs need no key, and the key must not travel to S3.
        self.storage = httpx.Client(timeout=timeout, transport=transport)
        # Local routes (/_ojin/...) live beside the API, not under /v1.
        self.local = self.base_url.removesuffix(API_PREFIX)

    def __enter__(self) -> OjinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
        self.storage.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; the decoded JSON (None for an empty answer) or OjinApiError."""
        response = self.http.request(method, path, **kwargs)
        body = _decoded(response)
        if response.status_code >= 400:
            raise OjinApiError(response.status_code, body, method, str(response.request.url))
        return body

    # Model variants

    def list_model_variants(
        self,
        *,
        model_id: str | None = None,
        status: str | None = None,
        tags: list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> JSON:
        tag_list = ",".join(tags) if tags else None
        query = _query(model_id=model_id, status=status, tags=tag_list, limit=limit, offset=offset)
        return self.request("GET", "/model-variants", params=query)

    def get_model_variant(self, model_variant_id: str) -> JSON:
        return self.request("GET", f"/model-variants/{model_variant_id}")

    # Model configurations

    def list_model_configs(
        self,
        *,
        model_variant_id: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> JSON:
        query = _query(model_variant_id=model_variant_id, source=source, limit=limit, offset=offset)
        return self.request("GET", "/model-configs", params=query)

    def create_model_config(
        self, title: str, model_variant_id: str, model_configurations: JSON | None = None
    ) -> JSON:
        body = {
            "title": title,
            "model_variant_id": model_variant_id,
            "model_configurations": model_configurations or {},
        }
        return self.request("POST", "/model-configs", json=body)

    def get_model_config(self, model_config_id: str) -> JSON:
        return self.request("GET", f"/model-configs/{_segment(model_config_id)}")

    def update_model_config(
        self, model_config_id: str, title: str, model_configurations: JSON
    ) -> JSON:
        """A full replacement of the title and parameters, as the spec's PUT is."""
        body = {"title": title, "model_configurations": model_configurations}
        return self.request("PUT", f"/model-configs/{_segment(model_config_id)}", json=body)

    def delete_model_config(self, model_config_id: str, referenced_by: str | None = None) -> None:
        path = f"/model-configs/{_segment(model_config_id)}"
        self.request("DELETE", path, params=_query(referenced_by=referenced_by))

    def get_public_model_config(self, model_config_id: str) -> JSON:
        return self.request("GET", f"/public/model-configs/{_segment(model_config_id)}")

    # Assets

    def initiate_upload(
        self,
        name: str,
        category: str,
        content_type: str | None = None,
        size_bytes: int | None = None,
    ) -> JSON:
        body = _query(
            name=name, category=category, content_type=content_type, size_bytes=size_bytes
        )
        return self.request("POST", "/assets/initiate-upload", json=body)

    def sign_part(self, asset_id: str, upload_id: str, part_number: int) -> JSON:
        body = {"asset_id": asset_id, "upload_id": upload_id, "part_number": part_number}
        return self.request("POST", "/assets/sign-part", json=body)

    def finalize_upload(
        self,
        asset_id: str,
        upload_id: str,
        *,
        name: str,
        category: str,
        content_type: str,
        size_bytes: int,
        parts: list[JSON],
    ) -> JSON:
        body = {
            "asset_id": asset_id,
            "upload_id": upload_id,
            "name": name,
            "category": category,
            "content_type": content_type,
            "size_bytes": size_bytes,
            "parts": parts,
        }
        return self.request("POST", "/assets", json=body)

    def list_assets(
        self,
        *,
        source: str | None = None,
        category: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> JSON:
        query = _query(source=source, category=category, name=name, limit=limit, offset=offset)
        return self.request("GET", "/assets", params=query)

    def get_asset(self, asset_id: str) -> JSON:
        return self.request("GET", f"/assets/{_segment(asset_id)}")

    def get_asset_download(self, asset_id: str) -> JSON:
        return self.request("GET", f"/assets/{_segment(asset_id)}/download")

    def delete_asset(self, asset_id: str) -> None:
        self.request("DELETE", f"/assets/{_segment(asset_id)}")

    def get_public_asset(self, asset_id: str) -> JSON:
        return self.request("GET", f"/public/assets/{_segment(asset_id)}")

    def upload_file(
        self,
        path: str | os.PathLike[str],
        category: str,
        *,
        name: str | None = None,
        content_type: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> JSON:
        """The whole flow for one file; `progress` is called with each part's byte count."""
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        file = Path(path)
        size = file.stat().st_size
        name = name or file.name
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        session = self.initiate_upload(name, category, content_type, size)
        count = max(1, -(-size // part_size))

        def put(number: int) -> JSON:
            signed = self.sign_part(session["asset_id"], session["upload_id"], number)
            with file.open("rb") as source:
                source.seek((number - 1) * part_size)
                data = source.read(part_size)
            response = self.storage.put(signed["upload_url"], content=data)
            if response.status_code != 200:
                raise OjinApiError(response.status_code, response.text, "PUT", "part upload")
            if progress is not None:
                progress(len(data))
            return {"part_number": number, "etag": response.headers["etag"]}

        pool = ThreadPoolExecutor(max(1, concurrency))
        try:
            parts = list(pool.map(put, range(1, count + 1)))
        finally:
            # A failed part (or Ctrl-C) stops the parts not yet sent instead of waiting for them.
            pool.shutdown(cancel_futures=True)
        return self.finalize_upload(
            session["asset_id"],
            session["upload_id"],
            name=name,
            category=category,
            content_type=content_type,
            size_bytes=size,
            parts=parts,
        )

    def download_asset(
        self,
        asset_id: str,
        target: str | os.PathLike[str],
        progress: Callable[[int], None] | None = None,
    ) -> JSON:
        """Stream the asset's bytes to `target`; returns the asset. The bytes go to a temporary
        file beside it, renamed over `target` once whole, so a failed download leaves `target`
        as it was."""
        asset = self.get_asset_download(asset_id)
        with self.storage.stream("GET", asset["asset_url"]) as response:
            if response.status_code != 200:
                raise OjinApiError(response.status_code, response.read(), "GET", "asset_url")
            _write_atomically(Path(target), response.iter_bytes(1024 * 1024), progress)
        return asset

    # Jobs

    def generate_idle_video(self, source_asset_id: str, reference_template: str = "v1") -> JSON:
        body = {"source_asset_id": source_asset_id, "reference_template": reference_template}
        return self.request(
            "POST", "/assets/generate/ojin/oris-1.0-idle-video-generator", json=body
        )

    def get_job(self, job_id: str) -> JSON:
        return self.request("GET", f"/jobs/{_segment(job_id)}")

    def list_jobs(
        self,
        *,
        status: str | None = None,
        job_type: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> JSON:
        query = _query(status=status, type=job_type, limit=limit, offset=offset)
        return self.request("GET", "/jobs", params=query)

    def wait_for_job(
        self,
        job_id: str,
        timeout: float = 120.0,
        interval: float = 0.2,
        on_poll: Callable[[JSON], None] | None = None,
    ) -> JSON:
        """Poll until the job succeeds or fails; TimeoutError if it does not within `timeout`.
        `on_poll` sees the job as each poll found it (to show its status while waiting)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if on_poll is not None:
                on_poll(job)
            if job["status"] in FINISHED:
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
            time.sleep(interval)

    # ojin-local's admin routes (an admin key), for tests

    def health(self) -> JSON:
        return self.request("GET", f"{self.local}/_ojin/health")

    def reset(self) -> None:
        self.request("POST", f"{self.local}/_ojin/reset")

    def export_state(
        self, target: str | os.PathLike[str], progress: Callable[[int], None] | None = None
    ) -> None:
        """Save the server's whole state (GET /_ojin/state) to `target`."""
        with self.http.stream("GET", f"{self.local}/_ojin/state") as response:
            if response.status_code != 200:
                response.read()
                raise OjinApiError(response.status_code, _decoded(response), "GET", "state")
            _write_atomically(Path(target), response.iter_bytes(1024 * 1024), progress)

    def import_state(
        self, source: str | os.PathLike[str], progress: Callable[[int], None] | None = None
    ) -> JSON:
        """Replace the server's whole state with an archive (PUT /_ojin/state)."""

        def chunks() -> Iterator[bytes]:
            with Path(source).open("rb") as file:
                while chunk := file.read(1024 * 1024):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        headers = {"Content-Type": "application/gzip"}
        return self.request("PUT", f"{self.local}/_ojin/state", content=chunks(), headers=headers)

    def add_fault(self, **rule: Any) -> JSON:
        return self.request("POST", f"{self.local}/_ojin/faults", json=rule)

    def list_faults(self) -> list[JSON]:
        return self.request("GET", f"{self.local}/_ojin/faults")["data"]

    def clear_faults(self) -> None:
        self.request("DELETE", f"{self.local}/_ojin/faults")

    def remove_fault(self, fault_id: str) -> None:
        self.request("DELETE", f"{self.local}/_ojin/faults/{_segment(fault_id)}")

    def list_requests(self, **filters: Any) -> list[JSON]:
        return self.request("GET", f"{self.local}/_ojin/requests", params=_query(**filters))["data"]

    def get_request(self, request_id: str) -> JSON:
        return self.request("GET", f"{self.local}/_ojin/requests/{_segment(request_id)}")

    def clear_requests(self) -> None:
        self.request("DELETE", f"{self.local}/_ojin/requests")

    def create_namespace(self, name: str | None = None) -> JSON:
        """Two fresh organizations with a key each: `api_key` and `other_api_key`."""
        body = _query(name=name)
        return self.request("POST", f"{self.local}/_ojin/namespaces", json=body)

    def list_namespaces(self) -> list[JSON]:
        return self.request("GET", f"{self.local}/_ojin/namespaces")["data"]

    def reset_namespace(self, namespace_id: str) -> None:
        self.request("POST", f"{self._namespace(namespace_id)}/reset")

    def delete_namespace(self, namespace_id: str) -> None:
        self.request("DELETE", self._namespace(namespace_id))

    def get_clock(self, namespace_id: str | None = None) -> JSON:
        """`{"now", "offset_seconds"}`: the server's clock, or one namespace's."""
        return self.request("GET", self._clock(namespace_id))

    def advance_clock(self, seconds: float, namespace_id: str | None = None) -> JSON:
        body = {"advance_seconds": seconds}
        return self.request("POST", self._clock(namespace_id), json=body)

    def reset_clock(self, namespace_id: str | None = None) -> JSON:
        """Back to real time."""
        return self.request("DELETE", self._clock(namespace_id))

    def _namespace(self, namespace_id: str) -> str:
        return f"{self.local}/_ojin/namespaces/{_segment(namespace_id)}"

    def _clock(self, namespace_id: str | None) -> str:
        if namespace_id is None:
            return f"{self.local}/_ojin/clock"
        return f"{self._namespace(namespace_id)}/clock"


def _query(**values: Any) -> JSON:
    return {name: value for name, value in values.items() if value is not None}


def _segment(value: str) -> str:
    return quote(value, safe="")


def _decoded(response: httpx.Response) -> Any:
    """The answer's JSON; its text when it is not JSON (a proxy's page, a body cut short)."""
    if not response.content:
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _write_atomically(
    target: Path, chunks: Iterator[bytes], progress: Callable[[int], None] | None
) -> None:
    temp = target.with_name(f".{target.name}.part")
    try:
        with temp.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
