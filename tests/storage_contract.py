"""One storage contract, run against every backend (huey's `StorageTests` mixin is the model).

Each backend's test module subclasses `StorageContract` and provides the `storage` fixture (a
backend whose pre-signed URLs a client can reach) and `http` (a client). Parts travel as clients
send them, PUT to pre-signed URLs; the expectations are S3's documented behaviour, computed here
from the bytes (`multipart_etag`), never taken from a backend.
"""

from __future__ import annotations

import io
import os
import uuid

import pytest

from ojin_local.errors import S3Error
from ojin_local.storage import MIN_PART_BYTES
from tests.storage_helpers import md5_etag, multipart_etag, new_upload, put, upload_parts

BIG = os.urandom(MIN_PART_BYTES)  # one part of the minimum size, reused where any bytes do

# Three parts (two of the minimum size and a short last one) and the byte ranges that touch
# their boundaries: (first, last) offsets, named by where they fall.
PARTS = (BIG, os.urandom(MIN_PART_BYTES), os.urandom(12_345))
SECOND = MIN_PART_BYTES  # first byte of the second part
THIRD = 2 * MIN_PART_BYTES
BOUNDARY_RANGES = {
    "first-byte-of-a-part": (SECOND, SECOND),
    "last-byte-of-a-part": (SECOND - 1, SECOND - 1),
    "ends-on-a-part's-last-byte": (100, SECOND - 1),
    "starts-on-a-part's-first-byte": (SECOND, SECOND + 99),
    "straddles-a-boundary": (SECOND - 2, SECOND + 1),
    "inside-one-part": (SECOND + 10, SECOND + 20_000),
    "spans-three-parts": (SECOND - 5, THIRD + 5),
    "the-last-part-whole": (THIRD, THIRD + len(PARTS[2]) - 1),
}


