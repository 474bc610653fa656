"""The domains of the code location, and optional access to a domain's well-known modules.

Each domain may provide ``definitions`` (its ``defs``), ``world`` (its part of the sandbox
world), ``cli`` (its command group). A module that does not exist yet is simply absent; any
other import error (a bug inside the module, a missing dependency) is raised, never hidden.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DOMAINS: tuple[str, ...] = ("infra", "alerting", "drift", "registry", "feedback")


def domain_module(domain: str, leaf: str) -> ModuleType | None:
    """``ctscan_ops.<domain>.<leaf>``, or None if that domain or module is not built."""
    module_name = f"ctscan_ops.{domain}.{leaf}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (module_name, f"ctscan_ops.{domain}"):
            return None
        raise
