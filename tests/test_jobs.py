"""Jobs over real HTTP with the real Huey consumer: the idle-video generator end to end, the job
routes, failures, and jobs that outlive a stopped or killed server."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest

from ojin_local.domain.portraits import portrait_png
from tests.conftest import (
    ALICE_KEY,
    GENERATE,
    TEST_CONFIG,
    Api,
    Server,
    clean_env,
    generate,
    ojin_local_command,
    run_cli,
    wait_for_job,
    wait_until,
)
from tests.moto_server import MotoServer
from tests.redis_server import RedisServer

pytestmark = pytest.mark.every_database

DEV_KEY = "ojin-local-dev-key"


def video_of(client: Api, job: dict) -> tuple[dict, bytes]:
    assert job["status"] == "succeeded", job
    asset_id = job["result"]["asset_id"]
    download = client.get(f"/v1/assets/{asset_id}/download").json()
    return download, httpx.get(download["asset_url"], timeout=60).content


def frames_of(mp4: bytes) -> tuple[av.video.stream.VideoStream, list]:
    container = av.open(io.BytesIO(mp4))
    stream = container.streams.video[0]
    frames = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
    return stream, frames


def test_an_uploaded_png_becomes_a_playable_idle_video(alice: Api) -> None:
    source = alice.upload(portrait_png(1), "Ana Lucía.png")
    job_id = generate(alice, source["asset_id"], "v2")
    assert uuid.UUID(job_id).version == 4
    queued = alice.get(f"/v1/jobs/{job_id}").json()
    assert queued["type"] == "ojin/oris-1.0-idle-video-generator"
    assert queued["parameters"] == {
        "source_asset_id": source["asset_id"],
        "reference_template": "v2",
    }
    job = wait_for_job(alice, job_id)
    assert job["error"] is None and job["attempts"] == 1
    assert job["started_at"] and job["finished_at"]
    assert uuid.UUID(job["result"]["asset_id"]).version == 4  # as every id of the API
    asset, mp4 = video_of(alice, job)
    assert asset["category"] == "video"
    assert asset["content_type"] == "video/mp4"
    assert asset["name"] == "Ana Lucía-idle-v2.mp4"
    assert asset["organization_id"] == "org_alice"
    assert asset["size_bytes"] == len(mp4)

    assert mp4.index(b"moov") < mp4.index(b"mdat")  # faststart: plays while downloading
    stream, frames = frames_of(mp4)
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert stream.average_rate == Fraction(25)
    assert stream.width % 2 == 0 and stream.height % 2 == 0
    assert max(stream.width, stream.height) <= 512
    assert 3 <= len(frames) / 25 <= 6
    moved = [abs(f.astype(int) - frames[0].astype(int)).mean() for f in frames]
    assert max(moved) > 1.0  # it moves
    assert abs(frames[-1].astype(int) - frames[0].astype(int)).mean() < max(moved) / 2  # loops


def test_templates_move_differently_and_the_same_input_gives_the_same_video(alice: Api) -> None:
    source = alice.upload(portrait_png(2), "agent.png")
    jobs = {t: generate(alice, source["asset_id"], t) for t in ("v1", "v2", "v3")}
    again = generate(alice, source["asset_id"])  # v1 is the default
    etags = {t: video_of(alice, wait_for_job(alice, job))[0]["etag"] for t, job in jobs.items()}
    assert len(set(etags.values())) == 3
    assert video_of(alice, wait_for_job(alice, again))[0]["etag"] == etags["v1"]


def test_a_seeded_template_portrait_can_be_animated(alice: Api) -> None:
    portrait = alice.get("/v1/assets", params={"source": "template"}).json()["data"][0]
    job = wait_for_job(alice, generate(alice, portrait["asset_id"], "v3"))
    asset, mp4 = video_of(alice, job)
    assert asset["organization_id"] == "org_alice"  # the caller's, not the template's
    assert frames_of(mp4)[0].codec_context.name == "h264"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"source_asset_id": "not-a-uuid"},
        {"source_asset_id": str(uuid.uuid4()), "reference_template": "v9"},
        {"source_asset_id": 42},
    ],
)
def test_bad_requests_are_400_and_queue_nothing(alice: Api, body: dict) -> None:
    before = alice.get("/v1/jobs").json()["pagination"]["total_items"]
    response = alice.post(GENERATE, json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert alice.get("/v1/jobs").json()["pagination"]["total_items"] == before


def test_the_source_must_be_a_visible_image(alice: Api, bob: Api) -> None:
    private = alice.upload(portrait_png(0), "mine.png")
    assert bob.post(GENERATE, json={"source_asset_id": private["asset_id"]}).status_code == 404
    missing = alice.post(GENERATE, json={"source_asset_id": str(uuid.uuid4())})
    assert missing.status_code == 404
    audio = alice.upload(b"RIFF....WAVE", "voice.wav", "audio")
    not_image = alice.post(GENERATE, json={"source_asset_id": audio["asset_id"]})
    assert not_image.status_code == 400
    assert not_image.json()["details"]["errors"][0]["field"] == "source_asset_id"


def test_an_undecodable_image_fails_the_job_with_a_clear_error(alice: Api) -> None:
    broken = alice.upload(b"\x89PNG\r\n\x1a\n but not really", "broken.png")
    job = wait_for_job(alice, generate(alice, broken["asset_id"]))
    assert job["status"] == "failed"
    assert job["result"] is None
    assert job["error"]["code"] == "INVALID_SOURCE_IMAGE"
    assert "broken.png" in job["error"]["message"]
    assert job["attempts"] == 1  # not worth retrying


def test_jobs_are_listed_filtered_and_private(alice: Api, bob: Api) -> None:
    source = alice.upload(portrait_png(0), "listed.png")
    made = [generate(alice, source["asset_id"]) for _ in range(3)]
    for job_id in made:
        wait_for_job(alice, job_id)
    page = alice.get("/v1/jobs", params={"limit": 3}).json()
    assert [job["job_id"] for job in page["data"]] == list(reversed(made))
    succeeded = alice.get("/v1/jobs", params={"status": "succeeded", "limit": 100}).json()
    assert {j["status"] for j in succeeded["data"]} == {"succeeded"}
    assert set(made) <= {j["job_id"] for j in succeeded["data"]}
    typed = alice.get("/v1/jobs", params={"type": "ojin/oris-1.0-idle-video-generator"}).json()
    assert typed["pagination"]["total_items"] >= 3
    assert alice.get("/v1/jobs", params={"status": "done"}).status_code == 400
    assert alice.get("/v1/jobs", params={"type": "other"}).status_code == 400
    assert bob.get(f"/v1/jobs/{made[0]}").status_code == 404
    assert made[0] not in {j["job_id"] for j in bob.get("/v1/jobs").json()["data"]}
    assert alice.get("/v1/jobs/not-a-uuid").status_code == 404


def test_health_reports_the_consumer_and_the_queue(make_server, api, tmp_path, database) -> None:
    """A job held back (idle_video_delay_seconds) waits on the queue, and health counts it; the
    API processes of a shared instance run no jobs (its worker does)."""
    config = config_with(tmp_path, "\n[jobs]\nidle_video_delay_seconds = 60\n")
    server = make_server("--config", config)
    alice = api(server, ALICE_KEY)
    jobs = alice.get("/_ojin/health").json()["jobs"]
    shared = database == "shared"
    expected = ("disabled", "none", "redis") if shared else ("ok", "embedded", "sqlite")
    assert (jobs["status"], jobs["consumer"], jobs["queue"]) == expected
    assert jobs["queue_depth"] == 0
    images = alice.get("/v1/assets", params={"source": "template", "category": "image"}).json()
    generate(alice, images["data"][0]["asset_id"])
    assert alice.get("/_ojin/health").json()["jobs"]["queue_depth"] == 1


def config_with(tmp_path: Path, extra: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(TEST_CONFIG + extra)
    return str(path)


def test_a_source_deleted_before_the_job_ran_fails_the_job(make_server, api, tmp_path) -> None:
    config = config_with(tmp_path, "\n[jobs]\nidle_video_delay_seconds = 2\n")
    client = api(make_server("--config", config), ALICE_KEY)
    source = client.upload(portrait_png(0), "gone.png")
    job_id = generate(client, source["asset_id"])
    assert client.delete(f"/v1/assets/{source['asset_id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"  # the delay holds it
    job = wait_for_job(client, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "SOURCE_ASSET_NOT_FOUND"


def test_storage_errors_fail_the_job_after_its_attempts(make_server, api, tmp_path) -> None:
    moto = MotoServer().start()
    storage = (
        '\n[storage]\nbackend = "s3"\n[storage.s3]\n'
        f'bucket = "ojin-jobs-s3"\nendpoint_url = "{moto.url}"\n'
        'access_key_id = "testing"\nsecret_access_key = "testing"\ncreate_bucket = true\n'
        "[jobs]\nmax_attempts = 1\n"
    )
    client = api(make_server("--config", config_with(tmp_path, storage)), ALICE_KEY)
    source = client.upload(portrait_png(0), "far-away.png")
    moto.stop()
    job = wait_for_job(client, generate(client, source["asset_id"]))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "STORAGE_ERROR"


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def job_row(server: Server, job_id: str, **changes: object) -> None:
    """Leave the job table as a crash would have left it (the real database)."""
    for column, value in changes.items():
        server.sql(f"UPDATE job SET {column} = ? WHERE job_id = ?", value, job_id)


def test_a_queued_job_survives_a_restart_and_runs(make_server, api) -> None:
    server = make_server("--no-jobs")
    client = api(server, DEV_KEY)
    assert client.get("/_ojin/health").json()["jobs"]["status"] == "disabled"
    source = client.upload(portrait_png(0), "later.png")
    job_id = generate(client, source["asset_id"])
    assert client.get("/_ojin/health").json()["jobs"]["queue_depth"] == 1
    server.stop()
    server.args = []
    client = api(server.start(), DEV_KEY)
    assert wait_for_job(client, job_id)["status"] == "succeeded"


@pytest.mark.parametrize(("attempts", "outcome"), [(1, "succeeded"), (3, "failed")])
def test_a_job_running_when_the_server_died_is_run_again_or_failed(
    make_server, api, attempts: int, outcome: str
) -> None:
    server = make_server("--no-jobs")
    client = api(server, DEV_KEY)
    source = client.upload(portrait_png(0), "crash.png")
    job_id = generate(client, source["asset_id"])
    server.stop()
    # A consumer took the job off the queue, marked it running, and its process died.
    for suffix in ("", "-wal", "-shm"):
        (server.data_dir / f"jobs-queue.sqlite3{suffix}").unlink(missing_ok=True)
    worker = f"{socket.gethostname()}:{dead_pid()}:a1b2c3d4"
    job_row(server, job_id, status="running", attempts=attempts, worker=worker)
    server.args = []
    client = api(server.start(), DEV_KEY)
    job = wait_for_job(client, job_id)
    assert job["status"] == outcome
    if outcome == "failed":
        assert job["error"]["code"] == "JOB_INTERRUPTED"
    else:
        assert job["attempts"] == 2


@pytest.mark.parametrize("worker_type", ["thread", "process"])
def test_a_separate_worker_runs_the_jobs_of_a_no_jobs_server(
    make_server, api, worker_type: str
) -> None:
    server = make_server("--no-jobs", env={"OJIN_LOCAL_JOBS_WORKER_TYPE": worker_type})
    client = api(server, DEV_KEY)
    source = client.upload(portrait_png(0), "worker.png")
    job_id = generate(client, source["asset_id"])
    worker = subprocess.Popen(
        [*ojin_local_command(), "worker", "--data-dir", str(server.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(server.env),
    )
    try:
        assert wait_for_job(client, job_id)["status"] == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
    assert worker.returncode == 0, output
    assert f"2 {worker_type} worker(s)" in output


def test_gc_removes_objects_no_record_owns(make_server, api) -> None:
    server = make_server()
    client = api(server, DEV_KEY)
    kept = client.upload(b"kept", "kept.bin", "weight")
    lost = client.upload(b"lost", "lost.bin", "weight")
    server.sql("DELETE FROM asset WHERE asset_id = ?", lost["asset_id"])
    objects = server.data_dir / "storage" / "objects" / "assets"
    assert (objects / lost["asset_id"]).exists()

    young = run_cli("gc", "--data-dir", str(server.data_dir), env=server.env)
    assert "removed 0 orphaned object(s)" in young.stdout, young.stderr
    collected = run_cli(
        "gc", "--grace-seconds", "0", "--data-dir", str(server.data_dir), env=server.env
    )
    assert "removed 1 orphaned object(s)" in collected.stdout, collected.stderr
    assert not (objects / lost["asset_id"]).exists()
    assert (objects / kept["asset_id"]).exists()
    url = client.get(f"/v1/assets/{kept['asset_id']}/download").json()["asset_url"]
    assert httpx.get(url).content == b"kept"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for this module's tests (Debian's 7.0, as users would run)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis database of this test's own, so no queue left by another test is seen."""
    return redis_server.database_url()


