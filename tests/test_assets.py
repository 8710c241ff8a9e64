"""Assets over real HTTP: initiate, sign, PUT parts to pre-signed URLs, finalize, read, delete.

Every test runs twice: on the filesystem backend and on the S3 backend against moto.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Api, Server
from tests.storage_helpers import MIB, multipart_etag

pytestmark = pytest.mark.every_database

SEEDED_PORTRAITS = {
    "portrait-receptionist.png",
    "portrait-presenter.png",
    "portrait-support-agent.png",
}


@pytest.fixture(params=["filesystem", "s3"])
def server(request: pytest.FixtureRequest, server: Server) -> Server:
    """The shared server, then the one whose objects live in moto's S3."""
    return server if request.param == "filesystem" else request.getfixturevalue("s3_server")


def test_a_multipart_upload_end_to_end(alice: Api) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    session = alice.start_upload("clip.mp4", "video")
    assert uuid.UUID(session["asset_id"])
    assert session["s3_key"].endswith(session["asset_id"])
    listed = alice.put_parts(session, parts)
    assert [p["etag"] for p in listed] == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]
    size = sum(map(len, parts))
    response = alice.finalize(
        session, listed, size, name="clip.mp4", category="video", content_type="video/mp4"
    )
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["asset_id"] == session["asset_id"]
    assert asset["etag"] == multipart_etag(*parts)
    assert asset["size_bytes"] == size
    assert asset["content_type"] == "video/mp4"
    assert asset["organization_id"] == "org_alice"
    assert asset["created_by"] == "user_alice"
    assert alice.get(f"/v1/assets/{asset['asset_id']}").json() == asset

    download = alice.get(f"/v1/assets/{asset['asset_id']}/download").json()
    assert {k: v for k, v in download.items() if k != "asset_url"} == asset
    body = httpx.get(download["asset_url"], timeout=60)
    assert body.status_code == 200
    assert body.content == b"".join(parts)
    assert body.headers["etag"] == asset["etag"]
    ranged = httpx.get(download["asset_url"], headers={"Range": "bytes=5242878-5242881"})
    assert ranged.status_code == 206
    assert ranged.content == b"".join(parts)[5242878:5242882]

    assert alice.delete(f"/v1/assets/{asset['asset_id']}").status_code == 204
    assert alice.get(f"/v1/assets/{asset['asset_id']}").status_code == 404
    # S3 answers 403 rather than 404 for a missing key to a caller without s3:ListBucket.
    assert httpx.get(download["asset_url"]).status_code in (403, 404)


def test_initiate_guesses_the_content_type(alice: Api) -> None:
    session = alice.start_upload("notes.wav", "audio")
    parts = alice.put_parts(session, [b"RIFF"])
    asset = alice.finalize(
        session, parts, 4, name="notes.wav", category="audio", content_type="audio/x-wav"
    )
    assert asset.status_code == 201


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "", "category": "image"}, {"name"}),
        ({"name": "x" * 256, "category": "image"}, {"name"}),
        ({"name": "a\r\nb.png", "category": "image"}, {"name"}),
        ({"name": "a.png", "category": "painting"}, {"category"}),
        ({"name": "a.png", "category": "image", "content_type": "png"}, {"content_type"}),
        # Found by fuzzing: control characters and non-ASCII passed the pattern, then storage
        # refused the Content-Type header (503).
        ({"name": "a.png", "category": "image", "content_type": "a/b\r\n;x"}, {"content_type"}),
        ({"name": "a.png", "category": "image", "content_type": "a/b; q=\x0b"}, {"content_type"}),
        ({"name": "a.png", "category": "image", "content_type": "bild/ä"}, {"content_type"}),
        ({"name": "a.png", "category": "image", "size_bytes": -1}, {"size_bytes"}),
        ({"category": "image"}, {"name"}),
    ],
)
def test_initiate_rejects_bad_input(alice: Api, body: dict, fields: set) -> None:
    response = alice.post("/v1/assets/initiate-upload", json=body)
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["details"]["errors"]} == fields


