"""The ``pytest-tracestore`` command: read a run's trace file outside pytest.

    pytest-tracestore summary FILE
    pytest-tracestore failures FILE
    pytest-tracestore show FILE TRACE_ID
    pytest-tracestore query FILE [--name N] [--attr KEY=VALUE ...] [--status S] ... [--json]
    pytest-tracestore query FILE --traceql '{ status = error } >> { }'
    pytest-tracestore export FILE -o OUT [--format otlp|jaeger|jsonl]

Every command reads both artifact formats (our JSON Lines and OTLP JSON
Lines), detected from the file.  Exit status: 0 when there are results
(``failures``: when there are none), 1 when ``failures`` found failed spans
or a ``query``/``show`` found nothing, 2 for a usage error (bad arguments, a
missing or empty file).  Problems are reported as one line on stderr.  This
module imports no pytest.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
import warnings
from collections import Counter
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from .jaeger import records_to_jaeger
from .otlp import records_to_traces_data
from .query import Query
from .record import KINDS, STATUSES, SpanRecord, _same_value, format_duration
from .render import error_summary, group_by_trace, tree_rows
from .serialize import dumps_line, encode_line, record_to_dict
from .store import TraceStore, TraceStoreWarning

__all__ = ["main"]

PROG = "pytest-tracestore"

# Attributes worth a place on a span's line, in this order (semantic conventions,
# old and new names); the rest are shown with --all-attributes.  An error span
# gets its error type and message on its line anyway.
_KEY_ATTRIBUTES = (
    "http.request.method",
    "http.method",
    "http.route",
    "url.full",
    "http.url",
    "http.target",
    "http.response.status_code",
    "http.status_code",
    "rpc.system",
    "rpc.method",
    "db.system",
    "db.operation.name",
    "db.operation",
    "db.query.text",
    "db.statement",
    "messaging.system",
    "messaging.destination.name",
    "peer.service",
    "server.address",
)
_VALUE_WIDTH = 60


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


def _time(ns: int) -> str:
    moment = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
        else (k for k in _KEY_ATTRIBUTES if k in record.attributes)
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
                format_duration(span.duration_ns),
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


def _trace_header(spans: List[SpanRecord], style: _Style) -> str:
    start = min(s.start_time for s in spans)
    end = max(s.end_time for s in spans)
    services = sorted({_clean(str(s.resource.get("service.name", "?"))) for s in spans})
    errors = sum(s.is_error for s in spans)
    error_text = style.status(f", {errors} error{'s' * (errors != 1)}", "ERROR") if errors else ""
    return (
        f"trace {style.bold(spans[0].trace_id)}  {_time(start)}  {format_duration(end - start)}  "
        f"{len(spans)} span{'s' * (len(spans) != 1)}{error_text}  [{', '.join(services)}]"
    )


# -- loading --------------------------------------------------------------


def _load(path: str, err: IO[str]) -> TraceStore:
    if os.path.isdir(path):
        raise UsageError(f"{path} is a folder; give a trace file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TraceStoreWarning)
            store = TraceStore.load(path, max_bytes=None)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    for warning in caught:
        err.write(f"{PROG}: warning: {warning.message}\n")
    if not len(store):
        what = "holds no spans" if os.path.getsize(path) == 0 else "holds no readable spans"
        raise UsageError(f"{path} {what}")
    return store


def _by_trace(records: Iterable[SpanRecord], store: TraceStore) -> Dict[str, List[SpanRecord]]:
    out: Dict[str, List[SpanRecord]] = {}
    for record in records:
        if record.trace_id not in out:
            out[record.trace_id] = store.get_trace(record.trace_id)
    return out


# -- commands -------------------------------------------------------------


def cmd_summary(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    store = _load(args.file, err)
    style = _Style(out)
    spans = store.spans()
    errors = [s for s in spans if s.is_error]
    start = min(s.start_time for s in spans)
    end = max(s.end_time for s in spans)
    w = out.write
    w(f"{style.bold(args.file)}\n")
    w(
        f"  {len(spans)} spans in {len(store.trace_ids())} traces, "
        f"{style.status(str(len(errors)), 'ERROR' if errors else 'OK')} with status ERROR\n"
    )
    w(f"  from {_time(start)} to {_time(end)} ({format_duration(end - start)})\n")
    services = Counter(
        _clean(str(s.resource.get("service.name", "(no service.name)"))) for s in spans
    )
    w("\nservices\n")
    for count, name in _table([(str(n), s) for s, n in services.most_common()], right=(0,)):
        w(f"  {count}  {name}\n")
    w("\nerrors by error type\n")
    if errors:
        types = Counter(_clean(s.error_type or "(no error type)") for s in errors)
        for count, name in _table([(str(n), t) for t, n in types.most_common()], right=(0,)):
            w(f"  {count}  {style.status(name, 'ERROR')}\n")
    else:
        w("  none\n")
    slowest = sorted(spans, key=lambda s: s.duration_ns, reverse=True)[: args.top]
    w("\nslowest spans\n")
    rows = [(format_duration(s.duration_ns), s.status, _clean(s.name), s.trace_id) for s in slowest]
    for (duration, status, name, trace), span in zip(_table(rows, right=(0,)), slowest):
        w(f"  {duration}  {style.status(status, span.status)}  {name}  {style.dim(trace)}\n")
    return 0


def cmd_failures(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    store = _load(args.file, err)
    style = _Style(out)
    failed = store.failures()
    if not failed:
        out.write(f"no failed spans in {args.file} ({len(store)} spans)\n")
        return 0
    traces = _by_trace(failed, store)
    out.write(
        f"{style.status(str(len(failed)), 'ERROR')} failed span{'s' * (len(failed) != 1)} "
        f"in {len(traces)} trace{'s' * (len(traces) != 1)}\n"
    )
    for spans in traces.values():
        keep = _failure_context(spans)
        out.write("\n" + _trace_header(spans, style) + "\n")
        for line in _render_tree(spans, style, keep=keep, all_attributes=args.all_attributes):
            out.write(line + "\n")
        hidden = len(spans) - len(keep)
        if hidden:
            more = f"… {hidden} more span{'s' * (hidden != 1)}"
            out.write(style.dim(f"{more}: {PROG} show {args.file} {spans[0].trace_id}") + "\n")
    return 1


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


def _find_trace(store: TraceStore, wanted: str) -> Optional[str]:
    """The trace id ``wanted`` names (all 32 digits or a unique prefix), or ``None``."""
    text = wanted.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9a-f]{1,32}", text):
        raise UsageError(f"invalid trace id {wanted!r}: expected up to 32 hex digits")
    # Listings and logs often shorten ids, so a prefix is enough.
    matches = [t for t in store.trace_ids() if t.startswith(text)]
    if len(matches) > 1:
        raise UsageError(
            f"trace id prefix {wanted!r} matches {len(matches)} traces; give more digits"
        )
    return matches[0] if matches else None


def cmd_show(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    store = _load(args.file, err)
    style = _Style(out)
    trace_id = _find_trace(store, args.trace_id)
    if trace_id is None:
        err.write(
            f"{PROG}: no trace {args.trace_id} in {args.file} ({len(store.trace_ids())} traces)\n"
        )
        return 1
    spans = store.get_trace(trace_id)
    out.write(_trace_header(spans, style) + "\n")
    for line in _render_tree(spans, style, all_attributes=args.all_attributes):
        out.write(line + "\n")
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


def _parse_moment(text: str, latest_ns: int) -> float:
    """Epoch seconds from an ISO 8601 time, epoch seconds, or a duration back from ``latest_ns``."""
    match = _DURATION.match(text)
    if match and match.group(2):  # a unit: a duration; a bare number is epoch seconds
        return latest_ns / 1e9 - _parse_duration(text)
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


def cmd_query(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    traceql = _compile_traceql(args.traceql) if args.traceql is not None else None
    store = _load(args.file, err)
    latest = max(s.end_time for s in store)
    trace_id = _find_trace(store, args.trace_id) if args.trace_id else None
    try:
        query = Query(
            trace_id=trace_id,
            name=args.name_regex if args.name_regex is not None else args.name,
            status=args.status,
            error_type=args.error_type,
            kind=args.kind,
            since=None if args.since is None else _parse_moment(args.since, latest),
            until=None if args.until is None else _parse_moment(args.until, latest),
            min_duration=args.min_duration,
            max_duration=args.max_duration,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    found = [] if args.trace_id and trace_id is None else store.query_spans(query)
    if traceql is not None:
        matched = {id(s) for s in traceql.search(store)}
        found = [s for s in found if id(s) in matched]
    if args.attr:
        missing = object()
        found = [
            s
            for s in found
            if all(
                any(_same_value(s.attributes.get(key, missing), c) for c in candidates)
                for key, candidates in args.attr
            )
        ]
    if args.limit is not None:
        found = found[: args.limit]
    if args.json:
        for record in found:
            out.write(encode_line(dumps_line(record_to_dict(record)) + "\n").decode("utf-8"))
    elif found:
        style = _Style(out)
        rows = [
            (
                _time(s.start_time),
                format_duration(s.duration_ns),
                s.status,
                s.kind.lower(),
                _clean(s.name),
                s.trace_id,
                s.span_id,
            )
            for s in found
        ]
        for cells, span in zip(_table(rows, right=(1,)), found):
            start, duration, status, kind, name, trace, span_id = cells
            details = _details(span, args.all_attributes)
            line = (
                f"{style.dim(start)}  {duration}  {style.status(status, span.status)}  "
                f"{kind}  {name}  {style.dim(trace)}  {style.dim(span_id)}"
            )
            out.write((line + ("  " + details if details else "")).rstrip() + "\n")
    if not found:
        err.write(f"{PROG}: no span matches in {args.file} ({len(store)} spans)\n")
        return 1
    return 0


def _compile_traceql(text: str) -> Any:
    from .traceql import TraceQLError, compile_traceql

    try:
        return compile_traceql(text)
    except TraceQLError as exc:
        raise UsageError(f"--traceql: {exc.summary}") from None


def cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    store = _load(args.file, err)
    spans = list(store)  # end order, as in the file
    traces = group_by_trace(spans)
    if args.format == "otlp":
        # One TracesData per trace: lines stay bounded, and each is complete.
        chunks = [dumps_line(records_to_traces_data(t)) + "\n" for t in traces.values()]
    elif args.format == "jaeger":
        chunks = [json.dumps(records_to_jaeger(spans), ensure_ascii=False) + "\n"]
    else:
        chunks = [dumps_line(record_to_dict(s)) + "\n" for s in spans]
    data = b"".join(encode_line(c) for c in chunks)
    if args.output == "-":
        out.flush()
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            out.write(data.decode("utf-8"))
    else:
        try:
            with open(args.output, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    err.write(
        f"{PROG}: wrote {len(spans)} spans in {len(traces)} traces to "
        f"{'stdout' if args.output == '-' else args.output} ({args.format})\n"
    )
    return 0


# -- the parser -----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
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

    p = command("failures", "every ERROR span with its trace context, as trees", cmd_failures)
    p.add_argument("-a", "--all-attributes", action="store_true", help="show every attribute")

    p = command("show", "one trace as a tree with durations, statuses and key attributes", cmd_show)
    p.add_argument("trace_id", metavar="TRACE_ID", help="32 hex digits, or a unique prefix")
    p.add_argument("-a", "--all-attributes", action="store_true", help="show every attribute")

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
    p.add_argument(
        "--traceql",
        metavar="QUERY",
        help="spans a TraceQL query returns, such as '{ status = error } >> { }' "
        "(Tempo's language: see the README's cheat sheet)",
    )
    p.add_argument("--limit", type=_positive, metavar="N", help="at most N spans")
    p.add_argument("--json", action="store_true", help="one JSON object per line (for jq)")
    p.add_argument("-a", "--all-attributes", action="store_true", help="show every attribute")

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
