"""Terraform state: parse (show -json or the raw state file), summarize, diff.

The summary is what the ``terraform_state`` asset records per environment: resources by type
and by module, serial and lineage (raw state file only: ``show -json`` does not carry them),
and, against a previous snapshot, the addresses added and removed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctscan_ops.infra.tfjson import (
    TerraformJSONError,
    check_format_version,
    detect_kind,
    load_file,
    loads,
    redact,
)

ROOT_MODULE = "(root)"


@dataclass(frozen=True)
class StateResource:
    """One resource instance in a state."""

    address: str
    module: str  # "" for the root module
    mode: str  # managed | data
    type: str
    name: str
    index: Any = None
    provider: str | None = None
    values: Mapping[str, Any] | None = None  # redacted; only for kept types

    @property
    def config_address(self) -> str:
        """Address without the instance key (what the configuration declares)."""
        prefix = f"{self.module}." if self.module else ""
        data = "data." if self.mode == "data" else ""
        return f"{prefix}{data}{self.type}.{self.name}"


@dataclass(frozen=True)
class StateSnapshot:
    """A parsed state: resources plus the versions that identify it."""

    source: str  # "show-json" | "tfstate"
    format_version: str | None
    terraform_version: str | None
    serial: int | None
    lineage: str | None
    resources: tuple[StateResource, ...] = field(default_factory=tuple)

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(r.address for r in self.resources)

    @property
    def managed(self) -> tuple[StateResource, ...]:
        return tuple(r for r in self.resources if r.mode == "managed")


def format_index(index: Any) -> str:
    """Terraform's rendering of an instance key: ``[0]`` or ``["key"]``."""
    if index is None:
        return ""
    if isinstance(index, bool) or not isinstance(index, int | str):
        raise TerraformJSONError(f"instance key {index!r} is neither a number nor a string")
    if isinstance(index, int):
        return f"[{index}]"
    return "[" + json.dumps(index) + "]"


def _module_of(address: str) -> str:
    """Module path of a resource address (``module.a["x"].module.b``), "" for root."""
    parts: list[str] = []
    rest = address
    while rest.startswith("module."):
        # module.NAME or module.NAME[KEY]; KEY may contain dots inside quotes.
        i = len("module.")
        while i < len(rest) and rest[i] not in ".[":
            i += 1
        if i < len(rest) and rest[i] == "[":
            depth, in_str = 0, False
            while i < len(rest):
                ch = rest[i]
                if ch == '"' and rest[i - 1] != "\\":
                    in_str = not in_str
                elif not in_str and ch == "[":
                    depth += 1
                elif not in_str and ch == "]":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        parts.append(rest[:i])
        rest = rest[i + 1 :]
    return ".".join(parts)


def _walk_module(module: Mapping[str, Any], where: str, keep: frozenset[str]):
    for res in module.get("resources") or ():
        if not isinstance(res, Mapping) or "address" not in res:
            raise TerraformJSONError(f"{where}: resource without address: {str(res)[:80]}")
        values = None
        if res.get("type") in keep and "values" in res:
            values = redact(res.get("values"), res.get("sensitive_values"))
        yield StateResource(
            address=res["address"],
            module=_module_of(res["address"]),
            mode=res.get("mode", "managed"),
            type=res.get("type", ""),
            name=res.get("name", ""),
            index=res.get("index"),
            provider=res.get("provider_name"),
            values=values,
        )
    for child in module.get("child_modules") or ():
        yield from _walk_module(child, f"{where}.child_modules[{child.get('address')}]", keep)


def resources_from_values(
    values: Mapping[str, Any] | None, where: str, keep_values_for: Iterable[str] = ()
) -> tuple[StateResource, ...]:
    """Resources of a ``values`` block (state JSON, or a plan's prior_state/planned_values)."""
    if not values:
        return ()
    root = values.get("root_module") or {}
    return tuple(_walk_module(root, f"{where}: values.root_module", frozenset(keep_values_for)))


def _from_show_json(doc: Mapping[str, Any], where: str, keep: Iterable[str]) -> StateSnapshot:
    return StateSnapshot(
        source="show-json",
        format_version=check_format_version(doc.get("format_version"), where),
        terraform_version=doc.get("terraform_version"),
        serial=None,
        lineage=None,
        resources=resources_from_values(doc.get("values"), where, keep),
    )


