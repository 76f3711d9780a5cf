"""Span records as text: trace trees, compact attributes, failure listings.

Used by the report sections, the assertion helpers and
:meth:`TraceStore.render_trace`, so a trace reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Dict, List, Optional, Tuple

from .keyattrs import ordered_keys
from .record import SpanRecord, format_duration
from .redact import RedactionPolicy

__all__ = [
    "describe_failures",
    "error_summary",
    "plural",
    "render_spans",
    "render_tree",
    "span_path",
    "tree_rows",
]

_MAX_ATTRIBUTES = 6
_MAX_VALUE_CHARS = 40
_MAX_LINE_CHARS = 200


def plural(number: int, noun: str) -> str:
    """``1 span``, ``2 spans``: a number with its noun, singular or plural as it needs."""
    return f"{number} {noun if number == 1 else noun + 's'}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(value: Any) -> str:
    if isinstance(value, str):
        text = value if value and " " not in value and "," not in value else repr(value)
    elif isinstance(value, tuple):
        text = "[" + ", ".join(_value(v) for v in value) + "]"
    else:
        text = repr(value)
    return _cut(text, _MAX_VALUE_CHARS)


def format_attributes(
    attributes: Mapping[str, Any], redaction: Optional[RedactionPolicy] = None
) -> str:
    """``{key=value, ...}``: short values, at most a few keys, then how many more.

    The keys that explain the span (see :mod:`~pytest_tracestore.keyattrs`)
    come first, so a cut never hides them.
    """
    if not attributes:
        return ""
    items = [(key, attributes[key]) for key in ordered_keys(attributes)]
    shown = [
        f"{key}={_value(redaction.redact_value(key, value) if redaction else value)}"
        for key, value in items[:_MAX_ATTRIBUTES]
    ]
    if len(items) > _MAX_ATTRIBUTES:
        shown.append(f"+{len(items) - _MAX_ATTRIBUTES} more")
    return "{" + ", ".join(shown) + "}"


def error_summary(record: SpanRecord) -> str:
    """``Type: message`` of an error span, from its exception event or status."""
    message = record.exception_message or record.status_description or ""
    etype = record.error_type
    if etype and message:
        return f"{etype}: {message}"
    return etype or message


def _line(
    record: SpanRecord,
    durations: bool,
    attributes: bool,
    redaction: Optional[RedactionPolicy],
) -> str:
    parts = [redaction.redact_name(record.name) if redaction else record.name]
    if record.kind != "INTERNAL":
        parts.append(f"[{record.kind}]")
    if durations:
        parts.append(format_duration(record.end_time - record.start_time))
    if record.status == "ERROR":
        summary = error_summary(record)
        parts.append("ERROR ✗" + (f" {summary}" if summary else ""))
    else:
        parts.append(record.status)
    if attributes and record.attributes:
        parts.append(format_attributes(record.attributes, redaction))
    return " ".join(parts)


def tree_rows(records: Iterable[SpanRecord]) -> List[Tuple[str, SpanRecord]]:
    """Each span with its tree prefix (``├── `` and so on), depth first.

    Children sit under their parents, siblings in start order.  A span whose
    parent is not among ``records`` starts a tree of its own; spans caught in
    a parent cycle (a malformed file) are shown once each, as roots.
    """
    spans = sorted(records, key=lambda r: (r.start_time, r.end_time))
    ids = {r.span_id for r in spans}
    children: Dict[str, List[SpanRecord]] = {}
    roots: List[SpanRecord] = []
    for record in spans:
        parent = record.parent_span_id
        if parent is not None and parent in ids and parent != record.span_id:
            children.setdefault(parent, []).append(record)
        else:
            roots.append(record)
    rows: List[Tuple[str, SpanRecord]] = []
    seen: set[str] = set()

    def walk(record: SpanRecord, prefix: str, branch: str, inner: str) -> None:
        if record.span_id in seen:
            return
        seen.add(record.span_id)
        rows.append((prefix + branch, record))
        kids = children.get(record.span_id, ())
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, prefix + inner, "└── " if last else "├── ", "    " if last else "│   ")

    for record in roots + spans:  # then whatever a cycle kept from every root
        walk(record, "", "", "")
    return rows


def render_tree(
    records: Iterable[SpanRecord],
    *,
    durations: bool = True,
    attributes: bool = True,
    redaction: Optional[RedactionPolicy] = None,
) -> List[str]:
    """The lines of one trace's tree, children under parents, siblings by start time.

    A span whose parent was not recorded starts a tree of its own, marked
    ``…`` to say that its parent is missing.
    """
    lines: List[str] = []
    for prefix, record in tree_rows(records):
        orphan = not prefix and record.parent_span_id is not None
        text = _line(record, durations, attributes, redaction)
        lines.append(_cut(("… " if orphan else prefix) + text, _MAX_LINE_CHARS))
    return lines


def group_by_trace(records: Iterable[SpanRecord]) -> Dict[str, List[SpanRecord]]:
    """Records per trace id, in the order given (traces by their first record)."""
    traces: Dict[str, List[SpanRecord]] = {}
    for record in records:
        traces.setdefault(record.trace_id, []).append(record)
    return traces


def render_spans(
    records: Sequence[SpanRecord],
    *,
    durations: bool = True,
    attributes: bool = True,
    max_lines: Optional[int] = None,
    redaction: Optional[RedactionPolicy] = None,
) -> str:
    """Every trace among ``records`` as a tree, headed by its trace id.

    Past ``max_lines`` the text is cut, with a last line saying how many
    lines and spans were left out.
    """
    # Traces in the order of their first span's start.
    traces = group_by_trace(sorted(records, key=lambda r: r.start_time))
    lines: List[str] = []
    counts: List[int] = []  # how many spans the lines so far describe
    for trace_id, spans in traces.items():
        errors = sum(1 for r in spans if r.status == "ERROR")
        lines.append(f"trace {trace_id} ({plural(len(spans), 'span')}" + (f", {errors} ERROR)" if errors else ")"))
        counts.append(0)
        for line in render_tree(spans, durations=durations, attributes=attributes, redaction=redaction):
            lines.append("  " + line)
            counts.append(1)
    if max_lines is not None and len(lines) > max_lines:
        keep = max(max_lines - 1, 0)
        left_lines = len(lines) - keep
        left_spans = sum(counts[keep:])
        lines = lines[:keep] + [
            f"… {plural(left_lines, 'more line')} ({plural(left_spans, 'span')}) not shown; "
            "trace_store and the trace file hold them all"
        ]
    return "\n".join(lines)


def span_path(record: SpanRecord, by_id: Mapping[str, SpanRecord]) -> str:
    """``root > parent > span``: the span's recorded ancestors, ``…`` where one is missing."""
    names = [record.name]
    seen = {record.span_id}
    parent = record.parent_span_id
    while parent is not None and parent not in seen:
        found = by_id.get(parent)
        if found is None:
            names.append("…")
            break
        names.append(found.name)
        seen.add(parent)
        parent = found.parent_span_id
    return " > ".join(reversed(names))


def describe_failures(failures: Sequence[SpanRecord], context: Iterable[SpanRecord]) -> str:
    """One block per ERROR span: its tree path, trace id and ``Type: message``."""
    by_id = {r.span_id: r for r in context}
    for record in failures:
        by_id.setdefault(record.span_id, record)
    noun = "ERROR span" if len(failures) == 1 else "ERROR spans"
    lines = [f"{len(failures)} {noun}:"]
    for record in failures:
        lines.append(f"  {span_path(record, by_id)}  (trace {record.trace_id[:8]}, span {record.span_id[:8]})")
        summary = error_summary(record)
        if summary:
            lines.append(f"      {_cut(summary, _MAX_LINE_CHARS)}")
    return "\n".join(lines)
