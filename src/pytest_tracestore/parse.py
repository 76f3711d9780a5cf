"""Reading artifact lines back into records, in either format.

Loaded on first use: recording spans never reads a line back, so a test
process that only records never loads this module.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Union

from .base import TraceStoreWarning
from .record import (
    SpanEvent,
    SpanLink,
    SpanRecord,
    estimated_bytes,
    make_record,
    normalize_kind,
    normalize_span_id,
    normalize_status,
    normalize_trace_id,
)
from .serialize import _int, _Interner, _mapping, _string

__all__ = [
    "CorruptLines",
    "is_traces_data",
    "parse_records",
    "read_records",
    "record_from_dict",
]


def is_traces_data(data: Any) -> bool:
    """Whether a decoded JSON value looks like an OTLP ``TracesData`` (or export request)."""
    return isinstance(data, Mapping) and ("resourceSpans" in data or "resource_spans" in data)


def record_from_dict(data: Mapping[str, Any], interner: _Interner | None = None) -> SpanRecord:
    """Build a record from one artifact line's dict.

    Raises :class:`ValueError` naming the field when the dict is not a span.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    intern = interner or _Interner()
    try:
        trace_id = normalize_trace_id(data["trace_id"])
        span_id = normalize_span_id(data["span_id"])
        name = _string(data["name"], "name")
        start = _int(data["start_time_unix_nano"], "start_time_unix_nano")
        end = _int(data["end_time_unix_nano"], "end_time_unix_nano")
    except KeyError as exc:
        raise ValueError(f"missing field {exc.args[0]!r}") from None
    parent = data.get("parent_span_id")
    events = []
    for item in data.get("events") or ():
        item = _mapping(item, "events")
        events.append(
            SpanEvent(
                _string(item.get("name", ""), "events.name"),
                _int(item.get("time_unix_nano", 0), "events.time_unix_nano"),
                intern.attrs(_mapping(item.get("attributes"), "events.attributes")),
            )
        )
    links = []
    for item in data.get("links") or ():
        item = _mapping(item, "links")
        links.append(
            SpanLink(
                item.get("trace_id"),  # type: ignore[arg-type]  # validated inside
                item.get("span_id"),  # type: ignore[arg-type]
                intern.attrs(_mapping(item.get("attributes"), "links.attributes")),
            )
        )
    description = data.get("status_description")
    return make_record(
        trace_id,
        span_id,
        None if parent in (None, "") else normalize_span_id(parent),
        name,
        normalize_kind(data.get("kind", "INTERNAL")),
        normalize_status(data.get("status", "UNSET")),
        None if description in (None, "") else str(description),
        start,
        end,
        intern.attrs(_mapping(data.get("attributes"), "attributes")),
        tuple(events),
        tuple(links),
        intern.resource(_mapping(data.get("resource"), "resource")),
        intern.scope(data.get("scope")),
        str(data.get("trace_state") or ""),
        0,
    )


_MAX_LINE_WARNINGS = 20


class CorruptLines:
    """Reports the lines skipped while reading one source of artifact lines.

    Each of the first few skipped lines gets a :class:`TraceStoreWarning`
    naming the source, the line number and the problem; :meth:`done` then
    adds one warning with the total, so a badly broken file does not flood
    the output.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.skipped = 0

    def skip(self, lineno: int, exc: BaseException) -> None:
        """Count line ``lineno`` as skipped because of ``exc``, warning while few."""
        self.skipped += 1
        if self.skipped <= _MAX_LINE_WARNINGS:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            warnings.warn(
                f"{self.name}:{lineno}: skipped a corrupt line ({reason})",
                TraceStoreWarning,
                stacklevel=4,
            )

    def done(self) -> None:
        """Warn once with the total, if more lines were skipped than were named."""
        if self.skipped > _MAX_LINE_WARNINGS:
            warnings.warn(
                f"{self.name}: skipped {self.skipped} corrupt lines in all",
                TraceStoreWarning,
                stacklevel=4,
            )


def read_records(path: Union[str, os.PathLike[str]]) -> Iterator[SpanRecord]:
    """Yield the records of an artifact file, skipping corrupt lines with a warning.

    The file is either our JSON Lines (one span object per line) or OTLP JSON
    Lines (one ``TracesData`` per line); the first line that parses decides.
    """
    with open(path, "rb") as handle:
        yield from parse_records(handle, os.fspath(path))


def parse_records(lines: Iterable[Union[str, bytes]], name: str) -> Iterator[SpanRecord]:
    """Yield the records of artifact lines; ``name`` says where they came from in warnings.

    Either format is read, as in :func:`read_records`.  A torn or corrupt line
    is skipped with a :class:`TraceStoreWarning` naming ``name``, the line
    number and the problem.
    """
    interner = _Interner()
    corrupt = CorruptLines(name)
    otlp: Optional[bool] = None
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            if otlp is None:
                otlp = is_traces_data(data)
            if otlp:
                from .otlp import records_from_traces_data

                # Sizes are estimated later from our own line form: an
                # OTLP line is longer and may hold several spans.
                records = records_from_traces_data(data, interner=interner)
            else:
                record = record_from_dict(data, interner)
                # The line's length is what the memory budget estimates from.
                object.__setattr__(record, "_size", estimated_bytes(len(raw)))
                records = [record]
        except (ValueError, TypeError, RecursionError) as exc:
            corrupt.skip(lineno, exc)
            continue
        yield from records
    corrupt.done()