def test_initiate_accepts_a_content_type_with_parameters(alice: Api) -> None:
    session = alice.start_upload("a.txt", "weight", content_type="text/plain; charset=utf-8")
    parts = alice.put_parts(session, [b"hi"])
    response = alice.finalize(
        session, parts, 2, name="a.txt", category="weight", content_type="text/plain; charset=utf-8"
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "text/plain; charset=utf-8"


def test_sign_part_checks_the_session_and_part_number(alice: Api, bob: Api) -> None:
    session = alice.start_upload()
    base = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
    for number in (0, 10001):
        assert (
            alice.post("/v1/assets/sign-part", json={**base, "part_number": number}).status_code
            == 400
        )
    assert (
        alice.post("/v1/assets/sign-part", json={**base, "part_number": 10000}).status_code == 200
    )
    wrong_key = alice.post("/v1/assets/sign-part", json={**base, "part_number": 1, "s3_key": "x"})
    assert wrong_key.status_code == 400
    right_key = {**base, "part_number": 1, "s3_key": session["s3_key"]}
    assert alice.post("/v1/assets/sign-part", json=right_key).status_code == 200
    assert bob.post("/v1/assets/sign-part", json={**base, "part_number": 1}).status_code == 404
    unknown = {**base, "upload_id": "nope", "part_number": 1}
    assert alice.post("/v1/assets/sign-part", json=unknown).status_code == 404


def test_finalize_rejections_leave_the_session_open(alice: Api) -> None:
    data = [os.urandom(5 * MIB), b"tail"]
    session = alice.start_upload()
    parts = alice.put_parts(session, data)
    size = sum(map(len, data))

    mismatch = alice.finalize(session, parts, size, name="other.png")
    assert mismatch.status_code == 400
    assert alice.finalize(session, parts, size, category="video").status_code == 400
    wrong_size = alice.finalize(session, parts, size + 1)
    assert wrong_size.status_code == 400
    assert wrong_size.json()["details"]["errors"][0]["field"] == "size_bytes"

    bad_etag = [parts[0], {"part_number": 2, "etag": '"' + "0" * 32 + '"'}]
    invalid_part = alice.finalize(session, bad_etag, size)
    assert invalid_part.status_code == 400
    assert invalid_part.json()["details"]["s3_code"] == "InvalidPart"
    out_of_order = alice.finalize(session, list(reversed(parts)), size)
    assert out_of_order.status_code == 400
    assert out_of_order.json()["details"]["s3_code"] == "InvalidPartOrder"

    done = alice.finalize(session, parts, size)
    assert done.status_code == 201, done.text
    again = alice.finalize(session, parts, size)
    assert again.status_code == 409


def test_small_parts_before_the_last_are_entity_too_small(alice: Api) -> None:
    session = alice.start_upload()
    parts = alice.put_parts(session, [b"a" * 100, b"b" * 100])
    response = alice.finalize(session, parts, 200)
    assert response.status_code == 400
    assert response.json()["details"]["s3_code"] == "EntityTooSmall"


def test_gaps_in_part_numbers_are_allowed(alice: Api) -> None:
    session = alice.start_upload()
    first = alice.put_parts(session, [os.urandom(5 * MIB)], first=2)
    last = alice.put_parts(session, [b"end"], first=7)
    response = alice.finalize(session, first + last, 5 * MIB + 3)
    assert response.status_code == 201, response.text


def test_unknown_session_is_404(alice: Api, bob: Api) -> None:
    session = alice.start_upload()
    parts = alice.put_parts(session, [b"x"])
    assert bob.finalize(session, parts, 1).status_code == 404
    ghost = {"asset_id": str(uuid.uuid4()), "upload_id": session["upload_id"]}
    assert alice.finalize(ghost, parts, 1).status_code == 404


def test_concurrent_finalizes_create_exactly_one_asset(alice: Api, server, contract) -> None:
    session = alice.start_upload()
    parts = alice.put_parts(session, [b"once"])

    def finalize(_: int) -> int:
        with Api(server.url, contract, alice.headers["x-api-key"]) as client:
            return client.finalize(session, parts, 4).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(finalize, range(8)))
    assert statuses == [201] + [409] * 7


def test_list_filters_and_orders_newest_first(alice: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"Élan-{tag}.png", f"élan_{tag}%.mp3", f"other-{tag}.png"]
    made = [
        alice.upload(b"x", names[0]),
        alice.upload(b"y", names[1], "audio"),
        alice.upload(b"z", names[2]),
    ]
    everything = alice.get("/v1/assets", params={"name": tag, "limit": 100}).json()
    assert [a["asset_id"] for a in everything["data"]] == [m["asset_id"] for m in reversed(made)]
    assert everything["pagination"]["total_items"] == 3
    accented = alice.get("/v1/assets", params={"name": f"ÉLAN-{tag}"}).json()
    assert [a["name"] for a in accented["data"]] == [names[0]]
    literal = alice.get("/v1/assets", params={"name": f"_{tag}%"}).json()
    assert [a["name"] for a in literal["data"]] == [names[1]]
    # "%" is a literal: it matches names holding one (others' tests on this server made some).
    percent = alice.get("/v1/assets", params={"name": "%", "limit": 100}).json()["data"]
    assert names[1] in [a["name"] for a in percent] and all("%" in a["name"] for a in percent)
    images = alice.get("/v1/assets", params={"name": tag, "category": "image"}).json()
    assert {a["name"] for a in images["data"]} == {names[0], names[2]}
    # The seed declares category a plain string filter: an unknown one matches nothing.
    unknown = alice.get("/v1/assets", params={"category": "painting"})
    assert unknown.status_code == 200
    assert unknown.json()["data"] == [] and unknown.json()["pagination"]["total_items"] == 0


def test_template_assets_are_seeded_visible_and_read_only(alice: Api) -> None:
    templates = alice.get("/v1/assets", params={"source": "template"}).json()["data"]
    assert {a["name"] for a in templates} == SEEDED_PORTRAITS
    portrait = templates[0]
    download = alice.get(f"/v1/assets/{portrait['asset_id']}/download").json()
    png = httpx.get(download["asset_url"]).content
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) == portrait["size_bytes"]
    assert alice.delete(f"/v1/assets/{portrait['asset_id']}").status_code == 403
    configs = alice.get("/v1/model-configs", params={"source": "template"}).json()["data"]
    used = {c["model_configurations"].get("image_asset_id") for c in configs}
    assert {a["asset_id"] for a in templates} <= used


def test_public_asset_route(alice: Api, anonymous: Api) -> None:
    asset = alice.upload(b"public bytes", "widget.png")
    response = anonymous.get(f"/v1/public/assets/{asset['asset_id']}")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    public = response.json()
    assert "organization_id" not in public and "created_by" not in public
    assert httpx.get(public["asset_url"]).content == b"public bytes"
    assert anonymous.get(f"/v1/public/assets/{uuid.uuid4()}").status_code == 404
    preflight = anonymous.options(
        f"/v1/public/assets/{asset['asset_id']}",
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
