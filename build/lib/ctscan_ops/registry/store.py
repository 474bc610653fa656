"""Model registry store on GCS: content-addressed checkpoints, versions, aliases with CAS.

Why this shape: the original project "promoted" by copying a file to a path the API did not
serve, with no record of what moved or why. Here every object has one writer rule:

* ``checkpoints/sha256/<sha>.pt``   content-addressed, created once (``if_generation_match=0``);
  identical bytes are stored once whatever the number of versions pointing at them.
* ``by_sha/<sha>.json``              registration claim; holds the full version record, so
  registering the same bytes twice returns the same version (idempotent, race-safe).
* ``versions/<version_id>.json``     immutable version record; ids sort by time.
* ``aliases/<alias>.json``           the current move record of an alias. Moved only by
  compare-and-swap on the object generation (``if_generation_match``), so two concurrent
  promotions cannot both win.
* ``alias_history/<alias>/<seq>.json`` one immutable object per move (created with
  ``if_generation_match=0``); an exact copy of the alias record at that ``seq``. The alias
  object is the linearisation point; if a writer dies between the CAS and the history write,
  the next reader/mover re-creates the missing entry from the alias object (never half-written).

Loading verifies size and sha256 *before* unpickling and then uses
``torch.load(weights_only=True)``; torch is imported lazily.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc

ALIASES = ("champion", "challenger")
DEFAULT_MODEL_NAME = "ct_scan_classifier"
DEFAULT_PREFIX = "registry"
_VERSION_RE = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class RegistryError(Exception):
    """Base class of every registry failure (the CLI turns these into exit code 2)."""


class UnknownVersionError(RegistryError, KeyError):
    """A version id (or alias) names nothing in the registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown version"


class ChecksumMismatchError(RegistryError):
    """Checkpoint bytes in the bucket do not hash to the sha256 in the version record."""


class UnsafeCheckpointError(RegistryError):
    """The checkpoint pickle needs more than tensors/containers (weights_only refused it)."""


class PreconditionLostError(RegistryError):
    """A compare-and-swap lost: somebody else moved the alias since it was read."""


class RegistryCorruptError(RegistryError):
    """A registry object is missing or malformed where the protocol guarantees one."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of checkpoint bytes: the content address."""
    return hashlib.sha256(data).hexdigest()


def make_version_id(created_at: datetime, sha256: str) -> str:
    """``YYYYMMDDTHHMMSS-<sha8>``: lexicographic order == time order, sha8 disambiguates."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware (UTC)")
    return f"{created_at.astimezone(UTC):%Y%m%dT%H%M%S}-{sha256[:8]}"


def state_dict_to_bytes(state_dict: Mapping[str, Any]) -> bytes:
    """Serialise a state_dict with torch.save (deterministic for equal tensors: dedupe works)."""
    import torch

    buf = io.BytesIO()
    torch.save(dict(state_dict), buf)
    return buf.getvalue()


def load_checkpoint_bytes(data: bytes, *, where: str) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with a clear error naming ``where`` on unsafe pickles.

    Only torch's zip format is accepted (what ``torch.save`` has written since 1.6 and what the
    registry stores); the reason torch gives is kept, its advice to retry unsafely is not.
    """
    import pickle

    import torch

    if not data.startswith(b"PK\x03\x04"):
        raise UnsafeCheckpointError(
            f"checkpoint {where} is not a readable torch file (no zip header); refusing to load"
        )
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), lines[-1:])
        raise UnsafeCheckpointError(
            f"refusing checkpoint {where}: its pickle needs more than tensors and containers "
            f"(torch.load weights_only=True refused it): {''.join(why)}"
        ) from exc
    except (RuntimeError, EOFError, ValueError) as exc:
        raise UnsafeCheckpointError(
            f"checkpoint {where} is not a readable torch file: {exc}"
        ) from exc
    if not isinstance(state, dict):
        raise UnsafeCheckpointError(
            f"checkpoint {where} holds a {type(state).__name__}, not a state_dict"
        )
    return state