def _from_tfstate(doc: Mapping[str, Any], where: str, keep: Iterable[str]) -> StateSnapshot:
    keep_set = frozenset(keep)
    out: list[StateResource] = []
    for i, res in enumerate(doc.get("resources") or ()):
        try:
            module, mode, rtype, name = (
                res.get("module", ""),
                res["mode"],
                res["type"],
                res["name"],
            )
        except (KeyError, AttributeError):
            raise TerraformJSONError(f"{where}: resources[{i}] lacks mode/type/name") from None
        base = (f"{module}." if module else "") + ("data." if mode == "data" else "")
        base += f"{rtype}.{name}"
        for inst in res.get("instances") or ():
            index = inst.get("index_key")
            values = None
            if rtype in keep_set and "attributes" in inst:
                values = redact(inst["attributes"], None, inst.get("sensitive_attributes") or ())
            out.append(
                StateResource(
                    address=base + format_index(index),
                    module=module,
                    mode=mode,
                    type=rtype,
                    name=name,
                    index=index,
                    provider=res.get("provider"),
                    values=values,
                )
            )
    serial = doc.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool):
        raise TerraformJSONError(f"{where}: serial {serial!r} is not an integer")
    return StateSnapshot(
        source="tfstate",
        format_version=None,
        terraform_version=doc.get("terraform_version"),
        serial=serial,
        lineage=doc.get("lineage"),
        resources=tuple(out),
    )


def parse_state(
    doc: Mapping[str, Any], where: str = "<state>", keep_values_for: Iterable[str] = ()
) -> StateSnapshot:
    """A decoded state document (either shape) as a :class:`StateSnapshot`."""
    kind = detect_kind(doc, where)
    if kind == "state":
        return _from_show_json(doc, where, keep_values_for)
    if kind == "tfstate":
        return _from_tfstate(doc, where, keep_values_for)
    raise TerraformJSONError(f"{where}: is a plan, not a state")


def loads_state(
    text: str | bytes, where: str = "<state>", keep_values_for: Iterable[str] = ()
) -> StateSnapshot:
    return parse_state(loads(text, where, keep_values_for), where, keep_values_for)


def load_state(path: str | os.PathLike[str], keep_values_for: Iterable[str] = ()) -> StateSnapshot:
    doc, _kind = load_file(path, keep_values_for)
    return parse_state(doc, str(path), keep_values_for)


def summarize_state(snapshot: StateSnapshot) -> dict[str, Any]:
    """Counts by type and module (managed resources), plus identity; JSON-able."""
    managed = snapshot.managed
    by_module = Counter(r.module or ROOT_MODULE for r in managed)
    return {
        "kind": "state",
        "source": snapshot.source,
        "format_version": snapshot.format_version,
        "terraform_version": snapshot.terraform_version,
        "serial": snapshot.serial,
        "lineage": snapshot.lineage,
        "resource_count": len(managed),
        "data_source_count": len(snapshot.resources) - len(managed),
        "by_type": dict(sorted(Counter(r.type for r in managed).items())),
        "by_module": dict(sorted(by_module.items())),
    }


def diff_states(old: StateSnapshot | None, new: StateSnapshot) -> dict[str, Any]:
    """Addresses added and removed since ``old`` (everything is added when old is None)."""
    old_addr = old.addresses if old is not None else frozenset()
    new_addr = new.addresses
    return {
        "added": sorted(new_addr - old_addr),
        "removed": sorted(old_addr - new_addr),
        "unchanged": len(new_addr & old_addr),
        "serial_before": old.serial if old is not None else None,
        "serial_after": new.serial,
        "lineage_changed": (
            old is not None
            and old.lineage is not None
            and new.lineage is not None
            and old.lineage != new.lineage
        ),
    }


def state_object_name(environment: str, prefix: str = "environments") -> str:
    """Object the gcs backend stores an environment's state in (workspace ``default``)."""
    return f"{prefix}/{environment}/default.tfstate"


def state_markdown(summary: Mapping[str, Any], max_rows: int = 20) -> str:
    """Small markdown tables (by module, by type) of a state summary for asset metadata."""
    lines = ["| module | resources |", "|---|---|"]
    lines += [f"| `{m}` | {n} |" for m, n in list(summary["by_module"].items())[:max_rows]]
    lines += ["", "| type | resources |", "|---|---|"]
    lines += [f"| `{t}` | {n} |" for t, n in list(summary["by_type"].items())[:max_rows]]
    return "\n".join(lines)
