"""Every validation rule on both sides of its boundary (pure; no emulator).

Widening a range (say confidence [0, 1] -> [0, 1.5]) or moving a Firestore limit by one byte
must make one of these fail. Sizes are hand-computed from Firestore's documented formula
("Storage size calculations": string = UTF-8 bytes + 1, name = ids + 16, document = name +
fields + 32); the emulator test (test_firestore_limits.py) checks the same numbers against
Google's emulator.
"""

from __future__ import annotations

import json
import math

import pytest

from ctscan_ops.feedback import firestore_limits as fl
from ctscan_ops.feedback import schema, store
from ctscan_ops.feedback.schema import Normalised, Rejected, SourceRow, classify


def row(**over) -> SourceRow:
    base = dict(
        id=7,
        timestamp="2025-07-01T12:30:00+00:00",
        image_path="feedback/normal/a.png",
        predicted_class="normal",
        predicted_confidence=0.5,
        is_correct=1,
        correct_class=None,
        user_note=None,
        confidence_rating=None,
        image_stats=None,
    )
    base.update(over)
    return SourceRow(**base)


def reasons(**over) -> tuple[str, ...]:
    out = classify(row(**over))
    return () if isinstance(out, Normalised) else out.reasons


# ------------------------------------------------------------------ schema rules
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0.0, True),
        (0, True),
        (1.0, True),
        (1, True),
        (-1e-7, False),
        (-5e-324, False),
        (1.0000001, False),
        (math.nextafter(1.0, 2.0), False),
        (1.5, False),
        (float("nan"), False),
        (float("inf"), False),
        (True, False),
        ("0.5", False),
    ],
)
def test_confidence_range_is_exactly_0_to_1(value, ok):
    assert (reasons(predicted_confidence=value) == ()) is ok
    if not ok:
        assert reasons(predicted_confidence=value) == (schema.BAD_CONFIDENCE,)
        with pytest.raises(ValueError):
            store.validated(
                image_path="a.png",
                predicted_class="normal",
                predicted_confidence=value,
                is_correct=True,
                correct_class=None,
            )


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (1, True), (True, True), (2, False), (-1, False), (0.5, False), ("1", False)],
)
def test_is_correct_is_0_or_1(value, ok):
    over = {"is_correct": value, "correct_class": "normal"}
    assert (reasons(**over) == ()) is ok
    if not ok:
        assert reasons(**over) == (schema.BAD_IS_CORRECT,)


@pytest.mark.parametrize(
    ("path", "ok"), [("a", True), (" a ", True), ("", False), (" ", False), (None, False)]
)
def test_image_path_non_empty(path, ok):
    assert (reasons(image_path=path) == ()) is ok


@pytest.mark.parametrize(
    ("cls", "ok"),
    [
        ("normal", True),
        (" Normal ", True),
        ("large.cell.carcinoma", True),
        ("normals", False),
        ("", False),
        ("norm al", False),
    ],
)
def test_class_names(cls, ok):
    assert (reasons(predicted_class=cls) == ()) is ok


@pytest.mark.parametrize(
    ("ts", "ok"),
    [
        ("2025-07-01", True),
        ("2025-07-01 00:00:00", True),
        ("2025-07-01T00:00:00Z", True),
        ("2025-13-01", False),
        ("", False),
        ("yesterday", False),
        (20250701, False),
    ],
)
def test_timestamps(ts, ok):
    assert (reasons(timestamp=ts) == ()) is ok


