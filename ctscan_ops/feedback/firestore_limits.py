"""Firestore's per-document limits as pure checks, so a row that would be refused is quarantined.

Why a pre-check: a document Firestore refuses fails the whole ``WriteBatch`` it is in (the good
rows around it and the checkpoint included), and some refusals happen in the client before any
request (``ValueError: Value out of range``, ``UnicodeEncodeError``). Checking every document
before it joins a batch turns each limit into a quarantine reason of its own; the migration
still bisects a batch that Firestore refuses anyway (see :mod:`ctscan_ops.feedback.migrate`).

Sources: Firestore "Quotas and limits" and "Storage size calculations" pages. Measured against
Google's emulator (``cloud-firestore-emulator``, see ``tests/feedback/test_firestore_limits.py``):

====================================  ==========================  ===========================
limit                                 documented                  emulator
====================================  ==========================  ===========================
document size (formula below)         1,048,576 bytes             enforced, same formula
string / bytes value                  1,048,487 bytes             enforced
field path (``a.b`` of nested keys)   1,500 bytes                 enforced (top and nested)
reserved field names ``__.*__``       refused                     enforced
empty field name                      refused                     client refuses (ValueError)
integer                               64-bit signed               client refuses (ValueError)
lone surrogates / invalid UTF-8       strings must be UTF-8       client refuses (UnicodeError)
array directly inside an array        refused                     enforced
map/array nesting depth               20                          enforced (20 ok, 21 refused)
fields per document (nested incl.)    20,000                      NOT enforced (20,001 accepted)
indexed value > 1,500 bytes           truncated in the index      accepted (not an error)
====================================  ==========================  ===========================

An indexed string over 1,500 bytes is not a write error in production either (the index keeps a
truncated prefix; queries on such values may be inconsistent), so it is not a quarantine rule.
Long ``user_note`` values are never queried; an index exemption for that field would also save
index storage (``terraform/modules/firestore``; not done here).

Size of a document = document name size + sum of field sizes + 32, where a string is its UTF-8
length + 1, a name is the sum of its collection/document id sizes + 16, a field is its name's
string size + its value size, a map is the sum of its fields, an array the sum of its values,
bool/null 1, int/float/timestamp 8, bytes their length. The emulator agrees to the byte (a
document at exactly 1,048,576 is accepted, one byte more is refused).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

MAX_DOCUMENT_BYTES = 1_048_576
MAX_VALUE_BYTES = 1_048_487  # 1 MiB - 89
MAX_FIELD_PATH_BYTES = 1_500
MAX_DEPTH = 20
MAX_FIELDS = 20_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Quarantine reason codes, one per kind of limit (stable strings, stored in Firestore).
DOCUMENT_TOO_LARGE = "firestore_document_too_large"
VALUE_TOO_LONG = "firestore_value_too_long"
FIELD_PATH_TOO_LONG = "firestore_field_name_too_long"
FIELD_NAME_INVALID = "firestore_field_name_invalid"
INTEGER_OUT_OF_RANGE = "firestore_integer_out_of_range"
TOO_DEEP = "firestore_nesting_too_deep"
TOO_MANY_FIELDS = "firestore_too_many_fields"
NESTED_ARRAY = "firestore_array_in_array"
INVALID_UTF8 = "invalid_utf8"
UNSUPPORTED_TYPE = "firestore_unsupported_type"
KINDS: tuple[str, ...] = (
    DOCUMENT_TOO_LARGE,
    VALUE_TOO_LONG,
    FIELD_PATH_TOO_LONG,
    FIELD_NAME_INVALID,
    INTEGER_OUT_OF_RANGE,
    TOO_DEEP,
    TOO_MANY_FIELDS,
    NESTED_ARRAY,
    INVALID_UTF8,
    UNSUPPORTED_TYPE,
)
# What Firestore refused although every pre-check passed (found by bisecting a batch).
REJECTED_BY_FIRESTORE = "firestore_rejected"


@dataclass(frozen=True)
class Violation:
    """One limit a document breaks: the reason code and where (field path) and by how much."""

    kind: str
    detail: str


def utf8_len(text: str) -> int | None:
    """UTF-8 byte length, or None when ``text`` holds lone surrogates (not encodable)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def string_size(text: str) -> int:
    """Firestore's storage size of a string (UTF-8 bytes + 1); surrogates count as 3 bytes."""
    n = utf8_len(text)
    return (n if n is not None else len(text.encode("utf-8", "surrogatepass"))) + 1


def document_name_size(path: str) -> int:
    """``collection/doc[/collection/doc...]``: each id's string size, plus 16."""
    return sum(string_size(part) for part in path.split("/")) + 16


def _reserved(name: str) -> bool:
    return len(name) >= 4 and name.startswith("__") and name.endswith("__")


