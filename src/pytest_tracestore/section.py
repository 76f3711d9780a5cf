"""The "Captured traces" report section: a failed test's traces as text, errors first.

A CI log is read from the top and cut by whoever wrote it, so the section
puts the traces with an ERROR span first, collapses traces of the same
shape into one, and, when it must cut, drops traces without an error
before it drops one with.  Each trace ends with the command that opens it
from the artifact.  This module imports no pytest: the plugin hands it the
spans and a :class:`SectionOptions`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from .record import SpanRecord, format_duration
from .redact import RedactionPolicy
from .render import error_summary, format_attributes, group_by_trace, plural, tree_rows

__all__ = [
    "SECTION_MAX_LINES",
    "SectionOptions",
    "Shape",
    "render_section",
    "show_command",
    "trace_shape",
]

#: A section longer than this is cut, with a last line saying what was left out.
SECTION_MAX_LINES = 80

_MAX_LINE_CHARS = 200
_RED = "31;1"
_DIM = "2"

#: A trace's shape: each span's depth, name and status, in tree order.
Shape = Tuple[Tuple[int, str, str], ...]


@dataclass(frozen=True)
class SectionOptions:
    """How a section is written: what it names, whether it is coloured, how long it may be."""

    #: The artifact's path as the user would type it (see :func:`display_path`).
    artifact: str
    #: ANSI colour (red ERROR, dim offsets): only when pytest colours its output.
    color: bool = False
    max_lines: int = SECTION_MAX_LINES
    #: The run's HTML page, named below each trace when the run writes one.
    html_page: Optional[str] = None
    redaction: Optional[RedactionPolicy] = None


def show_command(artifact: str, trace_id: str) -> str:
    """The shell command that prints one trace of the artifact, quoted for pasting."""
    return f"pytest-tracestore show {shlex.quote(artifact)} {trace_id}"


def trace_shape(records: Iterable[SpanRecord]) -> Shape:
    """What makes two traces alike: their trees of span names and statuses."""
    # A tree row's prefix takes 4 characters a level ("├── ", "│   ", "    ").
    return tuple((len(prefix) // 4, r.name, r.status) for prefix, r in tree_rows(records))


class _Group:
    """Traces of one shape: the first of them stands for all."""

    __slots__ = ("spans", "size", "errors", "start")

    def __init__(self, spans: List[SpanRecord]) -> None:
        self.spans = spans
        self.size = 1
        self.errors = sum(1 for r in spans if r.status == "ERROR")
        self.start = min(r.start_time for r in spans)


def _groups(records: Iterable[SpanRecord]) -> List[_Group]:
    """Traces collapsed by shape; those with an ERROR span first, each part by start."""
    by_shape: Dict[Shape, _Group] = {}
    for spans in group_by_trace(sorted(records, key=lambda r: r.start_time)).values():
        shape = trace_shape(spans)
        group = by_shape.get(shape)
        if group is None:
            by_shape[shape] = _Group(spans)
        else:
            group.size += 1
    return sorted(by_shape.values(), key=lambda g: (g.errors == 0, g.start))


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: Optional[str]) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled and code and text else text


def _fit(segments: Sequence[Tuple[str, Optional[str]]], paint: _Paint) -> str:
    """Join (text, colour) segments, cut to the line limit before colouring."""
    out: List[str] = []
    room = _MAX_LINE_CHARS
    for text, code in segments:
        if len(text) >= room:
            out.append(paint(text[: room - 1] + "…", code))
            break
        out.append(paint(text, code))
        room -= len(text)
    return "".join(out)


def _span_segments(
    record: SpanRecord, redaction: Optional[RedactionPolicy]
) -> List[Tuple[str, Optional[str]]]:
    parts = [redaction.redact_name(record.name) if redaction else record.name]
    if record.kind != "INTERNAL":
        parts.append(f"[{record.kind}]")
    parts.append(format_duration(record.end_time - record.start_time))
    segments: List[Tuple[str, Optional[str]]] = [(" ".join(parts) + " ", None)]
    if record.status == "ERROR":
        summary = error_summary(record)
        segments.append(("ERROR ✗" + (f" {summary}" if summary else ""), _RED))
    else:
        segments.append((record.status, None))
    if record.attributes:
        segments.append((" " + format_attributes(record.attributes, redaction), None))
    return segments


def _header(group: _Group, paint: _Paint) -> str:
    text = f"trace {group.spans[0].trace_id} ({plural(len(group.spans), 'span')}"
    if group.errors:
        text += ", " + paint(f"{group.errors} ERROR", _RED)
    text += ")"
    if group.size > 1:
        text += f" ×{group.size} like this"
    return text


def _block(
    group: _Group, options: SectionOptions, shown: Optional[Set[str]] = None
) -> List[str]:
    """One trace's lines: header, spans (only ``shown`` ids, if given), the show line."""
    paint = _Paint(options.color)
    spans = group.spans if shown is None else [r for r in group.spans if r.span_id in shown]
    rows = tree_rows(spans)
    offsets = ["+" + format_duration(r.start_time - group.start) for _, r in rows]
    width = max((len(o) for o in offsets), default=0)
    lines = [_header(group, paint)]
    for offset, (prefix, record) in zip(offsets, rows):
        orphan = not prefix and record.parent_span_id is not None
        lines.append(
            "  "
            + paint(offset.rjust(width), _DIM)
            + " "
            + _fit([("… " if orphan else prefix, None), *_span_segments(record, options.redaction)], paint)
        )
    hidden = len(group.spans) - len(spans)
    if hidden:
        lines.append(f"  … {plural(hidden, 'more span')} of this trace not shown")
    lines.append("  " + show_command(options.artifact, group.spans[0].trace_id))
    if options.html_page is not None:
        lines.append(f"  page: {options.html_page}")
    return lines


