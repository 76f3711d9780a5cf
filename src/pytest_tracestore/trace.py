"""The :class:`Trace`: one trace's spans as a tree, to navigate, match and snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .record import SpanRecord

if TYPE_CHECKING:
    from .query import Query
    from .traceql import TraceQL

__all__ = ["Trace", "TreeSpec"]

#: The shape :meth:`Trace.assert_tree` expects; see its docstring.
TreeSpec = Any


def _start_key(record: SpanRecord) -> tuple[int, int, str, str]:
    # Ties on start time are broken by what does not change between runs first.
    return (record.start_time, record.end_time, record.name, record.span_id)


class Trace(Sequence[SpanRecord]):
    """The spans of one trace, ordered by start time, with their tree.

    Get one from ``trace_store.trace(trace_id)``.  It is a snapshot: spans
    that end later are not in it.  It behaves as a sequence of its spans,
    and every method taking a span wants one of them (``ValueError`` otherwise).
    """

    def __init__(self, records: Iterable[SpanRecord]) -> None:
        spans = sorted(records, key=_start_key)
        if not spans:
            raise ValueError("a Trace needs at least one span")
        trace_ids = {r.trace_id for r in spans}
        if len(trace_ids) > 1:
            raise ValueError(f"spans of several traces given: {', '.join(sorted(trace_ids))}")
        self._spans = spans
        self._by_id: Dict[str, SpanRecord] = {}
        for record in spans:
            self._by_id.setdefault(record.span_id, record)
        self._children: Dict[str, List[SpanRecord]] = {}
        self._roots: List[SpanRecord] = []
        for record in spans:
            parent = record.parent_span_id
            if parent is not None and parent in self._by_id and parent != record.span_id:
                self._children.setdefault(parent, []).append(record)
            else:
                self._roots.append(record)

    # -- sequence -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._spans)

    def __iter__(self) -> Iterator[SpanRecord]:
        return iter(self._spans)

    def __getitem__(self, index: Any) -> Any:
        return self._spans[index]

    def __contains__(self, span: object) -> bool:
        return isinstance(span, SpanRecord) and self._by_id.get(span.span_id) == span

    def __repr__(self) -> str:
        return f"<Trace {self.trace_id} {len(self._spans)} spans, root {self._roots[0].name!r}>"

    # -- the whole trace ------------------------------------------------

    @property
    def trace_id(self) -> str:
        """The trace id, 32 hex digits."""
        return self._spans[0].trace_id

    @property
    def roots(self) -> List[SpanRecord]:
        """The root, and every span whose parent is not in the trace, by start time."""
        return list(self._roots)

    @property
    def missing_parents(self) -> List[str]:
        """The parent span ids that spans point to but the trace does not hold."""
        return list(
            dict.fromkeys(
                r.parent_span_id
                for r in self._roots
                if r.parent_span_id is not None and r.parent_span_id not in self._by_id
            )
        )

    @property
    def root(self) -> SpanRecord:
        """The trace's one root span.

        ``ValueError`` when there are several (a parent was not recorded, or
        the spans came from elsewhere): the message names the missing ids;
        :attr:`roots` lists them all.
        """
        if len(self._roots) == 1:
            return self._roots[0]
        names = ", ".join(repr(r.name) for r in self._roots)
        missing = self.missing_parents
        why = f"; parent spans not recorded: {', '.join(missing)}" if missing else ""
        raise ValueError(
            f"trace {self.trace_id} has {len(self._roots)} roots ({names}){why}; use .roots"
        )

    @property
    def start_time(self) -> int:
        """When the first span started (ns since the epoch)."""
        return self._spans[0].start_time

    @property
    def end_time(self) -> int:
        """When the last span ended (ns since the epoch)."""
        return max(r.end_time for r in self._spans)

    @property
    def duration_ns(self) -> int:
        """From the first start to the last end, in nanoseconds."""
        return self.end_time - self.start_time

    @property
    def duration(self) -> float:
        """From the first start to the last end, in seconds."""
        return self.duration_ns / 1e9

    @property
    def services(self) -> List[str]:
        """The ``service.name`` of the spans' resources, in order of first start."""
        return list(
            dict.fromkeys(
                r.resource["service.name"]
                for r in self._spans
                if isinstance(r.resource.get("service.name"), str)
            )
        )

    # -- navigation -----------------------------------------------------

    def _own(self, span: Any) -> SpanRecord:
        if not isinstance(span, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {span!r}")
        if span not in self:
            raise ValueError(f"span {span!r} is not in trace {self.trace_id}")
        return span

    def parent(self, span: SpanRecord) -> Optional[SpanRecord]:
        """The span's parent, or ``None`` for a root (or a parent not recorded)."""
        span = self._own(span)
        parent = span.parent_span_id
        if parent is None or parent == span.span_id:
            return None
        return self._by_id.get(parent)

    def children(self, span: SpanRecord) -> List[SpanRecord]:
        """The span's children, by start time."""
        return list(self._children.get(self._own(span).span_id, ()))

    def ancestors(self, span: SpanRecord) -> List[SpanRecord]:
        """The parent, its parent, ... nearest first, up to the highest recorded."""
        from .query import _ancestors

        return list(_ancestors(self._own(span), self))

    def descendants(self, span: SpanRecord) -> List[SpanRecord]:
        """Every span below ``span``, depth first, children by start time."""
        from .query import _descendants

        return list(_descendants(self._own(span), self))

    def siblings(self, span: SpanRecord) -> List[SpanRecord]:
        """The other children of the span's parent, by start time (for a root: the other roots)."""
        parent = self.parent(span)
        group = self._roots if parent is None else self._children[parent.span_id]
        return [r for r in group if r is not span and r != span]

    def depth(self, span: SpanRecord) -> int:
        """How many recorded ancestors the span has: 0 for a root."""
        return len(self.ancestors(span))

    def walk(self) -> Iterator[SpanRecord]:
        """Every span once, depth first from each root, children by start time."""
        seen: set[str] = set()
        for root in self._roots + self._spans:  # then whatever a parent cycle left out
            if root.span_id in seen:
                continue
            seen.add(root.span_id)
            yield root
            for span in self.descendants(root):
                if span.span_id not in seen:
                    seen.add(span.span_id)
                    yield span

    # -- queries --------------------------------------------------------

    def spans(self, query: Optional[Query] = None, **filters: Any) -> List[SpanRecord]:
        """The trace's spans matching a :class:`Query` or keyword filters, by start time.

        Takes the filters of :meth:`TraceStore.query_spans`; relational ones
        (``parent=``, ``descendant=``, ...) navigate this trace.
        """
        from .query import combine

        wanted = combine(query, filters) if (query is not None or filters) else None
        if wanted is None:
            return list(self._spans)
        return [r for r in self._spans if wanted.matches(r, self)]

    def span(self, query: Optional[Query] = None, **filters: Any) -> SpanRecord:
        """The one span of the trace matching the filters; fails the test if none or several do."""
        __tracebackhide__ = True
        from .query import combine

        found = self.spans(query, **filters)
        if len(found) == 1:
            return found[0]
        wanted = combine(query, filters)
        if found:
            names = ", ".join(repr(r) for r in found[:10])
            raise AssertionError(
                f"expected exactly one span matching {wanted.describe()} in trace "
                f"{self.trace_id}; found {len(found)}: {names}"
            )
        lines = [
            f"expected exactly one span matching {wanted.describe()} in trace "
            f"{self.trace_id}; found none among {len(self._spans)} spans.",
            "Nearest misses:",
        ]
        misses = sorted(
            ((wanted.mismatches(r, self), r) for r in self._spans), key=lambda m: len(m[0])
        )
        lines.extend(f"  {r!r}: {'; '.join(reasons)}" for reasons, r in misses[:10])
        raise AssertionError("\n".join(lines))

    # -- shape ----------------------------------------------------------

    def tree(self, *, durations: bool = True, attributes: bool = True) -> str:
        """The trace as a text tree, as :meth:`TraceStore.render_trace` draws it."""
        from .render import render_tree

        return "\n".join(render_tree(self._spans, durations=durations, attributes=attributes))

    def assert_tree(
        self, expected: TreeSpec, *, exact: bool = False, ordered: bool = False
    ) -> None:
        """Fail the test unless the trace has the shape ``expected``.

        ``expected`` describes the trace's root (or a list of roots).  A node
        is a span name, a compiled regex, a matcher (``prefix("GET ")``) or a
        :class:`Query`; a node with children is a tuple ``(node, [children])``
        or a one-key dict ``{node: [children]}`` (a dict of several keys is
        that many sibling nodes)::

            trace.assert_tree(
                ("POST /checkout", [
                    "inventory.reserve",
                    ("payments.charge", ["db.query"]),
                ])
            )

        Children must be direct children.  By default extra spans are
        allowed (more children than listed, anywhere) and children may come
        in any order; ``ordered=True`` wants the listed children in start
        order, ``exact=True`` wants no span besides those listed (a node
        given without children then has none).  The ``AssertionError`` draws
        the expected and the actual tree side by side and marks where they
        part.
        """
        __tracebackhide__ = True
        from .tree import match_tree

        failure = match_tree(self, expected, exact=exact, ordered=ordered)
        if failure is not None:
            raise AssertionError(failure)

    def snapshot(self, **options: Any) -> Dict[str, Any]:
        """A deterministic, JSON-able picture of the trace, for snapshot tests.

        ``{"trace": 1, "spans": [root, ...]}``; ``options`` and the format
        are those of :func:`pytest_tracestore.snapshot.snapshot_traces`.
        """
        from .snapshot import snapshot_with

        return snapshot_with([self], options)[0]

    def traceql(self, query: str | TraceQL) -> List[SpanRecord]:
        """The spans of this trace a TraceQL query returns, by start time.

        ``query`` is text or a compiled :class:`~pytest_tracestore.TraceQL`;
        see :meth:`TraceStore.traceql`.
        """
        from .traceql import compile_traceql

        return compile_traceql(query).spans(self)
