"""A self-contained HTML page of traces: a list grouped by test, and a waterfall per trace.

One file, with its CSS and JavaScript inline and its data embedded as JSON
in a ``<script type="application/json">`` element, so it opens from disk,
offline, by double-click; its Content-Security-Policy forbids every network
request.  The data is laid out compactly (a string table, one array per
span, columns named once) and the page builds a trace's rows only when the
trace is opened, so files of 100,000 spans still open.

Every name, key and value reaches the page as JSON text that the script
puts in the DOM with ``textContent``: a span named ``<img src=x onerror=...>``
is shown, never run.  Records are shown as given: records read from an
artifact are redacted already, and a caller holding live records redacts
them first (``RedactionPolicy.redact_record``).  This module imports no pytest.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
from collections import defaultdict
from importlib import resources
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .parse import collection_paused
from .record import FrozenAttributes, SpanRecord, short_error_type

__all__ = ["SPAN_FIELDS", "embed_json", "page_data", "render_page", "service_of", "span_count", "test_of"]

#: The columns of each span's array in the page's data, in order.
SPAN_FIELDS = (
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "status",
    "status_description",
    "start",
    "duration",
    "depth",
    "parent",
    "service",
    "resource",
    "scope",
    "attributes",
    "events",
    "links",
    "error_type",
)

# Integers past this lose digits as JavaScript numbers: they go as text.
_SAFE_INTEGER = 2**53
_UNSAFE_JSON = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_NO_TEST = None
# (trace id, span id) -> the node id of the test that made the span.
_Tests = Optional[Mapping[Tuple[str, str], str]]


def test_of(record: SpanRecord, tests: _Tests = None) -> Optional[str]:
    """The node id of the test that made ``record``, or ``None`` for a span outside tests.

    The record's own ``test`` field when it has one; else ``tests``, which
    maps ``(trace_id, span_id)`` to the node id for spans whose test is known
    from elsewhere (a failed test's evidence).
    """
    test = getattr(record, "test", None)
    if isinstance(test, str) and test:
        return test
    if tests:
        return tests.get((record.trace_id, record.span_id))
    return _NO_TEST


class _Table:
    """Strings (or other hashable values) kept once, referred to by index."""

    def __init__(self) -> None:
        self.items: List[Any] = []
        self._index: Dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        index = self._index.get(value)
        if index is None:
            index = self._index[value] = len(self.items)
            self.items.append(value)
        return index


def _value(value: Any) -> Any:
    """An attribute value as JSON the page reads back unchanged."""
    if type(value) is str or value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INTEGER < value < _SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)):
        return [_value(v) for v in value]
    return str(value)


class _Encoder:
    """Turns records into the page's compact rows, sharing strings, resources and scopes."""

    def __init__(self) -> None:
        self.strings = _Table()
        self.resources = _Table()
        self.scopes = _Table()
        # Records read from one file share their resource and scope objects:
        # finding one by identity spares hashing its attributes for every span.
        # Each object is kept with its index, so its id is not reused meanwhile.
        self._known: Dict[int, Tuple[object, int]] = {}

    def attributes(self, attrs: FrozenAttributes) -> List[Any]:
        flat: List[Any] = []
        strings = self.strings
        for key, value in zip(attrs._keys, attrs._values):
            flat.append(strings(key))
            flat.append(_value(value))
        return flat

    def resource(self, resource: FrozenAttributes) -> int:
        known = self._known.get(id(resource))
        if known is None:
            known = self._known[id(resource)] = (resource, self.resources(resource))
        return known[1]

    def scope(self, record: SpanRecord) -> int:
        scope = record.scope
        if scope is None:
            return -1
        known = self._known.get(id(scope))
        if known is None:
            key = (scope.name, scope.version or "", scope.schema_url or "", scope.attributes)
            known = self._known[id(scope)] = (scope, self.scopes(key))
        return known[1]

    def span(self, record: SpanRecord, depth: int, parent: int, trace_start: int) -> List[Any]:
        etype = record.error_type if record.is_error else None
        return [
            record.span_id,
            record.parent_span_id or "",
            self.strings(record.name),
            record.kind,
            record.status,
            record.status_description or "",
            record.start_time - trace_start,
            max(0, record.end_time - record.start_time),
            depth,
            parent,
            self.strings(service_of(record)),
            self.resource(record.resource),
            self.scope(record),
            self.attributes(record.attributes),
            [
                [self.strings(e.name), e.timestamp - trace_start, self.attributes(e.attributes)]
                for e in record.events
            ],
            [[lk.trace_id, lk.span_id, self.attributes(lk.attributes)] for lk in record.links],
            short_error_type(etype) if etype else "",
        ]

    def tables(self) -> Dict[str, Any]:
        return {
            "strings": self.strings.items,
            "resources": [self.attributes(r) for r in self.resources.items],
            "scopes": [
                [name, version, schema, self.attributes(attrs)]
                for name, version, schema, attrs in self.scopes.items
            ],
        }


def service_of(record: SpanRecord) -> str:
    """The ``service.name`` of the record's resource, or ``""``."""
    service = record.resource.get("service.name")
    return service if isinstance(service, str) else ""


def _tree_order(spans: Sequence[SpanRecord]) -> List[Tuple[SpanRecord, int, int]]:
    """``(record, depth, parent's index)`` in tree order: depth first, children by start time.

    A span whose parent is not in the trace starts a tree of its own, and so
    does one caught in a loop of parent ids (only a corrupt file holds one).
    """
    ids = {s.span_id for s in spans}
    children: Dict[str, List[SpanRecord]] = defaultdict(list)
    roots: List[SpanRecord] = []
    for span in spans:
        parent_id = span.parent_span_id
        if parent_id is not None and parent_id in ids and parent_id != span.span_id:
            children[parent_id].append(span)
        else:
            roots.append(span)
    order: List[Tuple[SpanRecord, int, int]] = []
    seen: set[str] = set()
    for top in [*roots, *spans]:
        if top.span_id in seen:
            continue
        stack = [(top, 0, -1)]
        while stack:
            span, depth, parent = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            order.append((span, depth, parent))
            below = depth + 1, len(order) - 1
            stack.extend((child, *below) for child in reversed(children[span.span_id]))
    return order


def _trace_test(order: Sequence[Tuple[SpanRecord, int, int]], tests: _Tests) -> Optional[str]:
    # A trace belongs to the test of its root; failing that, of its first span that names one.
    for record, _, _ in order:
        test = test_of(record, tests)
        if test is not None:
            return test
    return _NO_TEST


def page_data(
    records: Iterable[SpanRecord],
    *,
    tests: _Tests = None,
    title: str = "Traces",
    open_first: bool = False,
) -> Dict[str, Any]:
    """The page's data: traces grouped by test, errors first, then by start time.

    A span seen twice (same trace id and span id) is kept once.  ``tests``
    names the test of spans whose records do not (see :func:`test_of`);
    ``open_first`` makes the page open its first trace when it loads.
    """
    by_trace: Dict[str, Dict[str, SpanRecord]] = defaultdict(dict)
    for record in records:
        by_trace[record.trace_id].setdefault(record.span_id, record)
    with collection_paused():  # the page's rows hold no cycles; see collection_paused
        return _page(by_trace, tests, title, open_first)


def _page(
    by_trace: Mapping[str, Dict[str, SpanRecord]], tests: _Tests, title: str, open_first: bool
) -> Dict[str, Any]:
    starts = [min(s.start_time for s in spans.values()) for spans in by_trace.values()]
    base = min(starts, default=0)
    encoder = _Encoder()
    traces: List[Dict[str, Any]] = []
    for trace_id, found in by_trace.items():
        spans = sorted(found.values(), key=lambda s: (s.start_time, s.span_id))
        traces.append(_trace(trace_id, spans, encoder, base, tests))
    traces.sort(key=lambda t: (not t["errors"], t["start"], t["id"]))
    groups: Dict[Optional[str], List[int]] = {}
    for index, trace in enumerate(traces):
        groups.setdefault(trace.pop("test"), []).append(index)
    # Dicts keep insertion order: the group of the first (error, earliest) trace comes first.
    return {
        "version": 1,
        "title": title,
        "base": str(base),
        "open_first": open_first,
        "fields": list(SPAN_FIELDS),
        **encoder.tables(),
        "groups": [{"test": test, "traces": members} for test, members in groups.items()],
        "traces": traces,
    }


def _trace(
    trace_id: str,
    spans: List[SpanRecord],
    encoder: _Encoder,
    base: int,
    tests: _Tests,
) -> Dict[str, Any]:
    order = _tree_order(spans)
    start = spans[0].start_time
    end = max(s.end_time for s in spans)
    services: List[int] = []
    for record in spans:
        service = encoder.strings(service_of(record))
        if service not in services:
            services.append(service)
    errors = [r for r in spans if r.is_error]
    etype = next((r.error_type for r in errors if r.error_type), None)
    return {
        "id": trace_id,
        "test": _trace_test(order, tests),
        "root": encoder.strings(order[0][0].name),
        "services": services,
        "errors": len(errors),
        "error_type": short_error_type(etype) if etype else "",
        "start": start - base,
        "duration": max(0, end - start),
        "spans": [encoder.span(r, depth, parent, start) for r, depth, parent in order],
    }


def _asset(name: str) -> str:
    return resources.files("pytest_tracestore").joinpath("page").joinpath(name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` are escaped (no ``</script>`` or ``<!--`` can end
    or change the element), and so are U+2028 and U+2029 and lone
    surrogates, which a file's UTF-8 cannot hold.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pytest-tracestore">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<input type="search" data-role="search" placeholder="Search span names, services, tests, attributes" \
aria-label="Search">
<label><input type="checkbox" data-role="errors-only"> errors only</label>
<span data-role="count"></span>
</header>
<main data-role="traces"></main>
<aside data-role="details" hidden></aside>
<script type="application/json" id="tracestore-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""


def render_page(data: Mapping[str, Any]) -> str:
    """The whole self-contained page for :func:`page_data`'s ``data``."""
    return _TEMPLATE.format(
        title=_html.escape(str(data["title"])),
        css=_asset("waterfall.css"),
        js=_asset("waterfall.js"),
        data=embed_json(data),
    )


def span_count(data: Mapping[str, Any]) -> Tuple[int, int]:
    """``(spans, traces)`` in a page's data."""
    traces = data["traces"]
    return sum(len(t["spans"]) for t in traces), len(traces)
