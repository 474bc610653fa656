"""Terraform plan JSON: counts by action, destroys, drift, import progress.

What the ``terraform_plan`` asset and ``ctscan-ops terraform summarize`` report. Terraform
spells a change as a list of actions; this module maps each list to exactly one action:

==============================  =========
``["no-op"]``                   no-op
``["create"]``                  create
``["read"]``                    read
``["update"]``                  update
``["delete"]``                  delete
``["delete", "create"]``        replace (destroy first)
``["create", "delete"]``        replace (create_before_destroy)
``["forget"]``                  forget (``removed`` block with ``destroy = false``)
``["create", "forget"]``        replace (forget the old object; Terraform 1.14+)
==============================  =========

So a replace counts only as replace, never also as create and delete. An action list Terraform
does not document is an error naming the address, not a silent miscount.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctscan_ops.infra.state import (
    StateResource,
    StateSnapshot,
    _module_of,
    resources_from_values,
)
from ctscan_ops.infra.tfjson import (
    TerraformJSONError,
    check_format_version,
    detect_kind,
    load_file,
    loads,
)

ACTIONS = ("create", "update", "delete", "replace", "read", "no-op", "forget")
DESTRUCTIVE = frozenset({"delete", "replace"})

_ACTION_MAP: dict[tuple[str, ...], str] = {
    ("no-op",): "no-op",
    ("create",): "create",
    ("read",): "read",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("forget",): "forget",
    ("create", "forget"): "replace",
}


def classify_actions(actions: Any, where: str) -> str:
    """The single action a Terraform ``actions`` list stands for."""
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise TerraformJSONError(f"{where}: change.actions {actions!r} is not a list of strings")
    try:
        return _ACTION_MAP[tuple(actions)]
    except KeyError:
        raise TerraformJSONError(f"{where}: unsupported change.actions {actions!r}") from None


@dataclass(frozen=True)
class ResourceChange:
    """One entry of ``resource_changes`` or ``resource_drift``, values dropped."""

    address: str
    module: str
    mode: str
    type: str
    name: str
    action: str
    actions: tuple[str, ...]
    action_reason: str | None = None
    importing: bool = False
    changed_attributes: tuple[str, ...] = ()
    replace_paths: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PlanSummaryInput:
    """A parsed plan: what the summaries are computed from."""

    format_version: str
    terraform_version: str | None
    changes: tuple[ResourceChange, ...]
    drift: tuple[ResourceChange, ...]
    planned: tuple[StateResource, ...]
    prior: tuple[StateResource, ...]
    errored: bool = False
    complete: bool | None = None
    applyable: bool | None = None
    timestamp: str | None = None
    output_actions: Mapping[str, str] = field(default_factory=dict)


def _parse_change(entry: Any, where: str) -> ResourceChange:
    if not isinstance(entry, Mapping) or "address" not in entry:
        raise TerraformJSONError(f"{where}: entry without address")
    address = entry["address"]
    change = entry.get("change")
    if not isinstance(change, Mapping) or "actions" not in change:
        raise TerraformJSONError(f"{where} ({address}): change.actions missing")
    actions = change["actions"]
    return ResourceChange(
        address=address,
        module=entry.get("module_address") or _module_of(address),
        mode=entry.get("mode", "managed"),
        type=entry.get("type", ""),
        name=entry.get("name", ""),
        action=classify_actions(actions, f"{where} ({address})"),
        actions=tuple(actions),
        action_reason=entry.get("action_reason"),
        importing=bool(change.get("importing")),
        changed_attributes=tuple(change.get("changed") or ()),
        replace_paths=tuple(change.get("replace_paths") or ()),
    )


def parse_plan(
    doc: Mapping[str, Any], where: str = "<plan>", keep_values_for: Iterable[str] = ()
) -> PlanSummaryInput:
    """A decoded plan JSON (decoded with :func:`ctscan_ops.infra.tfjson.loads`)."""
    if detect_kind(doc, where) != "plan":
        raise TerraformJSONError(f"{where}: is a state, not a plan")
    changes = tuple(
        _parse_change(e, f"{where}: resource_changes[{i}]")
        for i, e in enumerate(doc.get("resource_changes") or ())
    )
    drift = tuple(
        _parse_change(e, f"{where}: resource_drift[{i}]")
        for i, e in enumerate(doc.get("resource_drift") or ())
    )
    prior = doc.get("prior_state") or {}
    outputs = {
        name: classify_actions(ch.get("actions"), f"{where}: output_changes.{name}")
        for name, ch in (doc.get("output_changes") or {}).items()
        if isinstance(ch, Mapping)
    }
    return PlanSummaryInput(
        format_version=check_format_version(doc.get("format_version"), where),
        terraform_version=doc.get("terraform_version"),
        changes=changes,
        drift=drift,
        planned=resources_from_values(doc.get("planned_values"), where, keep_values_for),
        prior=resources_from_values(prior.get("values"), f"{where}: prior_state", keep_values_for),
        errored=bool(doc.get("errored", False)),
        complete=doc.get("complete"),
        applyable=doc.get("applyable"),
        timestamp=doc.get("timestamp"),
        output_actions=outputs,
    )


def loads_plan(text: str | bytes, where: str = "<plan>") -> PlanSummaryInput:
    return parse_plan(loads(text, where), where)


def load_plan(path: str | os.PathLike[str]) -> PlanSummaryInput:
    doc, _kind = load_file(path)
    return parse_plan(doc, str(path))


def count_actions(changes: Iterable[ResourceChange]) -> dict[str, int]:
    """Counts keyed by every action in :data:`ACTIONS` (zeros included)."""
    counts = Counter(c.action for c in changes)
    return {a: counts.get(a, 0) for a in ACTIONS}


def destroys(changes: Iterable[ResourceChange]) -> list[dict[str, Any]]:
    """Resources a delete or replace removes, by address, with Terraform's reason."""
    return [
        {"address": c.address, "action": c.action, "action_reason": c.action_reason}
        for c in sorted(changes, key=lambda c: c.address)
        if c.action in DESTRUCTIVE
    ]


