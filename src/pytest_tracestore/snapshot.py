"""Deterministic, JSON-able pictures of traces, for snapshot tests (syrupy, inline-snapshot).

What changes from run to run is left out or replaced: ids become ordinals,
times are dropped (or made relative and rounded), and attributes that
carry ports, host names, durations, thread ids or file paths are dropped by
key.  What remains depends only on what the code did.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Tuple

from .record import SpanRecord

if TYPE_CHECKING:
    from .trace import Trace

__all__ = ["DEFAULT_VOLATILE_ATTRIBUTES", "snapshot_traces"]

#: Attribute keys (``fnmatch`` patterns) that differ between runs of the same
#: code, dropped from span, event, link and resource attributes unless kept.
DEFAULT_VOLATILE_ATTRIBUTES: Tuple[str, ...] = (
    "*.port",
    "*.address",
    "*.ip",
    "net.peer.name",
    "net.host.name",
    "net.sock.*",
    "host.*",
    "url.full",
    "http.url",
    "http.host",
    "http.target",
    "*duration*",
    "*.elapsed*",
    "thread.id",
    "thread.name",
    "process.*",
    "code.filepath",
    "code.file.path",
    "code.lineno",
    "code.line.number",
    "code.column",
    "code.column.number",
    "code.stacktrace",
    "exception.stacktrace",
    "service.instance.id",
    "telemetry.sdk.*",
    "telemetry.auto.version",
    "os.*",
)

_ORDERS = ("start", "name")


class _Options:
    """The validated options of one snapshot."""

    def __init__(
        self,
        attributes: bool,
        volatile: Iterable[str],
        drop: Iterable[str],
        keep: Iterable[str],
        timestamps: bool,
        round_ms: float,
        resource: bool,
        scope: bool,
        events: bool,
        links: bool,
        order: str,
    ) -> None:
        for name, value in (
            ("attributes", attributes),
            ("timestamps", timestamps),
            ("resource", resource),
            ("scope", scope),
            ("events", events),
            ("links", links),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"invalid {name} {value!r}: expected True or False")
        if (
            isinstance(round_ms, bool)
            or not isinstance(round_ms, (int, float))
            or not math.isfinite(round_ms)
            or round_ms <= 0
        ):
            raise ValueError(f"invalid round_ms {round_ms!r}: expected a positive number of ms")
        if order not in _ORDERS:
            raise ValueError(f"invalid order {order!r}: expected 'start' or 'name'")
        self.attributes = attributes
        self.drop = _patterns(volatile, "volatile") + _patterns(drop, "drop")
        self.keep = _patterns(keep, "keep")
        self.timestamps = timestamps
        self.round_ms = round_ms
        self.resource = resource
        self.scope = scope
        self.events = events
        self.links = links
        self.order = order

    def kept(self, key: str) -> bool:
        if any(fnmatch.fnmatchcase(key, p) for p in self.keep):
            return True
        return not any(fnmatch.fnmatchcase(key, p) for p in self.drop)

    def ms(self, ns: int) -> float | int:
        steps = round(ns / 1e6 / self.round_ms)
        value = steps * self.round_ms
        return int(value) if float(value).is_integer() else round(value, 6)


def _patterns(value: Iterable[str], name: str) -> Tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    try:
        found = tuple(items)
    except TypeError:
        raise ValueError(f"invalid {name} {value!r}: expected attribute key patterns") from None
    for item in found:
        if not isinstance(item, str):
            raise ValueError(f"invalid {name} pattern {item!r}: expected a string")
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _attributes(attrs: Mapping[str, Any], options: _Options) -> Dict[str, Any]:
    return {k: _plain(attrs[k]) for k in sorted(attrs) if options.kept(k)}


def _sibling_key(order: str) -> Callable[[SpanRecord], Tuple[Any, ...]]:
    if order == "name":
        return lambda r: (r.name, r.start_time, r.end_time)
    return lambda r: (r.start_time, r.name, r.end_time)


def _walk(trace: Trace, order: str) -> List[Tuple[SpanRecord, int]]:
    """Every span with its depth, depth first, siblings in the snapshot's order."""
    key = _sibling_key(order)
    out: List[Tuple[SpanRecord, int]] = []
    seen: set[str] = set()
    stack = [(r, 0) for r in sorted(trace.roots, key=key, reverse=True)]
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        out.append((span, depth))
        stack.extend((c, depth + 1) for c in sorted(trace.children(span), key=key, reverse=True))
    # Spans caught in a parent cycle (a malformed file) come last, once each.
    out.extend((r, 0) for r in trace if r.span_id not in seen)
    return out


