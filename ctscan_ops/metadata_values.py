"""Dagster metadata values for the operator view (thin wrappers over ``common/view.py``).

The UI renders a table value and a short markdown image inline on the asset page; a column
schema under ``dagster/column_schema`` and a row count under ``dagster/row_count`` feed the
asset page's "Columns" section and row-count plots.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from ctscan_ops.common.view import Column, image_markdown


def table_schema(columns: Sequence[Column]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.type, description=c.description or None) for c in columns]
    )


def table_value(
    columns: Sequence[Column], records: Sequence[Mapping[str, Any]]
) -> dg.TableMetadataValue:
    """A table the UI shows inline: every record restricted to ``columns``, in that order."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({c.name: r.get(c.name) for c in columns}) for r in records],
        schema=table_schema(columns),
    )


def image_value(title: str, url: str, full_url: str | None = None) -> dg.MarkdownMetadataValue:
    """An inline picture (``url`` must be loadable by the operator's browser)."""
    return dg.MetadataValue.md(image_markdown(title, url, full_url))


def table_shape(rows: int, columns: Sequence[Column]) -> dict[str, Any]:
    """``dagster/row_count`` and ``dagster/column_schema`` for an asset that is a table."""
    return {
        "dagster/row_count": dg.MetadataValue.int(int(rows)),
        "dagster/column_schema": table_schema(columns),
    }