class StorageContract:
    """What every backend must do alike."""

    # Parts

    def test_a_part_put_answers_its_md5_and_is_listed(self, storage, http):
        key, upload = new_upload(storage)
        response = put(http, storage, key, upload, 1, b"hello part")
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == md5_etag(b"hello part")
        [part] = storage.list_parts(key, upload)
        assert (part.part_number, part.etag, part.size) == (1, md5_etag(b"hello part"), 10)

    def test_a_repeated_part_number_replaces_the_part(self, storage, http):
        key, upload = new_upload(storage)
        put(http, storage, key, upload, 1, b"first version")
        again = put(http, storage, key, upload, 1, b"second")
        assert again.headers["etag"] == md5_etag(b"second")
        listed = [(p.part_number, p.etag, p.size) for p in storage.list_parts(key, upload)]
        assert listed == [(1, md5_etag(b"second"), 6)]
        with pytest.raises(S3Error) as refused:
            storage.complete_multipart_upload(key, upload, [(1, md5_etag(b"first version"))])
        assert refused.value.code == "InvalidPart"
        storage.complete_multipart_upload(key, upload, [(1, md5_etag(b"second"))])
        assert b"".join(storage.read_object(key)) == b"second"

    # Completion

    @pytest.mark.parametrize(
        ("listed", "code", "details"),
        [
            ([(2, 1), (1, 0)], "InvalidPartOrder", {}),
            ([(1, 0), (1, 0)], "InvalidPartOrder", {}),
            ([(1, 1), (2, 1)], "InvalidPart", {"PartNumber": "1"}),
            ([(1, 0), (3, 1)], "InvalidPart", {"PartNumber": "3"}),
            (
                [(1, 0), (2, 1)],
                "EntityTooSmall",
                {"PartNumber": "1", "ProposedSize": "100", "MinSizeAllowed": str(MIN_PART_BYTES)},
            ),
        ],
        ids=["descending", "duplicate", "wrong-etag", "missing-part", "small-part"],
    )
    def test_completion_enforces_s3s_rules(self, storage, http, listed, code, details):
        """S3's answers (moto would accept every one of these lists)."""
        key, upload, etags = upload_parts(storage, http, b"a" * 100, b"b" * 20)
        with pytest.raises(S3Error) as refused:
            storage.complete_multipart_upload(key, upload, [(n, etags[i]) for n, i in listed])
        assert (refused.value.code, refused.value.status) == (code, 400)
        assert details.items() <= refused.value.details.items()
        # A refused completion leaves the upload as it was: the client can fix its list.
        assert len(storage.list_parts(key, upload)) == 2
        stored = storage.complete_multipart_upload(key, upload, [(2, etags[1])])
        assert stored.etag == multipart_etag(b"b" * 20)

    def test_gaps_a_small_last_part_and_unquoted_etags_are_allowed(self, storage, http):
        key, upload, etags = upload_parts(storage, http, BIG, b"tail", first=3)
        stored = storage.complete_multipart_upload(
            key, upload, [(3, etags[0].strip('"')), (4, etags[1])]
        )
        assert stored.etag == multipart_etag(BIG, b"tail")
        assert (stored.key, stored.size, stored.content_type) == (key, len(BIG) + 4, "video/mp4")
        assert stored.last_modified.tzinfo is not None
        assert storage.head_object(key) == stored
        assert b"".join(storage.read_object(key)) == BIG + b"tail"
        assert upload not in {u for u, _, _ in storage.list_uploads()}

    def test_an_unknown_upload_is_no_such_upload(self, storage):
        key = f"assets/org_test/{uuid.uuid4()}"
        for attempt in (
            lambda: storage.list_parts(key, "y" * 32),
            lambda: storage.complete_multipart_upload(key, "y" * 32, [(1, md5_etag(b""))]),
        ):
            with pytest.raises(S3Error) as refused:
                attempt()
            assert (refused.value.code, refused.value.status) == ("NoSuchUpload", 404)

    def test_completing_twice_is_no_such_upload(self, storage, http):
        key, upload, etags = upload_parts(storage, http, b"only part")
        storage.complete_multipart_upload(key, upload, [(1, etags[0])])
        with pytest.raises(S3Error) as refused:
            storage.complete_multipart_upload(key, upload, [(1, etags[0])])
        assert (refused.value.code, refused.value.status) == ("NoSuchUpload", 404)

    def test_a_part_cannot_change_after_completion(self, storage, http):
        key, upload = new_upload(storage)
        late = storage.presign_upload_part(key, upload, 1, 300)  # signed before completing
        etag = put(http, storage, key, upload, 1, b"kept").headers["etag"]
        storage.complete_multipart_upload(key, upload, [(1, etag)])
        refused = http.put(late, content=b"late!")  # S3: 404 NoSuchUpload; moto: a bare 500
        assert refused.is_error, refused.status_code
        assert b"".join(storage.read_object(key)) == b"kept"
        assert storage.head_object(key).etag == multipart_etag(b"kept")

    def test_uploads_are_listed_and_aborted(self, storage, http):
        key, upload, _ = upload_parts(storage, http, b"part")
        assert (upload, key) in {(u, k) for u, k, _ in storage.list_uploads()}
        storage.abort_multipart_upload(key, upload)
        storage.abort_multipart_upload(key, upload)  # already gone: not an error
        assert upload not in {u for u, _, _ in storage.list_uploads()}
        with pytest.raises(S3Error) as refused:
            storage.list_parts(key, upload)
        assert refused.value.code == "NoSuchUpload"

    # Objects

    def test_put_read_delete(self, storage):
        key = f"assets/org_test/{uuid.uuid4()}"
        data = os.urandom(2 * 1024 * 1024 + 17)
        stored = storage.put_object(key, io.BytesIO(data), "image/png")
        assert (stored.etag, stored.size, stored.content_type) == (
            md5_etag(data),
            len(data),
            "image/png",
        )
        assert storage.head_object(key) == stored
        chunks = list(storage.read_object(key))
        assert b"".join(chunks) == data
        assert [len(c) for c in chunks[:-1]] == [1024 * 1024] * (len(chunks) - 1)
        assert key in {k for k, _ in storage.list_objects()}
        storage.delete_object(key)
        storage.delete_object(key)  # S3 answers 204 for a missing key too
        assert storage.head_object(key) is None
        with pytest.raises(S3Error) as refused:
            storage.read_object(key)
        assert (refused.value.code, refused.value.status) == ("NoSuchKey", 404)

    def test_a_multipart_object_is_read_and_deleted_whole(self, storage, http):
        key, upload, etags = upload_parts(storage, http, *PARTS)
        stored = storage.complete_multipart_upload(key, upload, list(enumerate(etags, 1)))
        assert stored.etag == multipart_etag(*PARTS)
        assert b"".join(storage.read_object(key)) == b"".join(PARTS)
        storage.delete_object(key)
        assert storage.head_object(key) is None
        assert key not in {k for k, _ in storage.list_objects()}

    def test_objects_and_uploads_are_discarded_together_and_others_kept(self, storage, http):
        keys = [f"assets/org_test/{uuid.uuid4()}" for _ in range(3)]
        for key in keys:
            storage.put_object(key, io.BytesIO(key.encode()), "text/plain")
        key, upload, etags = upload_parts(storage, http, *PARTS)
        multipart = storage.complete_multipart_upload(key, upload, list(enumerate(etags, 1)))
        missing = f"assets/{uuid.uuid4()}"  # not an error, as with S3
        open_key, open_upload = new_upload(storage)
        storage.discard([*keys[:2], multipart.key, missing], [(open_key, open_upload)])
        assert [storage.head_object(k) for k in (*keys[:2], multipart.key)] == [None] * 3
        assert b"".join(storage.read_object(keys[2])) == keys[2].encode()
        with pytest.raises(S3Error) as gone:
            storage.list_parts(open_key, open_upload)
        assert gone.value.code == "NoSuchUpload"
        storage.discard([])

    @pytest.mark.parametrize("where", BOUNDARY_RANGES)
    def test_ranges_at_part_boundaries(self, storage, http, three_parts, where):
        key, body = three_parts
        first, last = BOUNDARY_RANGES[where]
        url = storage.presign_get_object(key, "clip.mp4", "video/mp4", 300)
        response = http.get(url, headers={"Range": f"bytes={first}-{last}"})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes {first}-{last}/{len(body)}"
        assert response.headers["content-length"] == str(last - first + 1)
        assert response.content == body[first : last + 1]

    @pytest.fixture(scope="class")
    @classmethod
    def three_parts(cls, storage, http) -> tuple[str, bytes]:
        """An object of `PARTS`: its key and bytes."""
        key, upload, etags = upload_parts(storage, http, *PARTS)
        storage.complete_multipart_upload(key, upload, list(enumerate(etags, 1)))
        return key, b"".join(PARTS)
