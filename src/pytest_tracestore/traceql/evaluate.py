"""Evaluate a parsed TraceQL query over span records, one trace at a time.

Field expressions compile once into closures of ``(record, env)``; a query's
stages then turn each trace's spansets into new spansets, as Tempo's engine
does.  A query that is one spanset filter needing nothing of the rest of its
trace skips the grouping and reads records (or an index's candidates) directly.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable
from operator import attrgetter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..record import SpanEvent, SpanLink, SpanRecord
from .nodes import (
    Attribute,
    Binary,
    Field,
    Intrinsic,
    Static,
    Unary,
)

__all__ = ["TraceInfo", "Env", "compile_field", "compile_filter", "compare", "arithmetic"]

Spanset = List[SpanRecord]
FieldFn = Callable[[SpanRecord, "Env"], Any]
_by_start = attrgetter("start_time")


class Tag:
    """A status or kind value: equal only to the same status or kind, never to a string."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name

    def __repr__(self) -> str:
        return self.name.lower()


_STATUS = {name: Tag("status", name) for name in ("UNSET", "OK", "ERROR")}
_KIND = {
    name: Tag("kind", name)
    for name in ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
}


_UNKNOWN = object()


class TraceInfo:
    """One trace's spans and the structure its operators and intrinsics read."""

    def __init__(self, records: Sequence[SpanRecord]) -> None:
        self.spans: List[SpanRecord] = sorted(records, key=_by_start)
        self._by_id: Optional[Dict[str, SpanRecord]] = None
        self._children: Optional[Dict[str, List[SpanRecord]]] = None
        # Read once per span of the trace by trace-level intrinsics: computed once.
        self._root: object = _UNKNOWN
        self._duration: Optional[int] = None

    @property
    def by_id(self) -> Dict[str, SpanRecord]:
        if self._by_id is None:
            by_id: Dict[str, SpanRecord] = {}
            for span in self.spans:
                by_id.setdefault(span.span_id, span)
            self._by_id = by_id
        return self._by_id

    def children_of(self, span: SpanRecord) -> List[SpanRecord]:
        if self._children is None:
            children: Dict[str, List[SpanRecord]] = {}
            for other in self.spans:
                if other.parent_span_id is not None:
                    children.setdefault(other.parent_span_id, []).append(other)
            self._children = children
        return self._children.get(span.span_id, [])

    @property
    def root(self) -> Optional[SpanRecord]:
        # The first span without a parent; a trace whose root is missing has none.
        if self._root is _UNKNOWN:
            self._root = next((s for s in self.spans if s.parent_span_id is None), None)
        return self._root  # type: ignore[return-value]

    @property
    def duration(self) -> int:
        if self._duration is None:
            spans = self.spans
            self._duration = max(s.end_time for s in spans) - min(s.start_time for s in spans)
        return self._duration

    def parent(self, span: SpanRecord) -> Optional[SpanRecord]:
        parent_id = span.parent_span_id
        return None if parent_id is None else self.by_id.get(parent_id)

    def ancestors(self, span: SpanRecord) -> List[SpanRecord]:
        found: List[SpanRecord] = []
        seen = {id(span)}
        parent = self.parent(span)
        while parent is not None and id(parent) not in seen:  # a cycle ends the walk
            found.append(parent)
            seen.add(id(parent))
            parent = self.parent(parent)
        return found


class Env:
    """What a field closure reads beside the record: its trace, the event or link at hand."""

    __slots__ = ("event", "link", "_trace_of")

    def __init__(self, trace_of: Callable[[SpanRecord], TraceInfo]) -> None:
        self.event: Optional[SpanEvent] = None
        self.link: Optional[SpanLink] = None
        self._trace_of = trace_of

    def trace(self, record: SpanRecord) -> TraceInfo:
        return self._trace_of(record)


# -- values and operators -----------------------------------------------------