def import_progress(
    config_addresses: Iterable[str], state_addresses: Iterable[str]
) -> dict[str, Any]:
    """How much of the configuration is already in state (the import phase's progress).

    ``config_addresses``: managed instances the configuration wants (the plan's planned
    values); ``state_addresses``: managed instances in state. ``percent`` is 100 when the
    configuration is empty (nothing left to import).
    """
    config = frozenset(config_addresses)
    state = frozenset(state_addresses)
    in_both = config & state
    return {
        "config_resources": len(config),
        "state_resources": len(state),
        "in_state": len(in_both),
        "percent": round(100.0 * len(in_both) / len(config), 1) if config else 100.0,
        "missing_from_state": sorted(config - state),
        "not_in_config": sorted(state - config),
    }


def summarize_plan(
    plan: PlanSummaryInput, state: StateSnapshot | None = None, max_list: int | None = None
) -> dict[str, Any]:
    """The JSON document ``ctscan-ops terraform summarize`` prints for a plan.

    ``state``: a state to measure import progress against; without it, the plan's own prior
    state is used. Lists are truncated to ``max_list`` entries when given (metadata size).
    """

    def cap(items: list[Any]) -> list[Any]:
        return items if max_list is None else items[:max_list]

    managed_changes = [c for c in plan.changes if c.mode == "managed"]
    counts = count_actions(plan.changes)
    destroy_list = destroys(managed_changes)
    drift = [
        {"address": c.address, "action": c.action, "changed_attributes": list(c.changed_attributes)}
        for c in sorted(plan.drift, key=lambda c: c.address)
    ]
    updates = [
        {"address": c.address, "changed_attributes": list(c.changed_attributes)}
        for c in sorted(managed_changes, key=lambda c: c.address)
        if c.action == "update"
    ]
    planned_managed = [r.address for r in plan.planned if r.mode == "managed"]
    if state is not None:
        state_addresses = [r.address for r in state.managed]
        progress_source = "state"
    else:
        state_addresses = [r.address for r in plan.prior if r.mode == "managed"]
        progress_source = "prior_state"
    progress = import_progress(planned_managed, state_addresses)
    progress["source"] = progress_source
    progress["importing"] = sum(1 for c in plan.changes if c.importing)
    progress["missing_from_state"] = cap(progress["missing_from_state"])
    progress["not_in_config"] = cap(progress["not_in_config"])
    total_changes = sum(v for k, v in counts.items() if k not in ("no-op", "read"))
    return {
        "kind": "plan",
        "format_version": plan.format_version,
        "terraform_version": plan.terraform_version,
        "timestamp": plan.timestamp,
        "errored": plan.errored,
        "complete": plan.complete,
        "applyable": plan.applyable,
        "counts": counts,
        "total_changes": total_changes,
        "has_changes": total_changes > 0,
        "destroys": cap(destroy_list),
        "destroy_count": len(destroy_list),
        "drift": cap(drift),
        "drift_count": len(drift),
        "updates": cap(updates),
        "output_changes": dict(sorted(Counter(plan.output_actions.values()).items())),
        "import_progress": progress,
    }


def check_zero_changes(summary: Mapping[str, Any]) -> tuple[bool, str]:
    """``plan_has_zero_changes``: the import phase's success criterion ("No changes")."""
    total = summary["total_changes"]
    if total == 0:
        return True, "plan is clean: 0 changes"
    counts = ", ".join(f"{v} {k}" for k, v in summary["counts"].items() if v and k != "no-op")
    return False, f"plan has {total} change(s): {counts}"


def check_no_destroys(summary: Mapping[str, Any]) -> tuple[bool, str]:
    """``plan_has_no_destroys``: nothing is deleted or replaced (blocking before an apply)."""
    n = summary["destroy_count"]
    if n == 0:
        return True, "plan destroys nothing"
    shown = ", ".join(
        f"{d['address']} ({d['action']}: {d['action_reason'] or 'no reason given'})"
        for d in summary["destroys"][:10]
    )
    more = f" and {n - 10} more" if n > 10 else ""
    return False, f"plan destroys {n} resource(s): {shown}{more}"


def plan_markdown(summary: Mapping[str, Any], max_rows: int = 20) -> str:
    """A small markdown table of a plan summary (for asset metadata: never the whole plan)."""
    lines = ["| action | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary["counts"].items()]
    if summary["destroys"]:
        lines += ["", "| destroyed address | action | reason |", "|---|---|---|"]
        lines += [
            f"| `{d['address']}` | {d['action']} | {d['action_reason'] or ''} |"
            for d in summary["destroys"][:max_rows]
        ]
    if summary["drift"]:
        lines += ["", "| drifted address | changed attributes |", "|---|---|"]
        lines += [
            f"| `{d['address']}` | {', '.join(d['changed_attributes'])} |"
            for d in summary["drift"][:max_rows]
        ]
    return "\n".join(lines)
