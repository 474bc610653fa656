"""The incident register: ground truth for scoring shadow-mode alert policies.

Two kinds of truth, in one JSON document in the artifact store
(``alerting/incident_register.json``):

* **known incident windows**: "policy X (or incident kind K) should have fired in environment E
  during [start, end)", with severity and source: ``postmortem``, ``p0_incident`` (the P0 log)
  or ``operator_verdict`` (an on-call engineer added it);
* **verdicts** on individual shadow incidents (the evaluator's deterministic incident ids):
  ``true_positive`` / ``false_positive`` with note, who and when. A verdict overrides window
  matching for that incident (an operator knows better than an overlap test).

Concurrency: two operators labelling at once must both be kept. Every change is a
read-modify-write guarded by the GCS object generation (``if_generation_match``; 0 = "must not
exist yet"); on a precondition failure the change is re-applied to the fresh document and
retried, so nothing is lost and nothing is half-written (one object, one upload).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ctscan_ops.alerting.metric_world import INCIDENT_POLICIES

__all__ = [
    "REGISTER_KEY",
    "SEVERITIES",
    "SOURCES",
    "VERDICTS",
    "IncidentRegister",
    "KnownIncident",
    "RegisterConflictError",
    "RegisterError",
    "RegisterStore",
    "Verdict",
    "format_time",
    "parse_time",
]

REGISTER_KEY = "alerting/incident_register.json"
SCHEMA_VERSION = 1
SOURCES = ("postmortem", "p0_incident", "operator_verdict")
VERDICTS = ("true_positive", "false_positive")
SEVERITIES = ("P0", "P1", "P2")
ENVIRONMENTS = ("dev", "staging", "prod")


class RegisterError(ValueError):
    """An invalid register entry or command argument (names the entry and the field)."""


class RegisterConflictError(RuntimeError):
    """Concurrent writers kept winning: the update was retried ``max_attempts`` times."""


def parse_time(value: Any, where: str) -> float:
    """ISO 8601 (naive = UTC, ``Z`` allowed) or epoch seconds -> epoch seconds."""
    if isinstance(value, bool):
        raise RegisterError(f"{where}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RegisterError(
                f"{where}: {value!r} is not ISO 8601 (e.g. 2026-11-20T14:05:00Z) or epoch seconds"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    raise RegisterError(f"{where}: expected a time, got {type(value).__name__}")


def format_time(ts: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with ``Z``."""
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(
        timespec="milliseconds" if ts % 1 else "seconds"
    )
    return text.replace("+00:00", "Z")


