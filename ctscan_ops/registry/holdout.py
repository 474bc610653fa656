"""The classifier's held-out evaluation set in object storage (docs/data-contracts.md).

Two layouts under one ``gs://bucket/prefix/`` (setting ``CTSCAN_HOLDOUT_URI``):

* **folders** (the original project's ``test/<class>/*.png``): one folder per class directly
  under the prefix, images ``.png``/``.jpg``/``.jpeg`` inside (sub-folders allowed). Folder names
  are the class names of :mod:`ctscan_ops.ct_classes` or the Kaggle dataset's spellings
  (``large.cell.carcinoma``, ``squamous.cell.carcinoma``, and the long train/valid names such as
  ``adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib``).
* **manifest**: ``manifest.csv`` or ``manifest.parquet`` directly under the prefix with columns
  ``uri,label``; ``uri`` relative to the prefix or a full ``gs://`` URI, ``label`` a class name
  (or one of the folder spellings above).

Why a content hash: an evaluation is only comparable with another on the *same* data. The data
version is sha256 over the sorted ``(relative uri, class, object checksum)`` lines, taken from
the object listing (md5, else crc32c), so it changes when an image, a label or the membership
changes, and can be recomputed without downloading the images. Images are downloaded with
``if_generation_match`` on the listed generation, so the decoded pixels are the hashed ones.

Malformed sets fail with :class:`HoldoutError` naming the object (``gs://bucket/key``): unknown
class folder or label, an object that is not a readable PNG/JPEG, a class with no image, an
empty set, a manifest naming a missing object. Nothing is skipped silently.

Pure module (no dagster): the asset, the sandbox world and the tests call the same functions.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ctscan_ops.ct_classes import CLASS_INDEX, CLASSES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST_NAMES = ("manifest.csv", "manifest.parquet")
# Folder / label spellings of the Kaggle "Chest CT-Scan Images" dataset -> class name.
CLASS_ALIASES: dict[str, str] = {
    **{name: name for name in CLASSES},
    "large.cell.carcinoma": "large_cell_carcinoma",
    "squamous.cell.carcinoma": "squamous_cell_carcinoma",
}
# What the sandbox world writes (the original project's test/ folder names).
ORIGINAL_FOLDERS: dict[str, str] = {
    "adenocarcinoma": "adenocarcinoma",
    "large_cell_carcinoma": "large.cell.carcinoma",
    "squamous_cell_carcinoma": "squamous.cell.carcinoma",
    "normal": "normal",
}


class HoldoutError(ValueError):
    """A malformed held-out set; the message names the offending object or location."""


@dataclasses.dataclass(frozen=True)
class HoldoutEntry:
    """One listed image: where it is, its class, and the checksum the data version uses."""

    rel: str  # relative to the prefix, or the full gs:// URI when outside it
    label: str  # class name (ct_classes.CLASSES)
    bucket: str
    name: str  # object name
    checksum: str  # "md5:<b64>" | "crc32c:<b64>"
    generation: int | None

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


@dataclasses.dataclass(frozen=True)
class HoldoutListing:
    """The set as listed (no pixels): enough for its data version."""

    location: str  # gs://bucket/prefix/
    layout: str  # "folders" | "manifest"
    entries: tuple[HoldoutEntry, ...]
    manifest: str | None = None  # gs:// URI of the manifest object

    @property
    def data_version(self) -> str:
        return data_version((e.rel, e.label, e.checksum) for e in self.entries)

    @property
    def dataset(self) -> str:
        """Short name recorded with every evaluation (changes iff the data version does)."""
        return f"holdout-{self.data_version[:16]}"

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(CLASSES, 0)
        for e in self.entries:
            counts[e.label] += 1
        return counts


@dataclasses.dataclass(frozen=True)
class HoldoutSet:
    """Decoded images (float32 [n, S, S], the model's ``preprocess`` input) and labels."""

    listing: HoldoutListing
    images: np.ndarray
    labels: np.ndarray
    image_size: int

    @property
    def data_version(self) -> str:
        return self.listing.data_version

    @property
    def dataset(self) -> str:
        return self.listing.dataset

    def describe(self) -> dict[str, Any]:
        """JSON-able facts recorded with an evaluation."""
        return {
            "dataset": self.dataset,
            "data_version": self.data_version,
            "holdout_uri": self.listing.location,
            "holdout_layout": self.listing.layout,
            "holdout_class_counts": self.listing.class_counts(),
            "image_size": self.image_size,
        }


def data_version(rows: Iterable[tuple[str, str, str]]) -> str:
    """sha256 hex over sorted ``rel \\t label \\t checksum`` lines (order-independent)."""
    h = hashlib.sha256()
    for rel, label, checksum in sorted(rows):
        h.update(f"{rel}\t{label}\t{checksum}\n".encode())
    return h.hexdigest()


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` -> ``("bucket", "some/prefix/")`` (prefix "" for the root)."""
    if not uri.startswith("gs://"):
        raise HoldoutError(f"held-out location {uri!r} is not a gs://bucket/prefix URI")
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    if not bucket:
        raise HoldoutError(f"held-out location {uri!r} names no bucket")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def class_of(name: str) -> str | None:
    """Class of a folder name or label: an alias, or an alias followed by ``_<anything>``."""
    if name in CLASS_ALIASES:
        return CLASS_ALIASES[name]
    for alias, cls in CLASS_ALIASES.items():
        if name.startswith(alias + "_"):
            return cls
    return None


def _checksum(blob: Any, where: str) -> str:
    if getattr(blob, "md5_hash", None):
        return f"md5:{blob.md5_hash}"
    if getattr(blob, "crc32c", None):
        return f"crc32c:{blob.crc32c}"
    raise HoldoutError(f"{where}: the object store reports neither md5 nor crc32c for it")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _require_all_classes(entries: Sequence[HoldoutEntry], location: str) -> None:
    if not entries:
        raise HoldoutError(
            f"held-out set at {location} is empty: expected <class>/*.png|jpg|jpeg folders "
            f"({', '.join(ORIGINAL_FOLDERS.values())}) or {' / '.join(MANIFEST_NAMES)}"
        )
    seen = {e.label for e in entries}
    missing = [c for c in CLASSES if c not in seen]
    if missing:
        raise HoldoutError(
            f"held-out set at {location} has no image of class(es) {', '.join(missing)} "
            "(every class must be represented, or per-class recall is undefined)"
        )


def list_holdout(client: Any, location: str) -> HoldoutListing:
    """List and validate the set at ``location`` (no image is downloaded)."""
    bucket, prefix = split_gs_uri(location)
    location = f"gs://{bucket}/{prefix}"
    blobs = {b.name: b for b in client.list_blobs(bucket, prefix=prefix)}
    manifests = [prefix + m for m in MANIFEST_NAMES if prefix + m in blobs]
    if len(manifests) > 1:
        raise HoldoutError(
            f"held-out set at {location} has both {' and '.join(MANIFEST_NAMES)}: keep one"
        )
    if manifests:
        return _list_manifest(client, bucket, prefix, blobs, manifests[0])
    entries = []
    for name, blob in sorted(blobs.items()):
        rel = name[len(prefix) :]
        where = f"gs://{bucket}/{name}"
        if not rel or rel.endswith("/"):
            continue  # "directory" placeholder objects some tools create
        folder, sep, rest = rel.partition("/")
        if not sep:
            raise HoldoutError(
                f"{where}: file directly under the held-out prefix; images go in one folder "
                f"per class ({', '.join(ORIGINAL_FOLDERS.values())}) or list them in a manifest"
            )
        label = class_of(folder)
        if label is None:
            raise HoldoutError(
                f"{where}: unknown class folder {folder!r}; expected one of "
                f"{', '.join(sorted(CLASS_ALIASES))} (optionally followed by _<detail>)"
            )
        if not _is_image(rest):
            raise HoldoutError(
                f"{where}: not a .png/.jpg/.jpeg image (held-out folders hold images only)"
            )
        entries.append(
            HoldoutEntry(rel, label, bucket, name, _checksum(blob, where), blob.generation)
        )
    _require_all_classes(entries, location)
    return HoldoutListing(location, "folders", tuple(entries))


def _manifest_rows(data: bytes, where: str) -> list[tuple[int, str, str]]:
    """(row number, uri, label) from a CSV or Parquet manifest."""
    if where.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(io.BytesIO(data))
        except Exception as exc:
            raise HoldoutError(f"{where}: not a readable Parquet file: {exc}") from None
        cols = set(table.column_names)
        if not {"uri", "label"} <= cols:
            raise HoldoutError(f"{where}: needs columns uri,label; has {sorted(cols)}")
        uris, labels = table.column("uri").to_pylist(), table.column("label").to_pylist()
        return [(i + 1, u, lab) for i, (u, lab) in enumerate(zip(uris, labels, strict=True))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HoldoutError(f"{where}: not UTF-8 text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"uri", "label"} <= set(reader.fieldnames):
        raise HoldoutError(
            f"{where}: needs a header with columns uri,label; got {reader.fieldnames}"
        )
    return [(reader.line_num, r["uri"], r["label"]) for r in reader]


def _list_manifest(
    client: Any, bucket: str, prefix: str, blobs: dict[str, Any], manifest_name: str
) -> HoldoutListing:
    location = f"gs://{bucket}/{prefix}"
    where = f"gs://{bucket}/{manifest_name}"
    rows = _manifest_rows(blobs[manifest_name].download_as_bytes(), where)
    entries: list[HoldoutEntry] = []
    seen: set[tuple[str, str]] = set()
    for line, uri, raw_label in rows:
        at = f"{where} row {line}"
        if not uri or not isinstance(uri, str):
            raise HoldoutError(f"{at}: empty uri")
        label = class_of(str(raw_label or "").strip())
        if label is None:
            raise HoldoutError(
                f"{at}: unknown label {raw_label!r}; "
                f"expected one of {', '.join(sorted(CLASS_ALIASES))}"
            )
        if uri.startswith("gs://"):
            obj_bucket, _, name = uri[len("gs://") :].partition("/")
            rel = uri
        else:
            obj_bucket, name, rel = bucket, prefix + uri.lstrip("/"), uri.lstrip("/")
        if (obj_bucket, name) in seen:
            raise HoldoutError(f"{at}: gs://{obj_bucket}/{name} listed twice")
        seen.add((obj_bucket, name))
        if not _is_image(name):
            raise HoldoutError(f"{at}: gs://{obj_bucket}/{name} is not a .png/.jpg/.jpeg image")
        blob = blobs.get(name) if obj_bucket == bucket else None
        if blob is None:
            blob = client.bucket(obj_bucket).get_blob(name)
        if blob is None:
            raise HoldoutError(f"{at}: gs://{obj_bucket}/{name} does not exist")
        obj = f"gs://{obj_bucket}/{name}"
        entries.append(
            HoldoutEntry(rel, label, obj_bucket, name, _checksum(blob, obj), blob.generation)
        )
    _require_all_classes(entries, location)
    return HoldoutListing(location, "manifest", tuple(entries), manifest=where)


def decode_image(data: bytes, where: str, image_size: int) -> np.ndarray:
    """PNG/JPEG bytes -> float32 [image_size, image_size] grayscale intensities.

    16-bit and float images keep their values (a CT slice exported as 16-bit PNG keeps its HU
    resolution); colour images become luminance. Resizing is bilinear on the float image. The
    model z-scores each image (``models.preprocess``), so the intensity scale is irrelevant.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in ("PNG", "JPEG"):
                raise HoldoutError(f"{where}: is {img.format}, not PNG/JPEG")
            img.load()
            if img.mode in ("I", "F") or img.mode.startswith("I;16"):
                arr = np.asarray(img, dtype=np.float32)
            else:
                arr = np.asarray(img.convert("L"), dtype=np.float32)
    except HoldoutError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise HoldoutError(f"{where}: not a readable PNG/JPEG image ({exc})") from None
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise HoldoutError(f"{where}: decoded to shape {arr.shape}, expected a 2-D image")
    if arr.shape != (image_size, image_size):
        resized = Image.fromarray(arr).resize((image_size, image_size), Image.Resampling.BILINEAR)
        arr = np.asarray(resized, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise HoldoutError(f"{where}: decoded image contains NaN or Inf")
    return arr


def _download_all(client: Any, entries: Sequence[HoldoutEntry], workers: int) -> list[bytes]:
    """Bytes of every entry, each pinned to its listed generation (threads: I/O bound)."""
    from google.api_core import exceptions as gexc
    from google.cloud.storage import transfer_manager

    pairs = [
        (client.bucket(e.bucket).blob(e.name, generation=e.generation), io.BytesIO())
        for e in entries
    ]
    results = transfer_manager.download_many(
        pairs, worker_type=transfer_manager.THREAD, max_workers=workers
    )
    for e, result in zip(entries, results, strict=True):
        if isinstance(result, gexc.NotFound):
            raise HoldoutError(f"{e.uri}: replaced or deleted while the held-out set was read")
        if isinstance(result, Exception):
            raise HoldoutError(f"{e.uri}: cannot download ({type(result).__name__}: {result})")
    return [buf.getvalue() for _, buf in pairs]


def load_holdout(client: Any, location: str, *, image_size: int, workers: int = 8) -> HoldoutSet:
    """List, download (generation-pinned) and decode the set at ``location``."""
    listing = list_holdout(client, location)
    images = np.empty((len(listing.entries), image_size, image_size), dtype=np.float32)
    labels = np.empty(len(listing.entries), dtype=np.int64)
    blobs = _download_all(client, listing.entries, workers)
    for i, (e, data) in enumerate(zip(listing.entries, blobs, strict=True)):
        images[i] = decode_image(data, e.uri, image_size)
        labels[i] = CLASS_INDEX[e.label]
    return HoldoutSet(listing, images, labels, image_size)


def encode_png16(image: np.ndarray, offset: float = 1024.0) -> bytes:
    """A HU slice (integers in [-1024, 64511]) as a lossless 16-bit grayscale PNG.

    Used by the sandbox world to publish phantoms in the contract layout; any producer may
    write 8-bit PNG/JPEG instead.
    """
    from PIL import Image

    arr = np.asarray(image, dtype=np.float64) + offset
    if arr.ndim != 2 or arr.min() < 0 or arr.max() > 65535:
        raise ValueError(f"image must be 2-D with values in [-{offset}, {65535 - offset}]")
    buf = io.BytesIO()
    Image.fromarray(np.rint(arr).astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def holdout_object_name(prefix: str, label: str, index: int, suffix: str = ".png") -> str:
    """``<prefix><original folder>/<index>.png``: the folder layout (a producer's choice)."""
    return f"{prefix}{ORIGINAL_FOLDERS[label]}/{index:05d}{suffix}"
