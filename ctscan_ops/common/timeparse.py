"""Time parsing and formatting shared by every input reader (one set of rules).

ISO 8601 with ``T`` or a space, fractional seconds, ``Z``/``z`` or an offset; a naive time is
UTC (the original app and the CSV exports write naive UTC). Epoch seconds are accepted where a
caller asks for them. Errors are :class:`ValueError` with a message naming the value; callers
add where it came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any


def parse_iso(value: Any) -> tuple[datetime, bool]:
    """An ISO 8601 string (or a datetime) -> ``(aware UTC datetime, was_naive)``."""
    if isinstance(value, datetime):
        dt = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{value!r} is not an ISO 8601 time")
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC), True
    return dt.astimezone(UTC), False


def parse_time(value: Any) -> float:
    """ISO 8601 (naive = UTC) or finite epoch seconds (number or numeric string) -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a timestamp")
        return float(value)
    if isinstance(value, datetime):
        return parse_iso(value)[0].timestamp()
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a timestamp")
    text = value.strip()
    try:
        number: float | None = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a timestamp")
        return number
    try:
        return parse_iso(text)[0].timestamp()
    except ValueError:
        raise ValueError(f"{text!r} is neither ISO 8601 nor epoch seconds") from None


def format_time(ts: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with ``Z`` (milliseconds only when there are any)."""
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat(
        timespec="milliseconds" if ts % 1 else "seconds"
    )
    return text.replace("+00:00", "Z")


def day_start(day: str) -> float:
    """Epoch seconds of a daily partition key's UTC midnight (``YYYY-MM-DD``)."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def calendar_days(days: Sequence[str]) -> list[str]:
    """Every day from the first to the last of ``days`` (a gap is a day with no partition)."""
    first = datetime.fromisoformat(min(days))
    n = (datetime.fromisoformat(max(days)) - first).days + 1
    return [(first + timedelta(days=i)).date().isoformat() for i in range(n)]
