"""Generation-guarded read and write of one GCS object (compare-and-swap).

Every object version in GCS has a generation number. Reading the bytes *of a given
generation* and uploading *only if the generation is still the one read* (``0``: only if the
object does not exist) makes a read-modify-write safe against a concurrent writer without any
lock: the loser gets a precondition failure (HTTP 412) and re-reads. Used by the incident
register and the model registry; works on the real API and fake-gcs-server alike.
"""

from __future__ import annotations

from typing import Any


def _exceptions():
    from google.api_core import exceptions as gexc

    return gexc


def is_precondition_failure(exc: BaseException) -> bool:
    """A 412 from an ``if_generation_match`` that no longer holds."""
    return isinstance(exc, _exceptions().PreconditionFailed)


def read_with_generation(bucket: Any, name: str) -> tuple[bytes, int] | None:
    """The object's bytes and the generation they belong to; None if it does not exist.

    The bytes are downloaded with ``if_generation_match`` set to the generation the metadata
    named, so they never mix two versions; if the object changed in between it is read again
    once (the newer version wins), and if it vanished the answer is None.
    """
    gexc = _exceptions()
    for attempt in range(2):
        blob = bucket.get_blob(name)
        if blob is None:
            return None
        try:
            return blob.download_as_bytes(if_generation_match=blob.generation), int(blob.generation)
        except gexc.PreconditionFailed:
            if attempt:
                raise
        except gexc.NotFound:
            return None
    raise AssertionError("unreachable")


def write_if_generation(
    bucket: Any,
    name: str,
    data: bytes,
    *,
    generation: int,
    content_type: str = "application/json",
) -> int | None:
    """Upload ``data`` only if the object is still at ``generation`` (0: does not exist yet).

    Returns the new generation, or None when another writer got there first (the caller
    re-reads and decides); any other error is raised.
    """
    blob = bucket.blob(name)
    try:
        blob.upload_from_string(data, content_type=content_type, if_generation_match=generation)
    except Exception as exc:
        if is_precondition_failure(exc):
            return None
        raise
    return int(blob.generation)
