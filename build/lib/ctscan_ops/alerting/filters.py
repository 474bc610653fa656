"""Parser for the subset of the Cloud Monitoring filter language that alert policies use.

The same parser selects series locally (shadow evaluation, backtests) and in the sandbox
MetricService (``ListTimeSeries``), so a filter that works in one works in the other.

Supported grammar (case-sensitive field names, ``AND`` case-insensitive)::

    filter  := term ( "AND" term )*
    term    := [ "NOT" ] field op value
    field   := metric.type | resource.type | metric.labels.KEY | metric.label.KEY
             | resource.labels.KEY | resource.label.KEY
    op      := "=" | "!=" | ":"                 (":" = has substring, as in the API)
    value   := "quoted string" | bareword
             | starts_with("s") | ends_with("s") | one_of("a", "b", ...)

Quoted strings accept ``\\"`` and ``\\\\`` escapes. ``OR`` and parentheses are rejected with a
clear error instead of being misread: the catalog does not need them, and a silently wrong
selection would corrupt every false-positive figure downstream.

A label that a series does not have compares as the empty string for ``!=`` (so
``metric.labels.x != "a"`` matches a series without ``x``, as the API does) and never matches
``=``/``:``/functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Filter", "FilterError", "Term", "parse_filter"]


class FilterError(ValueError):
    """A filter string that this parser does not accept; the message names the position."""


@dataclass(frozen=True)
class Term:
    """One comparison ``field op value`` (``values`` has several entries only for ``one_of``)."""

    field: str  # "metric.type" | "resource.type" | "metric.labels.K" | "resource.labels.K"
    op: str  # "=" | "!=" | ":" | "starts_with" | "ends_with" | "one_of"
    values: tuple[str, ...]
    negate: bool = False

    def _test(self, actual: str | None) -> bool:
        if self.op == "!=":
            return (actual or "") != self.values[0]
        if actual is None:
            return False
        if self.op == "=":
            return actual == self.values[0]
        if self.op == ":":
            return self.values[0] in actual
        if self.op == "starts_with":
            return actual.startswith(self.values[0])
        if self.op == "ends_with":
            return actual.endswith(self.values[0])
        return actual in self.values  # one_of

    def matches(self, actual: str | None) -> bool:
        """Whether the field value ``actual`` (None = label absent) satisfies the term."""
        result = self._test(actual)
        return not result if self.negate else result


@dataclass(frozen=True)
class Filter:
    """A parsed filter: a conjunction of terms."""

    text: str
    terms: tuple[Term, ...]

    def matches(
        self,
        metric_type: str,
        metric_labels: Mapping[str, str] | None = None,
        resource_type: str = "",
        resource_labels: Mapping[str, str] | None = None,
    ) -> bool:
        """Whether a series with these identifiers is selected by the filter."""
        ml = metric_labels or {}
        rl = resource_labels or {}
        for term in self.terms:
            f = term.field
            if f == "metric.type":
                actual: str | None = metric_type
            elif f == "resource.type":
                actual = resource_type
            elif f.startswith("metric.labels."):
                actual = ml.get(f[len("metric.labels.") :])
            else:
                actual = rl.get(f[len("resource.labels.") :])
            if not term.matches(actual):
                return False
        return True

    def equality(self, field: str) -> str | None:
        """Value of a plain ``field = "value"`` term, if any (e.g. the metric type to list)."""
        for term in self.terms:
            if term.field == field and term.op == "=" and not term.negate:
                return term.values[0]
        return None

    @property
    def metric_type(self) -> str | None:
        return self.equality("metric.type")

    @property
    def resource_type(self) -> str | None:
        return self.equality("resource.type")


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|=|:|\(|\)|,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-/]*|[0-9][A-Za-z0-9_.\-/]*)
    )""",
    re.VERBOSE,
)

_FUNCS = ("starts_with", "ends_with", "one_of")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"filter: unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        start = m.start(kind)
        if kind == "string":
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        tokens.append((kind, raw, start))
        pos = m.end()
    return tokens


def _canonical_field(word: str, at: int) -> str:
    if word in ("metric.type", "resource.type"):
        return word
    for prefix, canon in (
        ("metric.labels.", "metric.labels."),
        ("metric.label.", "metric.labels."),
        ("resource.labels.", "resource.labels."),
        ("resource.label.", "resource.labels."),
    ):
        if word.startswith(prefix) and len(word) > len(prefix):
            return canon + word[len(prefix) :]
    raise FilterError(
        f"filter: unsupported field {word!r} at {at} (supported: metric.type, resource.type, "
        "metric.labels.KEY, resource.labels.KEY)"
    )


def parse_filter(text: str) -> Filter:
    """Parse ``text``; raises :class:`FilterError` naming the offending token and position."""
    if not isinstance(text, str) or not text.strip():
        raise FilterError("filter: empty filter")
    tokens = _tokenize(text)
    terms: list[Term] = []
    i = 0

    def expect(kind: str, what: str) -> tuple[str, str, int]:
        nonlocal i
        if i >= len(tokens):
            raise FilterError(f"filter: expected {what} at end of {text!r}")
        tok = tokens[i]
        if tok[0] != kind:
            raise FilterError(f"filter: expected {what} at {tok[2]}, found {tok[1]!r}")
        i += 1
        return tok

    while True:
        negate = False
        if i < len(tokens) and tokens[i][0] == "word" and tokens[i][1].upper() == "NOT":
            negate = True
            i += 1
        _, word, at = expect("word", "a field name")
        if word.upper() == "OR":
            raise FilterError(f"filter: OR at {at} is not supported (only AND)")
        field = _canonical_field(word, at)
        kind, op, at = expect("op", "an operator (=, !=, :)")
        if op not in ("=", "!=", ":"):
            raise FilterError(f"filter: expected an operator at {at}, found {op!r}")
        if i >= len(tokens):
            raise FilterError(f"filter: missing value after {word}{op}")
        kind, val, at = tokens[i]
        if kind == "string":
            i += 1
            terms.append(Term(field, op, (val,), negate))
        elif kind == "word" and val in _FUNCS and i + 1 < len(tokens) and tokens[i + 1][1] == "(":
            if op != "=":
                raise FilterError(f"filter: {val}() needs '=' at {at}, found {op!r}")
            i += 2
            args: list[str] = []
            while True:
                _, arg, _ = expect("string", f"a quoted argument of {val}()")
                args.append(arg)
                if i < len(tokens) and tokens[i][1] == ",":
                    i += 1
                    continue
                expect("op", "')'")
                break
            if val != "one_of" and len(args) != 1:
                raise FilterError(f"filter: {val}() takes one argument, got {len(args)}")
            terms.append(Term(field, val, tuple(args), negate))
        elif kind == "word":
            i += 1
            terms.append(Term(field, op, (val,), negate))
        else:
            raise FilterError(f"filter: expected a value at {at}, found {val!r}")
        if i >= len(tokens):
            break
        kind, word, at = tokens[i]
        if kind == "word" and word.upper() == "AND":
            i += 1
            continue
        if kind == "word" and word.upper() == "OR":
            raise FilterError(f"filter: OR at {at} is not supported (only AND)")
        if word in ("(", ")"):
            raise FilterError(f"filter: parentheses at {at} are not supported")
        raise FilterError(f"filter: expected AND at {at}, found {word!r}")
    return Filter(text=text, terms=tuple(terms))
