"""The vocabulary of the incident register that both its writers and the scorer share.

A register window names either a catalog policy or an *incident kind*; a kind stands for the
policies that should fire on it (an outage should fire the downtime and both error-rate
policies). Whoever writes the register (an operator, a postmortem import, the sandbox world)
uses these kinds; :mod:`ctscan_ops.alerting.shadow.incidents` validates and expands them.
See docs/data-contracts.md ("incident register").
"""

from __future__ import annotations

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
