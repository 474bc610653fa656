"""Loading Terraform's JSON documents: kind detection, version checks, slim decoding, redaction.

Three shapes are accepted:

* plan JSON (``terraform show -json PLANFILE``), ``format_version`` 0.1 .. 1.x;
* state JSON (``terraform show -json`` without a plan), ``format_version`` 0.1 .. 1.x;
* the raw state file (``terraform.tfstate`` / the GCS backend object ``<prefix>/default.tfstate``),
  ``version`` 4, which is the only shape that carries ``serial`` and ``lineage``.

Plans of thousands of resources carry every attribute twice (before/after) plus the prior state,
so the decoder drops attribute values while parsing (``object_hook``) and keeps only what the
summaries need: addresses, actions, reasons and the *names* of changed attributes. Values are
kept only for resource types the caller asks for (e.g. alert policies for semantic drift), and
those pass through :func:`redact` so no secret reaches a summary, metadata or a log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SUPPORTED_FORMAT_MAJORS = (0, 1)
SUPPORTED_STATE_FILE_VERSIONS = (4,)
REDACTED = "(sensitive)"

# Attribute names whose values are secrets even when the provider forgets to mark them.
KNOWN_SECRET_KEYS = frozenset(
    {
        "auth_token",
        "service_key",
        "password",
        "secret_data",
        "secret_string",
        "private_key",
        "private_key_data",
        "client_secret",
        "api_key",
        "access_token",
        "token",
        "webhook_url",
        "sensitive_labels",
        "credentials",
        "key_data",
    }
)

PLAN_KEYS = frozenset(
    {
        "planned_values",
        "resource_changes",
        "resource_drift",
        "prior_state",
        "output_changes",
        "configuration",
    }
)


class TerraformJSONError(ValueError):
    """A file is not Terraform plan/state JSON we can read; the message names file and field."""


def check_format_version(value: Any, where: str) -> str:
    """Accept ``format_version`` "0.x" and "1.x"; anything else is a clear error.

    Terraform promises that minor versions only add fields, so an unknown minor is fine and an
    unknown major is not (its meaning could have changed under us).
    """
    if not isinstance(value, str) or not value:
        raise TerraformJSONError(f"{where}: format_version is missing or not a string")
    head = value.split(".", 1)[0]
    if not head.isdigit():
        raise TerraformJSONError(f"{where}: format_version {value!r} is not MAJOR.MINOR")
    if int(head) not in SUPPORTED_FORMAT_MAJORS:
        raise TerraformJSONError(
            f"{where}: format_version {value!r} has unsupported major version {head} "
            f"(supported: {', '.join(f'{m}.x' for m in SUPPORTED_FORMAT_MAJORS)})"
        )
    return value


def detect_kind(doc: Any, where: str) -> str:
    """``"plan"``, ``"state"`` (show -json) or ``"tfstate"`` (raw state file)."""
    if not isinstance(doc, dict):
        raise TerraformJSONError(f"{where}: top level is {type(doc).__name__}, not an object")
    if "format_version" in doc:
        check_format_version(doc["format_version"], where)
        if PLAN_KEYS & doc.keys():
            return "plan"
        # show -json of a state; an empty state has nothing but the versions.
        if "values" in doc or set(doc) <= {"format_version", "terraform_version"}:
            return "state"
        raise TerraformJSONError(
            f"{where}: has format_version but neither plan fields ({', '.join(sorted(PLAN_KEYS))})"
            " nor state 'values'"
        )
    if "version" in doc and "lineage" in doc:
        version = doc["version"]
        if version not in SUPPORTED_STATE_FILE_VERSIONS:
            raise TerraformJSONError(
                f"{where}: state file version {version!r} is not supported (supported: 4,"
                " written by Terraform 0.12 and later)"
            )
        return "tfstate"
    raise TerraformJSONError(
        f"{where}: neither a Terraform plan/state JSON (no format_version) nor a state file"
        " (no version/lineage)"
    )


def _is_resource(d: dict[str, Any]) -> bool:
    return "type" in d and "mode" in d and "name" in d


def _changed_names(before: Any, after: Any, after_unknown: Any) -> list[str]:
    """Top-level attribute names whose value changes (or becomes unknown)."""
    names: set[str] = set()
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before.keys() | after.keys():
            if before.get(key) != after.get(key):
                names.add(key)
    elif before != after:
        names.add("*")
    if isinstance(after_unknown, dict):
        names.update(k for k, v in after_unknown.items() if v not in (False, None, {}, []))
    return sorted(names)


def make_object_hook(keep_values_for: Iterable[str] = ()):
    """A ``json`` object hook that drops attribute values bottom-up while decoding.

    Dicts are recognised by their keys: change objects (``actions`` + ``before``/``after``),
    resources (``type``/``mode``/``name``) and config blocks (``expressions``). Values of
    resources whose type is in ``keep_values_for`` survive (redacted later).
    """
    keep = frozenset(keep_values_for)

    def hook(d: dict[str, Any]) -> dict[str, Any]:
        if "actions" in d and ("before" in d or "after" in d):
            return {
                "actions": d["actions"],
                "changed": _changed_names(d.get("before"), d.get("after"), d.get("after_unknown")),
                "importing": d.get("importing") is not None,
                "replace_paths": d.get("replace_paths") or [],
            }
        if _is_resource(d):
            if d.get("type") in keep:
                return d
            d.pop("values", None)
            d.pop("sensitive_values", None)
            d.pop("expressions", None)
            for inst in d.get("instances") or ():
                if isinstance(inst, dict):
                    inst.pop("attributes", None)
                    inst.pop("attributes_flat", None)
                    inst.pop("private", None)
            return d
        if "expressions" in d and ("source" in d or "address" in d):
            d.pop("expressions", None)
        return d

    return hook


def loads(text: str | bytes, where: str, keep_values_for: Iterable[str] = ()) -> dict[str, Any]:
    """Decode Terraform JSON text with the slimming hook; corrupt JSON is a clear error."""
    try:
        doc = json.loads(text, object_hook=make_object_hook(keep_values_for))
    except json.JSONDecodeError as exc:
        raise TerraformJSONError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except UnicodeDecodeError as exc:
        raise TerraformJSONError(f"{where}: not UTF-8 text ({exc.reason})") from None
    if not isinstance(doc, dict):
        raise TerraformJSONError(f"{where}: top level is {type(doc).__name__}, not an object")
    return doc


def load_file(
    path: str | os.PathLike[str], keep_values_for: Iterable[str] = ()
) -> tuple[dict[str, Any], str]:
    """Read and decode ``path``; returns ``(doc, kind)``."""
    p = Path(path)
    try:
        # Text, not bytes: json would decode bytes to a second full-size str while parsing.
        data = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TerraformJSONError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise TerraformJSONError(f"{p}: not UTF-8 text ({exc.reason})") from None
    doc = loads(data, str(p), keep_values_for)
    del data
    return doc, detect_kind(doc, str(p))


def _path_steps(path: Any) -> list[Any] | None:
    """A sensitive-attribute path from a raw state file as a list of keys/indexes."""
    if not isinstance(path, list):
        return None
    steps: list[Any] = []
    for step in path:
        if isinstance(step, dict) and "value" in step:
            v = step["value"]
            steps.append(v if not isinstance(v, dict) else v.get("value"))
        else:
            steps.append(step)
    return steps


def redact(
    values: Any,
    sensitive: Any = None,
    sensitive_paths: Iterable[Any] = (),
    secret_keys: frozenset[str] = KNOWN_SECRET_KEYS,
) -> Any:
    """Copy of ``values`` with every sensitive part replaced by ``REDACTED``.

    ``sensitive`` is Terraform's mirror structure (``sensitive_values`` / ``*_sensitive``: true
    where the value is sensitive); ``sensitive_paths`` are the raw state file's
    ``sensitive_attributes``; ``secret_keys`` catches secrets a provider did not mark.
    """
    paths = [p for p in (_path_steps(x) for x in sensitive_paths) if p]
    return _redact(values, sensitive, paths, secret_keys)


def _redact(values: Any, sensitive: Any, paths: list[list[Any]], secret_keys: frozenset[str]):
    if sensitive is True or any(len(p) == 0 for p in paths):
        return REDACTED
    if isinstance(values, Mapping):
        out: dict[str, Any] = {}
        for key, val in values.items():
            if key in secret_keys and val not in (None, "", {}, []):
                out[key] = REDACTED
                continue
            sub = sensitive.get(key) if isinstance(sensitive, Mapping) else None
            sub_paths = [p[1:] for p in paths if p and p[0] == key]
            out[key] = _redact(val, sub, sub_paths, secret_keys)
        return out
    if isinstance(values, list):
        out_list = []
        for i, val in enumerate(values):
            sub = sensitive[i] if isinstance(sensitive, list) and i < len(sensitive) else None
            sub_paths = [p[1:] for p in paths if p and p[0] == i]
            out_list.append(_redact(val, sub, sub_paths, secret_keys))
        return out_list
    return values
