"""What the rest of the package shares: its warning, its defaults and their checks.

Kept apart, and free of imports, so that a process which records nothing (a
pytest-xdist controller, say) can check its options without loading the
store, the converter and the processor.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "FORMATS",
    "TraceStoreWarning",
    "check_limit",
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


class TraceStoreWarning(UserWarning):
    """Something went wrong with trace storage; the test run goes on."""


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
