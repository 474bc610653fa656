"""Aligned condition values of one shadow day, stored next to its record (no Dagster, no I/O).

``shadow_incidents`` aligns every condition of every policy x environment each day; the
threshold-tuning report needs exactly those values (groups x ticks) over all the days. Storing
them per day lets the report read them instead of fetching and aligning the whole window again.

One file per day (``numpy`` ``.npz``, float64: the sweeps must see the very same numbers):
a JSON manifest (per ``policy key/condition index``: fingerprint, group labels, array name,
prefix ticks) and one ``(groups, prefix + day ticks)`` array per condition. The prefix holds the
ticks before the day a condition's retest window needs (its duration), so the report's first
day evaluates exactly as a whole-window evaluation with warm-up would.

A value at tick ``t`` depends only on the points of ``(t - P, t]`` (and the other series at
``t``), so values sliced from the shadow evaluation's grid equal those of any other grid on the
same 60 s lattice, as long as the alignment adds a window's points in a fixed order (the
evaluator's left-to-right sums for windows up to 16 points, order statistics, extrema);
``tests/alerting_speed`` compares the stored values with a whole-window alignment.

The fingerprint holds everything that decides the values: filters, aggregations (aligner,
period, reducer, group-by), denominator, tick step, this file format and
:data:`ALIGN_VERSION` (bump it when the evaluator's alignment changes what it computes).
Thresholds, durations and comparisons are not in it: changing them keeps the values valid.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import Condition

#: version of the file layout below
FORMAT = 1
#: version of what the evaluator's alignment computes (bump on a semantic change there).
#: 2: compiled window kernels (windows wider than 16 points sum by a running sum, recomputed
#: every window length, instead of prefix differences: last bits may differ from version 1)
ALIGN_VERSION = 2
TICK_S = 60


class StoredValuesError(ValueError):
    """A stored values file that cannot be read as written (names the file and the problem)."""


def condition_fingerprint(cond: Condition, tick_s: int = TICK_S) -> str:
    """Hash of what determines a condition's aligned values (see the module docstring)."""
    ident = {
        "format": FORMAT,
        "align_version": ALIGN_VERSION,
        "tick_s": tick_s,
        "filter": cond.filter,
        "aggregations": [a.to_dict() for a in cond.aggregations],
        "denominator_filter": cond.denominator_filter,
        "denominator_aggregations": [a.to_dict() for a in cond.denominator_aggregations],
    }
    canonical = json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:20]


def entry_key(pair: str, condition: int) -> str:
    """``environment/policy#condition``: one entry of a day's file."""
    return f"{pair}#{condition}"


@dataclass(frozen=True)
class ConditionDay:
    """One condition's aligned values on one day: ``values[:, :prefix]`` are the ticks before
    the day (``prefix`` of them), ``values[:, prefix:]`` the day's ticks."""

    fingerprint: str
    labels: list[dict[str, str]]
    values: np.ndarray  # (groups, prefix + day ticks), float64
    prefix: int


