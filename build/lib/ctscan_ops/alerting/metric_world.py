"""Cloud Run-like metric series with labelled incidents: the sandbox's production history.

Pure numpy, deterministic: every value is a function of ``(base_seed, service, day)``, so any
sub-range generated later (the live feeder continuing the world) is identical to the same range
generated in one go, and adding a service never changes the others.

What is modelled, per service (``ct-scan-api`` in prod, ``ct-scan-api-staging`` with a smaller
plan), one point per minute unless said otherwise, in the exact metric kinds and value types
Cloud Run and Cloud Logging publish:

* ``run.googleapis.com/request_count`` DELTA INT64, labels ``response_code_class`` and
  ``response_code``, on ``cloud_run_revision``; a series only has points in minutes with
  requests of that code (Cloud Run writes no zero points).
* ``run.googleapis.com/request_latencies`` DELTA DISTRIBUTION in ms, Cloud Run's exponential
  buckets (100 finite, growth 1.4, scale 1), one series per response class.
* ``run.googleapis.com/container/cpu/utilizations`` and ``.../memory/utilizations`` DELTA
  DISTRIBUTION of 0..1 samples (linear buckets of 0.01; an assumption: the exact bucket layout
  of these two is not documented).
* ``run.googleapis.com/container/instance_count`` GAUGE INT64, label ``state`` active/idle.
* ``logging.googleapis.com/user/ctscan_container_crashes`` DELTA INT64 (log-based counter;
  points only in minutes with crashes).
* ctscan custom metrics on ``global``: ``prediction_confidence_mean`` (every 5 min: the
  catalog's 900 s MEAN window needs more than hourly points to ever hold data for 15 minutes),
  ``live_accuracy`` (hourly) and ``storage_bytes`` (hourly, ``store`` feedback_db/logs).
  ``drift_share`` is not written here: the drift domain publishes it from its reports.

Load has a diurnal and weekly shape with noise; deploys switch the serving revision (series per
``revision_name``); short harmless spikes (cold starts, 5xx blips, CPU warm-up) make naive
policies noisy; labelled incidents of every kind the catalog targets have realistic durations;
near misses come close to the thresholds without crossing them for long. Inside the world
window the number of each incident kind is fixed by the service spec (every kind is present);
after the window (the live feeder) episodes are drawn per day.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctscan_ops.alerting.series import TimeSeries, exponential_bounds, linear_bounds

DAY_S = 86_400
MINUTE_S = 60
MINUTES_PER_DAY = 1440

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
CPU_UTILIZATIONS = "run.googleapis.com/container/cpu/utilizations"
MEMORY_UTILIZATIONS = "run.googleapis.com/container/memory/utilizations"
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"
CONTAINER_CRASHES = "logging.googleapis.com/user/ctscan_container_crashes"
CONFIDENCE = "custom.googleapis.com/ctscan/prediction_confidence_mean"
LIVE_ACCURACY = "custom.googleapis.com/ctscan/live_accuracy"
STORAGE_BYTES = "custom.googleapis.com/ctscan/storage_bytes"

# Cloud Run request_latencies: ExponentialBuckets(num_finite_buckets=100, growth=1.4, scale=1).
LATENCY_BUCKETS = {"num_finite_buckets": 100, "growth_factor": 1.4, "scale": 1.0}
UTILIZATION_BUCKETS = {"num_finite_buckets": 100, "width": 0.01, "offset": 0.0}
LATENCY_BOUNDS = exponential_bounds(**LATENCY_BUCKETS)
UTILIZATION_BOUNDS = linear_bounds(**UTILIZATION_BUCKETS)

CONFIDENCE_STEP_S = 300
HOURLY_S = 3600

# incident kind -> catalog policies that should fire on it
INCIDENT_POLICIES: dict[str, tuple[str, ...]] = {
    "outage_5xx": ("api_downtime", "high_error_rate", "elevated_error_rate"),
    "error_burst": ("high_error_rate", "elevated_error_rate"),
    "elevated_errors": ("elevated_error_rate",),
    "latency_regression": ("high_latency",),
    "memory_leak": ("memory_exhaustion",),
    "cpu_saturation": ("high_cpu",),
    "crash_loop": ("crash_loop",),
    "confidence_drop": ("low_prediction_confidence",),
    "accuracy_degradation": ("model_accuracy_degradation",),
    "storage_growth": ("storage_warning",),
}
POLICY_SEVERITY: dict[str, str] = {
    "api_downtime": "P0",
    "high_error_rate": "P0",
    "memory_exhaustion": "P0",
    "crash_loop": "P0",
    "high_latency": "P1",
    "data_drift": "P1",
    "low_prediction_confidence": "P1",
    "elevated_error_rate": "P2",
    "model_accuracy_degradation": "P2",
    "high_cpu": "P2",
    "storage_warning": "P2",
}
NEAR_MISS_KINDS = (
    "near_errors",
    "near_latency",
    "near_memory",
    "near_cpu",
    "near_confidence",
    "near_accuracy",
    "near_storage",
)
SPIKE_KINDS = ("spike_latency", "spike_5xx", "spike_cpu")
# (min, max) duration in minutes of each episode kind
DURATION_MIN: dict[str, tuple[int, int]] = {
    "outage_5xx": (6, 20),
    "error_burst": (15, 40),
    "elevated_errors": (40, 120),
    "latency_regression": (30, 120),
    "memory_leak": (180, 360),
    "cpu_saturation": (25, 70),
    "crash_loop": (12, 35),
    "confidence_drop": (120, 480),
    "accuracy_degradation": (1440, 2160),
    "storage_growth": (600, 900),
    "near_errors": (45, 90),
    "near_latency": (45, 120),
    "near_memory": (60, 120),
    "near_cpu": (40, 90),
    "near_confidence": (60, 180),
    "near_accuracy": (360, 720),
    "near_storage": (600, 900),
    "spike_latency": (1, 3),
    "spike_5xx": (1, 2),
    "spike_cpu": (1, 4),
}


@dataclass(frozen=True)
class ServiceSpec:
    """One Cloud Run service and how eventful its history is."""

    environment: str
    service_name: str
    project_id: str = "ctscan-sandbox"
    location: str = "europe-west1"
    peak_rpm: float = 120.0
    trough_rpm: float = 12.0
    min_instances: int = 1
    max_instances: int = 8
    rpm_per_instance: float = 30.0
    deploy_probability: float = 0.3  # per weekday
    first_revision: int = 41
    first_model: int = 7
    incidents: Mapping[str, int] = field(default_factory=dict)  # kind -> count in the world
    near_misses: Mapping[str, int] = field(default_factory=dict)
    spikes_per_day: float = 3.0
    base_5xx: float = 0.002  # background share of 5xx responses
    feeder_incident_rate: float = 0.25  # expected incidents per day after the world window

    @property
    def env_code(self) -> int:
        return int.from_bytes(hashlib.sha256(self.environment.encode()).digest()[:4], "big")


PROD = ServiceSpec(
    environment="prod",
    service_name="ct-scan-api",
    incidents={
        "outage_5xx": 2,
        "error_burst": 2,
        "elevated_errors": 3,
        "latency_regression": 3,
        "memory_leak": 2,
        "cpu_saturation": 3,
        "crash_loop": 2,
        "confidence_drop": 2,
        "accuracy_degradation": 1,
        "storage_growth": 1,
    },
    near_misses={k: 2 for k in NEAR_MISS_KINDS},
)
STAGING = ServiceSpec(
    environment="staging",
    service_name="ct-scan-api-staging",
    peak_rpm=20.0,
    trough_rpm=2.0,
    min_instances=0,
    max_instances=3,
    deploy_probability=0.6,
    first_revision=88,
    incidents={"latency_regression": 1, "crash_loop": 1, "elevated_errors": 1},
    near_misses={"near_latency": 1, "near_errors": 1},
    spikes_per_day=2.0,
    base_5xx=0.0005,
    feeder_incident_rate=0.1,
)
DEFAULT_SERVICES: tuple[ServiceSpec, ...] = (PROD, STAGING)


@dataclass(frozen=True)
class Episode:
    """Something that happened: a labelled incident, a near miss or a harmless spike."""

    kind: str
    environment: str
    start: int  # epoch s, minute aligned
    end: int  # epoch s, exclusive
    intensity: float  # kind-specific strength in [0, 1)

    @property
    def labelled(self) -> bool:
        return self.kind in INCIDENT_POLICIES

    @property
    def id(self) -> str:
        raw = f"{self.environment}|{self.kind}|{self.start}|{self.end}"
        return f"{self.kind}-{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class LabelWindow:
    """Ground truth: ``policy`` should have fired in ``environment`` during ``[start, end)``."""

    id: str
    episode: str
    policy: str
    kind: str
    environment: str
    severity: str
    start: int
    end: int
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "episode": self.episode,
            "policy": self.policy,
            "kind": self.kind,
            "environment": self.environment,
            "severity": self.severity,
            "start": self.start,
            "end": self.end,
            "description": self.description,
        }


@dataclass
class GeneratedSeries:
    """One generated series in API terms (enum names) with numpy points (end times ascending)."""

    metric_type: str
    metric_labels: dict[str, str]
    resource_type: str
    resource_labels: dict[str, str]
    metric_kind: str  # GAUGE | DELTA
    value_type: str  # INT64 | DOUBLE | DISTRIBUTION
    unit: str
    times: np.ndarray  # int64 end times, epoch s
    values: np.ndarray | None = None
    bucket_counts: np.ndarray | None = None  # (n, B) int32
    bucket_options: dict[str, Any] | None = None  # {"exponential"|"linear": {...}}
    dist_sums: np.ndarray | None = None  # (n,) sum of the samples of each point
    period_s: int = MINUTE_S  # DELTA interval length (start = end - period)

    @property
    def key(self) -> tuple:
        return (
            self.metric_type,
            tuple(sorted(self.metric_labels.items())),
            self.resource_type,
            tuple(sorted(self.resource_labels.items())),
        )

    @property
    def bounds(self) -> np.ndarray | None:
        if self.bucket_options is None:
            return None
        if "exponential" in self.bucket_options:
            return exponential_bounds(**self.bucket_options["exponential"])
        return linear_bounds(**self.bucket_options["linear"])

    @property
    def start_times(self) -> np.ndarray | None:
        return self.times - self.period_s if self.metric_kind == "DELTA" else None

    def dist_means(self) -> np.ndarray:
        """Per-point sample mean (the API's ``Distribution.mean``; 0 for an empty point)."""
        assert self.bucket_counts is not None and self.dist_sums is not None
        total = self.bucket_counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.dist_sums / np.maximum(total, 1), 0.0)

    def to_time_series(self) -> TimeSeries:
        """The evaluator's type, exactly as the metric source will read it back."""
        common = {
            "metric_type": self.metric_type,
            "times": self.times.astype(float),
            "metric_labels": dict(self.metric_labels),
            "resource_type": self.resource_type,
            "resource_labels": dict(self.resource_labels),
            "metric_kind": self.metric_kind,
            "value_type": self.value_type,
            "start_times": None if self.start_times is None else self.start_times.astype(float),
        }
        if self.value_type == "DISTRIBUTION":
            assert self.bucket_counts is not None
            counts = self.bucket_counts.astype(float)
            return TimeSeries(
                **common,
                bucket_bounds=self.bounds,
                bucket_counts=counts,
                dist_sums=np.asarray(self.dist_sums, dtype=float),
            )
        return TimeSeries(**common, values=np.asarray(self.values, dtype=float))

    def slice(self, t0: int, t1: int) -> GeneratedSeries | None:
        """Points with end time in ``(t0, t1]``, or None if there are none."""
        m = (self.times > t0) & (self.times <= t1)
        if not m.any():
            return None
        return GeneratedSeries(
            self.metric_type,
            self.metric_labels,
            self.resource_type,
            self.resource_labels,
            self.metric_kind,
            self.value_type,
            self.unit,
            self.times[m],
            None if self.values is None else self.values[m],
            None if self.bucket_counts is None else self.bucket_counts[m],
            self.bucket_options,
            None if self.dist_sums is None else self.dist_sums[m],
            self.period_s,
        )


