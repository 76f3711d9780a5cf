"""What the rest of the package shares: its warning, its defaults and their checks, how a path is shown.

Kept apart, and free of imports, so that a process which records nothing (a
pytest-xdist controller, say) can check its options without loading the
store, the converter and the processor.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "FORMATS",
    "OPEN_SPANS_KEY",
    "TraceStoreWarning",
    "check_limit",
    "display_path",
    "warn_always",
    "file_mode",
    "is_traces_data",
]

#: The default memory budget of a store: 256 MiB.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

#: The longest line a reader takes from a trace file: 16 MiB, the newline not
#: counted.  A longer line is skipped with a warning, never held whole.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024

#: How many ended spans wait, by default, before their records are added to the
#: store together (their lines are in the file as each span ends).  Runs of 16
#: or more already get most of the gain.
DEFAULT_BATCH_SIZE = 32

#: The artifact formats: our JSON Lines, and OTLP JSON Lines (one span per line).
FORMATS = ("jsonl", "otlp")

#: The OpenTelemetry context value naming the (trace id, span id) pairs of the
#: plugin's own spans still open (the session's, the test's): a trace waited
#: for as a whole need not wait for them to arrive.
OPEN_SPANS_KEY = "pytest_tracestore.open_spans"


class TraceStoreWarning(UserWarning):
    """Something went wrong with trace storage; the test run goes on."""


def warn_always(message: str, stacklevel: int = 2) -> None:
    """Issue a :class:`TraceStoreWarning` that a filter set to "error" cannot raise.

    For warnings from pytest's own hooks and from the application's code:
    raised there, a warning would end the run with an INTERNALERROR or break
    the code under test, while the run should go on and say what happened.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("always", TraceStoreWarning)
        warnings.warn(message, TraceStoreWarning, stacklevel=stacklevel + 1)


def check_limit(name: str, value: object) -> None:
    """Raise ``ValueError`` naming ``name`` and ``value`` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"invalid {name} {value!r}: expected an integer >= 1")


def is_traces_data(data: object) -> bool:
    """Whether a decoded JSON value looks like an OTLP ``TracesData`` (or export request).

    Here, with no imports, so that the OTLP codec and the line readers can
    both ask without importing each other.
    """
    return isinstance(data, Mapping) and ("resourceSpans" in data or "resource_spans" in data)


def file_mode() -> int:
    """The mode of every file the plugin writes: 0o666 less the umask, never writable by all."""
    return 0o666 & ~_umask() & ~0o002


def _umask() -> int:
    # Read where the system shows it: setting it to read it back would
    # change it, for a moment, for every thread of the process.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def display_path(path: str | os.PathLike[str], cwd: str | os.PathLike[str]) -> str:
    """``path`` as the user would type it: relative to ``cwd`` when it lies inside it, else absolute."""
    absolute = os.path.abspath(path)
    base = os.path.abspath(cwd)
    try:
        inside = os.path.commonpath([absolute, base]) == base
    except ValueError:  # on another drive
        inside = False
    return os.path.relpath(absolute, base) if inside else absolute
