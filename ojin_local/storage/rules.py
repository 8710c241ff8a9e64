"""S3's multipart rules and error answers, shared by both backends so they fail alike.

Completion checks run in S3's order: part order, then each listed part, then sizes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ojin_local.errors import S3Error
from ojin_local.storage import MAX_PART_NUMBER, MIN_PART_BYTES, Part


def check_part_number(value: str | None) -> int:
    if value is None or not value.isdecimal() or not 1 <= int(value) <= MAX_PART_NUMBER:
        raise S3Error(
            "InvalidArgument",
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=str(value),
        )
    return int(value)


def check_part_order(parts: Sequence[tuple[int, str]]) -> None:
    if not parts:
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema.",
        )
    if any(a >= b for (a, _), (b, _) in itertools.pairwise(parts)):
        raise S3Error(
            "InvalidPartOrder",
            "The list of parts was not in ascending order. "
            "The parts list must be specified in order by part number.",
        )


def check_part_etag(part: Part, etag: str) -> None:
    """S3 accepts the ETag with or without its quotes."""
    if part.etag.strip('"') != etag.strip('"'):
        raise invalid_part(part.part_number, etag)


def check_part_sizes(parts: Sequence[Part]) -> None:
    for part in parts[:-1]:
        if part.size < MIN_PART_BYTES:
            raise S3Error(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
                ProposedSize=str(part.size),
                MinSizeAllowed=str(MIN_PART_BYTES),
                PartNumber=str(part.part_number),
            )


def invalid_part(number: int, etag: str) -> S3Error:
    return S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
        PartNumber=str(number),
        ETag=etag,
    )


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
        404,
        UploadId=upload_id,
    )


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)
