"""The filesystem backend's pre-signed object server: what its URLs lead to, as a component.

It signs URLs pointing back at this server and, for the storage routes, verifies them and opens
the part or object they name. The filesystem backend owns one (`Storage.object_server`); the S3
backend has none, its URLs lead to S3, and the app registers the storage routes only when there
is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ojin_local.storage.bytestore import ByteStore, ObjectReader, PartWriter
from ojin_local.storage.signing import Signer


class ObjectServer:
    """Signs and verifies URLs with the data dir's secret; opens what a verified URL names."""

    def __init__(self, store: ByteStore, signer: Signer, public_url: str) -> None:
        self._store = store
        self._signer = signer
        self.public_url = public_url

    def sign(self, method: str, key: str, params: Mapping[str, str], expires_in: int) -> str:
        return self._signer.url(self.public_url, method, key, params, expires_in)

    def verify(self, method: str, key: str, query: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The URL's parameters, or S3's 403 (AccessDenied, SignatureDoesNotMatch)."""
        return self._signer.verify(method, key, query)

    def open_part(self, key: str, upload_id: str, part_number: int) -> PartWriter:
        """Blocking; NoSuchUpload if the upload is unknown, completed or aborted."""
        return self._store.open_part(key, upload_id, part_number)

    def open_object(self, key: str) -> ObjectReader:
        """Blocking; NoSuchKey if there is no such object."""
        return self._store.open_object(key)
