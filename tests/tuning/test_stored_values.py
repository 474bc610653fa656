"""The day files of aligned values: a round trip keeps every bit, damage is named, days with
different groups assemble as one alignment over the whole window would list them."""

from __future__ import annotations

import numpy as np
import pytest

from ctscan_ops.alerting.shadow.aligned_values import (
    ConditionDay,
    StoredValuesError,
    assemble,
    pack,
    sha256,
    unpack,
)

DAY = 1440


def _day(labels, rows, prefix=0, fp="fp"):
    return ConditionDay(fp, labels, np.array(rows, dtype=float), prefix)


def test_round_trip_is_bit_exact_and_keeps_label_order():
    rng = np.random.default_rng(0)
    vals = rng.normal(size=(2, 3 + DAY)) * 1e-300  # subnormal-adjacent: no rounding allowed
    vals[0, 5:40] = np.nan
    labels = [{"z": "1", "a": "2"}, {"z": "0", "a": "9"}]
    data = pack("2026-11-01", 1.7e9, {"prod/p#0": ConditionDay("abc", labels, vals, 3)})
    again = pack("2026-11-01", 1.7e9, {"prod/p#0": ConditionDay("abc", labels, vals.copy(), 3)})
    assert again == data  # same values, same bytes (and digest in the record)
    got = unpack(data, "x.npz", sha256(data))["prod/p#0"]
    assert got.values.dtype == np.float64
    assert np.array_equal(got.values.view(np.int64), vals.view(np.int64))  # same bits
    assert [list(g) for g in got.labels] == [["z", "a"], ["z", "a"]]  # order as evaluated
    assert got.labels == labels and got.prefix == 3 and got.fingerprint == "abc"


@pytest.mark.parametrize("damage", ["cut", "flip", "digest"])
def test_damaged_file_is_named_never_read(damage):
    data = pack("d", 0.0, {"e/p#0": _day([{}], [np.arange(DAY)])})
    digest = sha256(data)
    if damage == "cut":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:-40] + bytes([data[-40] ^ 0xFF]) + data[-39:]
    else:
        digest = "0" * 64
    with pytest.raises(StoredValuesError, match=r"days/d\.values\.npz"):
        unpack(data, "days/d.values.npz", digest)
    if damage == "cut":  # without the digest the damage is still found
        with pytest.raises(StoredValuesError, match="unreadable"):
            unpack(data, "days/d.values.npz")


def test_assemble_equals_the_whole_window_rows():
    """Brute force: a (groups x ticks) matrix over 3 days, where group b has no series on day
    2 (NaN there) and group c appears on day 3 only, cut into days and re-assembled."""
    rng = np.random.default_rng(1)
    lead = 4
    names = ["a", "b", "c"]
    whole = rng.normal(size=(3, lead + 3 * DAY))
    whole[1, lead + DAY : lead + 2 * DAY] = np.nan
    whole[2, : lead + 2 * DAY] = np.nan
    present = [["a", "b"], ["a"], ["a", "b", "c"]]
    days = []
    for k, names_k in enumerate(present):
        a = max(lead + k * DAY - 10, 0)  # each day stores a 10-tick prefix
        rows = [whole[names.index(n), a : lead + (k + 1) * DAY] for n in names_k]
        if k == 0:  # the whole window starts 4 ticks before day 1: 6 more, unknown here
            rows = [np.concatenate([np.full(6, np.nan), r]) for r in rows]
        days.append(_day([{"g": n} for n in names_k], rows, prefix=10))
    labels, values = assemble(days, lead, DAY)
    assert labels == [{"g": "a"}, {"g": "b"}, {"g": "c"}]
    assert np.array_equal(values, whole, equal_nan=True)
    with pytest.raises(ValueError, match="needs 11 tick"):
        assemble(days, 11, DAY)