def snapshot_traces(
    traces: Sequence[Trace],
    *,
    attributes: bool = True,
    volatile: Iterable[str] = DEFAULT_VOLATILE_ATTRIBUTES,
    drop: Iterable[str] = (),
    keep: Iterable[str] = (),
    timestamps: bool = False,
    round_ms: float = 1,
    resource: bool = False,
    scope: bool = False,
    events: bool = True,
    links: bool = True,
    order: str = "start",
) -> List[Dict[str, Any]]:
    """A list with one dict per trace: ``{"trace": n, "spans": [root, ...]}``.

    Each span is a dict with ``span`` (its ordinal in the trace, counted
    depth first), ``name``, ``kind``, ``status``, and when there is one,
    ``status_description``, ``attributes`` (sorted by key), ``events``,
    ``links`` (``{"trace": n, "span": m}``, or ``{"trace": "external"}`` for a
    span outside the snapshot), ``children``; a span whose parent was not
    recorded has ``"parent": "missing"``.

    - ``attributes``: keep attributes at all.
    - ``volatile``: key patterns (``fnmatch``) to drop; by default
      :data:`DEFAULT_VOLATILE_ATTRIBUTES`.  ``drop`` adds patterns,
      ``keep`` exempts keys from both.
    - ``timestamps``: add ``start_ms`` (from the trace's start) and
      ``duration_ms`` to spans, ``at_ms`` (from the span's start) to events,
      rounded to a multiple of ``round_ms``.
    - ``resource`` / ``scope``: add the resource's attributes (volatile ones
      dropped) and the instrumentation scope's name and version.
    - ``events`` / ``links``: keep them.
    - ``order``: siblings (and traces) by start time (``"start"``), or by
      name (``"name"``) for code whose siblings start concurrently.
    """
    opts = _Options(
        attributes,
        volatile,
        drop,
        keep,
        timestamps,
        round_ms,
        resource,
        scope,
        events,
        links,
        order,
    )
    walks = [(trace, _walk(trace, order)) for trace in traces]
    if order == "name":
        walks.sort(key=lambda tw: ([r.name for r, _ in tw[1]], tw[0].start_time))
    else:
        walks.sort(key=lambda tw: (tw[0].start_time, [r.name for r, _ in tw[1]]))
    trace_ordinal = {trace.trace_id: n for n, (trace, _) in enumerate(walks, 1)}
    span_ordinal: Dict[Tuple[str, str], int] = {}
    for _trace, walk in walks:
        for n, (span, _) in enumerate(walk, 1):
            span_ordinal.setdefault((span.trace_id, span.span_id), n)
    out = []
    for trace, walk in walks:
        out.append(
            {
                "trace": trace_ordinal[trace.trace_id],
                "spans": _tree(trace, walk, span_ordinal, trace_ordinal, opts),
            }
        )
    return out


def _tree(
    trace: Trace,
    walk: List[Tuple[SpanRecord, int]],
    span_ordinal: Dict[Tuple[str, str], int],
    trace_ordinal: Dict[str, int],
    opts: _Options,
) -> List[Dict[str, Any]]:
    roots: List[Dict[str, Any]] = []
    path: List[Dict[str, Any]] = []  # the open node at each depth
    for span, depth in walk:
        node = _node(span, trace, span_ordinal, trace_ordinal, opts)
        del path[depth:]
        if depth == 0:
            if span.parent_span_id is not None:
                node["parent"] = "missing"
            roots.append(node)
        else:
            path[-1].setdefault("children", []).append(node)
        path.append(node)
    return roots


def _node(
    span: SpanRecord,
    trace: Trace,
    span_ordinal: Dict[Tuple[str, str], int],
    trace_ordinal: Dict[str, int],
    opts: _Options,
) -> Dict[str, Any]:
    node: Dict[str, Any] = {
        "span": span_ordinal[(span.trace_id, span.span_id)],
        "name": span.name,
        "kind": span.kind,
        "status": span.status,
    }
    if span.status_description:
        node["status_description"] = span.status_description
    if opts.timestamps:
        node["start_ms"] = opts.ms(span.start_time - trace.start_time)
        node["duration_ms"] = opts.ms(span.end_time - span.start_time)
    if opts.attributes:
        kept = _attributes(span.attributes, opts)
        if kept:
            node["attributes"] = kept
    if opts.events and span.events:
        node["events"] = [_event(e, span, opts) for e in span.events]
    if opts.links and span.links:
        node["links"] = [_link(link, span_ordinal, trace_ordinal, opts) for link in span.links]
    if opts.resource:
        node["resource"] = _attributes(span.resource, opts)
    if opts.scope:
        node["scope"] = (
            None if span.scope is None else {"name": span.scope.name, "version": span.scope.version}
        )
    return node


def _event(event: Any, span: SpanRecord, opts: _Options) -> Dict[str, Any]:
    out: Dict[str, Any] = {"name": event.name}
    if opts.timestamps:
        out["at_ms"] = opts.ms(event.timestamp - span.start_time)
    if opts.attributes:
        kept = _attributes(event.attributes, opts)
        if kept:
            out["attributes"] = kept
    return out


def _link(
    link: Any,
    span_ordinal: Dict[Tuple[str, str], int],
    trace_ordinal: Dict[str, int],
    opts: _Options,
) -> Dict[str, Any]:
    target = span_ordinal.get((link.trace_id, link.span_id))
    out: Dict[str, Any] = (
        {"trace": "external"}
        if target is None
        else {"trace": trace_ordinal[link.trace_id], "span": target}
    )
    if opts.attributes:
        kept = _attributes(link.attributes, opts)
        if kept:
            out["attributes"] = kept
    return out


def snapshot_with(traces: Sequence[Trace], options: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """:func:`snapshot_traces` with options from keywords, an unknown one a ``ValueError``."""
    allowed = snapshot_traces.__kwdefaults__ or {}
    for name in options:
        if name not in allowed:
            raise ValueError(
                f"unknown snapshot option {name!r}; the options are: {', '.join(allowed)}"
            )
    return snapshot_traces(traces, **options)