def _error_context(spans: Sequence[SpanRecord]) -> List[str]:
    """A trace's ERROR spans, then their ancestors nearest first: what a cut keeps longest."""
    by_id = {r.span_id: r for r in spans}
    errors = [r for r in spans if r.status == "ERROR"]
    ordered = [r.span_id for r in errors]
    seen = set(ordered)
    for record in errors:
        parent = by_id.get(record.parent_span_id or "")
        while parent is not None and parent.span_id not in seen:
            seen.add(parent.span_id)
            ordered.append(parent.span_id)
            parent = by_id.get(parent.parent_span_id or "")
    return ordered


def _condensed(group: _Group, options: SectionOptions, budget: int) -> Optional[List[str]]:
    """The trace cut down to fit ``budget`` lines, or ``None`` if not even one span fits.

    An ERROR trace keeps its ERROR spans and their ancestors; another keeps
    its first spans in tree order.
    """
    if group.errors:
        keep = _error_context(group.spans)
    else:
        keep = [r.span_id for _, r in tree_rows(group.spans)]
    # Besides the spans: the header, the "… more spans" line, the show line, the page.
    size = min(len(keep), budget - 3 - (options.html_page is not None))
    return _block(group, options, set(keep[:size])) if size > 0 else None


def render_section(records: Iterable[SpanRecord], options: SectionOptions) -> str:
    """The section's text: every trace among ``records``, ERROR traces first.

    Traces of the same shape (see :func:`trace_shape`) are shown once, with
    how many there were.  Past ``options.max_lines`` the traces without an
    ERROR span are cut first, as they come after every ERROR trace; an ERROR
    trace too long for the lines left keeps its ERROR spans and their
    ancestors.  A last line says which traces were left out.
    """
    groups = _groups(records)
    blocks = [_block(g, options) for g in groups]
    if sum(len(b) for b in blocks) <= options.max_lines:
        return "\n".join(line for block in blocks for line in block)
    budget = options.max_lines - 1  # the note's line
    lines: List[str] = []
    left = {"ERROR": 0, "OK": 0}
    left_spans = 0
    for group, block in zip(groups, blocks):
        room = budget - len(lines)
        if len(block) > room:
            block = _condensed(group, options, room) or []
        if block and len(block) <= room:
            lines.extend(block)
            continue
        left["ERROR" if group.errors else "OK"] += group.size
        left_spans += len(group.spans) * group.size
    told = [plural(n, f"{kind} trace") for kind, n in left.items() if n]
    if told:
        lines.append(
            f"… {' and '.join(told)} ({plural(left_spans, 'span')}) not shown; "
            "trace_store and the trace file hold them all"
        )
    return "\n".join(lines)
