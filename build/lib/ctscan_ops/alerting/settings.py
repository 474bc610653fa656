"""Operator-facing settings of shadow-mode alerting, as a Dagster resource."""

import os
import time
from functools import lru_cache

import dagster as dg
from pydantic import Field

from ctscan_ops.alerting.catalog import Catalog, default_catalog_path, load_catalog


@lru_cache(maxsize=8)
def _load_catalog_version(path: str, mtime_ns: int, size: int) -> Catalog:
    return load_catalog(path)


def cached_catalog(path: str | None = None) -> Catalog:
    """The catalog, parsed once per file version (a sensor tick must not re-parse YAML)."""
    p = str(path or default_catalog_path())
    try:
        st = os.stat(p)
    except OSError:
        return load_catalog(p)  # raises the CatalogError that names the file
    return _load_catalog_version(p, st.st_mtime_ns, st.st_size)


class AlertingSettings(dg.ConfigurableResource):
    """What to evaluate and what counts as good enough to enable a P1/P2 policy."""

    environments: list[str] = Field(default=["prod", "staging"])
    fdr_target: float = Field(default=0.02, description="max false discovery rate to enable")
    min_days: int = Field(default=7, description="days of shadow data before a verdict")
    max_alerts_per_day: float = Field(default=1.0, description="false-alert budget (tuning)")
    p0_mttd_target_s: float = Field(default=300.0, description="P0 mean time to detect")
    max_span_per_tick_s: int = Field(
        default=6 * 3600, description="simulated time one sensor tick may evaluate"
    )
    initial_lookback_s: int = Field(
        default=2 * 3600, description="where a fresh sensor cursor starts, before now"
    )
    catalog_path: str | None = Field(default=None, description="default: terraform catalog")
    now_override: float | None = Field(default=None, description="tests only: fixed clock")

    def catalog(self) -> Catalog:
        return cached_catalog(self.catalog_path)

    def now(self) -> float:
        return self.now_override if self.now_override is not None else time.time()