def _shown(name: str, limit: int = 40) -> str:
    """A field name for a message: repr (escapes surrogates), cut when long."""
    text = repr(name)
    return text if len(text) <= limit else f"{text[:limit]}...' ({len(name)} chars)"


class _Walker:
    """One pass over a document: value sizes and every violation found (first per kind kept)."""

    def __init__(self, skip: Collection[str]):
        self.skip = skip
        self.found: dict[str, Violation] = {}
        self.fields = 0

    def flag(self, kind: str, detail: str) -> None:
        if kind not in self.skip and kind not in self.found:
            self.found[kind] = Violation(kind, detail)

    def fields_size(self, mapping: dict, path_bytes: int, path: str, depth: int) -> int:
        total = 0
        for key, value in mapping.items():
            self.fields += 1
            where = f"{path}.{_shown(key)}" if path else _shown(key)
            if not isinstance(key, str):
                self.flag(UNSUPPORTED_TYPE, f"field name {key!r} at {path or '<top>'} is not text")
                key = str(key)
            n = utf8_len(key)
            if n is None:
                self.flag(INVALID_UTF8, f"field name {where} is not valid UTF-8")
                n = len(key.encode("utf-8", "surrogatepass"))
            elif n == 0:
                self.flag(FIELD_NAME_INVALID, f"empty field name in {path or '<top>'}")
            elif _reserved(key):
                self.flag(FIELD_NAME_INVALID, f"field name {where} is reserved (__name__)")
            key_path = path_bytes + (1 if path_bytes else 0) + n
            if key_path > MAX_FIELD_PATH_BYTES:
                self.flag(
                    FIELD_PATH_TOO_LONG,
                    f"field path {where} is {key_path} bytes > {MAX_FIELD_PATH_BYTES}",
                )
            total += n + 1 + self.value_size(value, key_path, where, depth, in_array=False)
        return total

    def value_size(self, value: Any, path_bytes: int, where: str, depth: int, in_array: bool):
        if value is None or isinstance(value, bool):
            return 1
        if isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                self.flag(INTEGER_OUT_OF_RANGE, f"{where} = {value} outside 64-bit integers")
            return 8
        if isinstance(value, float | _dt.datetime):
            return 8
        if isinstance(value, str):
            n = utf8_len(value)
            if n is None:
                self.flag(INVALID_UTF8, f"{where} holds lone surrogates / invalid UTF-8")
                n = len(value.encode("utf-8", "surrogatepass"))
            if n > MAX_VALUE_BYTES:
                self.flag(VALUE_TOO_LONG, f"{where} is {n} bytes > {MAX_VALUE_BYTES}")
            return n + 1
        if isinstance(value, bytes | bytearray):
            if len(value) > MAX_VALUE_BYTES:
                self.flag(VALUE_TOO_LONG, f"{where} is {len(value)} bytes > {MAX_VALUE_BYTES}")
            return len(value)
        if isinstance(value, dict):
            if depth + 1 > MAX_DEPTH:
                self.flag(TOO_DEEP, f"{where} nests deeper than {MAX_DEPTH} maps/arrays")
            return self.fields_size(value, path_bytes, where, depth + 1)
        if isinstance(value, list | tuple):
            if in_array:
                self.flag(NESTED_ARRAY, f"{where} is an array directly inside an array")
            if depth + 1 > MAX_DEPTH:
                self.flag(TOO_DEEP, f"{where} nests deeper than {MAX_DEPTH} maps/arrays")
            return sum(
                self.value_size(v, path_bytes, f"{where}[{i}]", depth + 1, in_array=True)
                for i, v in enumerate(value)
            )
        self.flag(UNSUPPORTED_TYPE, f"{where} is a {type(value).__name__}")
        return 0


def document_size(path: str, doc: dict[str, Any]) -> int:
    """Firestore's storage size of ``doc`` stored at ``path`` (``collection/doc id``)."""
    return document_name_size(path) + _Walker(()).fields_size(doc, 0, "", 0) + 32


def check_document(
    path: str, doc: dict[str, Any], skip: Collection[str] = ()
) -> tuple[int, list[Violation]]:
    """(size in bytes, violations) for ``doc`` at ``path``; kinds in ``skip`` are not checked.

    ``skip`` exists so that tests and the benchmark can switch one pre-check off and watch the
    fallback (bisecting the batch Firestore refuses) do the job instead.
    """
    walker = _Walker(skip)
    size = document_name_size(path) + walker.fields_size(doc, 0, "", 0) + 32
    if size > MAX_DOCUMENT_BYTES:
        walker.flag(DOCUMENT_TOO_LARGE, f"document is {size} bytes > {MAX_DOCUMENT_BYTES}")
    if walker.fields > MAX_FIELDS:
        walker.flag(TOO_MANY_FIELDS, f"document has {walker.fields} fields > {MAX_FIELDS}")
    return size, list(walker.found.values())