def test_correct_class_consistency_both_sides():
    assert reasons(is_correct=1, correct_class="normal") == ()
    assert reasons(is_correct=1, correct_class="adenocarcinoma") == (schema.INCONSISTENT,)
    assert reasons(is_correct=0, correct_class=None) == ()  # nullable in the source
    with pytest.raises(ValueError, match="correct_class is required"):
        store.validated(
            image_path="a.png",
            predicted_class="normal",
            predicted_confidence=0.5,
            is_correct=False,
            correct_class=None,
        )


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        ("{}", None),
        ('{"a": 1e308}', None),
        ('{"a": -1e308}', None),
        ('{"a": 1e309}', schema.BAD_IMAGE_STATS),  # inf after parsing
        ('{"a": NaN}', schema.BAD_IMAGE_STATS),
        ('{"a": true}', schema.BAD_IMAGE_STATS),
        ('{"a": "1"}', schema.BAD_IMAGE_STATS),
        ("[]", schema.BAD_IMAGE_STATS),
        ("{", schema.BAD_IMAGE_STATS),
        (f'{{"a": {2**63 - 1}}}', None),
        (f'{{"a": {2**63}}}', fl.INTEGER_OUT_OF_RANGE),
        (f'{{"a": {-(2**63)}}}', None),
        (f'{{"a": {-(2**63) - 1}}}', fl.INTEGER_OUT_OF_RANGE),
        ('{"a": 100000000000000000000}', fl.INTEGER_OUT_OF_RANGE),
        # field path image_stats.<key>: 11 + 1 + key bytes <= 1500
        (json.dumps({"k" * 1488: 1}), None),
        (json.dumps({"k" * 1489: 1}), fl.FIELD_PATH_TOO_LONG),
        (json.dumps({"é" * 744: 1}), None),  # 1488 bytes in 744 characters
        (json.dumps({"é" * 744 + "k": 1}), fl.FIELD_PATH_TOO_LONG),
        ('{"__x__": 1}', fl.FIELD_NAME_INVALID),
        ('{"___": 1}', None),
        ('{"": 1}', fl.FIELD_NAME_INVALID),
        ('{"\\ud800": 1}', fl.INVALID_UTF8),  # a lone surrogate escaped in JSON
    ],
)
def test_image_stats_rules_and_limits(stats, reason):
    assert reasons(image_stats=stats) == (() if reason is None else (reason,))


# ------------------------------------------------------------------ Firestore limits (pure)
NAME = "feedback/sqlite-0000000001"  # 9 + 18 + 16 = 43 bytes


def test_documented_example_size():
    # the docs' example: users/jeff/tasks/my_task_id with four fields is 147 bytes
    doc = {"type": "Personal", "done": False, "priority": 1, "description": "Learn Cloud Firestore"}
    assert fl.document_size("users/jeff/tasks/my_task_id", doc) == 147


def test_value_and_document_size_boundaries():
    assert fl.document_name_size(NAME) == 43
    at = {"user_note": "a" * fl.MAX_VALUE_BYTES}  # 43 + (10 + 1048488) + 32 = 1048573
    assert fl.check_document(NAME, at) == (1_048_573, [])
    over = {"user_note": "a" * (fl.MAX_VALUE_BYTES + 1)}
    assert [v.kind for v in fl.check_document(NAME, over)[1]] == [fl.VALUE_TOO_LONG]
    # two fields: 43 + 32 + (2 + 500001) + (2 + n + 1) == 1048576  ->  n = 548495
    exact = {"a": "a" * 500_000, "b": "b" * 548_495}
    assert fl.check_document(NAME, exact) == (fl.MAX_DOCUMENT_BYTES, [])
    one_more = {"a": "a" * 500_000, "b": "b" * 548_496}
    assert [v.kind for v in fl.check_document(NAME, one_more)[1]] == [fl.DOCUMENT_TOO_LARGE]
    # bytes count their length (no +1)
    assert fl.check_document(NAME, {"b": b"x" * fl.MAX_VALUE_BYTES})[1] == []
    assert fl.check_document(NAME, {"b": b"x" * (fl.MAX_VALUE_BYTES + 1)})[1][0].kind == (
        fl.VALUE_TOO_LONG
    )


