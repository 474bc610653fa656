"""The bad-input contract of every ``ctscan-ops`` command, in one place (no dagster).

Contract (README, "Command-line tools"): a command prints ONE JSON document on stdout and exits
0 on success, 1 on failure (a refused promotion, a parity mismatch, an unexpected error) and 2
on bad input; on bad input stderr holds one sentence saying what is wrong, where, and how to fix
it, stdout holds nothing, and no traceback is shown.

This module provides the three pieces that make that hold for every command:

* argparse **types with ranges** (:func:`finite_float`, :func:`bounded_int`, :func:`duration`,
  :func:`timestamp`, :func:`bucket_name`, :func:`existing_file`, :func:`output_dir`,
  :func:`sqlite_file`...): a bad value is refused by argparse, naming the option, before the
  command does anything (validate before acting);
* **file loading** (:func:`load_json_file`, :func:`loads_json`) whose errors name the file and
  the line, and which turns a nesting too deep for Python into a clear error instead of a
  ``RecursionError``;
* :func:`run` (used by ``ctscan_ops.cli.main``): parses, runs the handler with ``sys.stdout``
  pointed at stderr (progress and human text can never pollute the JSON), prints the document
  given to :func:`emit_json` only once it is fully serialized, and maps known exception types
  (:func:`classify`) to exit 2 with one clear sentence. Anything else is exit 1 with one line;
  the traceback is shown only with ``CTSCAN_DEBUG=1`` (an operator gets a sentence, a developer
  can still get the stack).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import socket
import sqlite3
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

# Cloud Monitoring limits (alert policies): alignment period 60 s .. 90,000 s (25 h); the retest
# window (duration) is a multiple of 60 s up to one day; auto-close 30 min .. 7 days.
MIN_ALIGNMENT_PERIOD_S = 60
MAX_ALIGNMENT_PERIOD_S = 90_000
MAX_DURATION_S = 86_400
MIN_AUTO_CLOSE_S = 1_800
MAX_AUTO_CLOSE_S = 7 * 86_400
# Timestamps: epoch seconds or ISO 8601 in [1970-01-01, 2100-01-01) UTC.
MIN_TIMESTAMP_S = 0.0
MAX_TIMESTAMP_S = 4_102_444_800.0
# JSON deeper than this is refused (Python's C parser would raise RecursionError near 1,000).
MAX_JSON_DEPTH = 500

SANDBOX_UP = "run `ctscan-ops sandbox up`"


class CliInputError(ValueError):
    """Bad command-line input; the message names the option or file and says what to do."""


class ServiceDownError(CliInputError):
    """A service the command needs does not answer (sandbox down, wrong endpoint)."""


# --------------------------------------------------------------------------- argument types


class ContractParser(argparse.ArgumentParser):
    """argparse, but a usage error is ONE line (what, where, how to get help), exit 2.

    Sub-parsers inherit the class, so every command of ``ctscan-ops`` gets it.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _type(name: str, fn: Callable[[str], Any]) -> Callable[[str], Any]:
    """Give a type function a readable ``__name__`` (argparse prints it on ValueError)."""
    fn.__name__ = name
    return fn


def finite_float(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Callable[[str], float]:
    """A finite float in ``[lo, hi]`` (``lo_open``/``hi_open`` exclude that end)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        too_low = lo is not None and (value < lo or (lo_open and value == lo))
        too_high = hi is not None and (value > hi or (hi_open and value == hi))
        if too_low or too_high:
            span = _range(lo, hi, lo_open, hi_open)
            raise argparse.ArgumentTypeError(f"{text} is out of range {span}")
        return value

    return _type("number", parse)


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    left = "-inf" if lo is None else f"{lo:g}"
    right = "inf" if hi is None else f"{hi:g}"
    opening = "(" if lo_open or lo is None else "["
    closing = ")" if hi_open or hi is None else "]"
    return f"{opening}{left}, {right}{closing}"


def _int(text: str) -> int:
    """A plain decimal integer (``"60"``, ``"-5"``); ``"6e23"`` and ``"1.5"`` are refused."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not re.fullmatch(r"[+-]?\d{1,19}", stripped):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (digits only, at most 19)")
    return int(stripped)