# --------------------------------------------------------------------------- planning


def _rng(base_seed: int, spec: ServiceSpec, *parts: int) -> np.random.Generator:
    return np.random.default_rng([base_seed, spec.env_code, *parts])


def _weekday(day: int) -> int:
    """Monday = 0 (epoch day 0 was a Thursday)."""
    return (day + 3) % 7


def _place(
    rng: np.random.Generator,
    kinds: Sequence[str],
    spec: ServiceSpec,
    lo: int,
    hi: int,
    taken: list[tuple[int, int]],
    pad_s: int,
) -> list[Episode]:
    """Place episodes of ``kinds`` in ``[lo, hi)`` without overlapping ``taken`` (+- pad)."""
    out: list[Episode] = []
    for kind in kinds:
        dmin, dmax = DURATION_MIN[kind]
        for _attempt in range(200):  # bounded: gives up on a crowded window
            dur = int(rng.integers(dmin, dmax + 1)) * MINUTE_S
            if hi - lo <= dur + 2 * pad_s:
                break
            start = lo + int(rng.integers(0, (hi - lo - dur) // MINUTE_S)) * MINUTE_S
            end = start + dur
            if all(end + pad_s <= a or start >= b + pad_s for a, b in taken):
                taken.append((start, end))
                out.append(Episode(kind, spec.environment, start, end, float(rng.random())))
                break
    return out


@dataclass(frozen=True)
class ServicePlan:
    """Everything about a service's history except the per-minute noise."""

    base_seed: int
    spec: ServiceSpec
    world_start: int
    world_end: int
    until: int
    episodes: tuple[Episode, ...]
    revisions: tuple[tuple[int, str], ...]  # (from time, revision name), ascending
    models: tuple[tuple[int, str], ...]  # (from time, model version), ascending

    def revision_at(self, times: np.ndarray) -> np.ndarray:
        starts = np.array([t for t, _ in self.revisions])
        return np.searchsorted(starts, times, side="right") - 1

    def model_at(self, times: np.ndarray) -> np.ndarray:
        starts = np.array([t for t, _ in self.models])
        return np.searchsorted(starts, times, side="right") - 1

    def episodes_overlapping(self, t0: int, t1: int) -> list[Episode]:
        return [e for e in self.episodes if e.start < t1 and e.end > t0]


def _world_episodes(base_seed: int, spec: ServiceSpec, start: int, end: int) -> list[Episode]:
    rng = _rng(base_seed, spec, 0)
    taken: list[tuple[int, int]] = []
    # long incidents first, so they find room; 2 h padding keeps episodes separable
    kinds = [k for k, n in spec.incidents.items() for _ in range(n)]
    kinds.sort(key=lambda k: -DURATION_MIN[k][1])
    lo = start + 6 * 3600  # leave the first hours for warm-up of rolling windows
    eps = _place(rng, kinds, spec, lo, end - 3 * 3600, taken, 2 * 3600)
    near = [k for k, n in spec.near_misses.items() for _ in range(n)]
    near.sort(key=lambda k: -DURATION_MIN[k][1])
    eps += _place(rng, near, spec, lo, end - 3 * 3600, taken, 2 * 3600)
    return eps


def _day_spikes(base_seed: int, spec: ServiceSpec, day: int) -> list[Episode]:
    rng = _rng(base_seed, spec, 1, day)
    n = int(rng.poisson(spec.spikes_per_day))
    kinds = [SPIKE_KINDS[int(i)] for i in rng.integers(0, len(SPIKE_KINDS), size=n)]
    return _place(rng, kinds, spec, day * DAY_S, (day + 1) * DAY_S, [], 0)


def _feeder_episodes(base_seed: int, spec: ServiceSpec, day: int) -> list[Episode]:
    """Episodes of a day after the world window (short kinds only, so days stay independent)."""
    rng = _rng(base_seed, spec, 2, day)
    short = [k for k in INCIDENT_POLICIES if DURATION_MIN[k][1] <= 180] + ["near_latency"]
    kinds = (
        [short[int(rng.integers(0, len(short)))]]
        if rng.random() < spec.feeder_incident_rate
        else []
    )
    return _place(rng, kinds, spec, day * DAY_S + 3600, (day + 1) * DAY_S - 4 * 3600, [], 0)


def _deploy_times(base_seed: int, spec: ServiceSpec, day: int) -> list[int]:
    rng = _rng(base_seed, spec, 3, day)
    if _weekday(day) >= 5 or rng.random() >= spec.deploy_probability:
        return []
    return [day * DAY_S + int(rng.integers(9 * 60, 17 * 60)) * MINUTE_S]


def _timeline(
    first: int, switches: Iterable[tuple[int, str]], name: Any
) -> tuple[tuple[int, str], ...]:
    """Apply ``new``/``rollback`` switches in time order; rollback returns to the previous."""
    counter = first
    stack = [first]
    out = [(-(2**62), name(first))]
    for t, action in sorted(switches):
        if action == "new":
            counter += 1
            stack.append(counter)
        elif len(stack) > 1:
            stack.pop()
        out.append((t, name(stack[-1])))
    return tuple(out)


def _revision_name(spec: ServiceSpec, n: int) -> str:
    suffix = hashlib.sha256(f"{spec.service_name}{n}".encode()).hexdigest()[:3]
    return f"{spec.service_name}-{n:05d}-{suffix}"


def plan_service(
    base_seed: int, spec: ServiceSpec, world_start: int, world_end: int, until: int
) -> ServicePlan:
    """The deterministic plan of ``[world_start, until)``; the world part is ``until=world_end``.

    Extending ``until`` only appends (per-day draws after the world window), so the feeder's
    continuation agrees with the world's history.
    """
    if world_start % DAY_S or world_end % DAY_S:
        raise ValueError("world_start and world_end must be UTC midnights")
    episodes = _world_episodes(base_seed, spec, world_start, world_end)
    first_day, last_day = world_start // DAY_S, -(-until // DAY_S)
    for day in range(first_day, last_day):
        episodes += _day_spikes(base_seed, spec, day)
        if day >= world_end // DAY_S:
            episodes += _feeder_episodes(base_seed, spec, day)
    episodes.sort(key=lambda e: (e.start, e.kind))
    rev_switches: list[tuple[int, str]] = []
    model_switches: list[tuple[int, str]] = []
    for day in range(first_day, last_day):
        rev_switches += [(t, "new") for t in _deploy_times(base_seed, spec, day)]
    for e in episodes:
        if e.kind in ("latency_regression", "crash_loop"):
            rev_switches += [(e.start, "new"), (e.end, "rollback")]
        if e.kind == "accuracy_degradation":
            model_switches += [(e.start, "new"), (e.end, "rollback")]
    # one good model release in the middle of the world window
    mid = world_start + ((world_end - world_start) // DAY_S * 2 // 3) * DAY_S + 10 * 3600
    if world_end - world_start >= 7 * DAY_S:
        model_switches.append((mid, "new"))
    return ServicePlan(
        base_seed=base_seed,
        spec=spec,
        world_start=world_start,
        world_end=world_end,
        until=until,
        episodes=tuple(episodes),
        revisions=_timeline(spec.first_revision, rev_switches, lambda n: _revision_name(spec, n)),
        models=_timeline(spec.first_model, model_switches, lambda n: f"v{n}"),
    )


# --------------------------------------------------------------------------- ground truth


def _memory_level(e: Episode, t: np.ndarray) -> np.ndarray:
    """Memory utilization of a leak episode (ramp from 0.45 to ~0.97 over the episode)."""
    frac = np.clip((t - e.start) / (e.end - e.start), 0.0, 1.0)
    return 0.45 + (0.97 - 0.45) * frac**1.3


def label_windows(
    plan: ServicePlan, t0: int | None = None, t1: int | None = None
) -> list[LabelWindow]:
    """Ground-truth windows of the plan's incidents that start in ``[t0, t1)``.

    The window is what a postmortem would state: the time the service was actually in the bad
    state the policy is meant to catch (for a memory leak: from the p99 instance above the
    runbook's 85 % to the OOM restart; for storage: from the limit being exceeded to the cleanup).
    """
    lo = plan.world_start if t0 is None else t0
    hi = plan.until if t1 is None else t1
    out = []
    for e in plan.episodes:
        if not e.labelled or not (lo <= e.start < hi):
            continue
        start, end = e.start, e.end
        if e.kind == "memory_leak":
            # the p99 of a handful of instances sits ~0.005 above the mean level
            frac = ((0.845 - 0.45) / (0.97 - 0.45)) ** (1 / 1.3)
            start = e.start + int(frac * (e.end - e.start)) // MINUTE_S * MINUTE_S
            end = e.end + 5 * MINUTE_S
        elif e.kind == "storage_growth":
            start = _storage_cross_time(plan, e)
            end = _next_purge(e.end)  # the cleanup
        for policy in INCIDENT_POLICIES[e.kind]:
            out.append(
                LabelWindow(
                    id=f"{plan.spec.environment}-{e.id}-{policy}",
                    episode=e.id,
                    policy=policy,
                    kind=e.kind,
                    environment=plan.spec.environment,
                    severity=POLICY_SEVERITY[policy],
                    start=start,
                    end=end,
                    description=_describe(e),
                )
            )
    return out


def _describe(e: Episode) -> str:
    minutes = (e.end - e.start) // MINUTE_S
    text = {
        "outage_5xx": "most requests failed with 5xx (bad config push)",
        "error_burst": "5xx error rate around 10 % (model bucket unreachable)",
        "elevated_errors": "5xx error rate around 3 % (flaky upstream)",
        "latency_regression": "p95 latency above 2 s after a deploy, rolled back",
        "memory_leak": "memory leak ramp ending in OOM kills",
        "cpu_saturation": "CPU saturated at max instances during a traffic surge",
        "crash_loop": "new revision crash-looping, rolled back",
        "confidence_drop": "mean prediction confidence below 0.7 (input shift)",
        "accuracy_degradation": "new model version below 85 % live accuracy, rolled back",
        "storage_growth": "debug logging left on; logs storage above 1 GB",
    }.get(e.kind, e.kind)
    return f"{text} ({minutes} min)"


# --------------------------------------------------------------------------- simulation


def _episode_mask(
    plan_eps: Sequence[Episode], kind: str, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(active mask, intensity) over minute end times ``t`` for episodes of ``kind``."""
    mask = np.zeros(t.size, dtype=bool)
    inten = np.zeros(t.size)
    for e in plan_eps:
        if e.kind == kind:
            m = (t > e.start) & (t <= e.end)
            mask |= m
            inten[m] = e.intensity
    return mask, inten


def histogram(
    rows: np.ndarray, samples: np.ndarray, n_rows: int, bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket counts (n_rows, B) and sample sums per row, buckets ``[lower, upper)``."""
    nb = bounds.size + 1
    idx = np.searchsorted(bounds, samples, side="right")
    counts = np.bincount(rows * nb + idx, minlength=n_rows * nb).reshape(n_rows, nb)
    sums = np.bincount(rows, weights=samples, minlength=n_rows)
    return counts.astype(np.int32), sums  # int32 halves the world's memory


def _rows(n: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(n.size), n.astype(np.int64))


def _multinomial(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    return rng.multinomial(n.astype(np.int64), p).astype(np.int64)


@dataclass
class DayData:
    """All per-minute arrays of one service-day (1440 minutes, end times ``t``)."""

    t: np.ndarray
    revision: np.ndarray
    counts: dict[tuple[str, str], np.ndarray]  # (class, code) -> requests per minute
    latency: dict[str, tuple[np.ndarray, np.ndarray]]  # class -> (counts (1440, B), sums)
    cpu: tuple[np.ndarray, np.ndarray]
    memory: tuple[np.ndarray, np.ndarray]
    active: np.ndarray
    idle: np.ndarray
    crashes: np.ndarray
    conf_t: np.ndarray
    conf: np.ndarray
    hour_t: np.ndarray
    accuracy: np.ndarray
    storage: dict[str, np.ndarray]


RESPONSE_CODES: dict[str, tuple[tuple[str, float], ...]] = {
    "2xx": (("200", 1.0),),
    "4xx": (("400", 0.6), ("404", 0.4)),
    "5xx": (("500", 0.7), ("503", 0.3)),
}


def simulate_day(plan: ServicePlan, day: int) -> DayData:
    """Every per-minute value of ``day`` (depends only on the plan and the day)."""
    spec = plan.spec
    rng = _rng(plan.base_seed, spec, 4, day)
    t = day * DAY_S + MINUTE_S * np.arange(1, MINUTES_PER_DAY + 1, dtype=np.int64)
    eps = plan.episodes_overlapping(day * DAY_S - DAY_S, (day + 2) * DAY_S)
    hour = ((t - MINUTE_S) % DAY_S) / 3600.0

    # ---- load: diurnal (peak 15:00 UTC), weekly, day-to-day and minute noise
    shape = (0.5 - 0.5 * np.cos(2 * np.pi * (hour - 3.0) / 24.0)) ** 1.5
    weekly = 0.55 if _weekday(day) >= 5 else 1.0
    day_factor = float(rng.lognormal(0.0, 0.08))
    rpm = (spec.trough_rpm + (spec.peak_rpm - spec.trough_rpm) * shape) * weekly * day_factor
    rpm = rpm * rng.lognormal(0.0, 0.1, size=t.size)
    surge, surge_i = _episode_mask(eps, "cpu_saturation", t)
    rpm = np.where(surge, rpm * (2.6 + 1.5 * surge_i) + 0.35 * spec.peak_rpm, rpm)
    near_cpu, near_cpu_i = _episode_mask(eps, "near_cpu", t)
    total = rng.poisson(rpm)

    # ---- instances
    demand = np.ceil(rpm / spec.rpm_per_instance)
    active = np.clip(demand, max(spec.min_instances, 1), spec.max_instances).astype(np.int64)
    idle = np.where(rng.random(t.size) < 0.6, 1, 0) + (spec.min_instances > 0)
    idle = idle.astype(np.int64)

    # ---- error probabilities
    p5 = np.full(t.size, spec.base_5xx)
    p4 = np.full(t.size, 0.03)
    share503 = np.full(t.size, 0.3)
    for kind, lo, hi in (
        ("outage_5xx", 0.8, 0.95),
        ("error_burst", 0.08, 0.14),
        ("elevated_errors", 0.03, 0.04),
        ("near_errors", 0.008, 0.011),
        ("crash_loop", 0.006, 0.009),
    ):
        m, inten = _episode_mask(eps, kind, t)
        p5 = np.where(m, lo + (hi - lo) * inten, p5)
        if kind in ("outage_5xx", "crash_loop"):
            share503 = np.where(m, 0.9, share503)
    spike5, spike5_i = _episode_mask(eps, "spike_5xx", t)
    p5 = np.where(spike5, np.where(spike5_i > 0.85, 0.25, 0.06), p5)

    counts: dict[tuple[str, str], np.ndarray] = {}
    p2 = np.clip(1.0 - p4 - p5, 0.0, 1.0)
    by_class = _multinomial(rng, total, np.stack([p2, p4, p5], axis=1))
    for ci, cls in enumerate(("2xx", "4xx", "5xx")):
        n_cls = by_class[:, ci]
        codes = RESPONSE_CODES[cls]
        if len(codes) == 1:
            counts[(cls, codes[0][0])] = n_cls
            continue
        if cls == "5xx":
            first = rng.binomial(n_cls, 1.0 - share503)
        else:
            first = rng.binomial(n_cls, codes[0][1])
        counts[(cls, codes[0][0])] = first
        counts[(cls, codes[1][0])] = n_cls - first

    # ---- CPU (samples: 6 per instance-minute)
    load = rpm / (active * spec.rpm_per_instance)
    cpu_mean = np.clip(0.12 + 0.5 * load, 0.02, 0.97)
    cpu_mean = np.where(surge, np.clip(0.9 + 0.06 * surge_i, 0.0, 0.97), cpu_mean)
    cpu_mean = np.where(near_cpu, 0.6 + 0.05 * near_cpu_i, cpu_mean)
    spike_cpu, _ = _episode_mask(eps, "spike_cpu", t)
    deploy_minute = np.zeros(t.size, dtype=bool)
    for rt, _name in plan.revisions[1:]:
        deploy_minute |= (t > rt) & (t <= rt + 2 * MINUTE_S)
    cpu_mean = np.where(spike_cpu | deploy_minute, 0.93, cpu_mean)
    rows = _rows((active + idle) * 6)
    x = np.clip(cpu_mean[rows] + rng.normal(0.0, 0.035, rows.size), 0.0, 1.0)
    cpu = histogram(rows, x, t.size, UTILIZATION_BOUNDS)

    # ---- memory (one sample per instance-minute); leaks ramp all instances of the revision
    mem_level = 0.38 + 0.08 * np.clip(load, 0, 1.2)
    for e in eps:
        m = (t > e.start) & (t <= e.end)
        if e.kind == "memory_leak":
            mem_level = np.where(m, np.maximum(mem_level, _memory_level(e, t)), mem_level)
        elif e.kind == "near_memory":
            mem_level = np.where(m, 0.76 + 0.03 * e.intensity, mem_level)
    rows = _rows(np.maximum(active + idle, 1))
    x = np.clip(mem_level[rows] + rng.normal(0.0, 0.012, rows.size), 0.0, 1.0)
    memory = histogram(rows, x, t.size, UTILIZATION_BOUNDS)

    # ---- latency (ms): lognormal body, cold-start tail, episode factors
    median = 260.0 * (1.0 + 0.35 * np.clip(load, 0, 1.5))
    cold = np.full(t.size, 0.004)
    # body median: a regression pushes p95 (~2.0x the median for sigma 0.42) well above 2 s,
    # a near miss keeps it around 1.4-1.5 s
    for kind, level, spread in (
        ("latency_regression", 1150.0, 500.0),
        ("near_latency", 700.0, 40.0),
    ):
        m, inten = _episode_mask(eps, kind, t)
        median = np.where(m, level + spread * inten, median)
    median = np.where(surge, median * 1.4, median)
    spike_lat, _ = _episode_mask(eps, "spike_latency", t)
    night_scale = (spec.min_instances == 0) | (hour < 6)
    cold = np.where(spike_lat | deploy_minute, 0.12, cold)
    cold = np.where(night_scale, cold * 2.0, cold)
    latency = {}
    rows = _rows(by_class[:, 0])
    is_cold = rng.random(rows.size) < cold[rows]
    med = np.where(is_cold, 3800.0, median[rows])
    sig = np.where(is_cold, 0.3, 0.42)
    x = med * np.exp(sig * rng.standard_normal(rows.size))
    latency["2xx"] = histogram(rows, x, t.size, LATENCY_BOUNDS)
    rows = _rows(by_class[:, 1])
    x = 35.0 * np.exp(0.5 * rng.standard_normal(rows.size))
    latency["4xx"] = histogram(rows, x, t.size, LATENCY_BOUNDS)
    rows = _rows(by_class[:, 2])
    x = 0.6 * median[rows] * np.exp(0.6 * rng.standard_normal(rows.size))
    latency["5xx"] = histogram(rows, x, t.size, LATENCY_BOUNDS)

    # ---- crashes: crash loops, OOM kills at the end of a leak, rare one-offs
    lam = np.full(t.size, 0.0004)
    cl, cl_i = _episode_mask(eps, "crash_loop", t)
    lam = np.where(cl, 0.7 + 0.5 * cl_i, lam)
    crashes = rng.poisson(lam).astype(np.int64)
    for e in eps:  # a leak ends with two OOM kills (instances replaced), not a crash loop
        if e.kind == "memory_leak":
            crashes[(t == e.end - MINUTE_S) | (t == e.end)] = 1

    # ---- confidence every 5 min; accuracy hourly (rolling, hence autocorrelated)
    conf_t = day * DAY_S + CONFIDENCE_STEP_S * np.arange(1, DAY_S // CONFIDENCE_STEP_S + 1)
    conf_t = conf_t.astype(np.int64)
    conf_mean = np.full(conf_t.size, 0.855)
    for kind, value, spread in (("confidence_drop", 0.6, 0.06), ("near_confidence", 0.73, 0.015)):
        m, inten = _episode_mask(eps, kind, conf_t)
        conf_mean = np.where(m, value + spread * inten, conf_mean)
    conf = np.clip(conf_mean + rng.normal(0.0, 0.012, conf_t.size), 0.0, 1.0)

    hour_t = (day * DAY_S + HOURLY_S * np.arange(1, 25)).astype(np.int64)
    acc_mean = np.full(hour_t.size, 0.905)
    for kind, value, spread in (
        ("accuracy_degradation", 0.79, 0.03),
        ("near_accuracy", 0.868, 0.006),
    ):
        m, inten = _episode_mask(eps, kind, hour_t)
        acc_mean = np.where(m, value + spread * inten, acc_mean)
    ar = np.empty(hour_t.size)
    x = float(rng.normal(0.0, 0.01))
    shocks = rng.normal(0.0, 0.007, hour_t.size)
    for i in range(hour_t.size):
        x = 0.6 * x + shocks[i]
        ar[i] = x
    accuracy = np.clip(acc_mean + ar, 0.0, 1.0)

    storage = {
        "feedback_db": np.round(_feedback_db_bytes(plan, hour_t)).astype(np.int64),
        "logs": np.round(_logs_bytes(plan, hour_t)).astype(np.int64),
    }
    return DayData(
        t=t,
        revision=plan.revision_at(t - MINUTE_S),
        counts=counts,
        latency=latency,
        cpu=cpu,
        memory=memory,
        active=active,
        idle=idle,
        crashes=crashes,
        conf_t=conf_t,
        conf=conf,
        hour_t=hour_t,
        accuracy=accuracy,
        storage=storage,
    )


def _feedback_db_bytes(plan: ServicePlan, t: np.ndarray) -> np.ndarray:
    """Feedback DB: steady growth (~1.5 MB/day) from ~310 MB, far below the 500 MB limit."""
    days = (t - plan.world_start) / DAY_S
    base = 310e6 if plan.spec.environment == "prod" else 40e6
    return base + 1.5e6 * days + 0.2e6 * np.sin(t / 7200.0)


PURGE_HOUR = 2  # daily log retention job at 02:00 UTC


def _logs_bytes(plan: ServicePlan, t: np.ndarray) -> np.ndarray:
    """Logs: daily sawtooth (retention purge at 02:00), faster growth during episodes.

    During an episode the logs grow at ``rate`` instead of 16 MB/h until the episode ends (the
    fix is deployed); the excess stays until the first purge after that. A storage incident
    (>= 10 h at 90 MB/h) always crosses 1 GB; a near miss (<= 15 h at <= 26.5 MB/h) never does.
    """
    since_purge = ((t - PURGE_HOUR * 3600) % DAY_S) / 3600.0
    base = 320e6 if plan.spec.environment == "prod" else 60e6
    out = base + 16e6 * since_purge
    for e in plan.episodes:
        if e.kind not in ("storage_growth", "near_storage"):
            continue
        rate = 90e6 if e.kind == "storage_growth" else 26e6 + 0.5e6 * e.intensity
        m = (t > e.start) & (t <= _next_purge(e.end))
        grown = (np.minimum(t, e.end) - e.start) / 3600.0
        out = np.where(m, out + (rate - 16e6) * grown, out)
    return out


def _next_purge(t: int) -> int:
    p = (t // DAY_S) * DAY_S + PURGE_HOUR * 3600
    return p if p > t else p + DAY_S


def _storage_cross_time(plan: ServicePlan, e: Episode) -> int:
    """Start of the hour whose reading first shows logs above 1 GB (the documented limit)."""
    hours = np.arange(-(-e.start // HOURLY_S) * HOURLY_S, _next_purge(e.end) + 1, HOURLY_S)
    over = hours[_logs_bytes(plan, hours) > 1e9]
    return int(over[0]) - HOURLY_S if over.size else e.start


# --------------------------------------------------------------------------- series assembly


def _run_resource(spec: ServiceSpec, revision: str) -> dict[str, str]:
    return {
        "project_id": spec.project_id,
        "service_name": spec.service_name,
        "revision_name": revision,
        "location": spec.location,
        "configuration_name": spec.service_name,
    }


class _Acc:
    """Collects per-day chunks per series key, then concatenates."""

    def __init__(self) -> None:
        self.meta: dict[tuple, dict[str, Any]] = {}
        self.times: dict[tuple, list[np.ndarray]] = {}
        self.values: dict[tuple, list[np.ndarray]] = {}

    def add(self, meta: dict[str, Any], times: np.ndarray, values: Any) -> None:
        if times.size == 0:
            return
        key = (
            meta["metric_type"],
            tuple(sorted(meta["metric_labels"].items())),
            meta["resource_type"],
            tuple(sorted(meta["resource_labels"].items())),
        )
        if key not in self.meta:
            self.meta[key] = meta
            self.times[key] = []
            self.values[key] = []
        self.times[key].append(times)
        self.values[key].append(values)

    def build(self) -> list[GeneratedSeries]:
        out = []
        for key in sorted(self.meta, key=repr):
            meta = dict(self.meta[key])
            times = np.concatenate(self.times[key])
            if meta["value_type"] == "DISTRIBUTION":
                counts = np.concatenate([c for c, _ in self.values[key]])
                sums = np.concatenate([x for _, x in self.values[key]])
                out.append(
                    GeneratedSeries(**meta, times=times, bucket_counts=counts, dist_sums=sums)
                )
            else:
                vals = np.concatenate(self.values[key])
                out.append(GeneratedSeries(**meta, times=times, values=vals))
        return out


def _add_day(acc: _Acc, plan: ServicePlan, d: DayData, t0: int, t1: int) -> None:
    spec = plan.spec
    sel = (d.t > t0) & (d.t <= t1)
    revs = np.unique(d.revision[sel])
    for ri in revs:
        name = plan.revisions[int(ri)][1]
        res = _run_resource(spec, name)
        m = sel & (d.revision == ri)

        def run_meta(metric_type, labels, kind, vtype, unit, options=None, res=res):
            meta = {
                "metric_type": metric_type,
                "metric_labels": labels,
                "resource_type": "cloud_run_revision",
                "resource_labels": res,
                "metric_kind": kind,
                "value_type": vtype,
                "unit": unit,
            }
            if options is not None:
                meta["bucket_options"] = options
            return meta

        for (cls, code), n in d.counts.items():
            mm = m & (n > 0)
            labels = {"response_code_class": cls, "response_code": code}
            acc.add(run_meta(REQUEST_COUNT, labels, "DELTA", "INT64", "1"), d.t[mm], n[mm])
        for cls, (c, sums) in d.latency.items():
            mm = m & (c.sum(axis=1) > 0)
            labels = {"response_code_class": cls, "response_code": RESPONSE_CODES[cls][0][0]}
            meta = run_meta(
                REQUEST_LATENCIES,
                labels,
                "DELTA",
                "DISTRIBUTION",
                "ms",
                {"exponential": LATENCY_BUCKETS},
            )
            acc.add(meta, d.t[mm], (c[mm], sums[mm]))
        util = {"linear": UTILIZATION_BUCKETS}
        acc.add(
            run_meta(CPU_UTILIZATIONS, {}, "DELTA", "DISTRIBUTION", "10^2.%", util),
            d.t[m],
            (d.cpu[0][m], d.cpu[1][m]),
        )
        acc.add(
            run_meta(MEMORY_UTILIZATIONS, {}, "DELTA", "DISTRIBUTION", "10^2.%", util),
            d.t[m],
            (d.memory[0][m], d.memory[1][m]),
        )
        for state, arr in (("active", d.active), ("idle", d.idle)):
            acc.add(
                run_meta(INSTANCE_COUNT, {"state": state}, "GAUGE", "INT64", "1"), d.t[m], arr[m]
            )
        mm = m & (d.crashes > 0)
        acc.add(run_meta(CONTAINER_CRASHES, {}, "DELTA", "INT64", "1"), d.t[mm], d.crashes[mm])

    glob = {"project_id": spec.project_id}

    def gmeta(metric_type, labels, vtype, unit):
        return {
            "metric_type": metric_type,
            "metric_labels": labels,
            "resource_type": "global",
            "resource_labels": glob,
            "metric_kind": "GAUGE",
            "value_type": vtype,
            "unit": unit,
        }

    env = spec.environment
    for times, vals, metric in (
        (d.conf_t, d.conf, CONFIDENCE),
        (d.hour_t, d.accuracy, LIVE_ACCURACY),
    ):
        s = (times > t0) & (times <= t1)
        models = plan.model_at(times)
        for mi in np.unique(models[s]):
            mm = s & (models == mi)
            labels = {"environment": env, "model_version": plan.models[int(mi)][1]}
            acc.add(gmeta(metric, labels, "DOUBLE", "1"), times[mm], vals[mm])
    s = (d.hour_t > t0) & (d.hour_t <= t1)
    for store, vals in d.storage.items():
        labels = {"environment": env, "store": store}
        acc.add(gmeta(STORAGE_BYTES, labels, "INT64", "By"), d.hour_t[s], vals[s])


def simulate(plan: ServicePlan, t0: int, t1: int) -> list[GeneratedSeries]:
    """Every series' points with end time in ``(t0, t1]`` (``t0``, ``t1`` minute aligned)."""
    if t0 % MINUTE_S or t1 % MINUTE_S:
        raise ValueError(f"simulate: t0={t0} and t1={t1} must be multiples of 60 s")
    if t1 > plan.until:
        raise ValueError(f"simulate: t1={t1} is after the plan's end {plan.until}")
    acc = _Acc()
    for day in range(t0 // DAY_S, -(-t1 // DAY_S)):
        _add_day(acc, plan, simulate_day(plan, day), t0, t1)
    return acc.build()


@dataclass
class MetricWorld:
    """The generated history: series of every service plus the ground truth."""

    start: int
    end: int
    base_seed: int
    services: tuple[ServiceSpec, ...]
    plans: dict[str, ServicePlan]
    series: list[GeneratedSeries]
    labels: list[LabelWindow]

    @property
    def episodes(self) -> list[Episode]:
        return [e for p in self.plans.values() for e in p.episodes if e.start < self.end]

    def point_count(self) -> int:
        return int(sum(s.times.size for s in self.series))


def generate_metric_world(
    rng: np.random.Generator,
    start: int,
    end: int,
    services: Sequence[ServiceSpec] = DEFAULT_SERVICES,
) -> MetricWorld:
    """Generate ``[start, end)`` (UTC midnights) for ``services`` from one generator.

    Only one number is drawn from ``rng`` (the base seed), so the same seed gives the same world
    and the feeder can continue it from the base seed alone.
    """
    base_seed = int(rng.integers(0, 2**62))
    return build_world(base_seed, start, end, services)


def build_world(
    base_seed: int, start: int, end: int, services: Sequence[ServiceSpec] = DEFAULT_SERVICES
) -> MetricWorld:
    if end <= start:
        raise ValueError(f"world end {end} is not after its start {start}")
    plans = {s.environment: plan_service(base_seed, s, start, end, end) for s in services}
    series: list[GeneratedSeries] = []
    labels: list[LabelWindow] = []
    for spec in services:
        plan = plans[spec.environment]
        series += simulate(plan, start, end)
        labels += label_windows(plan, start, end)
    labels.sort(key=lambda w: (w.start, w.environment, w.policy))
    return MetricWorld(start, end, base_seed, tuple(services), plans, series, labels)


def minute_floor(t: float) -> int:
    """The minute boundary at or before ``t`` (epoch s)."""
    return math.floor(t / MINUTE_S) * MINUTE_S
