"""One test suite, run against both FeedbackStore backends (SQLite file, Firestore emulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ctscan_ops.feedback import store as st

T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)


class StepClock:
    """Each call returns T0 + n minutes: saves get distinct, known timestamps."""

    def __init__(self):
        self.n = 0

    def __call__(self) -> datetime:
        self.n += 1
        return T0 + timedelta(minutes=self.n)


@pytest.fixture(params=["sqlite", "firestore"])
def store(request, tmp_path):
    clock = StepClock()
    if request.param == "sqlite":
        return st.SqliteFeedbackStore(tmp_path / "feedback" / "feedback.db", clock=clock)
    client = request.getfixturevalue("fs_client")
    return st.FirestoreFeedbackStore(client, clock=clock)


# (predicted, confidence, is_correct, correct_class)
ITEMS = [
    ("normal", 0.95, True, None),
    ("adenocarcinoma", 0.81, True, None),
    ("adenocarcinoma", 0.55, False, "squamous_cell_carcinoma"),
    ("squamous_cell_carcinoma", 0.7, True, None),
    ("normal", 0.6, False, "large_cell_carcinoma"),
    ("adenocarcinoma", 0.99, True, None),
    ("normal", 0.9, True, None),
    ("large_cell_carcinoma", 0.4, False, "adenocarcinoma"),
    ("normal", 0.88, True, None),
    ("adenocarcinoma", 0.77, True, None),
    ("normal", 0.66, True, None),
    ("squamous_cell_carcinoma", 0.51, False, "normal"),
]


def _save_all(store):
    ids = []
    for i, (cls, conf, ok, correct) in enumerate(ITEMS):
        ids.append(
            store.save_feedback(
                image_path=f"feedback/{correct or cls}/img{i}.png",
                predicted_class=cls,
                predicted_confidence=conf,
                is_correct=ok,
                correct_class=correct,
                user_note=None,
                confidence_rating="High",
                image_stats={"mean": 100.0 + i, "height": 512, "width": 512},
            )
        )
    return ids


def test_both_backends_satisfy_the_protocol(store):
    assert isinstance(store, st.FeedbackStore)


def test_empty_store_stats(store):
    s = store.get_stats()
    assert s["total_feedback"] == 0 and s["accuracy"] == 0.0
    assert s["class_distribution"] == {} and s["recent_feedback"] == []
    assert s["incorrect_predictions"] == 0


def test_stats_match_hand_computed_values(store):
    ids = _save_all(store)
    assert len(set(ids)) == len(ITEMS) and all(isinstance(i, str) for i in ids)
    s = store.get_stats()
    # by hand: 12 items, 8 correct
    assert s["total_feedback"] == 12
    assert s["correct_predictions"] == 8 and s["incorrect_predictions"] == 4
    assert s["accuracy"] == pytest.approx(8 / 12)
    assert s["class_distribution"] == {
        "normal": 5,
        "adenocarcinoma": 4,
        "squamous_cell_carcinoma": 2,
        "large_cell_carcinoma": 1,
    }
    recent = s["recent_feedback"]
    assert len(recent) == 10
    # newest first: items 11, 10, ..., 2 saved at T0 + 12 .. T0 + 3 minutes
    assert [r["timestamp"] for r in recent] == [
        (T0 + timedelta(minutes=m)).isoformat() for m in range(12, 2, -1)
    ]
    assert [(r["predicted_class"], r["is_correct"]) for r in recent] == [
        (c, ok) for c, _, ok, _ in reversed(ITEMS[2:])
    ]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"predicted_class": "lymphoma"}, "predicted_class"),
        ({"predicted_confidence": 1.5}, "outside"),
        ({"is_correct": False}, "correct_class is required"),
        ({"is_correct": False, "correct_class": "benign"}, "correct_class"),
        ({"image_path": ""}, "image_path"),
    ],
)
def test_invalid_feedback_is_refused_and_nothing_is_written(store, kw, match):
    args = dict(
        image_path="feedback/normal/x.png",
        predicted_class="normal",
        predicted_confidence=0.9,
        is_correct=True,
    )
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        store.save_feedback(**args)
    assert store.get_stats()["total_feedback"] == 0


def test_class_spelling_is_normalised_on_save(store):
    store.save_feedback(
        image_path="p.png",
        predicted_class="large.cell.carcinoma",
        predicted_confidence=1,
        is_correct=True,
    )
    assert store.get_stats()["class_distribution"] == {"large_cell_carcinoma": 1}


def test_firestore_documents_look_like_migrated_ones(fs_client):
    s = st.FirestoreFeedbackStore(fs_client, clock=lambda: T0)
    doc_id = s.save_feedback(
        image_path="p.png", predicted_class="normal", predicted_confidence=0.5, is_correct=True
    )
    d = fs_client.collection("feedback").document(doc_id).get().to_dict()
    assert d["timestamp"] == T0 and d["expireAt"] == T0 + timedelta(days=90)
    assert d["is_correct"] is True and d["image_stats"] is None


def test_backend_selection_by_configuration(tmp_path, fs_client):
    assert st.backend_from_env({}) == "sqlite"
    assert st.backend_from_env({"USE_FIRESTORE": "1"}) == "firestore"
    assert st.backend_from_env({"CTSCAN_FEEDBACK_BACKEND": "SQLite", "USE_FIRESTORE": "1"}) == (
        "sqlite"
    )
    with pytest.raises(ValueError, match="CTSCAN_FEEDBACK_BACKEND"):
        st.backend_from_env({"CTSCAN_FEEDBACK_BACKEND": "mongo"})
    assert isinstance(
        st.create_feedback_store("sqlite", sqlite_path=tmp_path / "a.db"), st.SqliteFeedbackStore
    )
    assert isinstance(
        st.create_feedback_store("firestore", firestore_client=fs_client),
        st.FirestoreFeedbackStore,
    )
    with pytest.raises(ValueError, match="needs sqlite_path"):
        st.create_feedback_store("sqlite")