def test_field_name_depth_count_and_array_boundaries():
    def kinds(doc):
        return [v.kind for v in fl.check_document(NAME, doc)[1]]

    assert kinds({"k" * 1500: 1}) == []
    assert kinds({"k" * 1501: 1}) == [fl.FIELD_PATH_TOO_LONG]
    assert kinds({"m": {"k" * 1498: 1}}) == []
    assert kinds({"m": {"k" * 1499: 1}}) == [fl.FIELD_PATH_TOO_LONG]

    def nest(levels):
        d = 1
        for _ in range(levels):
            d = {"a": d}
        return {"x": d}

    assert kinds(nest(fl.MAX_DEPTH)) == []
    assert kinds(nest(fl.MAX_DEPTH + 1)) == [fl.TOO_DEEP]
    assert kinds({"m": {f"k{i}": 1 for i in range(fl.MAX_FIELDS - 1)}}) == []  # + "m" = 20000
    assert kinds({"m": {f"k{i}": 1 for i in range(fl.MAX_FIELDS)}}) == [fl.TOO_MANY_FIELDS]
    assert kinds({"a": [1, {"b": [2]}]}) == []
    assert kinds({"a": [[1]]}) == [fl.NESTED_ARRAY]
    assert kinds({"a": 2**63 - 1, "b": -(2**63)}) == []
    assert kinds({"a": 2**63}) == [fl.INTEGER_OUT_OF_RANGE]
    assert kinds({"a": object()}) == [fl.UNSUPPORTED_TYPE]


def test_skip_switches_one_kind_off():
    doc = {"a": 2**63, "b": "\ud800"}
    assert {v.kind for v in fl.check_document(NAME, doc)[1]} == {
        fl.INTEGER_OUT_OF_RANGE,
        fl.INVALID_UTF8,
    }
    assert [v.kind for v in fl.check_document(NAME, doc, skip={fl.INVALID_UTF8})[1]] == [
        fl.INTEGER_OUT_OF_RANGE
    ]


def test_user_note_document_size_boundary_through_classify():
    empty = classify(row(user_note=""))
    assert isinstance(empty, Normalised)
    room = fl.MAX_DOCUMENT_BYTES - empty.size  # the note may add exactly this many bytes
    assert empty.size == fl.document_size(f"feedback/{empty.doc_id}", empty.doc)
    fits = classify(row(user_note="n" * room))
    assert isinstance(fits, Normalised) and fits.size == fl.MAX_DOCUMENT_BYTES
    too_big = classify(row(user_note="n" * (room + 1)))
    assert isinstance(too_big, Rejected) and too_big.reasons == (fl.DOCUMENT_TOO_LARGE,)
    # the quarantine record of a huge row is itself small and storable
    rec = classify(row(user_note="n" * 3_000_000)).record()
    size, problems = fl.check_document("feedback_quarantine/sqlite-0000000007", rec)
    assert problems == [] and size < 64_000
    assert "cut: 3000000 chars" in rec["raw"]["user_note"]


def test_blob_and_invalid_utf8_text_are_quarantined_never_repr():
    out = classify(row(user_note=b"\xff\x00binary"))
    assert isinstance(out, Rejected) and out.reasons == (schema.BINARY_TEXT,)
    assert "b'" not in out.detail and "BLOB of 8 bytes" in out.detail
    assert out.record()["raw"]["user_note"] == "ff0062696e617279"
    # invalid UTF-8 as the source reader yields it (surrogateescape) -> invalid_utf8
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")
    out = classify(row(user_note=bad))
    assert isinstance(out, Rejected) and out.reasons == (fl.INVALID_UTF8,)
    assert out.record()["raw"]["user_note"] == "caf\\xe9"
    assert fl.check_document("q/x", out.record())[1] == []
    assert isinstance(classify(row(user_note="café")), Normalised)
    # BLOB in a required text column: binary, not also "NULL required"
    assert reasons(image_path=b"x.png") == (schema.BINARY_TEXT,)
