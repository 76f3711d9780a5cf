"""TraceQL, Grafana Tempo's trace query language (a documented subset), over span records.

    >>> query = TraceQL('{ resource.service.name = "orders" } >> { status = error }')
    >>> query.spans(records)          # any iterable of records, grouped by trace
    >>> query.search(trace_store)     # a store: its indexes narrow the scan

Parse once, evaluate many: a :class:`TraceQL` holds the compiled query.
Malformed queries raise :class:`TraceQLError` (a ``ValueError``) naming the
column; valid TraceQL outside the subset raises :class:`TraceQLUnsupported`.
This package imports no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

from ..record import SpanRecord, index_key
from .errors import TraceQLError, TraceQLUnsupported
from .parser import parse
from .plan import Hint, Plan, matching_traces

if TYPE_CHECKING:
    from ..store import TraceStore

__all__ = ["TraceQL", "TraceQLError", "TraceQLUnsupported", "compile_traceql"]


class TraceQL:
    """A compiled TraceQL query, reusable over any records or stores.

    Raises :class:`TraceQLError` (a ``ValueError``) for a malformed query.
    """

    __slots__ = ("_text", "_plan")

    def __init__(self, query: str) -> None:
        self._text = query
        try:
            self._plan = Plan(parse(query))
        except RecursionError:
            # The parser and the plan recurse once per nesting level.
            raise TraceQLError("the query is nested too deeply", query, 0) from None

    @property
    def text(self) -> str:
        """The query as written."""
        return self._text

    def __repr__(self) -> str:
        return f"TraceQL({self._text!r})"

    def spans(self, records: Iterable[SpanRecord]) -> List[SpanRecord]:
        """The records the query returns, in start order.

        ``records`` may hold several traces (grouped by trace id) or the
        spans of one trace.  Every record is read: for a store, prefer
        :meth:`search`, which uses its indexes.
        """
        held = list(records)
        for record in held:
            if not isinstance(record, SpanRecord):
                raise ValueError(f"expected a SpanRecord, got {record!r}")
        traces = _group(held)
        plan = self._plan

        def trace_of(trace_id: str) -> Sequence[SpanRecord]:
            return traces.get(trace_id) or ()

        if plan.filter is not None:
            return plan.run_filter(held, trace_of)
        wanted = matching_traces(
            plan.needs, lambda test, hints: plan.run_filter(held, trace_of, test)
        )
        if wanted is None:
            return plan.run_traces(traces.values())
        return plan.run_traces(traces[t] for t in traces if t in wanted)

    def search(self, store: TraceStore) -> List[SpanRecord]:
        """The spans of ``store`` the query returns, in start order.

        A filter on ``span.KEY = value``, ``status`` or ``trace:id`` reads only
        the matching entries of the store's indexes, and a structural query
        evaluates only the traces that hold spans for both of its sides.
        """
        plan = self._plan
        store._sync()
        with store._lock:
            store._catch_up()
            by_trace = store._by_trace

            def trace_of(trace_id: str) -> Sequence[SpanRecord]:
                return by_trace.get(trace_id) or ()

            def run_filter(test: Any, hints: List[Hint]) -> List[SpanRecord]:
                return plan.run_filter(_candidates(store, hints), trace_of, test)

            if plan.filter is not None:
                return run_filter(plan.filter, plan.hints)
            wanted = matching_traces(plan.needs, run_filter)
            if wanted is None:
                return plan.run_traces(list(by_trace.values()))
            return plan.run_traces([by_trace[t] for t in wanted if t in by_trace])


def compile_traceql(query: Union[str, TraceQL]) -> TraceQL:
    """``query`` compiled (a :class:`TraceQL` is returned as is)."""
    return query if isinstance(query, TraceQL) else TraceQL(query)


def _group(records: List[SpanRecord]) -> Dict[str, List[SpanRecord]]:
    traces: Dict[str, List[SpanRecord]] = {}
    for record in records:
        bucket = traces.get(record.trace_id)
        if bucket is None:
            traces[record.trace_id] = [record]
        else:
            bucket.append(record)
    return traces


def _candidates(store: TraceStore, hints: List[Hint]) -> Iterable[SpanRecord]:
    """The smallest set of records the hints allow (all records without any)."""
    best: Optional[Sequence[SpanRecord]] = None
    for hint in hints:
        if hint[0] == "attribute":
            option = _attribute_candidates(store, hint[1], hint[2])
        elif hint[0] == "status":
            option = store._by_status.get(hint[1]) or ()
        elif hint[0] == "trace":
            option = store._by_trace.get(hint[1]) or ()
        else:
            option = ()
        if best is None or len(option) < len(best):
            best = option
    return store._records if best is None else best


def _attribute_candidates(store: TraceStore, key: str, value: Any) -> Sequence[SpanRecord]:
    index = store._attr_index(key)
    wanted = index_key(value)
    found = index.get(wanted) or ()
    arrays = _array_entries(store, key, index)
    if arrays:
        # An array attribute matches when one of its items does; the index
        # keys arrays whole, so add the array entries holding the value.
        found = list(found)
        for items, bucket in arrays:
            if wanted in items:
                found.extend(bucket)
    return found


def _array_entries(store: TraceStore, key: str, index: Dict[Any, Any]) -> List[Any]:
    """The index's entries for array values, as (items, bucket), found once per store state.

    Finding them reads every key of the index, as costly as a scan for a key
    of many values; the entries stay valid while the store neither adds nor
    evicts (nor clears, which makes new index objects).  Called with the
    store's lock held, so the cache is kept on the store.
    """
    cache: Dict[str, Any] = store.__dict__.setdefault("_traceql_arrays", {})
    state = (store._evicted, len(store._records))
    cached = cache.get(key)
    if cached is not None and cached[0] is index and cached[1] == state:
        return cached[2]  # type: ignore[no-any-return]
    entries = [
        (entry[1], bucket)
        for entry, bucket in index.items()
        if type(entry) is tuple and len(entry) == 2 and entry[0] is tuple
    ]
    cache[key] = (index, state, entries)
    return entries
