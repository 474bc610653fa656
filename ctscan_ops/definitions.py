"""The ctscan_ops code location: every domain's definitions plus the shared resources.

Each domain package exports ``defs`` from ``ctscan_ops/<domain>/definitions.py`` and, when it
needs resources that depend on the settings, ``resources(settings) -> dict``; adding a domain
means adding its name to ``ctscan_ops.domains.DOMAINS``. The settings are read once, here.
Nothing here imports torch or evidently: loading the code location must stay fast and need no
credentials.
"""

from __future__ import annotations

import warnings
from typing import Any

import dagster as dg

from ctscan_ops.config import Settings, get_settings
from ctscan_ops.domains import DOMAINS, domain_module
from ctscan_ops.resources import build_resources

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def domain_definitions() -> dict[str, dg.Definitions]:
    """Each built domain's ``defs``; a domain without a definitions module is not built yet."""
    found: dict[str, dg.Definitions] = {}
    for domain in DOMAINS:
        module = domain_module(domain, "definitions")
        if module is not None:
            found[domain] = module.defs
    return found


def domain_resources(settings: Settings) -> dict[str, Any]:
    """Each domain's own resources built from ``settings`` (its ``resources(settings)``)."""
    found: dict[str, Any] = {}
    for domain in DOMAINS:
        module = domain_module(domain, "definitions")
        build = getattr(module, "resources", None) if module is not None else None
        if build is not None:
            found.update(build(settings))
    return found


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """The code location; the only place ``Settings`` is read (when not given)."""
    settings = settings or get_settings()
    from ctscan_ops import automation  # the automation + freshness sensors (RUNNING by default)

    return dg.Definitions.merge(
        *domain_definitions().values(),
        automation.defs,
        dg.Definitions(
            resources={**build_resources(settings), **domain_resources(settings)},
            executor=step_executor(settings),
        ),
    )


def step_executor(settings: Settings) -> dg.ExecutorDefinition | None:
    """``k8s_job_executor`` (one pod per step, sized by the op tags) when asked for, else the
    default. dagster-k8s comes with the ``deploy`` extra; it is imported only when asked for."""
    if not settings.k8s_step_pods:
        return None
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise RuntimeError(
            "CTSCAN_K8S_STEP_PODS=1 needs dagster-k8s: pip install 'ctscan_ops[deploy]'"
        ) from exc
    return k8s_job_executor


defs = build_defs()
