"""The held-out set contract: folder-per-class and manifest layouts in the GCS emulator.

Images are drawn here with numpy/PIL (no world module); expected data versions are recomputed
independently from the objects' md5 checksums.
"""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from ctscan_ops.ct_classes import CLASS_INDEX, CLASSES
from ctscan_ops.registry.holdout import (
    HoldoutError,
    class_of,
    decode_image,
    list_holdout,
    load_holdout,
)

FOLDERS = {
    "adenocarcinoma": "adenocarcinoma",
    "large_cell_carcinoma": "large.cell.carcinoma",
    "squamous_cell_carcinoma": "squamous.cell.carcinoma",
    "normal": "normal",
}


def png(value: int, size: int = 16) -> bytes:
    arr = np.full((size, size), value, dtype=np.uint8)
    arr[: size // 2] = 255 - value  # not constant
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(value: int, size: int = 20) -> bytes:
    arr = np.full((size, size, 3), value, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


def put(client, bucket: str, name: str, data: bytes) -> None:
    client.bucket(bucket).blob(name).upload_from_string(data)


def folder_set(client, bucket: str, prefix: str = "holdout/", per_class: int = 2) -> dict:
    """Writes per_class images per class; returns {name: (class, bytes)}."""
    out = {}
    for cls, folder in FOLDERS.items():
        for i in range(per_class):
            data = png(10 * CLASS_INDEX[cls] + i)
            name = f"{prefix}{folder}/img{i}.png"
            put(client, bucket, name, data)
            out[name] = (cls, data)
    return out


def expected_version(rows: list[tuple[str, str, bytes]]) -> str:
    h = hashlib.sha256()
    for rel, label, data in sorted(
        (r, lab, "md5:" + base64.b64encode(hashlib.md5(d).digest()).decode()) for r, lab, d in rows
    ):
        h.update(f"{rel}\t{label}\t{data}\n".encode())
    return h.hexdigest()


def test_class_of_accepts_original_spellings_only() -> None:
    assert class_of("large.cell.carcinoma") == "large_cell_carcinoma"
    assert class_of("adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib") == "adenocarcinoma"
    assert class_of("normal") == "normal"
    assert class_of("normalish") is None and class_of("cats") is None


def test_folder_layout_loads_decodes_and_versions(gcs_client, bucket_name) -> None:
    written = folder_set(gcs_client, bucket_name)
    got = load_holdout(gcs_client, f"gs://{bucket_name}/holdout", image_size=8)
    assert got.listing.layout == "folders"
    assert got.images.shape == (8, 8, 8) and got.images.dtype == np.float32
    by_name = {e.name: i for i, e in enumerate(got.listing.entries)}
    for name, (cls, data) in written.items():
        i = by_name[name]
        assert got.labels[i] == CLASS_INDEX[cls]
        ref = np.asarray(
            Image.open(io.BytesIO(data)).convert("F").resize((8, 8), Image.Resampling.BILINEAR)
        )
        np.testing.assert_allclose(got.images[i], ref, atol=1e-4)
    rows = [(n[len("holdout/") :], cls, d) for n, (cls, d) in written.items()]
    assert got.data_version == expected_version(rows)
    assert got.listing.class_counts() == dict.fromkeys(CLASSES, 2)
    assert got.describe()["dataset"] == f"holdout-{got.data_version[:16]}"


def test_data_version_changes_with_content_label_and_membership(gcs_client, bucket_name) -> None:
    folder_set(gcs_client, bucket_name)
    loc = f"gs://{bucket_name}/holdout/"
    v0 = list_holdout(gcs_client, loc).data_version
    assert list_holdout(gcs_client, loc).data_version == v0  # stable
    put(gcs_client, bucket_name, "holdout/normal/img0.png", png(200))  # content
    v1 = list_holdout(gcs_client, loc).data_version
    put(gcs_client, bucket_name, "holdout/normal/extra.png", png(201))  # membership
    v2 = list_holdout(gcs_client, loc).data_version
    assert len({v0, v1, v2}) == 3


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("holdout/cats/img.png", png(3), "unknown class folder 'cats'"),
        ("holdout/normal/broken.png", b"\x89PNG\r\n\x1a\nnot really", "not a readable PNG/JPEG"),
        ("holdout/normal/notes.txt", b"hello", "not a .png/.jpg/.jpeg image"),
        ("holdout/stray.png", png(3), "file directly under the held-out prefix"),
    ],
)
def test_malformed_folder_set_names_the_object(gcs_client, bucket_name, name, data, message):
    folder_set(gcs_client, bucket_name, per_class=1)
    put(gcs_client, bucket_name, name, data)
    with pytest.raises(HoldoutError) as err:
        load_holdout(gcs_client, f"gs://{bucket_name}/holdout/", image_size=8)
    assert f"gs://{bucket_name}/{name}" in str(err.value)
    assert message in str(err.value)