def _category(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return "string"
    if kind is bool:
        return "bool"
    if kind is int or kind is float:
        return "number"
    if kind is Tag:
        return value.kind  # type: ignore[no-any-return]
    if kind is tuple:
        return "array"
    return "nil"


def _scalar_compare(op: str, a: Any, b: Any, pattern: Optional[re.Pattern[str]]) -> bool:
    ca, cb = _category(a), _category(b)
    if ca != cb or ca == "nil":
        return False
    if op == "=":
        return a is b if ca in ("status", "kind") else bool(a == b)
    if op == "!=":
        return a is not b if ca in ("status", "kind") else bool(a != b)
    if op in ("=~", "!~"):
        if ca != "string" or pattern is None:
            return False
        return (pattern.fullmatch(a) is not None) == (op == "=~")
    if ca not in ("number", "string"):
        return False
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


_POSITIVE = {"!=": "=", "!~": "=~"}


def compare(op: str, a: Any, b: Any, pattern: Optional[re.Pattern[str]] = None) -> bool:
    """``a op b`` with TraceQL's rules: values of different types never match.

    An array matches ``=``, ``=~`` and orderings when any element does, and
    ``!=`` / ``!~`` only when no element matches the positive form.
    """
    if type(a) is tuple or type(b) is tuple:
        if type(a) is tuple and type(b) is tuple:
            if op in ("=", "!="):
                return (a == b) == (op == "=")
            return False
        items, other, flipped = (a, b, False) if type(a) is tuple else (b, a, True)
        positive = _POSITIVE.get(op, op)
        hits = (
            _scalar_compare(positive, other, x, pattern) if flipped
            else _scalar_compare(positive, x, other, pattern)
            for x in items
        )
        return (not any(hits)) if op in _POSITIVE else any(hits)
    return _scalar_compare(op, a, b, pattern)


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """``a op b`` for numbers (durations are nanoseconds); ``None`` for anything else."""
    if _category(a) != "number" or _category(b) != "number":
        return None
    both_int = type(a) is int and type(b) is int
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if both_int:
                return int(a / b) if abs(a) < 2**52 and abs(b) < 2**52 else _int_div(a, b)
            return a / b if b else (math.copysign(math.inf, a) if a else math.nan)
        if op == "%":
            return int(math.fmod(a, b)) if both_int else math.fmod(a, b)
        if op == "^":
            # Exact for small integer powers; larger ones go through floats,
            # so a query cannot ask for a number of a million digits.
            return a**b if both_int and 0 <= b <= 64 else float(a) ** float(b)
    except (ZeroDivisionError, ValueError, OverflowError):
        return None
    return None


def _int_div(a: int, b: int) -> int:
    # Go's integer division truncates toward zero.
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


# -- compiling field expressions ----------------------------------------------


def _attribute_fn(node: Attribute) -> FieldFn:
    key, scope = node.name, node.scope

    def span_attr(record: SpanRecord, env: Env) -> Any:
        keys = record._attribute_keys
        return record._attribute_values[keys.index(key)] if key in keys else None

    if scope == "span":
        return span_attr
    if scope == "resource":
        return lambda record, env: record.resource.get(key)
    if scope == "event":
        return lambda record, env: None if env.event is None else env.event.attributes.get(key)
    if scope == "link":
        return lambda record, env: None if env.link is None else env.link.attributes.get(key)
    if scope == "instrumentation":
        return lambda record, env: (
            None if record.scope is None else record.scope.attributes.get(key)
        )

    def unscoped(record: SpanRecord, env: Env) -> Any:
        keys = record._attribute_keys
        if key in keys:
            return record._attribute_values[keys.index(key)]
        return record.resource.get(key)

    return unscoped


def _root_service(record: SpanRecord, env: Env) -> Any:
    root = env.trace(record).root
    return None if root is None else root.resource.get("service.name")


def _root_name(record: SpanRecord, env: Env) -> Any:
    root = env.trace(record).root
    return None if root is None else root.name


_INTRINSICS: Dict[Tuple[str, str], FieldFn] = {
    ("span", "name"): lambda r, env: r.name,
    ("span", "status"): lambda r, env: _STATUS[r.status],
    ("span", "statusMessage"): lambda r, env: r.status_description or "",
    ("span", "kind"): lambda r, env: _KIND.get(r.kind),
    ("span", "duration"): lambda r, env: r.end_time - r.start_time,
    ("span", "id"): lambda r, env: r.span_id,
    ("span", "parentID"): lambda r, env: r.parent_span_id,
    ("span", "childCount"): lambda r, env: len(env.trace(r).children_of(r)),
    ("trace", "duration"): lambda r, env: env.trace(r).duration,
    ("trace", "rootName"): _root_name,
    ("trace", "rootService"): _root_service,
    ("trace", "id"): lambda r, env: r.trace_id,
    ("event", "name"): lambda r, env: None if env.event is None else env.event.name,
    ("event", "timeSinceStart"): lambda r, env: (
        None if env.event is None else env.event.timestamp - r.start_time
    ),
    ("link", "traceID"): lambda r, env: None if env.link is None else env.link.trace_id,
    ("link", "spanID"): lambda r, env: None if env.link is None else env.link.span_id,
    ("instrumentation", "name"): lambda r, env: None if r.scope is None else r.scope.name,
    ("instrumentation", "version"): lambda r, env: None if r.scope is None else r.scope.version,
}

#: The intrinsics that read the span's whole trace.
TRACE_INTRINSICS = {("span", "childCount"), ("trace", "duration"), ("trace", "rootName"),
                    ("trace", "rootService")}


def _static_value(node: Static) -> Any:
    if node.type == "status":
        return _STATUS[node.value]
    if node.type == "kind":
        return _KIND[node.value]
    return node.value


def compile_field(node: Field) -> FieldFn:
    """A closure computing ``node``'s value for a record."""
    if isinstance(node, Static):
        value = _static_value(node)
        return lambda record, env: value
    if isinstance(node, Intrinsic):
        return _INTRINSICS[(node.scope, node.name)]
    if isinstance(node, Attribute):
        return _attribute_fn(node)
    if isinstance(node, Unary):
        return _compile_unary(node)
    assert isinstance(node, Binary)
    return _compile_binary(node)


def _compile_unary(node: Unary) -> FieldFn:
    inner = compile_field(node.operand)
    if node.op == "exists":
        return lambda record, env: inner(record, env) is not None
    if node.op == "missing":
        return lambda record, env: inner(record, env) is None
    if node.op == "!":
        def negate(record: SpanRecord, env: Env) -> Any:
            value = inner(record, env)
            return (not value) if type(value) is bool else None

        return negate
    return lambda record, env: arithmetic("-", 0, inner(record, env))


def _compile_binary(node: Binary) -> FieldFn:
    op = node.op
    left, right = compile_field(node.lhs), compile_field(node.rhs)
    if op in ("&&", "||"):
        want = op == "||"

        def logic(record: SpanRecord, env: Env) -> Any:
            a = left(record, env)
            if a is want:  # short cut: false && x, true || x
                return want
            b = right(record, env)
            if type(a) is bool and type(b) is bool:
                return a or b if want else a and b
            return False

        return logic
    if op in ("+", "-", "*", "/", "%", "^"):
        return lambda record, env: arithmetic(op, left(record, env), right(record, env))
    pattern = re.compile(node.rhs.value) if op in ("=~", "!~") else None  # type: ignore[attr-defined]
    if isinstance(node.rhs, Static) and node.rhs.type == "string" and op in ("=", "!="):
        wanted, equal = node.rhs.value, op == "="

        def string_test(record: SpanRecord, env: Env) -> Any:
            value = left(record, env)
            if type(value) is str:
                return (value == wanted) is equal
            return compare(op, value, wanted)

        return string_test
    if pattern is not None:
        match, positive, source = pattern.fullmatch, op == "=~", pattern.pattern

        def regex_test(record: SpanRecord, env: Env) -> Any:
            value = left(record, env)
            if type(value) is str:
                return (match(value) is not None) is positive
            return compare(op, value, source, pattern)

        return regex_test
    if (
        isinstance(node.rhs, Static)
        and node.rhs.type in ("status", "kind")
        and isinstance(node.lhs, Intrinsic)
        and op in ("=", "!=")
    ):
        # The record holds its status and kind as the upper-case names.
        name, equal = node.rhs.value, op == "="
        if node.rhs.type == "status":
            return lambda record, env: (record.status == name) is equal
        return lambda record, env: (record.kind == name) is equal
    if isinstance(node.rhs, Static) and node.rhs.type in ("int", "float", "duration"):
        return _number_test(node, left)
    return lambda record, env: compare(op, left(record, env), right(record, env), pattern)


_ORDERINGS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
              "=": operator.eq, "!=": operator.ne}


