"""Markdown tables for Dagster metadata: the one table helper, with cell escaping.

A cell's ``|`` would end the cell and a newline would end the row, so a value such as a
Terraform address with a pipe or a multi-line error message would break the table: pipes are
escaped (``\\|``) and line breaks become ``<br>`` (which GitHub-flavoured markdown and the
Dagster UI render inside a cell).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


def md_cell(value: Any, fmt: Callable[[Any], str] = str) -> str:
    """One cell's text: formatted with ``fmt``, pipes escaped, line breaks as ``<br>``."""
    text = fmt(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("|", "\\|").replace("\n", "<br>")


def md_table(
    header: Sequence[Any], rows: Iterable[Sequence[Any]], fmt: Callable[[Any], str] = str
) -> str:
    """A markdown table: ``header`` as given, each row's cells through ``fmt`` and escaped."""
    lines = [
        "| " + " | ".join(md_cell(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(md_cell(v, fmt) for v in row) + " |" for row in rows]
    return "\n".join(lines)
