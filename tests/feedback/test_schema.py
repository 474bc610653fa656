"""Normalisation and quarantine rules, one bad-row kind at a time (hand-computed expectations)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ctscan_ops.feedback import schema
from ctscan_ops.feedback.schema import Normalised, Rejected, SourceRow, classify

STATS = {"mean": 101.5, "std": 40.25, "min": 0.0, "max": 255.0, "height": 512, "width": 500}


def row(**over) -> SourceRow:
    base = dict(
        id=7,
        timestamp="2025-07-01T12:30:00.250000+00:00",
        image_path="feedback/normal/scan-abc.png",
        predicted_class="normal",
        predicted_confidence=0.93,
        is_correct=1,
        correct_class=None,
        user_note="fine [User Confidence: High]",
        confidence_rating="High",
        image_stats=json.dumps(STATS),
    )
    base.update(over)
    return SourceRow(**base)


def test_valid_row_normalises_to_the_documented_shape():
    out = classify(row())
    assert isinstance(out, Normalised)
    ts = datetime(2025, 7, 1, 12, 30, 0, 250000, tzinfo=UTC)
    assert out.doc_id == "sqlite-0000000007"
    assert out.doc == {
        "timestamp": ts,
        "image_path": "feedback/normal/scan-abc.png",
        "predicted_class": "normal",
        "predicted_confidence": 0.93,
        "is_correct": True,
        "correct_class": None,
        "user_note": "fine [User Confidence: High]",
        "confidence_rating": "High",
        "image_stats": STATS,
        "expireAt": datetime(2025, 9, 29, 12, 30, 0, 250000, tzinfo=UTC),
        "source_id": 7,
        "timestamp_assumed_utc": False,
    }
    assert out.doc["expireAt"] - out.doc["timestamp"] == timedelta(days=90)


@pytest.mark.parametrize(
    ("text", "expected", "naive"),
    [
        ("2025-07-01T12:30:00+00:00", datetime(2025, 7, 1, 12, 30, tzinfo=UTC), False),
        ("2025-07-01T14:30:00+02:00", datetime(2025, 7, 1, 12, 30, tzinfo=UTC), False),
        ("2025-07-01T07:30:00-05:00", datetime(2025, 7, 1, 12, 30, tzinfo=UTC), False),
        ("2025-07-01T12:30:00Z", datetime(2025, 7, 1, 12, 30, tzinfo=UTC), False),
        ("2025-07-01 12:30:00", datetime(2025, 7, 1, 12, 30, tzinfo=UTC), True),
        ("2025-07-01T12:30:00.5", datetime(2025, 7, 1, 12, 30, 0, 500000, tzinfo=UTC), True),
    ],
)
def test_timestamps_become_utc_and_naive_ones_are_flagged(text, expected, naive):
    out = classify(row(timestamp=text))
    assert isinstance(out, Normalised)
    assert out.doc["timestamp"] == expected
    assert out.doc["timestamp"].utcoffset() == timedelta(0)
    assert out.doc["timestamp_assumed_utc"] is naive
    assert out.doc["expireAt"] == expected + timedelta(days=90)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"image_stats": '{"mean": 101.2, "std"'}, schema.BAD_IMAGE_STATS),
        ({"image_stats": "[1, 2, 3]"}, schema.BAD_IMAGE_STATS),
        ({"image_stats": '{"mean": "n/a"}'}, schema.BAD_IMAGE_STATS),
        ({"image_stats": '{"mean": NaN}'}, schema.BAD_IMAGE_STATS),
        ({"predicted_class": "lymphoma"}, schema.UNKNOWN_CLASS),
        ({"is_correct": 0, "correct_class": "benign"}, schema.UNKNOWN_CLASS),
        ({"predicted_confidence": 1.7}, schema.BAD_CONFIDENCE),
        ({"predicted_confidence": -0.01}, schema.BAD_CONFIDENCE),
        ({"predicted_confidence": "high"}, schema.BAD_CONFIDENCE),
        ({"timestamp": "yesterday"}, schema.BAD_TIMESTAMP),
        ({"timestamp": "26/11/2025 10:00"}, schema.BAD_TIMESTAMP),
        ({"timestamp": None}, schema.NULL_REQUIRED),
        ({"image_path": None}, schema.NULL_REQUIRED),
        ({"image_path": "  "}, schema.NULL_REQUIRED),
        ({"predicted_class": None}, schema.NULL_REQUIRED),
        ({"predicted_confidence": None}, schema.NULL_REQUIRED),
        ({"is_correct": None}, schema.NULL_REQUIRED),
        ({"is_correct": 2}, schema.BAD_IS_CORRECT),
        ({"correct_class": "adenocarcinoma"}, schema.INCONSISTENT),
        ({"duplicate_of": 3}, schema.DUPLICATE),
    ],
)
def test_each_bad_row_kind_is_quarantined_with_its_reason(over, reason):
    bad = row(**over)
    out = classify(bad)
    assert isinstance(out, Rejected)
    assert out.reason == reason
    assert out.doc_id == "sqlite-0000000007"
    rec = out.record()
    assert rec["reason"] == reason and rec["source_id"] == 7 and rec["detail"]
    assert rec["raw"]["id"] == 7  # the raw row travels with the record: nothing is lost
    assert rec["raw"]["image_stats"] == bad.image_stats


def test_all_problems_of_a_row_are_reported_not_only_the_first():
    out = classify(row(predicted_class="benign", predicted_confidence=3.0, image_stats="{"))
    assert isinstance(out, Rejected)
    assert out.reasons == (schema.UNKNOWN_CLASS, schema.BAD_CONFIDENCE, schema.BAD_IMAGE_STATS)
    assert "benign" in out.detail and "3.0" in out.detail


def test_duplicate_detail_names_the_first_occurrence():
    out = classify(row(duplicate_of=3))
    assert isinstance(out, Rejected) and "id 3" in out.detail


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("Adenocarcinoma", "adenocarcinoma"),
        ("large.cell.carcinoma", "large_cell_carcinoma"),
        (" Squamous Cell Carcinoma ", "squamous_cell_carcinoma"),
        ("NORMAL", "normal"),
    ],
)
def test_class_spellings_normalise(spelling, name):
    out = classify(row(predicted_class=spelling, is_correct=0, correct_class=spelling))
    assert isinstance(out, Normalised)
    assert out.doc["predicted_class"] == name and out.doc["correct_class"] == name


def test_null_optional_fields_migrate_as_null():
    out = classify(row(image_stats=None, user_note=None, confidence_rating=None))
    assert isinstance(out, Normalised)
    assert out.doc["image_stats"] is None and out.doc["user_note"] is None


def test_boundary_confidences_are_valid():
    for c in (0, 0.0, 1, 1.0):
        out = classify(row(predicted_confidence=c))
        assert isinstance(out, Normalised) and out.doc["predicted_confidence"] == float(c)


def test_doc_ids_sort_in_id_order_and_carry_the_source_label():
    ids = [schema.doc_id_for(i) for i in (1, 9, 10, 123456)]
    assert ids == sorted(ids)
    assert schema.doc_id_for(5, "prod") == "prod-0000000005"
    with pytest.raises(ValueError, match="10-digit"):
        schema.doc_id_for(10**10)


def test_content_hash_ignores_key_order_and_int_float_spelling_but_not_values():
    a = {"x": 1, "ts": datetime(2025, 1, 1, tzinfo=UTC), "m": {"h": 512, "w": 2.5}}
    b = {"m": {"w": 2.5, "h": 512.0}, "ts": datetime(2025, 1, 1, tzinfo=UTC), "x": 1.0}
    assert schema.content_hash(a) == schema.content_hash(b)
    c = dict(a, m={"h": 512, "w": 2.50001})
    assert schema.content_hash(a) != schema.content_hash(c)
