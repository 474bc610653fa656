"""What the operator sees on an asset page, as plain data (no Dagster).

The Dagster UI (1.13) shows a metadata table value inline, a markdown value inline only when it
is shorter than 1,000 characters (else behind "[Show Markdown]"), and a markdown image inline
when its ``src`` is a URL the browser can load. These helpers build those values' content;
``ctscan_ops.metadata_values`` wraps them in Dagster types.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: the UI renders a markdown metadata value inline only below this length (MetadataEntry.tsx)
INLINE_MARKDOWN_LIMIT = 1000

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Column:
    """One column of a metadata table: name, Dagster column type, what it means."""

    name: str
    type: str = "string"
    description: str = ""


def rounded(value: Any, digits: int = 3) -> Scalar:
    """A cell value: floats to ``digits`` significant figures, NaN/inf as empty, rest as is."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}")
    return str(value)


#: width of inline pictures (inches at 100 dpi): they show whole in the asset page's metadata
#: value column from a ~1,700 px wide browser window on (measured in tests/view: the column is
#: ~540 px at 1,600 px and ~860 px at 1,920 px)
INLINE_IMAGE_WIDTH_IN = 6.4


def image_markdown(title: str, url: str, full_url: str | None = None) -> str:
    """A one-image markdown value that the UI renders inline, with a link to open it (or
    ``full_url``, a larger rendering) in a browser tab. Short: well under the inline limit."""
    alt = title.replace("[", "(").replace("]", ")")
    link = f"[open full size]({full_url})" if full_url else f"[open]({url})"
    text = f"![{alt}]({url})\n\n{link}"
    if len(text) >= INLINE_MARKDOWN_LIMIT:
        raise ValueError(
            f"image markdown for {title!r} is {len(text)} characters: the UI inlines markdown "
            f"only below {INLINE_MARKDOWN_LIMIT} (is the URL a data: URI?)"
        )
    return text


def union_columns(fixed: Sequence[Column], records: Iterable[Mapping[str, Any]]) -> list[Column]:
    """``fixed`` columns, then any extra keys the records carry (in first-seen order)."""
    names = {c.name for c in fixed}
    out = list(fixed)
    for record in records:
        for key, value in record.items():
            if key not in names:
                names.add(key)
                kind = "float" if isinstance(value, float) else "string"
                out.append(Column(key, kind))
    return out