def test_the_queue_can_be_redis(make_server, api, tmp_path, redis_url: str) -> None:
    config = config_with(tmp_path, f'\n[jobs]\nqueue = "redis"\nredis_url = "{redis_url}"\n')
    client = api(make_server("--config", config), ALICE_KEY)
    assert client.get("/_ojin/health").json()["jobs"]["queue"] == "redis"
    source = client.upload(portrait_png(0), "redis.png")
    assert wait_for_job(client, generate(client, source["asset_id"]))["status"] == "succeeded"


def test_the_consumer_collects_garbage_on_its_schedule(make_server, api, tmp_path) -> None:
    """Huey's scheduler runs periodic tasks when the consumer starts, then every interval."""
    config = config_with(
        tmp_path,
        "\n[storage]\nupload_session_ttl_seconds = 1\n[jobs]\ngc_interval_minutes = 1\n",
    )
    server = make_server("--config", config)
    client = api(server, ALICE_KEY)
    stale = client.start_upload()
    client.put_parts(stale, [b"abandoned"])
    server.stop()
    time.sleep(1.1)
    client = api(server.start(), ALICE_KEY)
    signed = {"asset_id": stale["asset_id"], "upload_id": stale["upload_id"], "part_number": 1}
    assert wait_until(lambda: client.post("/v1/assets/sign-part", json=signed).status_code == 404)
    uploads = server.data_dir / "storage" / "uploads"
    assert wait_until(lambda: not any(uploads.iterdir()))
