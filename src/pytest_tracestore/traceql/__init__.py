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

from ..record import SpanRecord
from .errors import TraceQLError, TraceQLUnsupported
from .parser import parse
from .plan import Plan

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
        self._plan = Plan(parse(query))

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
        if plan.filter is not None:
            return plan.run_filter(held, traces.__getitem__)
        return plan.run_traces(traces.values())

    def search(self, store: TraceStore) -> List[SpanRecord]:
        """The spans of ``store`` the query returns, in start order.

        A filter on ``span.KEY = value``, ``status`` or ``trace:id`` reads only
        the matching entries of the store's indexes.
        """
        plan = self._plan
        store._sync()
        with store._lock:
            store._catch_up()
            by_trace = store._by_trace

            def trace_of(trace_id: str) -> Sequence[SpanRecord]:
                return by_trace.get(trace_id) or ()

            if plan.filter is not None:
                return plan.run_filter(_candidates(store, plan.hints), trace_of)
            return plan.run_traces(list(by_trace.values()))


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


def _candidates(store: TraceStore, hints: List[tuple[Any, ...]]) -> Iterable[SpanRecord]:
    """The smallest set of records the hints allow (all records without any)."""
    from ..store import _index_value

    best: Optional[Sequence[SpanRecord]] = None
    for hint in hints:
        if hint[0] == "attribute":
            option = _attribute_candidates(store, hint[1], hint[2], _index_value)
        elif hint[0] == "status":
            option = store._by_status.get(hint[1]) or ()
        elif hint[0] == "trace":
            option = store._by_trace.get(hint[1]) or ()
        else:
            option = ()
        if best is None or len(option) < len(best):
            best = option
    return store._records if best is None else best


def _attribute_candidates(
    store: TraceStore, key: str, value: Any, index_value: Any
) -> Sequence[SpanRecord]:
    index = store._attr_index(key)
    found = list(index.get(index_value(value)) or ())
    # An array attribute matches when one of its items does; the index keys
    # arrays whole, so add the array entries holding the value.
    wanted = index_value(value)
    for entry, bucket in index.items():
        if type(entry) is tuple and len(entry) == 2 and entry[0] is tuple and wanted in entry[1]:
            found.extend(bucket)
    return found