def _str(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise RegisterError(f"{where}.{key}: is required")
        return None
    if not isinstance(value, str):
        raise RegisterError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _choice(value: str | None, allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise RegisterError(f"{where}: {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class KnownIncident:
    """A window in which ``policy`` (or any policy catching ``kind``) should have fired."""

    id: str
    environment: str
    severity: str
    start: float
    end: float
    source: str
    policy: str | None = None
    kind: str | None = None
    note: str = ""
    episode: str | None = None

    def __post_init__(self) -> None:
        where = f"window {self.id!r}"
        if not self.id:
            raise RegisterError("window: id is required")
        _choice(self.environment, ENVIRONMENTS, f"{where}.environment")
        _choice(self.severity, SEVERITIES, f"{where}.severity")
        _choice(self.source, SOURCES, f"{where}.source")
        if not self.policy and not self.kind:
            raise RegisterError(f"{where}: needs a policy or an incident kind")
        if self.kind and not self.policy and self.kind not in INCIDENT_POLICIES:
            raise RegisterError(
                f"{where}.kind: unknown incident kind {self.kind!r} "
                f"(known: {', '.join(sorted(INCIDENT_POLICIES))})"
            )
        if not self.end > self.start:
            raise RegisterError(
                f"{where}: end {format_time(self.end)} is not after start {format_time(self.start)}"
            )

    def policies(self) -> tuple[str, ...]:
        """The policies this window is ground truth for."""
        if self.policy:
            return (self.policy,)
        assert self.kind is not None
        return INCIDENT_POLICIES[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "policy": self.policy,
            "kind": self.kind,
            "environment": self.environment,
            "severity": self.severity,
            "start": format_time(self.start),
            "end": format_time(self.end),
            "source": self.source,
            "note": self.note,
            "episode": self.episode,
        }

    @classmethod
    def from_json(cls, raw: Any, where: str) -> KnownIncident:
        if not isinstance(raw, Mapping):
            raise RegisterError(f"{where}: expected an object, got {type(raw).__name__}")
        try:
            return cls(
                id=_str(raw, "id", where) or "",
                environment=_str(raw, "environment", where) or "",
                severity=_str(raw, "severity", where) or "",
                start=parse_time(raw.get("start"), f"{where}.start"),
                end=parse_time(raw.get("end"), f"{where}.end"),
                source=_str(raw, "source", where) or "",
                policy=_str(raw, "policy", where, required=False),
                kind=_str(raw, "kind", where, required=False),
                note=_str(raw, "note", where, required=False) or "",
                episode=_str(raw, "episode", where, required=False),
            )
        except RegisterError as exc:
            msg = str(exc)
            raise RegisterError(msg if msg.startswith(where) else f"{where}: {msg}") from None


@dataclass(frozen=True)
class Verdict:
    """An operator's judgement of one shadow incident."""

    incident_id: str
    verdict: str
    who: str
    when: float
    note: str = ""
    policy: str | None = None

    def __post_init__(self) -> None:
        if not self.incident_id:
            raise RegisterError("verdict: incident id is required")
        _choice(self.verdict, VERDICTS, f"verdict {self.incident_id!r}.verdict")
        if not self.who:
            raise RegisterError(f"verdict {self.incident_id!r}.who: is required")

    @property
    def is_true_positive(self) -> bool:
        return self.verdict == "true_positive"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "who": self.who,
            "when": format_time(self.when),
            "note": self.note,
            "policy": self.policy,
        }

    @classmethod
    def from_json(cls, incident_id: str, raw: Any, where: str) -> Verdict:
        if not isinstance(raw, Mapping):
            raise RegisterError(f"{where}: expected an object, got {type(raw).__name__}")
        try:
            return cls(
                incident_id=incident_id,
                verdict=_str(raw, "verdict", where) or "",
                who=_str(raw, "who", where) or "",
                when=parse_time(raw.get("when"), f"{where}.when"),
                note=_str(raw, "note", where, required=False) or "",
                policy=_str(raw, "policy", where, required=False),
            )
        except RegisterError as exc:
            msg = str(exc)
            raise RegisterError(msg if msg.startswith(where) else f"{where}: {msg}") from None


@dataclass(frozen=True)
class IncidentRegister:
    """Known windows and verdicts (immutable; changes return a new register)."""

    windows: tuple[KnownIncident, ...] = ()
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    updated: float | None = None

    def windows_for(self, policy: str, environment: str | None = None) -> list[tuple[float, float]]:
        """``(start, end)`` windows that are ground truth for ``policy`` (sorted by start)."""
        out = [
            (w.start, w.end)
            for w in self.windows
            if policy in w.policies() and (environment is None or w.environment == environment)
        ]
        return sorted(out)

    def verdict(self, incident_id: str) -> Verdict | None:
        return self.verdicts.get(incident_id)

    def verdict_map(self) -> dict[str, bool]:
        """Incident id -> counted as true (the ``verdicts`` argument of ``quality.score``)."""
        return {k: v.is_true_positive for k, v in self.verdicts.items()}

    def with_window(self, window: KnownIncident) -> IncidentRegister:
        """Add ``window``, replacing a window with the same id."""
        kept = tuple(w for w in self.windows if w.id != window.id)
        return replace(self, windows=(*kept, window))

    def with_verdict(self, verdict: Verdict) -> IncidentRegister:
        """Set the verdict of one incident (the latest verdict wins)."""
        verdicts = dict(self.verdicts)
        verdicts[verdict.incident_id] = verdict
        return replace(self, verdicts=verdicts)

    def to_json(self) -> dict[str, Any]:
        windows = sorted(self.windows, key=lambda w: (w.start, w.environment, w.id))
        return {
            "schema_version": SCHEMA_VERSION,
            "updated": None if self.updated is None else format_time(self.updated),
            "windows": [w.to_json() for w in windows],
            "verdicts": {k: self.verdicts[k].to_json() for k in sorted(self.verdicts)},
        }

    @classmethod
    def from_json(cls, doc: Any, source: str = "incident register") -> IncidentRegister:
        """Parse and validate; every error names the entry (index or incident id) and field."""
        if not isinstance(doc, Mapping):
            raise RegisterError(f"{source}: expected a JSON object, got {type(doc).__name__}")
        version = doc.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise RegisterError(
                f"{source}.schema_version: {version!r} is not supported (expected {SCHEMA_VERSION})"
            )
        raw_windows = doc.get("windows", [])
        if not isinstance(raw_windows, list):
            raise RegisterError(f"{source}.windows: expected a list")
        windows = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_windows):
            w = KnownIncident.from_json(raw, f"{source}.windows[{i}]")
            if w.id in seen:
                raise RegisterError(f"{source}.windows[{i}].id: duplicate id {w.id!r}")
            seen.add(w.id)
            windows.append(w)
        raw_verdicts = doc.get("verdicts", {})
        if not isinstance(raw_verdicts, Mapping):
            raise RegisterError(f"{source}.verdicts: expected an object keyed by incident id")
        verdicts = {
            k: Verdict.from_json(k, v, f"{source}.verdicts[{k!r}]") for k, v in raw_verdicts.items()
        }
        updated = doc.get("updated")
        return cls(
            windows=tuple(windows),
            verdicts=verdicts,
            updated=None if updated is None else parse_time(updated, f"{source}.updated"),
        )


def _is_precondition_failure(exc: BaseException) -> bool:
    from google.api_core import exceptions as gexc

    return isinstance(exc, gexc.PreconditionFailed)


class RegisterStore:
    """The register in the artifact store, with generation-guarded updates."""

    def __init__(self, artifact_store: Any, key: str = REGISTER_KEY) -> None:
        self.artifacts = artifact_store
        self.key = key

    def _blob_name(self) -> tuple[str, str]:
        uri = self.artifacts.uri(self.key)  # gs://bucket/name
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        return bucket, name

    def _bucket(self):
        bucket, _ = self._blob_name()
        return self.artifacts.client().bucket(bucket)

    def load_with_generation(self) -> tuple[IncidentRegister, int]:
        """The register and the generation it was read at (0: no register yet)."""
        _, name = self._blob_name()
        blob = self._bucket().get_blob(name)
        if blob is None:
            return IncidentRegister(), 0
        generation = int(blob.generation)
        data = blob.download_as_bytes(if_generation_match=generation)
        try:
            doc = json.loads(data)
        except json.JSONDecodeError as exc:
            raise RegisterError(
                f"{self.artifacts.uri(self.key)}: not JSON (line {exc.lineno}): {exc.msg}"
            ) from None
        return IncidentRegister.from_json(doc, self.artifacts.uri(self.key)), generation

    def load(self) -> IncidentRegister:
        return self.load_with_generation()[0]

    def update(
        self,
        change: Callable[[IncidentRegister], IncidentRegister],
        *,
        max_attempts: int = 12,
        now: Callable[[], float] = time.time,
    ) -> IncidentRegister:
        """Apply ``change`` atomically: re-read and re-apply on a concurrent write."""

        def attempt() -> tuple[IncidentRegister, int]:
            current, generation = self.load_with_generation()
            return replace(change(current), updated=now()), generation

        return self._write_guarded(attempt, max_attempts)

    def replace_all(
        self, register: IncidentRegister, *, now: Callable[[], float] = time.time
    ) -> IncidentRegister:
        """Overwrite the register (world generation) without reading it, so a damaged document
        is replaced rather than blocking; still generation-guarded against a concurrent write."""
        _, name = self._blob_name()

        def attempt() -> tuple[IncidentRegister, int]:
            blob = self._bucket().get_blob(name)
            return replace(register, updated=now()), 0 if blob is None else int(blob.generation)

        return self._write_guarded(attempt, 12)

    def _write_guarded(
        self, attempt: Callable[[], tuple[IncidentRegister, int]], max_attempts: int
    ) -> IncidentRegister:
        _, name = self._blob_name()
        delay = 0.02
        for _attempt in range(max_attempts):
            new, generation = attempt()
            payload = json.dumps(new.to_json(), indent=2, sort_keys=True).encode()
            blob = self._bucket().blob(name)
            try:
                blob.upload_from_string(
                    payload, content_type="application/json", if_generation_match=generation
                )
            except Exception as exc:
                if not _is_precondition_failure(exc):
                    raise
                time.sleep(delay * (1.0 + random.random()))
                delay = min(delay * 2, 0.5)
                continue
            return new
        raise RegisterConflictError(
            f"{self.artifacts.uri(self.key)}: gave up after {max_attempts} concurrent-write "
            "conflicts; retry the command"
        )

    def add_window(self, window: KnownIncident) -> IncidentRegister:
        return self.update(lambda reg: reg.with_window(window))

    def set_verdict(self, verdict: Verdict) -> IncidentRegister:
        return self.update(lambda reg: reg.with_verdict(verdict))
