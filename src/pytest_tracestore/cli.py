"""The ``pytest-tracestore`` command: read a run's trace file outside pytest.

    pytest-tracestore summary FILE
    pytest-tracestore failures FILE [--limit N]
    pytest-tracestore show FILE TRACE_ID
    pytest-tracestore query FILE [--name N] [--attr KEY=VALUE ...] [--status S] ... [--json]
    pytest-tracestore query FILE --traceql '{ status = error } >> { }'
    pytest-tracestore export FILE -o OUT [--format otlp|jaeger|jsonl]
    pytest-tracestore merge FILE... -o OUT [--format jsonl|otlp] [--max-spans N]
    pytest-tracestore html FILE... -o OUT.html [--title TEXT]

Every command reads both artifact formats (our JSON Lines and OTLP JSON
Lines), detected from the file, once and as a stream: each holds only what
its output needs (see :mod:`pytest_tracestore.stream`), so a file of
millions of spans costs little memory.  Exit status: 0 when there are
results (``failures``: when there are none), 1 when ``failures`` found
failed spans or a ``query``/``show`` found nothing, 2 for a usage error (bad
arguments, a missing or empty file, an output that cannot be written).
Problems are reported as one line on stderr.  This module imports no pytest.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
from collections import Counter
from contextlib import contextmanager
from fractions import Fraction
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NoReturn,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from .jaeger import JaegerWriter
from .keyattrs import key_attributes
from .otlp_text import OtlpTextEncoder
from .parse import read_records, read_records_and_lines
from .query import Query
from .record import KINDS, STATUSES, SpanRecord, _same_value, format_duration
from .render import error_summary, plural, tree_rows
from .section import show_command, trace_shape
from .selection import SpanSelection, add_selection_arguments
from .serialize import dumps_line, encode_line, record_to_dict
from .store import TraceStore
from .stream import Earliest, Progress, TraceWindow, atomic_output

__all__ = ["main"]

PROG = "pytest-tracestore"

_VALUE_WIDTH = 60
# How many trace ids a group of alike failures names besides the one it draws.
_MAX_ALIKE_IDS = 5


class UsageError(Exception):
    """A problem with the command line or its input: one line on stderr, exit 2."""


class _Style:
    """ANSI colour, only for a terminal and only when ``NO_COLOR`` is not set."""

    def __init__(self, stream: IO[str]) -> None:
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled and text else text

    def status(self, text: str, status: str) -> str:
        return self._paint(text, {"ERROR": "31;1", "OK": "32"}.get(status, "2"))

    def dim(self, text: str) -> str:
        return self._paint(text, "2")

    def bold(self, text: str) -> str:
        return self._paint(text, "1")


# -- formatting -----------------------------------------------------------


class _Times:
    """Calendar times for nanosecond timestamps; raw nanoseconds where no date fits.

    A buggy exporter can send any integer, and ``datetime`` stops at the year
    9999: such a time is printed as ``<n>ns`` and :meth:`note` says why, once.
    """

    def __init__(self) -> None:
        self.raw = 0

    def text(self, ns: int) -> str:
        try:
            moment = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc)
        except (OverflowError, ValueError, OSError):
            self.raw += 1
            return f"{ns}ns"
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def note(self, err: IO[str]) -> None:
        if self.raw:
            err.write(
                f"{PROG}: note: {self.raw} timestamp{'s' * (self.raw != 1)} outside the range "
                "of calendar dates shown as raw nanoseconds since the Unix epoch\n"
            )


def _duration(ns: int) -> str:
    try:
        return format_duration(ns)
    except OverflowError:  # beyond a float: only a corrupt file holds such a span
        return f"{ns}ns"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """Escape control characters: a span name must not move the cursor or colour the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _short(value: Any, width: int = _VALUE_WIDTH) -> str:
    if isinstance(value, (tuple, list)):
        text = json.dumps(list(value), ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = _clean(" ".join(text.split()))  # one line, whatever the value holds
    return text if len(text) <= width else text[: width - 1] + "…"


def _error_text(record: SpanRecord) -> str:
    return _short(error_summary(record), 100)


def _details(record: SpanRecord, all_attributes: bool) -> str:
    keys: Iterable[str] = (
        record.attributes
        if all_attributes
        else key_attributes(record.attributes)
    )
    text = " ".join(f"{k}={_short(record.attributes[k])}" for k in keys)
    if record.is_error:
        error = _error_text(record)
        if error:
            text = f"{text}  ! {error}" if text else f"! {error}"
    return text


def _table(rows: Sequence[Tuple[str, ...]], right: Sequence[int] = ()) -> List[List[str]]:
    """Pad cells to aligned columns (``right``: right-aligned column numbers)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    last = len(widths) - 1
    return [
        [
            cell.rjust(widths[i]) if i in right else (cell if i == last else cell.ljust(widths[i]))
            for i, cell in enumerate(row)
        ]
        for row in rows
    ]


def _render_tree(
    spans: List[SpanRecord],
    style: _Style,
    *,
    keep: Optional[Set[str]] = None,
    all_attributes: bool = False,
) -> List[str]:
    """Draw one trace as a tree with box characters: name, kind, duration, status, details.

    ``keep`` limits the tree to those span ids.  A span whose parent is not
    in ``spans`` (evicted by the FIFO cap, or from another process) is drawn
    as a root, marked as such.
    """
    by_id = {s.span_id: s for s in spans}
    shown = spans if keep is None else [s for s in spans if s.span_id in keep]
    rows = [
        (
            tree,
            span,
            " (parent not in file)"
            if span.parent_span_id and span.parent_span_id not in by_id
            else "",
        )
        for tree, span in tree_rows(shown)
    ]
    cells = _table(
        [
            # The empty last column pads the status, so details line up too.
            (
                tree + _clean(span.name),
                span.kind.lower(),
                _duration(span.duration_ns),
                span.status,
                "",
            )
            for tree, span, _ in rows
        ],
        right=(2,),
    )
    lines = []
    for (name, kind, duration, status, _), (tree, span, orphan) in zip(cells, rows):
        branch, rest = name[: len(tree)], name[len(tree) :]
        details = _details(span, all_attributes) + style.dim(orphan)
        line = (
            f"{style.dim(branch)}{style.bold(rest) if span.is_error else rest}  "
            f"{style.dim(kind)}  {duration}  {style.status(status, span.status)}"
        )
        lines.append((line + ("  " + details if details else "")).rstrip())
    return lines


def _trace_header(spans: List[SpanRecord], style: _Style, times: _Times) -> str:
    start = min(s.start_time for s in spans)
    end = max(s.end_time for s in spans)
    services = sorted({_clean(str(s.resource.get("service.name", "?"))) for s in spans})
    errors = sum(s.is_error for s in spans)
    error_text = style.status(f", {errors} error{'s' * (errors != 1)}", "ERROR") if errors else ""
    return (
        f"trace {style.bold(spans[0].trace_id)}  {times.text(start)}  {_duration(end - start)}  "
        f"{len(spans)} span{'s' * (len(spans) != 1)}{error_text}  [{', '.join(services)}]"
    )


# -- reading --------------------------------------------------------------


class _Source:
    """One trace file, read as a stream of records (see the module's docstring).

    Problems with the file itself are a :class:`UsageError` at once; corrupt
    lines become warnings on ``err`` when a pass ends.
    """

    def __init__(self, path: str, err: IO[str], selection: Optional[SpanSelection] = None) -> None:
        if os.path.isdir(path):
            raise UsageError(f"{path} is a folder; give a trace file")
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            raise UsageError(f"no such file: {path}") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.path = path
        self.err = err
        #: Spans the first pass read and kept through :attr:`selection`.
        self.count = 0
        #: The ``--test`` / ``--service`` filters every pass applies.
        self.selection = selection if selection else None
        #: Spans the first pass read, kept or not.
        self.read = 0
        self._passes = 0

    def records(self) -> Iterator[SpanRecord]:
        """Every record of the file, in file order.

        A later pass reads the file again, quietly: its warnings were given.
        """
        return self._read(read_records, paired=False)

    def records_and_lines(self) -> Iterator[Tuple[SpanRecord, Optional[bytes]]]:
        """:meth:`records`, each with its line when the file is in our format."""
        return self._read(read_records_and_lines, paired=True)

    def _read(self, reader: Callable[..., Iterator[Any]], paired: bool) -> Iterator[Any]:
        self._passes += 1
        first = self._passes == 1
        progress = Progress(self.err, f"{PROG}: reading {self.path}")
        selection = self.selection
        # At most a few messages: the reader names the first skipped lines, then counts.
        notes: List[str] = []
        try:
            for item in progress.wrap(reader(self.path, on_corrupt=notes.append)):
                if first:
                    self.read += 1
                if selection is not None and not selection(item[0] if paired else item):
                    continue
                if first:
                    self.count += 1
                yield item
        except OSError as exc:
            raise UsageError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        finally:
            progress.done()
        if first:
            for note in notes:
                self.err.write(f"{PROG}: warning: {note}\n")

    def check_spans(self, selected: bool = True) -> None:
        """Raise :class:`UsageError` if the first pass found no span (``selected``: none selected)."""
        if not self.read:
            empty = os.path.getsize(self.path) == 0
            what = "holds no spans" if empty else "holds no readable spans"
            raise UsageError(f"{self.path} {what}")
        if selected and self.selection is not None and not self.count:
            raise UsageError(f"no span in {self.path} matches {self.selection} ({self.read} spans)")


def _trace_prefix(wanted: str) -> str:
    """The lower-case hex digits a trace id given on the command line starts with."""
    text = wanted.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9a-f]{1,32}", text):
        raise UsageError(f"invalid trace id {wanted!r}: expected up to 32 hex digits")
    return text


class _PrefixMatch:
    """The traces a trace id prefix names (listings and logs often shorten ids).

    Holds at most two ids: a second one already makes the prefix ambiguous.
    """

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.prefix = _trace_prefix(wanted)
        self.ids: List[str] = []
        self.more = False

    def __call__(self, trace_id: str) -> bool:
        """Whether ``trace_id`` starts with the prefix (and note it)."""
        if not trace_id.startswith(self.prefix):
            return False
        if trace_id not in self.ids:
            if len(self.ids) < 2:
                self.ids.append(trace_id)
            else:
                self.more = True
        return True

    def check(self) -> None:
        """Raise :class:`UsageError` if the prefix named more than one trace."""
        if len(self.ids) > 1:
            many = "3 or more" if self.more else "2"
            raise UsageError(
                f"trace id prefix {self.wanted!r} matches {many} traces; give more digits"
            )


# -- commands -------------------------------------------------------------


def cmd_summary(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    source = _Source(args.file, err, SpanSelection.from_args(args))
    # Aggregates only: counts, the time span, and the --top slowest spans.
    errors = 0
    start: Optional[int] = None
    end: Optional[int] = None
    traces: Set[int] = set()  # hashes of trace ids: a count needs no more
    services: "Counter[str]" = Counter()
    types: "Counter[str]" = Counter()
    slowest: Earliest[Tuple[int, str, str, str]] = Earliest(args.top)
    for s in source.records():
        if start is None or s.start_time < start:
            start = s.start_time
        if end is None or s.end_time > end:
            end = s.end_time
        traces.add(hash(s.trace_id))
        services[str(s.resource.get("service.name", "(no service.name)"))] += 1
        if s.is_error:
            errors += 1
            types[s.error_type or "(no error type)"] += 1
        slowest.add(-s.duration_ns, (s.duration_ns, s.status, s.name, s.trace_id))
    source.check_spans()
    assert start is not None and end is not None
    style = _Style(out)
    times = _Times()
    w = out.write
    w(f"{style.bold(args.file)}\n")
    w(
        f"  {plural(source.count, 'span')} in {plural(len(traces), 'trace')}, "
        f"{style.status(str(errors), 'ERROR' if errors else 'OK')} with status ERROR\n"
    )
    w(f"  from {times.text(start)} to {times.text(end)} ({_duration(end - start)})\n")
    w("\nservices\n")
    for count, name in _table(_counted(services), right=(0,)):
        w(f"  {count}  {name}\n")
    w("\nerrors by error type\n")
    if errors:
        for count, name in _table(_counted(types), right=(0,)):
            w(f"  {count}  {style.status(name, 'ERROR')}\n")
    else:
        w("  none\n")
    top = slowest.items()
    w("\nslowest spans\n")
    rows = [(_duration(d), status, _clean(name), trace) for d, status, name, trace in top]
    for (duration, status, name, trace), span in zip(_table(rows, right=(0,)), top):
        w(f"  {duration}  {style.status(status, span[1])}  {name}  {style.dim(trace)}\n")
    times.note(err)
    return 0


def _counted(counter: "Counter[str]") -> List[Tuple[str, str]]:
    # Cleaned after counting: two raw names that clean alike still add up.
    merged: "Counter[str]" = Counter()
    for name, n in counter.items():
        merged[_clean(name)] += n
    return [(str(n), name) for name, n in merged.most_common()]


def cmd_failures(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    source = _Source(args.file, err, SpanSelection.from_args(args))
    traces = _failed_traces(source)
    source.check_spans()
    style = _Style(out)
    failed = sorted(
        (s for spans in traces.values() for s in spans if s.is_error), key=lambda s: s.start_time
    )
    if not failed:
        out.write(f"no failed spans in {args.file} ({plural(source.count, 'span')})\n")
        return 0
    ordered = {s.trace_id: sorted(traces[s.trace_id], key=lambda r: r.start_time) for s in failed}
    groups = _failure_groups(ordered.values())
    out.write(
        f"{style.status(str(len(failed)), 'ERROR')} failed span{'s' * (len(failed) != 1)} "
        f"in {plural(len(ordered), 'trace')}"
        + (f", {plural(len(groups), 'kind')} of failure" if len(groups) != len(ordered) else "")
        + "\n"
    )
    times = _Times()
    shown = groups if args.limit is None else groups[: args.limit]
    # A file that names tests gets its failures under a line per test.
    named = any(_test_of(group) is not None for group in groups)
    last: Any = _SAME_TEST
    for group in shown:
        test = _test_of(group)
        if named and test != last:
            out.write("\n" + style.bold(f"test {test}" if test else "outside any test") + "\n")
            last = test
        _write_failure(group, args, out, style, times)
    left = groups[len(shown) :]
    if left:
        traces_left = sum(len(g) for g in left)
        out.write(
            "\n"
            + style.dim(
                f"… {plural(len(left), 'more kind')} of failure ({plural(traces_left, 'trace')}) "
                f"not shown (--limit {args.limit})"
            )
            + "\n"
        )
    times.note(err)
    return 1


_SAME_TEST: Any = object()


def _first_error_test(spans: List[SpanRecord]) -> Optional[str]:
    """The test that owns a failed trace: the owner of its first ERROR span."""
    return next(s for s in spans if s.is_error).test


def _test_of(group: List[List[SpanRecord]]) -> Optional[str]:
    return _first_error_test(group[0])


def _failure_groups(traces: Iterable[List[SpanRecord]]) -> List[List[List[SpanRecord]]]:
    """Failed traces by test, and within a test alike when what ``failures`` draws of them is.

    Tests come in the order of their first failure.
    """
    by_test: Dict[Optional[str], Dict[Any, List[List[SpanRecord]]]] = {}
    for spans in traces:
        keep = _failure_context(spans)
        shape = trace_shape(s for s in spans if s.span_id in keep)
        by_test.setdefault(_first_error_test(spans), {}).setdefault(shape, []).append(spans)
    return [group for shapes in by_test.values() for group in shapes.values()]


def _write_failure(
    group: List[List[SpanRecord]],
    args: argparse.Namespace,
    out: IO[str],
    style: _Style,
    times: _Times,
) -> None:
    """The first trace of a group as a tree of its failure, and how many more are like it."""
    spans = group[0]
    keep = _failure_context(spans)
    alike = f"  ×{len(group)} like this" if len(group) > 1 else ""
    out.write("\n" + _trace_header(spans, style, times) + alike + "\n")
    for line in _render_tree(spans, style, keep=keep, all_attributes=args.all_attributes):
        out.write(line + "\n")
    hidden = len(spans) - len(keep)
    if hidden:
        more = f"… {plural(hidden, 'more span')}"
        out.write(style.dim(f"{more}: {show_command(args.file, spans[0].trace_id)}") + "\n")
    if len(group) > 1:
        others = " ".join(t[0].trace_id for t in group[1:_MAX_ALIKE_IDS + 1])
        rest = len(group) - 1 - _MAX_ALIKE_IDS
        out.write(style.dim(f"also in {others}" + (f" and {rest} more" if rest > 0 else "")) + "\n")


def _failed_traces(source: _Source) -> Dict[str, List[SpanRecord]]:
    """Every span of each trace that holds an ERROR span, in one pass when it can.

    The spans of one trace end close together in an artifact, so the traces
    seen last wait in a bounded :class:`TraceWindow`; one with an error stays
    whole from then on.  Only when an error comes to a trace whose earlier
    spans had already left the window does a second pass collect those
    traces.
    """
    window = TraceWindow()
    pushed_out: Set[int] = set()  # hashes: a collision costs a second pass, nothing else
    again: Set[str] = set()
    for record in source.records():
        if record.is_error and record.trace_id not in window.kept:
            window.keep(record.trace_id)
            if hash(record.trace_id) in pushed_out:
                again.add(record.trace_id)
        for trace_id, _ in window.add(record):
            pushed_out.add(hash(trace_id))
    traces = window.kept
    if again:
        for trace_id in again:
            traces[trace_id] = []
        for record in source.records():
            if record.trace_id in again:
                traces[record.trace_id].append(record)
    return traces


def _failure_context(spans: List[SpanRecord]) -> Set[str]:
    """The ids of a trace's ERROR spans, the path up to their root and everything below them."""
    by_id = {s.span_id: s for s in spans}
    children: Dict[Optional[str], List[SpanRecord]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
    errors = [s for s in spans if s.is_error]
    keep: Set[str] = set()
    for span in errors:
        current: Optional[SpanRecord] = span
        while current is not None and current.span_id not in keep:
            keep.add(current.span_id)
            current = by_id.get(current.parent_span_id or "")
    stack = list(errors)
    while stack:
        for kid in children.get(stack.pop().span_id, ()):
            if kid.span_id not in keep:
                keep.add(kid.span_id)
                stack.append(kid)
    return keep


def cmd_show(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    match = _PrefixMatch(args.trace_id)
    source = _Source(args.file, err, SpanSelection.from_args(args))
    # One pass: the spans of the first trace the prefix names, and a count of traces.
    spans: List[SpanRecord] = []
    traces: Set[int] = set()
    for record in source.records():
        traces.add(hash(record.trace_id))
        if match(record.trace_id) and record.trace_id == match.ids[0]:
            spans.append(record)
    source.check_spans(selected=False)
    match.check()
    if not spans:
        err.write(
            f"{PROG}: no trace {args.trace_id} in {args.file} ({plural(len(traces), 'trace')})\n"
        )
        return 1
    spans.sort(key=lambda r: r.start_time)
    style = _Style(out)
    times = _Times()
    out.write(_trace_header(spans, style, times) + "\n")
    for line in _render_tree(spans, style, all_attributes=args.all_attributes):
        out.write(line + "\n")
    times.note(err)
    return 0


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)?\s*$")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    None: 1.0,
}


def _parse_duration(text: str) -> float:
    """Seconds from ``250ms``, ``1.5s``, ``2m`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: expected a number with an optional unit "
            "(ns, us, ms, s, m, h), such as 250ms"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _parse_moment(text: str) -> float:
    """Epoch seconds from an ISO 8601 time or epoch seconds (see :func:`_back_from`)."""
    try:
        return float(text)
    except ValueError:
        pass
    iso = text.strip()
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}: expected an ISO 8601 time (2026-01-31T12:00:00Z), "
            "epoch seconds, or a duration such as 5m (counted back from the file's last span)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.timestamp()


def _parse_attr(text: str) -> Tuple[str, List[Any]]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"invalid --attr {text!r}: expected KEY=VALUE")
    # The value matches as a string, or as the JSON number, boolean or array it spells.
    candidates: List[Any] = [value]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, (bool, int, float, list)):
        candidates.append(parsed)
    return key, candidates


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected a whole number >= 1")
    return number


def _choice(names: Sequence[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.upper() not in names:
            raise argparse.ArgumentTypeError(
                f"invalid {what} {text!r}: expected one of {', '.join(n.lower() for n in names)}"
            )
        return text.upper()

    return parse


def _regex(text: str) -> "re.Pattern[str]":
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {exc}") from None


def _relative(text: Optional[str]) -> bool:
    """Whether a --since/--until value counts back from the file's last span."""
    match = _DURATION.match(text) if text is not None else None
    return bool(match and match.group(2))  # a unit: a duration; a bare number is epoch seconds


_UNIT_NS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def _back_from(latest_ns: int, text: str) -> int:
    """The nanosecond ``text`` (a duration such as ``5m``) before ``latest_ns``, exactly.

    Integer arithmetic: a span from a buggy exporter may end beyond what a
    float holds to the nanosecond.
    """
    match = _DURATION.match(text)
    assert match is not None
    amount = Fraction(match.group(1)) * _UNIT_NS[match.group(2)]
    return latest_ns - int(amount)


def _latest_end(source: _Source) -> int:
    return max((r.end_time for r in source.records()), default=0)


def _absolute_moment(text: Optional[str]) -> Optional[float]:
    return None if text is None or _relative(text) else _parse_moment(text)


def _build_query(args: argparse.Namespace) -> Query:
    """The :class:`Query` of the ``query`` command's filters.

    All but --trace-id, --attr and a --since/--until counted back from the
    last span: :func:`_span_filter` applies those.
    """
    try:
        return Query(
            name=args.name_regex if args.name_regex is not None else args.name,
            status=args.status,
            error_type=args.error_type,
            kind=args.kind,
            since=_absolute_moment(args.since),
            until=_absolute_moment(args.until),
            min_duration=args.min_duration,
            max_duration=args.max_duration,
            parent=args.parent,
            ancestor=args.ancestor,
            child=args.child,
            descendant=args.descendant,
            root=args.root,
            service=args.service,
            scope=args.scope,
            has_attributes=args.has_attr,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _span_filter(
    args: argparse.Namespace,
    query: Query,
    trace: Optional[_PrefixMatch],
    latest: int,
    store: Optional[TraceStore] = None,
) -> Callable[[SpanRecord], bool]:
    """Whether one span passes every filter of the ``query`` command.

    Every filter looks at one span alone, so the file is read as a stream.
    ``latest`` is the end of the file's last span, for a relative time.
    """
    missing = object()
    attrs: List[Tuple[str, List[Any]]] = args.attr or []
    since = _back_from(latest, args.since) if _relative(args.since) else None
    until = _back_from(latest, args.until) if _relative(args.until) else None

    def accept(record: SpanRecord) -> bool:
        if trace is not None and not trace(record.trace_id):
            return False
        if since is not None and record.end_time < since:
            return False
        if until is not None and record.start_time > until:
            return False
        if not query.matches(record, store):
            return False
        return all(
            any(_same_value(record.attributes.get(key, missing), c) for c in candidates)
            for key, candidates in attrs
        )

    return accept


def cmd_query(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    trace = _PrefixMatch(args.trace_id) if args.trace_id else None
    source = _Source(args.file, err, SpanSelection.from_args(args))
    # A time counted back from the file's last span needs that span first:
    # the one case that reads the file twice.
    latest = _latest_end(source) if _relative(args.since) or _relative(args.until) else 0
    query = _build_query(args)
    traceql = _compile_traceql(args.traceql) if args.traceql is not None else None
    # TraceQL and the relational filters look at a span's trace, whose spans
    # may lie anywhere in the file: those queries read it into a store first,
    # and cost memory in proportion to the file.
    store = None
    if traceql is not None or query.is_relational:
        store = TraceStore(max_spans=None, max_bytes=None)
        store.extend(source.records())
    matched = None if traceql is None else {id(s) for s in traceql.search(store)}
    accept = _span_filter(args, query, trace, latest, store)
    # Matches in start order; with --limit only the first ones are held.
    found: Earliest[SpanRecord] = Earliest(args.limit)
    for record in source.records() if store is None else store:
        if accept(record) and (matched is None or id(record) in matched):
            found.add(record.start_time, record)
    source.check_spans(selected=False)
    if trace is not None:
        trace.check()
    spans = found.items()
    if args.json:
        for record in spans:
            out.write(encode_line(dumps_line(record_to_dict(record)) + "\n").decode("utf-8"))
    elif spans:
        _write_span_table(spans, out, err, args.all_attributes)
    if not spans:
        err.write(f"{PROG}: no span matches in {args.file} ({plural(source.count, 'span')})\n")
        return 1
    return 0


def _write_span_table(spans: List[SpanRecord], out: IO[str], err: IO[str], every: bool) -> None:
    style = _Style(out)
    times = _Times()
    rows = [
        (
            times.text(s.start_time),
            _duration(s.duration_ns),
            s.status,
            s.kind.lower(),
            _clean(s.name),
            s.trace_id,
            s.span_id,
        )
        for s in spans
    ]
    for cells, span in zip(_table(rows, right=(1,)), spans):
        start, duration, status, kind, name, trace, span_id = cells
        details = _details(span, every)
        line = (
            f"{style.dim(start)}  {duration}  {style.status(status, span.status)}  "
            f"{kind}  {name}  {style.dim(trace)}  {style.dim(span_id)}"
        )
        out.write((line + ("  " + details if details else "")).rstrip() + "\n")
    times.note(err)


def _compile_traceql(text: str) -> Any:
    from .traceql import TraceQLError, compile_traceql

    try:
        return compile_traceql(text)
    except TraceQLError as exc:
        raise UsageError(f"--traceql: {exc.summary}") from None


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    source = _Source(args.file, err, SpanSelection.from_args(args))
    to_stdout = args.output == "-"
    try:
        with _output(args.output, out) as write:
            traces = _export(source, args.format, write)
            source.check_spans()
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    err.write(
        f"{PROG}: wrote {plural(source.count, 'span')} in {plural(traces, 'trace')} to "
        f"{'stdout' if to_stdout else args.output} ({args.format})\n"
    )
    return 0


def _export(source: _Source, form: str, write: Callable[[bytes], Any]) -> int:
    """Write ``source`` in format ``form``; return how many traces it holds.

    Our own format goes a span at a time.  OTLP and Jaeger group spans by
    trace: the traces seen last wait in a bounded :class:`TraceWindow`, and
    leave it, oldest first, as one ``TracesData`` line (one Jaeger entry)
    each.  A trace whose spans lie further apart than the window comes out
    in more than one piece, which OTLP readers join again.
    """
    traces: Set[int] = set()
    if form == "jsonl":
        for record in source.records():
            traces.add(hash(record.trace_id))
            write(encode_line(dumps_line(record_to_dict(record)) + "\n"))
        return len(traces)
    if form == "jaeger":
        jaeger = JaegerWriter(write)
        emit: Callable[[str, List[SpanRecord]], None] = jaeger.trace
    else:
        traces_data = OtlpTextEncoder().traces_data

        def emit(trace_id: str, spans: List[SpanRecord]) -> None:
            write(encode_line(traces_data(spans) + "\n"))

    window = TraceWindow()
    for record in source.records():
        traces.add(hash(record.trace_id))
        for group in window.add(record):
            emit(*group)
    for group in window.drain():
        emit(*group)
    if form == "jaeger" and source.count:
        jaeger.close()
    return len(traces)


@contextmanager
def _output(path: str, out: IO[str]) -> Iterator[Callable[[bytes], Any]]:
    """A ``write(bytes)`` to ``path`` (replaced whole at the end) or, for ``-``, to ``out``."""
    if path != "-":
        with atomic_output(path) as handle:
            yield handle.write
        return
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        yield buffer.write
        buffer.flush()
    else:
        yield lambda data: out.write(data.decode("utf-8"))


def cmd_merge(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from .shards import merge_lines, sniff_format

    sources = [_Source(path, err) for path in args.files]
    form = args.format
    if form is None:
        found = (_sniff(s.path, sniff_format) for s in sources)
        form = next((f for f in found if f is not None), "jsonl")
    try:
        result = merge_lines(
            (s.records_and_lines() for s in sources), args.output, form, max_spans=args.max_spans
        )
    except OSError as exc:
        # The output's own temporary file counts as the output; a sorted run's does not.
        where = str(exc.filename or args.output)
        if os.path.dirname(os.path.abspath(where)) == os.path.dirname(os.path.abspath(args.output)):
            where = args.output
        raise UsageError(f"cannot write {where}: {exc.strerror or exc}") from None
    notes = [f"{result.duplicates} duplicate{'s' * (result.duplicates != 1)} removed"]
    if result.dropped:
        notes.append(f"{result.dropped} oldest dropped by --max-spans")
    # An empty shard is no error (a CI job that ran no test), but it is named.
    for source in sources:
        if not source.count:
            err.write(f"{PROG}: warning: {source.path} holds no span\n")
    total = sum(s.count for s in sources)
    err.write(
        f"{PROG}: merged {plural(total, 'span')} from {plural(len(sources), 'file')} "
        f"into {args.output} ({form}): {result.written} written, {', '.join(notes)}\n"
    )
    return 0


def cmd_html(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from .html import page_data, render_page, span_count

    sources = [_Source(path, err) for path in args.files]
    title = args.title or ", ".join(os.path.basename(s.path) for s in sources)
    data = page_data((r for s in sources for r in s.records()), title=title)
    for source in sources:
        source.check_spans()
    try:
        with _output(args.output, out) as write:
            write(render_page(data).encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    spans, traces = span_count(data)
    err.write(f"{PROG}: wrote {spans} span{'s' * (spans != 1)} in {traces} trace{'s' * (traces != 1)} "
              f"to {'stdout' if args.output == '-' else args.output}\n")
    return 0


def _sniff(path: str, sniff: Callable[[str], Optional[str]]) -> Optional[str]:
    try:
        return sniff(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


# -- the parser -----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, as for every other problem; ``-h`` shows the full usage.
        raise UsageError(f"{message} (see {self.prog} -h)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pytest-tracestore`` command."""
    parser = _Parser(
        prog=PROG,
        description="Read a pytest-tracestore trace file (our JSON Lines or OTLP JSON Lines).",
        epilog="Exit status: 0 with results; 1 when 'failures' finds failed spans or "
        "'query'/'show' find nothing; 2 for a usage error.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name: str, help: str, func: Callable[..., int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("file", metavar="FILE", help="a trace file written by pytest-tracestore")
        p.set_defaults(func=func)
        return p

    p = command(
        "summary", "span and trace counts, errors by type, slowest spans, services", cmd_summary
    )
    p.add_argument(
        "--top", type=_positive, default=10, metavar="N", help="how many slowest spans (default 10)"
    )
    add_selection_arguments(p)

    p = command(
        "failures",
        "every ERROR span with its trace context, as trees, by test; alike failures once, with a count",
        cmd_failures,
    )
    p.add_argument("-a", "--all-attributes", action="store_true", help="show every attribute")
    p.add_argument(
        "--limit", type=_positive, metavar="N", help="at most N kinds of failure, the earliest"
    )
    add_selection_arguments(p)

    p = command("show", "one trace as a tree with durations, statuses and key attributes", cmd_show)
    p.add_argument("trace_id", metavar="TRACE_ID", help="32 hex digits, or a unique prefix")
    p.add_argument("-a", "--all-attributes", action="store_true", help="show every attribute")
    add_selection_arguments(p)

    p = command("query", "spans matching every filter given", cmd_query)
    p.add_argument("--name", help="exact span name")
    p.add_argument(
        "--name-regex", type=_regex, metavar="REGEX", help="span name matches (re.search)"
    )
    p.add_argument(
        "--attr",
        action="append",
        type=_parse_attr,
        metavar="KEY=VALUE",
        help="attribute equals VALUE (as text, or the number/boolean it spells); repeatable",
    )
    p.add_argument("--status", type=_choice(STATUSES, "status"), help="unset, ok or error")
    p.add_argument(
        "--kind", type=_choice(KINDS, "kind"), help="internal, server, client, producer or consumer"
    )
    p.add_argument(
        "--error-type", metavar="T", help="error type; a short name matches a qualified one"
    )
    p.add_argument("--trace-id", metavar="ID", help="one trace (32 hex digits or a unique prefix)")
    p.add_argument(
        "--min-duration", type=_parse_duration, metavar="D", help="such as 250ms, 1.5s, 2m"
    )
    p.add_argument("--max-duration", type=_parse_duration, metavar="D", help="as --min-duration")
    p.add_argument(
        "--since",
        metavar="TIME",
        help="spans ending at or after TIME: ISO 8601 (naive means UTC), epoch seconds, "
        "or a duration such as 5m counted back from the file's last span",
    )
    p.add_argument("--until", metavar="TIME", help="spans starting at or before TIME (as --since)")
    p.add_argument("--parent", metavar="NAME", help="the span's parent is named NAME")
    p.add_argument("--ancestor", metavar="NAME", help="a span above it is named NAME")
    p.add_argument("--child", metavar="NAME", help="one of its children is named NAME")
    p.add_argument("--descendant", metavar="NAME", help="a span below it is named NAME")
    p.add_argument(
        "--root", action="store_true", default=None, help="root spans only (no parent id)"
    )
    p.add_argument(
        "--no-root", dest="root", action="store_false", help="spans with a parent id only"
    )
    p.add_argument("--service", metavar="NAME", help="the resource's service.name is NAME")
    p.add_argument("--scope", metavar="NAME", help="the instrumentation scope is named NAME")
    p.add_argument(
        "--has-attr", action="append", metavar="KEY", help="attribute KEY is set; repeatable"
    )
    p.add_argument(
        "--traceql",
        metavar="QUERY",
        help="spans a TraceQL query returns, such as '{ status = error } >> { }' "
        "(Tempo's language: see the README's cheat sheet)",
    )
    p.add_argument("--limit", type=_positive, metavar="N", help="at most N spans")
    p.add_argument("--json", action="store_true", help="one JSON object per line (for jq)")
    p.add_argument("-a", "--all-attributes", action="store_true", help="show every attribute")
    add_selection_arguments(p, service=False)

    p = command("export", "convert the file for other tools", cmd_export)
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output file, or - for stdout"
    )
    p.add_argument(
        "--format",
        choices=("otlp", "jaeger", "jsonl"),
        default="otlp",
        help="otlp: OTLP JSON Lines (Jaeger UI upload, otel-tui, the Collector's otlpjsonfile "
        "receiver); jaeger: Jaeger /api/traces JSON; jsonl: our own format (default: otlp)",
    )
    add_selection_arguments(p)

    p = sub.add_parser(
        "merge",
        help="combine the trace files of several CI jobs into one, in end-time order",
        description="Combine trace files (either format, mixed) into one, in end-time order; "
        "spans with the same trace id and span id are kept once.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="trace files to combine")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the merged file")
    p.add_argument(
        "--format",
        choices=("jsonl", "otlp"),
        help="jsonl: our own format; otlp: OTLP JSON Lines (default: the first input's)",
    )
    p.add_argument(
        "--max-spans", type=_positive, metavar="N", help="keep only the newest N spans"
    )
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser(
        "html",
        help="one self-contained HTML page of the traces: a list by test and a waterfall per trace",
        description="Write one HTML file (inline CSS and JavaScript, no network access) that lists "
        "the traces of the files by test, errors first, and opens each as a waterfall.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="trace files (either format, mixed)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the page, or - for stdout")
    p.add_argument("--title", metavar="TEXT", help="the page's title (default: the files' names)")
    p.set_defaults(func=cmd_html)
    return parser


def main(
    argv: Optional[Sequence[str]] = None,
    out: Optional[IO[str]] = None,
    err: Optional[IO[str]] = None,
) -> int:
    """Run the command line; return the exit status.

    ``out`` and ``err`` default to the process's standard streams.
    """
    if out is None:
        out = sys.stdout
        _tolerant(out)
    if err is None:
        err = sys.stderr
        _tolerant(err)
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args, out, err))
    except UsageError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return 2
    except BrokenPipeError:
        # Piped into head or less and the reader left: not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # keep the interpreter's final flush quiet
        except OSError:
            pass
        return 0
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return 130


def _tolerant(stream: IO[str]) -> None:
    # A terminal that cannot show box characters or a span's unicode name
    # gets replacement characters, not a traceback.
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):
            pass