def pack(day: str, day_start: float, entries: Mapping[str, ConditionDay]) -> bytes:
    """The ``.npz`` bytes of a day's values (uncompressed: the report reads it on its path)."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "day": day,
        "day_start": day_start,
        "tick_s": TICK_S,
        "entries": {},
    }
    arrays: dict[str, np.ndarray] = {}
    for i, (key, e) in enumerate(sorted(entries.items())):
        vals = np.ascontiguousarray(e.values, dtype=np.float64)
        if vals.ndim != 2 or vals.shape[0] != len(e.labels):
            raise ValueError(f"{day} {key}: values {vals.shape} for {len(e.labels)} group(s)")
        name = f"v{i}"
        arrays[name] = vals
        manifest["entries"][key] = {
            "fingerprint": e.fingerprint,
            "labels": e.labels,
            "array": name,
            "prefix": int(e.prefix),
        }
    # keys unsorted: a group's labels keep the evaluator's order (group-by fields)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    return _npz(arrays)


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``np.savez`` with fixed member timestamps: the same values give the same bytes (and
    digest), whenever the day is re-evaluated."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unpack(data: bytes, where: str, expected_sha256: str | None = None) -> dict[str, ConditionDay]:
    """Entries of a day's file; :class:`StoredValuesError` naming ``where`` if it is not intact.

    ``expected_sha256``: the digest the day's record holds (a file replaced or cut short after
    the record was written does not match it).
    """
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise StoredValuesError(f"{where}: content does not match the sha256 its record holds")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            manifest = json.loads(bytes(z["manifest"]).decode())
            if manifest.get("format") != FORMAT:
                raise StoredValuesError(
                    f"{where}: format {manifest.get('format')!r}, this code reads {FORMAT}"
                )
            out = {}
            for key, m in manifest["entries"].items():
                vals = z[m["array"]]
                if vals.dtype != np.float64 or vals.ndim != 2 or vals.shape[0] != len(m["labels"]):
                    raise StoredValuesError(
                        f"{where}: entry {key}: array {vals.dtype} {vals.shape} for "
                        f"{len(m['labels'])} group(s)"
                    )
                out[key] = ConditionDay(m["fingerprint"], m["labels"], vals, int(m["prefix"]))
            return out
    except StoredValuesError:
        raise
    except Exception as exc:  # zip/npy/json damage: say which file and what
        raise StoredValuesError(f"{where}: unreadable ({type(exc).__name__}: {exc})") from exc


def label_order(labels: Mapping[str, str]) -> tuple[Any, ...]:
    """Sort key of a group: its label values in their order (the evaluator's group-by order),
    then the items (series without reduction)."""
    return (tuple(labels.values()), tuple(sorted(labels.items())))


def assemble(
    days: Sequence[ConditionDay], lead: int, day_ticks: int
) -> tuple[list[dict[str, str]], np.ndarray]:
    """Groups and ``(groups, lead + days x day_ticks)`` values over consecutive days.

    ``lead``: ticks before the first day (from its prefix). A group absent on a day (no series
    of it was read that day) has no value there (NaN), as in a whole-window alignment. Groups
    are ordered as every day lists them when they agree, else by :func:`label_order`.
    """
    first = days[0]
    if lead > first.prefix:
        raise ValueError(f"needs {lead} tick(s) before the first day, {first.prefix} stored")
    label_lists = [[json.dumps(g, sort_keys=False) for g in d.labels] for d in days]
    if all(lst == label_lists[0] for lst in label_lists[1:]):
        order = label_lists[0]
    else:
        seen: dict[str, dict[str, str]] = {}
        for d, lst in zip(days, label_lists, strict=True):
            for g, s in zip(d.labels, lst, strict=True):
                seen.setdefault(s, g)
        order = sorted(seen, key=lambda s: label_order(seen[s]))
    row = {s: i for i, s in enumerate(order)}
    out = np.full((len(order), lead + len(days) * day_ticks), np.nan)
    col = 0
    for k, (d, lst) in enumerate(zip(days, label_lists, strict=True)):
        a = d.prefix - (lead if k == 0 else 0)
        part = d.values[:, a : d.prefix + day_ticks]
        if part.shape[1] != (lead if k == 0 else 0) + day_ticks:
            raise ValueError(f"a stored day has {d.values.shape[1] - d.prefix} ticks")
        idx = [row[s] for s in lst]
        out[idx, col : col + part.shape[1]] = part
        col += part.shape[1]
    return [json.loads(s) for s in order], out


def prefix_ticks(policy: Any, tick_s: int = TICK_S) -> int:
    """Ticks before a day a report needs for the first day's retest windows (longest duration)."""
    return max((-(-int(c.duration_s) // tick_s) for c in policy.conditions), default=0)


def day_entries(
    policy: Any, result: Any, day_start: float, tick_s: int = TICK_S
) -> dict[str, ConditionDay]:
    """The day's slice (with its prefix) of each condition's values in a shadow evaluation
    (``result``: :class:`~ctscan_ops.alerting.engine.evaluator.EvaluationResult` on a grid that
    covers ``[day_start - prefix, day_start + 1 day)``)."""
    n_day = 86400 // tick_s
    prefix = prefix_ticks(policy, tick_s)
    ticks = np.asarray(result.ticks, dtype=float)
    first = day_start - prefix * tick_s
    i0 = int(np.searchsorted(ticks, first))
    if i0 >= ticks.size or ticks[i0] != first or i0 + prefix + n_day > ticks.size:
        raise ValueError(
            f"{policy.name}: evaluation grid does not cover the day starting {day_start}"
        )
    pair = f"{policy.environment}/{policy.name}"
    # a combined (AND) result keeps each condition's own values in ``per_condition``
    conds = getattr(result, "per_condition", None) or result.conditions
    if len(conds) != len(policy.conditions):
        raise ValueError(f"{policy.name}: {len(conds)} evaluated condition(s)")
    out = {}
    for ci, c in enumerate(conds):
        out[entry_key(pair, ci)] = ConditionDay(
            condition_fingerprint(policy.conditions[ci], tick_s),
            [dict(g) for g in c.groups],
            np.array(c.values[:, i0 : i0 + prefix + n_day], dtype=np.float64),
            prefix,
        )
    return out
