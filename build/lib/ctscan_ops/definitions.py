"""The ctscan_ops code location: every domain's definitions plus the shared resources.

Each domain package exports ``defs`` from ``ctscan_ops/<domain>/definitions.py``; adding a
domain means adding its name to ``ctscan_ops.domains.DOMAINS``. Nothing here imports torch or
evidently: loading the code location must stay fast and need no credentials.
"""

from __future__ import annotations

import warnings

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


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    return dg.Definitions.merge(
        *domain_definitions().values(),
        dg.Definitions(resources=build_resources(settings or get_settings())),
    )


defs = build_defs()