@dataclasses.dataclass(frozen=True)
class VersionRecord:
    """Immutable description of one registered checkpoint."""

    name: str
    version: str
    sha256: str
    size: int
    architecture: str
    parameters: dict[str, Any]
    training: dict[str, Any]
    source: str
    created_at: str
    checkpoint_key: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], *, where: str) -> VersionRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = fields - set(obj)
        if missing:
            raise RegistryCorruptError(f"version record {where} lacks fields {sorted(missing)}")
        return cls(**{k: obj[k] for k in fields})


@dataclasses.dataclass(frozen=True)
class AliasRecord:
    """One alias move. The alias object holds the latest; history holds every one."""

    alias: str
    version: str
    sha256: str
    seq: int
    previous_version: str | None
    moved_at: str
    reason: str
    actor: str
    move_id: str
    evidence: dict[str, Any]
    generation: int | None = None  # GCS generation of the alias object (not stored)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("generation")
        return out

    @classmethod
    def from_json(
        cls, obj: Mapping[str, Any], *, where: str, generation: int | None = None
    ) -> AliasRecord:
        fields = {f.name for f in dataclasses.fields(cls)} - {"generation"}
        missing = fields - set(obj)
        if missing:
            raise RegistryCorruptError(f"alias record {where} lacks fields {sorted(missing)}")
        return cls(**{k: obj[k] for k in fields}, generation=generation)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryStore:
    """The registry for one model name in one bucket.

    Args:
        client: a ``google.cloud.storage.Client`` (real GCS or the emulator).
        bucket: bucket name (the models bucket).
        model_name: registered model name; objects live under ``<prefix>/<model_name>/``.
        clock: injectable "now" so the sandbox world can register versions at world time.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", model_name):
            raise ValueError(f"model_name {model_name!r}: use lowercase letters, digits, _ . -")
        self.client = client
        self.bucket_name = bucket
        self.bucket = client.bucket(bucket)
        self.model_name = model_name
        self.root = f"{prefix.strip('/')}/{model_name}"
        self.clock = clock

    # ---------------------------------------------------------------- keys and uris
    def checkpoint_key(self, sha256: str) -> str:
        return f"{self.root}/checkpoints/sha256/{sha256}.pt"

    def version_key(self, version: str) -> str:
        return f"{self.root}/versions/{version}.json"

    def by_sha_key(self, sha256: str) -> str:
        return f"{self.root}/by_sha/{sha256}.json"

    def alias_key(self, alias: str) -> str:
        return f"{self.root}/aliases/{alias}.json"

    def history_key(self, alias: str, seq: int) -> str:
        return f"{self.root}/alias_history/{alias}/{seq:010d}.json"

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{key}"

    # ---------------------------------------------------------------- low-level io
    def _get_json(self, key: str) -> tuple[dict[str, Any], int] | None:
        """Read a JSON object with its generation, or None if absent."""
        blob = self.bucket.get_blob(key)
        if blob is None:
            return None
        try:
            raw = blob.download_as_bytes(if_generation_match=blob.generation)
        except gexc.PreconditionFailed:  # changed between metadata and body: re-read once
            blob = self.bucket.get_blob(key)
            if blob is None:
                return None
            raw = blob.download_as_bytes(if_generation_match=blob.generation)
        except gexc.NotFound:
            return None
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RegistryCorruptError(f"{self.uri(key)} is not valid JSON: {exc}") from exc
        return obj, int(blob.generation)

    def _create_json(self, key: str, obj: Mapping[str, Any]) -> bool:
        """Create ``key`` only if absent. Returns False if it already existed (412)."""
        data = json.dumps(obj, sort_keys=True, indent=1).encode()
        try:
            self.bucket.blob(key).upload_from_string(
                data, content_type="application/json", if_generation_match=0
            )
        except gexc.PreconditionFailed:
            return False
        return True

    # ---------------------------------------------------------------- versions
    def register(
        self,
        checkpoint: bytes | Mapping[str, Any],
        *,
        architecture: str,
        parameters: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        source: str = "",
        created_at: datetime | None = None,
    ) -> VersionRecord:
        """Store a checkpoint (bytes or a state_dict) and return its version record.

        Idempotent by content: the same bytes registered twice (even concurrently) yield the
        same version record and one stored object.
        """
        data = checkpoint if isinstance(checkpoint, bytes) else state_dict_to_bytes(checkpoint)
        sha = sha256_hex(data)
        existing = self._get_json(self.by_sha_key(sha))
        if existing is not None:
            return self._complete_registration(existing[0], sha)
        created = created_at or self.clock()
        version = make_version_id(created, sha)
        ckpt_key = self.checkpoint_key(sha)
        if self.bucket.get_blob(ckpt_key) is None:
            # 412 = a concurrent registration stored the same bytes first: content-addressed
            with contextlib.suppress(gexc.PreconditionFailed):
                self.bucket.blob(ckpt_key).upload_from_string(
                    data, content_type="application/octet-stream", if_generation_match=0
                )
        record = VersionRecord(
            name=self.model_name,
            version=version,
            sha256=sha,
            size=len(data),
            architecture=architecture,
            parameters=dict(parameters or {}),
            training=dict(training or {}),
            source=source,
            created_at=created.astimezone(UTC).isoformat(),
            checkpoint_key=ckpt_key,
        )
        if not self._create_json(self.by_sha_key(sha), record.to_json()):
            winner = self._get_json(self.by_sha_key(sha))
            if winner is None:
                raise RegistryCorruptError(f"{self.uri(self.by_sha_key(sha))} vanished")
            return self._complete_registration(winner[0], sha)
        return self._complete_registration(record.to_json(), sha)

    def _complete_registration(self, claim: Mapping[str, Any], sha: str) -> VersionRecord:
        """Make sure the version record named by a by_sha claim exists (repairs a crash)."""
        record = VersionRecord.from_json(claim, where=self.uri(self.by_sha_key(sha)))
        self._create_json(self.version_key(record.version), record.to_json())
        return record

    def get_version(self, version: str) -> VersionRecord:
        """The version record, or UnknownVersionError naming the version and the bucket."""
        if not _VERSION_RE.match(version):
            raise UnknownVersionError(
                f"unknown version {version!r} in {self.uri(self.root)}: "
                "version ids look like 20261126T093012-1a2b3c4d"
            )
        got = self._get_json(self.version_key(version))
        if got is None:
            raise UnknownVersionError(f"unknown version {version!r} in {self.uri(self.root)}")
        return VersionRecord.from_json(got[0], where=self.uri(self.version_key(version)))

    def find_by_sha(self, sha256: str) -> VersionRecord | None:
        """The version registered for these checkpoint bytes, if any."""
        if not _SHA_RE.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        got = self._get_json(self.by_sha_key(sha256))
        return None if got is None else self._complete_registration(got[0], sha256)

    def list_version_ids(self) -> list[str]:
        """All version ids, oldest first (ids sort by time)."""
        prefix = f"{self.root}/versions/"
        ids = [
            b.name[len(prefix) : -len(".json")]
            for b in self.client.list_blobs(self.bucket_name, prefix=prefix)
            if b.name.endswith(".json")
        ]
        return sorted(ids)

    def list_versions(self) -> list[VersionRecord]:
        return [self.get_version(v) for v in self.list_version_ids()]

    def resolve(self, ref: str) -> VersionRecord:
        """A version id or an alias name (``champion``/``challenger``) -> version record."""
        if ref in ALIASES:
            rec = self.get_alias(ref)
            if rec is None:
                raise UnknownVersionError(f"alias {ref!r} is not set in {self.uri(self.root)}")
            return self.get_version(rec.version)
        return self.get_version(ref)

    # ---------------------------------------------------------------- evaluations
    def evaluation_key(self, version: str) -> str:
        return f"{self.root}/evaluations/{version}.json"

    def put_evaluation(self, version: str, report: Mapping[str, Any]) -> str:
        """Store the held-out evaluation of a version (latest wins); returns its gs:// URI."""
        self.get_version(version)
        key = self.evaluation_key(version)
        data = json.dumps(dict(report), sort_keys=True, indent=1, default=float).encode()
        self.bucket.blob(key).upload_from_string(data, content_type="application/json")
        return self.uri(key)

    def get_evaluation(self, version: str) -> dict[str, Any] | None:
        """The stored evaluation report of a version, or None if it was never evaluated."""
        got = self._get_json(self.evaluation_key(version))
        return None if got is None else got[0]

    # ---------------------------------------------------------------- refusals
    def record_refusal(self, champion: str, challenger: str, decision: Mapping[str, Any]) -> bool:
        """Record (once, immutably) that ``challenger`` was refused against ``champion``."""
        key = f"{self.root}/refusals/{champion}/{challenger}.json"
        body = {
            "champion": champion,
            "challenger": challenger,
            "at": self.clock().astimezone(UTC).isoformat(),
            **dict(decision),
        }
        return self._create_json(key, body)

    def refused_against(self, champion: str) -> set[str]:
        """Versions already refused against ``champion`` (not proposed again)."""
        prefix = f"{self.root}/refusals/{champion}/"
        return {
            b.name[len(prefix) : -len(".json")]
            for b in self.client.list_blobs(self.bucket_name, prefix=prefix)
        }

    # ---------------------------------------------------------------- checkpoints
    def read_checkpoint_bytes(self, ref: str) -> tuple[VersionRecord, bytes]:
        """Checkpoint bytes of a version/alias, verified against size and sha256."""
        record = self.resolve(ref)
        blob = self.bucket.get_blob(record.checkpoint_key)
        if blob is None:
            raise RegistryCorruptError(
                f"checkpoint {self.uri(record.checkpoint_key)} of version {record.version} "
                "is missing"
            )
        data = blob.download_as_bytes()
        got = sha256_hex(data)
        if len(data) != record.size or got != record.sha256:
            raise ChecksumMismatchError(
                f"checksum mismatch for version {record.version} at "
                f"{self.uri(record.checkpoint_key)}: expected sha256 {record.sha256} "
                f"({record.size} bytes), got {got} ({len(data)} bytes); refusing to load"
            )
        return record, data

    def load_state_dict(self, ref: str) -> tuple[VersionRecord, dict[str, Any]]:
        """Verified, weights-only load of a version's state_dict."""
        record, data = self.read_checkpoint_bytes(ref)
        where = f"{self.uri(record.checkpoint_key)} (version {record.version})"
        return record, load_checkpoint_bytes(data, where=where)

    def load_model(self, ref: str) -> tuple[VersionRecord, Any]:
        """Build the recorded architecture and load the verified weights into it (eval mode)."""
        from ctscan_ops.registry.models import build_model

        record, state = self.load_state_dict(ref)
        model = build_model(record.architecture, **record.parameters)
        model.load_state_dict(state)
        model.eval()
        return record, model

    def serving_checkpoint_uri(self) -> str:
        """gs:// URI of the checkpoint the API must serve: derived from the champion alias."""
        rec = self.get_alias("champion")
        if rec is None:
            raise UnknownVersionError(
                f"no champion in {self.uri(self.root)}: nothing to serve (promote a version)"
            )
        return self.uri(self.checkpoint_key(rec.sha256))

    # ---------------------------------------------------------------- aliases
    def _check_alias(self, alias: str) -> None:
        if alias not in ALIASES:
            raise ValueError(f"unknown alias {alias!r}; aliases are {', '.join(ALIASES)}")

    def get_alias(self, alias: str) -> AliasRecord | None:
        """Current record of an alias (with its generation), or None if never set."""
        self._check_alias(alias)
        got = self._get_json(self.alias_key(alias))
        if got is None:
            return None
        obj, gen = got
        return AliasRecord.from_json(obj, where=self.uri(self.alias_key(alias)), generation=gen)

    def _ensure_history(self, rec: AliasRecord) -> None:
        """Re-create the history entry of the current move if its writer died after the CAS."""
        self._create_json(self.history_key(rec.alias, rec.seq), rec.to_json())

    def set_alias(
        self,
        alias: str,
        version: str,
        *,
        expected_generation: int | None,
        reason: str,
        actor: str = "ctscan-ops",
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasRecord:
        """Move ``alias`` to ``version`` iff the alias object still has ``expected_generation``.

        ``expected_generation=None`` means "the alias must not exist yet". Raises
        PreconditionLostError when another writer moved it first (re-read and decide again).
        """
        self._check_alias(alias)
        record = self.get_version(version)
        current = self.get_alias(alias)
        cur_gen = None if current is None else current.generation
        if cur_gen != expected_generation:
            raise PreconditionLostError(_lost_msg(alias, expected_generation, current))
        if current is not None:
            self._ensure_history(current)
        new = AliasRecord(
            alias=alias,
            version=record.version,
            sha256=record.sha256,
            seq=(current.seq + 1) if current else 1,
            previous_version=current.version if current else None,
            moved_at=self.clock().astimezone(UTC).isoformat(),
            reason=reason,
            actor=actor,
            move_id=uuid.uuid4().hex,
            evidence=dict(evidence or {}),
        )
        data = json.dumps(new.to_json(), sort_keys=True, indent=1).encode()
        blob = self.bucket.blob(self.alias_key(alias))
        try:
            blob.upload_from_string(
                data,
                content_type="application/json",
                if_generation_match=0 if expected_generation is None else expected_generation,
            )
        except gexc.PreconditionFailed as exc:
            now = self.get_alias(alias)
            if now is not None and now.move_id == new.move_id:  # our write landed; retry echoed
                return now
            raise PreconditionLostError(_lost_msg(alias, expected_generation, now)) from exc
        self._create_json(self.history_key(alias, new.seq), new.to_json())
        return dataclasses.replace(new, generation=int(blob.generation))

    def promote(
        self,
        version: str,
        *,
        alias: str = "champion",
        reason: str = "promote",
        actor: str = "ctscan-ops",
        evidence: Mapping[str, Any] | None = None,
        expected_generation: int | object | None = ...,
    ) -> AliasRecord:
        """Move an alias to ``version``; reads the current generation unless one is given."""
        if expected_generation is ...:
            cur = self.get_alias(alias)
            expected_generation = None if cur is None else cur.generation
        return self.set_alias(
            alias,
            version,
            expected_generation=expected_generation,  # type: ignore[arg-type]
            reason=reason,
            actor=actor,
            evidence=evidence,
        )

    def rollback(
        self, *, alias: str = "champion", actor: str = "ctscan-ops", reason: str = "rollback"
    ) -> AliasRecord:
        """One step back: move the alias to the version it pointed at before its last move."""
        cur = self.get_alias(alias)
        if cur is None:
            raise UnknownVersionError(f"alias {alias!r} is not set: nothing to roll back")
        if cur.previous_version is None:
            raise RegistryError(
                f"alias {alias!r} has no previous version (only one move, to {cur.version})"
            )
        return self.set_alias(
            alias,
            cur.previous_version,
            expected_generation=cur.generation,
            reason=reason,
            actor=actor,
            evidence={"rolled_back_from": cur.version, "rolled_back_seq": cur.seq},
        )

    def alias_history(self, alias: str) -> list[AliasRecord]:
        """Every move of ``alias``, oldest first (repairs a missing newest entry first)."""
        cur = self.get_alias(alias)
        if cur is not None:
            self._ensure_history(cur)
        prefix = f"{self.root}/alias_history/{alias}/"
        out = []
        for blob in self.client.list_blobs(self.bucket_name, prefix=prefix):
            got = self._get_json(blob.name)
            if got is not None:
                out.append(AliasRecord.from_json(got[0], where=self.uri(blob.name)))
        return sorted(out, key=lambda r: r.seq)


def _lost_msg(alias: str, expected: int | None, now: AliasRecord | None) -> str:
    where = "absent" if now is None else f"at version {now.version} (seq {now.seq})"
    return (
        f"precondition lost: alias {alias!r} changed concurrently (expected generation "
        f"{expected}, it is now {where}); re-read the alias and decide again"
    )