def _number_test(node: Binary, left: FieldFn) -> FieldFn:
    op, wanted = node.op, node.rhs.value  # type: ignore[attr-defined]
    test = _ORDERINGS[op]
    lhs = node.lhs
    if isinstance(lhs, Intrinsic) and (lhs.scope, lhs.name) == ("span", "duration"):
        # The commonest numeric filter, and a value that is always an int.
        return lambda record, env: test(record.end_time - record.start_time, wanted)

    def number_test(record: SpanRecord, env: Env) -> Any:
        value = left(record, env)
        kind = type(value)
        if kind is int or kind is float:
            return test(value, wanted)
        return compare(op, value, wanted)

    return number_test


def _strictly_boolean(node: Field) -> bool:
    if isinstance(node, Binary):
        return node.op not in ("+", "-", "*", "/", "%", "^")
    return isinstance(node, Unary) and node.op in ("exists", "missing")


def uses(node: Optional[Field], scope: str) -> bool:
    """Whether the expression reads a field of ``scope`` (event, link)."""
    if node is None:
        return False
    return any(
        isinstance(n, (Attribute, Intrinsic)) and n.scope == scope for n in node.walk()
    )


def uses_trace(node: Optional[Field]) -> bool:
    """Whether the expression reads the span's trace (rootName, childCount, ...)."""
    if node is None:
        return False
    return any(
        isinstance(n, Intrinsic) and (n.scope, n.name) in TRACE_INTRINSICS for n in node.walk()
    )


def compile_filter(node: Optional[Field]) -> Callable[[SpanRecord, Env], bool]:
    """A predicate: whether a record satisfies a spanset filter's condition.

    Conditions on events (or links) hold for one event (or link) at a time,
    as conditions inside braces hold for one span at a time.
    """
    if node is None:
        return lambda record, env: True
    test = compile_field(node)
    on_events, on_links = uses(node, "event"), uses(node, "link")
    if not (on_events or on_links):
        if _strictly_boolean(node):
            return test
        return lambda record, env: test(record, env) is True

    def per_item(record: SpanRecord, env: Env) -> bool:
        events: Iterable[Optional[SpanEvent]] = (record.events or (None,)) if on_events else (None,)
        links: Sequence[Optional[SpanLink]] = (record.links or (None,)) if on_links else (None,)
        try:
            for event in events:
                env.event = event
                for link in links:
                    env.link = link
                    if test(record, env) is True:
                        return True
            return False
        finally:
            env.event = env.link = None

    return per_item