def bounded_int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer in ``[lo, hi]``."""

    def parse(text: str) -> int:
        value = _int(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range {_range(lo, hi)}")
        return value

    return _type("integer", parse)


def check_duration(value: int, lo: int = 0, hi: int = MAX_DURATION_S, what: str = "") -> int:
    """A number of seconds that is a multiple of 60 in ``[lo, hi]`` (argparse-style error)."""
    prefix = f"{what}: " if what else ""
    if value < lo or value > hi:
        raise argparse.ArgumentTypeError(f"{prefix}{value} s is out of range [{lo}, {hi}] s")
    if value % 60:
        raise argparse.ArgumentTypeError(f"{prefix}{value} s is not a multiple of 60 s")
    return value


def duration(lo: int = 0, hi: int = MAX_DURATION_S) -> Callable[[str], int]:
    """Seconds, a multiple of 60, in ``[lo, hi]`` (the API's rule for retest windows)."""
    return _type("duration", lambda text: check_duration(_int(text), lo, hi))


def alignment_period() -> Callable[[str], int]:
    """An alignment period in seconds: 60 .. 90,000 (the alerting API's range)."""
    return bounded_int(MIN_ALIGNMENT_PERIOD_S, MAX_ALIGNMENT_PERIOD_S)


def auto_close() -> Callable[[str], int]:
    """An auto-close in seconds: 1,800 .. 604,800 (30 min .. 7 days, the API's range)."""
    return bounded_int(MIN_AUTO_CLOSE_S, MAX_AUTO_CLOSE_S)


def duration_list(lo: int = 0, hi: int = MAX_DURATION_S) -> Callable[[str], tuple[int, ...]]:
    """A comma-separated list of durations (``0,60,300``), each checked as :func:`duration`."""

    def parse(text: str) -> tuple[int, ...]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{text!r} is an empty list of seconds")
        return tuple(check_duration(_int(x), lo, hi) for x in items)

    return _type("durations", parse)


def parse_timestamp(text: str) -> float:
    """ISO 8601 (naive = UTC) or epoch seconds within [1970, 2100) -> epoch seconds."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not a timestamp")
    raw = text.strip()
    try:
        number: float | None = float(raw)
    except ValueError:
        number = None
    if number is None:
        try:
            dt = datetime.fromisoformat(raw.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"{raw!r} is not a timestamp (use ISO 8601 like 2026-01-01T00:00:00Z "
                "or epoch seconds)"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        number = dt.timestamp()
    elif not math.isfinite(number):
        raise ValueError(f"{raw!r} is not a finite timestamp")
    if not MIN_TIMESTAMP_S <= number < MAX_TIMESTAMP_S:
        raise ValueError(f"{raw!r} is outside 1970-01-01 .. 2100-01-01 UTC")
    return number


def timestamp() -> Callable[[str], str]:
    """Validate a timestamp; the original text is kept (commands parse it their own way)."""

    def parse(text: str) -> str:
        try:
            parse_timestamp(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return _type("timestamp", parse)


def iso_date() -> Callable[[str], datetime]:
    """An ISO date or date-time (naive = UTC) in [1970, 2100) -> aware datetime."""

    def parse(text: str) -> datetime:
        try:
            dt = datetime.fromisoformat(text.strip().replace("z", "Z"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an ISO date (e.g. 2026-01-31 or 2026-01-31T00:00:00Z)"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        if not MIN_TIMESTAMP_S <= dt.timestamp() < MAX_TIMESTAMP_S:
            raise argparse.ArgumentTypeError(f"{text!r} is outside 1970-01-01 .. 2100-01-01 UTC")
        return dt

    return _type("date", parse)


_BUCKET_PART = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def check_bucket_name(name: str) -> str:
    """GCS bucket naming rules; raises ValueError saying which rule ``name`` breaks.

    3-63 characters (up to 222 with dots, each dot-separated part at most 63), lowercase
    letters, digits, ``-``, ``_`` and ``.``, starting and ending with a letter or digit, not an
    IP address, not starting with ``goog`` and not containing ``google``. A name like
    ``BAD/../NAME`` is refused here instead of being sent (an HTTP client would normalize the
    path and talk to bucket ``NAME``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a bucket name must not be empty")
    if len(name) < 3 or len(name) > (222 if "." in name else 63):
        raise ValueError(f"{name!r} is not a bucket name: 3-63 characters (222 with dots)")
    if not all(_BUCKET_PART.fullmatch(part) for part in name.split(".")):
        raise ValueError(
            f"{name!r} is not a bucket name: use lowercase letters, digits, '-', '_' and '.', "
            "start and end each dot-separated part with a letter or digit"
        )
    if _IPV4.fullmatch(name):
        raise ValueError(f"{name!r} is not a bucket name: it looks like an IP address")
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        raise ValueError(f"{name!r} is not a bucket name: 'goog...' and 'google' are reserved")
    return name


def bucket_name() -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            return check_bucket_name(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return _type("bucket", parse)


def check_readable_file(text: str, *, nonempty: bool = True) -> Path:
    """An existing, readable regular file (not a directory; not empty unless allowed)."""
    path = Path(text)
    if not text:
        raise ValueError("an empty path")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{text}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{text}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise ValueError(f"{text}: is a directory, not a file")
    if not path.is_file():
        raise ValueError(f"{text}: is not a regular file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{text}: permission denied")
    if nonempty and st.st_size == 0:
        raise ValueError(f"{text}: is empty")
    return path


def existing_file(nonempty: bool = True) -> Callable[[str], str]:
    """argparse type: :func:`check_readable_file` (keeps the text)."""

    def parse(text: str) -> str:
        try:
            check_readable_file(text, nonempty=nonempty)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return _type("file", parse)


SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(text: str) -> Path:
    """An existing SQLite database file; never creates one (sqlite3.connect would)."""
    path = check_readable_file(text, nonempty=True)
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise ValueError(f"{text}: is not an SQLite database (no SQLite header)")
    return path


def sqlite_file() -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            check_sqlite_file(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return _type("sqlite file", parse)


def check_output_dir(text: str) -> Path:
    """A directory we may write into: an existing writable directory, or a path whose nearest
    existing ancestor is a writable directory (created only when the command writes)."""
    if not text:
        raise ValueError("an empty path")
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{text}: exists and is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{text}: directory is not writable")
        return path
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{text}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{text}: cannot create it ({parent} is not writable)")
    return path


def output_dir() -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            check_output_dir(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return _type("directory", parse)


def existing_dir() -> Callable[[str], str]:
    """An existing directory that may be written into (e.g. a working tree to apply to)."""

    def parse(text: str) -> str:
        path = Path(text)
        if not text or not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r}: not an existing directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{text}: directory is not writable")
        return text

    return _type("directory", parse)


def choice_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """A comma-separated subset of ``choices`` (unknown names are refused, listing the known)."""

    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{text!r} is empty; pick from {', '.join(choices)}")
        unknown = [x for x in items if x not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, unknown))}; known: {', '.join(choices)}"
            )
        return list(dict.fromkeys(items))

    return _type("list", parse)


# --------------------------------------------------------------------------- JSON files


def json_depth_exceeds(doc: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a decoded document nests deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def loads_json(text: str | bytes, where: str, **kwargs: Any) -> Any:
    """``json.loads`` whose errors name ``where`` and the line; deep nesting is a clear error."""
    try:
        doc = json.loads(text, **kwargs)
    except json.JSONDecodeError as exc:
        raise CliInputError(
            f"{where}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise CliInputError(f"{where}: not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise CliInputError(nesting_message(where)) from None
    if json_depth_exceeds(doc):
        raise CliInputError(nesting_message(where))
    return doc


def nesting_message(where: str) -> str:
    return f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep; this is not valid input"


def load_json_file(path: str | os.PathLike[str]) -> Any:
    """Read and decode a JSON file; every error names the file (and the line)."""
    p = Path(path)
    check_readable_file(str(p), nonempty=True)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliInputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise CliInputError(f"{p}: not UTF-8 text ({exc.reason})") from None
    return loads_json(text, str(p))


# --------------------------------------------------------------------------- services


def endpoint_answers(endpoint: str, timeout_s: float = 1.0) -> bool:
    """Whether ``host:port`` (or ``http://host:port``) accepts a TCP connection."""
    hostport = endpoint.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def require_service(name: str, endpoint: str | None, settings: Any) -> None:
    """In sandbox mode, fail fast (before any request) if ``name``'s emulator is not up.

    Without this a client falls back to Application Default Credentials and dies with
    ``DefaultCredentialsError``, or retries a closed port for a minute.
    """
    if str(getattr(settings, "mode", "sandbox")) != "sandbox":
        return
    if not endpoint:
        state = Path(settings.sandbox_dir) / "state.json"
        if state.exists():
            try:
                json.loads(state.read_text())
            except (OSError, ValueError):
                raise ServiceDownError(
                    f"{state} is corrupt (truncated or not JSON): run `ctscan-ops sandbox down`, "
                    f"delete it, then {SANDBOX_UP}"
                ) from None
        raise ServiceDownError(f"the sandbox is down (no {name} emulator endpoint): {SANDBOX_UP}")
    if not endpoint_answers(endpoint):
        raise ServiceDownError(
            f"the sandbox is down ({name} emulator at {endpoint} does not answer): {SANDBOX_UP}"
        )


# --------------------------------------------------------------------------- output


class _Output:
    """Where :func:`emit_json` writes: the real stdout saved by :func:`run`."""

    stream: Any = None


def dumps_json(doc: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Serialize fully (strict JSON: NaN/inf refused) before anything is printed."""
    return json.dumps(doc, indent=indent, sort_keys=sort_keys, allow_nan=False, default=str)


class OutputError(RuntimeError):
    """The command built a document that is not strict JSON: a bug (exit 1), not bad input."""


def emit_json(doc: Any, *, indent: int | None = 2) -> None:
    """Print ``doc`` as the command's one JSON document (all or nothing)."""
    try:
        text = dumps_json(doc, indent=indent)
    except (ValueError, TypeError) as exc:
        raise OutputError(f"the output document is not valid JSON ({exc})") from None
    stream = _Output.stream or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def info(message: str) -> None:
    """Human-readable progress/summary text: always stderr."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- errors -> exit codes


def _sandbox_hint_for_credentials() -> str:
    if os.environ.get("CTSCAN_MODE", "sandbox").strip().lower() == "gcp":
        return (
            "no Google credentials (CTSCAN_MODE=gcp): run `gcloud auth application-default "
            "login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
        )
    return (
        "no emulator endpoint and no Google credentials: the sandbox is down, "
        f"{SANDBOX_UP} (or, against GCP, set CTSCAN_MODE=gcp and run "
        "`gcloud auth application-default login`)"
    )


def classify(exc: BaseException) -> tuple[int, str] | None:
    """Map a known exception to (exit code, one sentence with the fix); None if unknown."""
    from ctscan_ops.config import ConfigError

    try:
        from google.auth.exceptions import DefaultCredentialsError, TransportError
    except ImportError:  # pragma: no cover - google-auth is a dependency
        DefaultCredentialsError = TransportError = ()  # type: ignore[assignment,misc]
    try:
        from google.api_core import exceptions as gexc
    except ImportError:  # pragma: no cover
        gexc = None  # type: ignore[assignment]
    try:
        import requests
    except ImportError:  # pragma: no cover
        requests = None  # type: ignore[assignment]

    if isinstance(exc, RecursionError):
        return EXIT_BAD_INPUT, "input nested too deeply to process (JSON/YAML depth)"
    if isinstance(exc, ConfigError):
        return EXIT_BAD_INPUT, f"configuration: {exc} (fix the environment variable)"
    if isinstance(exc, DefaultCredentialsError):
        return EXIT_BAD_INPUT, _sandbox_hint_for_credentials()
    if isinstance(exc, ConnectionRefusedError | TransportError) or (
        requests is not None and isinstance(exc, requests.exceptions.ConnectionError)
    ):
        return EXIT_BAD_INPUT, f"cannot connect ({_short(exc)}): the sandbox is down, {SANDBOX_UP}"
    if gexc is not None:
        if isinstance(exc, gexc.ServiceUnavailable | gexc.RetryError):
            return EXIT_BAD_INPUT, f"unavailable ({_short(exc)}): the sandbox is down, {SANDBOX_UP}"
        if isinstance(exc, gexc.NotFound):
            msg = _short(exc)
            if "bucket" in msg.lower():
                return EXIT_BAD_INPUT, (
                    f"bucket not found ({msg}): check --bucket and the settings, or "
                    f"{SANDBOX_UP} to create the sandbox buckets"
                )
            return EXIT_BAD_INPUT, f"not found: {msg}"
        if isinstance(exc, gexc.Forbidden | gexc.Unauthorized):
            return EXIT_BAD_INPUT, f"permission denied: {_short(exc)} (check the credentials)"
        if isinstance(exc, gexc.InvalidArgument | gexc.BadRequest):
            return EXIT_BAD_INPUT, f"the service refused the request: {_short(exc)}"
    if isinstance(exc, sqlite3.DatabaseError):
        return EXIT_BAD_INPUT, f"not a usable SQLite database: {exc} (check --db)"
    if isinstance(exc, UnicodeDecodeError):
        return EXIT_BAD_INPUT, f"input is not UTF-8 text ({exc.reason})"
    if isinstance(exc, ValueError):
        return EXIT_BAD_INPUT, str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_BAD_INPUT, f"{where}{exc.strerror or exc}"
    return None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _debug() -> bool:
    return os.environ.get("CTSCAN_DEBUG", "").strip() not in ("", "0", "false", "no")


def run(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, prog: str = "ctscan-ops"
) -> int:
    """Parse ``argv`` and run the chosen handler under the contract; returns the exit code."""
    real_stdout = sys.stdout
    err = sys.stderr
    try:
        # argparse prints usage errors to stderr and exits 2; --help prints to stdout, exits 0.
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    command = " ".join(
        str(v)
        for k, v in vars(args).items()
        if k == "command" or (k.endswith("_command") and isinstance(v, str))
    )
    label = f"{prog} {command}".strip()
    previous = _Output.stream
    _Output.stream = real_stdout
    try:
        with contextlib.redirect_stdout(err):
            code = args.func(args)
        return int(code or 0)
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=err)
        return 130
    except SystemExit as exc:  # a handler calling sys.exit / parser.error
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception as exc:  # the one place that turns errors into exit codes
        known = classify(exc)
        if _debug():
            traceback.print_exc(file=err)
        if known is not None:
            code, message = known
            print(f"{label}: error: {message}", file=err)
            return code
        print(
            f"{label}: internal error: {type(exc).__name__}: {_short(exc)} "
            "(set CTSCAN_DEBUG=1 for the traceback, and report it)",
            file=err,
        )
        return EXIT_FAILURE
    finally:
        _Output.stream = previous


def captured(fn: Callable[[], int]) -> tuple[int, str, str]:
    """Run ``fn`` with stdout/stderr captured (for tests and tools)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fn()
    return code, out.getvalue(), err.getvalue()


def print_raw(text: str) -> None:
    """Write non-JSON text to the real stdout (only where a format other than JSON was asked)."""
    stream = _Output.stream or sys.stdout
    stream.write(text)
    stream.flush()