def test_missing_class_and_empty_set(gcs_client, bucket_name) -> None:
    with pytest.raises(HoldoutError, match="is empty"):
        list_holdout(gcs_client, f"gs://{bucket_name}/nothing/")
    for cls in ("adenocarcinoma", "normal"):
        put(gcs_client, bucket_name, f"part/{cls}/a.png", png(5))
    with pytest.raises(HoldoutError, match="large_cell_carcinoma, squamous_cell_carcinoma"):
        list_holdout(gcs_client, f"gs://{bucket_name}/part/")


def test_manifest_csv_relative_and_gs_uris(gcs_client, bucket_name) -> None:
    other = f"{bucket_name}-other"
    gcs_client.create_bucket(other)
    rows = []
    for cls in CLASSES:
        data = jpeg(40 + CLASS_INDEX[cls])
        put(gcs_client, bucket_name, f"m/images/{cls}.jpg", data)
        rows.append((f"images/{cls}.jpg", cls, data))
    far = png(99)
    put(gcs_client, other, "x/far.png", far)
    rows.append((f"gs://{other}/x/far.png", "normal", far))
    text = "uri,label\n" + "".join(f"{u},{lab}\n" for u, lab, _ in rows)
    put(gcs_client, bucket_name, "m/manifest.csv", text.encode())
    got = load_holdout(gcs_client, f"gs://{bucket_name}/m/", image_size=10)
    assert got.listing.layout == "manifest"
    assert got.listing.manifest == f"gs://{bucket_name}/m/manifest.csv"
    assert sorted(got.labels.tolist()) == sorted(CLASS_INDEX[c] for _, c, _ in rows)
    assert got.data_version == expected_version(rows)
    # JPEG (RGB) decodes to its luminance
    i = [e.rel for e in got.listing.entries].index("images/normal.jpg")
    assert abs(float(got.images[i].mean()) - (40 + CLASS_INDEX["normal"])) < 2


def test_manifest_parquet_unknown_label_and_missing_object(gcs_client, bucket_name) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for cls in CLASSES:
        put(gcs_client, bucket_name, f"p/{cls}.png", png(7))

    def manifest(uris, labels) -> None:
        buf = io.BytesIO()
        pq.write_table(pa.table({"uri": uris, "label": labels}), buf)
        put(gcs_client, bucket_name, "p/manifest.parquet", buf.getvalue())

    uris = [f"{c}.png" for c in CLASSES]
    manifest(uris, list(CLASSES))
    assert len(list_holdout(gcs_client, f"gs://{bucket_name}/p").entries) == 4
    manifest(uris, [*CLASSES[:3], "pneumonia"])
    with pytest.raises(HoldoutError, match="row 4: unknown label 'pneumonia'"):
        list_holdout(gcs_client, f"gs://{bucket_name}/p")
    manifest([*uris[:3], "gone.png"], list(CLASSES))
    with pytest.raises(HoldoutError, match=f"gs://{bucket_name}/p/gone.png does not exist"):
        list_holdout(gcs_client, f"gs://{bucket_name}/p")


def test_decode_keeps_16_bit_values() -> None:
    arr = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    got = decode_image(buf.getvalue(), "gs://b/x.png", 8)
    np.testing.assert_array_equal(got, arr.astype(np.float32))
    with pytest.raises(HoldoutError, match=r"gs://b/y\.gif: is GIF"):
        gif = io.BytesIO()
        Image.fromarray(arr.astype(np.uint8)).save(gif, format="GIF")
        decode_image(gif.getvalue(), "gs://b/y.gif", 8)
