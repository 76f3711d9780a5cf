"""The thread-safe, indexed, FIFO-capped span store and its query API."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple, Union

from .base import DEFAULT_MAX_BYTES, DEFAULT_MAX_LINE_BYTES, TraceStoreWarning, check_limit
from .record import (
    SpanRecord,
    _same_value,
    error_type_matches,
    error_type_name,
    estimated_bytes,
    index_key,
    normalize_trace_id,
    short_error_type,
)

if TYPE_CHECKING:
    from .query import Query
    from .trace import Trace, TreeSpec
    from .traceql import TraceQL

__all__ = ["TraceStore", "ScopedTraceStore", "TraceStoreWarning", "DEFAULT_MAX_BYTES"]

# Index buckets start as lists (small: 56 bytes for one entry) and become
# deques once long enough that deleting from the front would cost.
_DEQUE_AT = 64

_by_start = attrgetter("start_time")

# How many records extend() reads from its iterable before adding them.
_EXTEND_CHUNK = 1024

# How many spans an assertion message lists before it says "and N more".
_MAX_LISTED = 10

Bucket = Union[List[SpanRecord], Deque[SpanRecord]]


_ABSENT = object()


def _attribute(record: SpanRecord, key: str) -> Any:
    """The record's value of attribute ``key``, or ``_ABSENT``.

    Read from the record's key and value tuples: its ``attributes`` mapping
    is made anew on each access, and indexes read every record.
    """
    keys = record._attribute_keys
    return record._attribute_values[keys.index(key)] if key in keys else _ABSENT


def _add(index: Dict[Any, Bucket], key: Any, record: SpanRecord) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = [record]
    else:
        bucket.append(record)
        if len(bucket) == _DEQUE_AT and isinstance(bucket, list):
            index[key] = deque(bucket)


def _remove_oldest(index: Dict[Any, Bucket], key: Any, record: SpanRecord) -> None:
    bucket = index.get(key)
    if bucket is None:
        return
    # Eviction is first in, first out, and buckets are filled in insertion
    # order, so the evicted record is always at the front of each bucket.
    if bucket[0] is record:
        if isinstance(bucket, deque):
            bucket.popleft()
        else:
            del bucket[0]
    else:  # pragma: no cover - only reachable if the invariant above breaks
        bucket.remove(record)
    if not bucket:
        del index[key]


def _error_keys(record: SpanRecord) -> tuple[str, ...]:
    """The error-type index keys of a record (short names), usually none."""
    # Runs for every span added and evicted; most carry no error, so rule that
    # out before building anything.
    if record.status != "ERROR" and "error.type" not in record._attribute_keys:
        for event in record.events:
            if event.name == "exception":
                break
        else:
            return ()
    return tuple({short_error_type(t) for t in record.error_types()})


def batch_bytes(records: List[SpanRecord]) -> int:
    """The estimated memory of records, as a store's budget counts it."""
    # Summed in C: the processor's records carry their estimate already.
    sizes = list(map(_size_attr, records))
    if all(sizes):
        return sum(sizes)
    return sum(map(_size_of, records))


_size_attr = attrgetter("_size")


def _size_of(record: SpanRecord) -> int:
    """A record's estimated memory (:func:`~.record.estimated_bytes`), kept on the record."""
    size: int = record._size  # type: ignore[attr-defined]
    if not size:
        from .serialize import dumps_line, record_to_dict

        size = estimated_bytes(len(dumps_line(record_to_dict(record))))
        object.__setattr__(record, "_size", size)
    return size


class TraceStore:
    """A thread-safe store of :class:`SpanRecord` objects with indexes.

    Spans are kept in the order they were added (the order they ended).  When
    more than ``max_spans`` are held, or their estimated memory passes
    ``max_bytes``, the oldest are evicted (FIFO).  ``None`` means no limit.

    Every query returns a new list ordered by start time; changing it never
    touches the store.  Lookups by trace id, status and error type use
    indexes; an attribute key gets an index the first time it is queried,
    kept up to date from then on.

    A store fed by a :class:`~pytest_tracestore.FileBasedSpanProcessor` (its
    ``store``, or a subscriber) first takes in the spans that processor has
    queued, on every read: a query never misses a span that has ended.

    Adding a record only appends it: the indexes catch up with the records
    added since the last lookup when the next lookup comes.  Spans end far
    more often than tests look them up, and a record evicted before any
    lookup never costs an index update at all.
    """

    def __init__(
        self, max_spans: int | None = None, max_bytes: int | None = DEFAULT_MAX_BYTES
    ) -> None:
        if max_spans is not None:
            check_limit("max_spans", max_spans)
        if max_bytes is not None:
            check_limit("max_bytes", max_bytes)
        self._max_spans = max_spans
        self._max_bytes = max_bytes
        # The limits as numbers add() compares against without a None check.
        self._span_cap = sys.maxsize if max_spans is None else max_spans
        self._byte_cap = sys.maxsize if max_bytes is None else max_bytes
        self._lock = threading.RLock()
        # wait_for sleeps on this; add() notifies only while someone waits.
        # Made by the first wait_for: every test gets a store, few ever wait.
        self._added_cond: threading.Condition | None = None
        self._waiters = 0
        # The processor that feeds this store, if any: it queues ended spans,
        # and every read drains that queue first.
        self._source: Any = None
        #: Called for the likely cause when a lookup finds nothing and the
        #: run has recorded no span at all (set on the run's store).
        self.empty_hint: Callable[[], str] | None = None
        self._reset()

    def _sync(self) -> None:
        """Take in the spans the feeding processor has queued.  Never with the lock held.

        The processor takes its own lock and then this store's, so draining
        with this store's lock held could deadlock against a drain in another
        thread.
        """
        source = self._source
        if source is not None:
            source.drain()

    def _run_store(self) -> TraceStore:
        return self

    def _empty_note(self) -> str:
        """What a lookup that found nothing adds when the run has recorded no span at all."""
        run = self._run_store()
        hint = run.empty_hint
        if hint is None or run.added:
            return ""
        return f"\nThe run has recorded no span at all: {hint()}."

    def _reset(self) -> None:
        self._records: Deque[SpanRecord] = deque()
        self._by_trace: Dict[str, Bucket] = {}
        self._by_status: Dict[str, Bucket] = {}
        self._by_error: Dict[str, Bucket] = {}
        self._by_attr: Dict[str, Dict[Any, Bucket]] = {}
        # (trace id, span id) and (trace id, parent id) indexes, made by the
        # first navigation: span ids are unique within a trace only.
        self._by_span: Optional[Dict[Tuple[str, str], Bucket]] = None
        self._by_parent: Optional[Dict[Tuple[str, str], Bucket]] = None
        self._bytes = 0
        self._evicted = 0
        # How many of the newest records the indexes do not hold yet.
        self._pending = 0

    # -- writing --------------------------------------------------------

    def add(self, record: SpanRecord) -> None:
        """Add one record, evicting the oldest records if a limit is passed."""
        if not isinstance(record, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {record!r}")
        self._add_batch([record], batch_bytes([record]))

    def extend(self, records: Iterable[SpanRecord]) -> None:
        """Add records in order, evicting the oldest records if a limit is passed.

        The result is the same as adding them one at a time.  ``records`` is
        read a chunk at a time, so loading a long file into a capped store
        never holds more than the cap and one chunk.
        """
        source = iter(records)
        while True:
            chunk = list(islice(source, _EXTEND_CHUNK))
            if not chunk:
                return
            for at, record in enumerate(chunk):
                if not isinstance(record, SpanRecord):
                    # The records before it are added, as one at a time would.
                    good = chunk[:at]
                    self._add_batch(good, batch_bytes(good))
                    raise ValueError(f"expected a SpanRecord, got {record!r}")
            self._add_batch(chunk, batch_bytes(chunk))

    def _add_batch(self, records: List[SpanRecord], total: int) -> None:
        """Add checked records whose estimated bytes (:func:`batch_bytes`) are ``total``."""
        with self._lock:
            held = self._records
            held.extend(records)
            self._pending += len(records)
            self._bytes += total
            # Eviction is FIFO, so evicting after the whole batch keeps what
            # evicting after each record would have kept.
            if len(held) > self._span_cap:
                self._evict(len(held) - self._span_cap)
            while self._bytes > self._byte_cap and len(held) > 1:
                self._evict(1)
            if self._waiters and self._added_cond is not None:
                self._added_cond.notify_all()

    def _catch_up(self) -> None:
        """Index the records added since the last lookup.  Call with the lock held."""
        pending = self._pending
        if not pending:
            return
        # The pending records are the newest: read them from the right end,
        # which costs O(pending) on a deque, not O(len).
        new = list(islice(reversed(self._records), pending))
        new.reverse()
        by_trace, by_status, by_error = self._by_trace, self._by_status, self._by_error
        by_attr = self._by_attr.items()
        for record in new:
            _add(by_trace, record.trace_id, record)
            _add(by_status, record.status, record)
            for etype in _error_keys(record):
                _add(by_error, etype, record)
            if by_attr:
                for key, index in by_attr:
                    value = _attribute(record, key)
                    if value is not _ABSENT:
                        _add(index, index_key(value), record)
        by_span, by_parent = self._by_span, self._by_parent
        if by_span is not None and by_parent is not None:
            for record in new:
                _add(by_span, (record.trace_id, record.span_id), record)
                if record.parent_span_id is not None:
                    _add(by_parent, (record.trace_id, record.parent_span_id), record)
        self._pending = 0

    def _evict(self, count: int) -> None:
        """Evict the ``count`` oldest records.  Call with the lock held."""
        held = self._records
        # The pending records are the newest: the older ones are indexed.
        indexed = max(min(count, len(held) - self._pending), 0)
        popleft = held.popleft
        dropped = [popleft() for _ in range(count)]
        self._evicted += count
        self._bytes -= batch_bytes(dropped)
        # Never indexed: nothing to take out of the indexes.
        self._pending -= count - indexed
        by_attr = self._by_attr.items()
        for record in islice(dropped, indexed):
            _remove_oldest(self._by_trace, record.trace_id, record)
            _remove_oldest(self._by_status, record.status, record)
            for etype in _error_keys(record):
                _remove_oldest(self._by_error, etype, record)
            if by_attr:
                for key, index in by_attr:
                    value = _attribute(record, key)
                    if value is not _ABSENT:
                        _remove_oldest(index, index_key(value), record)
        by_span, by_parent = self._by_span, self._by_parent
        if by_span is not None and by_parent is not None:
            for record in islice(dropped, indexed):
                _remove_oldest(by_span, (record.trace_id, record.span_id), record)
                if record.parent_span_id is not None:
                    _remove_oldest(by_parent, (record.trace_id, record.parent_span_id), record)

    def clear(self) -> None:
        """Remove every record (counters included)."""
        self._sync()
        with self._lock:
            indexed = list(self._by_attr)
            navigated = self._by_span is not None
            self._reset()
            self._by_attr = {key: {} for key in indexed}
            if navigated:
                self._by_span, self._by_parent = {}, {}

    # -- reading --------------------------------------------------------

    def __len__(self) -> int:
        self._sync()
        return len(self._records)

    def __bool__(self) -> bool:
        self._sync()
        return bool(self._records)

    def __iter__(self) -> Iterator[SpanRecord]:
        """Iterate over a snapshot of the records, oldest first (end order)."""
        self._sync()
        with self._lock:
            snapshot = list(self._records)
        return iter(snapshot)

    def __repr__(self) -> str:
        self._sync()
        with self._lock:
            self._catch_up()
            spans, traces = len(self._records), len(self._by_trace)
            return (
                f"<{type(self).__name__} {spans} span{'s' * (spans != 1)}, "
                f"{traces} trace{'s' * (traces != 1)}, max_spans={self.max_spans}>"
            )

    @property
    def max_spans(self) -> int | None:
        """The most records held; the oldest go first.  ``None``: no limit."""
        return self._max_spans

    @property
    def max_bytes(self) -> int | None:
        """The memory budget, as :attr:`estimated_bytes` counts it.  ``None``: no limit."""
        return self._max_bytes

    @property
    def evicted(self) -> int:
        """How many records the FIFO limits have evicted since the last ``clear()``."""
        self._sync()
        return self._evicted

    @property
    def added(self) -> int:
        """How many records were added since the last ``clear()``."""
        self._sync()
        with self._lock:  # an eviction in progress must not show as one span fewer
            return self._evicted + len(self._records)

    @property
    def estimated_bytes(self) -> int:
        """The estimated memory held by the records, as the budget counts it."""
        self._sync()
        return self._bytes

    def spans(self, query: Query | None = None, **filters: Any) -> list[SpanRecord]:
        """Every record matching the filters (all of them without any), by start time.

        Takes the same arguments as :meth:`query_spans`.
        """
        self._sync()
        if query is None and not filters:
            with self._lock:
                return sorted(self._records, key=_by_start)
        return self.query_spans(query, **filters)

    def span(self, query: Query | None = None, **filters: Any) -> SpanRecord:
        """The one span matching the filters; fails the test if none or several match.

        Takes the same arguments as :meth:`query_spans`.  The
        ``AssertionError`` lists what matched, or, when nothing did, the
        nearest misses and what kept each from matching.
        """
        __tracebackhide__ = True
        found = self.query_spans(query, **filters)
        if len(found) == 1:
            return found[0]
        wanted = _as_query(query, filters)
        if found:
            lines = [f"expected exactly one span matching {wanted.describe()}; found {len(found)}:"]
            lines.extend(f"  {r!r}" for r in found[:_MAX_LISTED])
            if len(found) > _MAX_LISTED:
                lines.append(f"  … and {len(found) - _MAX_LISTED} more")
            raise AssertionError("\n".join(lines))
        everything = self.spans()
        lines = [
            f"expected exactly one span matching {wanted.describe()}; "
            f"found none among {len(everything)} span{'s' if len(everything) != 1 else ''}."
        ]
        lines.extend(self._nearest_misses(wanted, everything))
        raise AssertionError("\n".join(lines) + self._empty_note())

    def _nearest_misses(self, wanted: Query, records: list[SpanRecord]) -> list[str]:
        """The "Nearest misses:" lines: the records closest to ``wanted``, and why each fails."""
        nav = self if wanted.is_relational else None
        misses = sorted(
            ((wanted.mismatches(r, nav), r) for r in records),
            # Fewest failed criteria first; among equals, the same name first.
            key=lambda m: (len(m[0]), any(x.startswith("name is") for x in m[0])),
        )
        if not misses:
            return []
        return ["Nearest misses:"] + [
            f"  {record!r}: {'; '.join(reasons)}" for reasons, record in misses[:_MAX_LISTED]
        ]

    def assert_no_failures(self) -> None:
        """Fail the test if any span has status ``ERROR``.

        The ``AssertionError`` lists each ERROR span with its place in the
        trace tree (``root > parent > span``), exception type and message.
        """
        __tracebackhide__ = True
        failures = self.failures()
        if failures:
            context: list[SpanRecord] = []
            for trace_id in dict.fromkeys(r.trace_id for r in failures):
                context.extend(self.get_trace(trace_id))
            from .render import describe_failures

            raise AssertionError(describe_failures(failures, context))

    def render_trace(
        self, trace_id: int | str, *, durations: bool = True, attributes: bool = True
    ) -> str:
        """One trace as a text tree: name, kind, duration, status and attributes per span.

        Children sit under their parent, siblings in start order.  With
        ``durations=False`` the text depends only on the trace's shape, for
        snapshot tests.  An unknown trace gives ``ValueError``.
        """
        records = self.get_trace(trace_id)
        if not records:
            raise ValueError(f"unknown trace id {trace_id!r}: not in this store")
        from .render import render_tree

        return "\n".join(render_tree(records, durations=durations, attributes=attributes))

    def render(
        self, *, durations: bool = True, attributes: bool = True, max_lines: int | None = None
    ) -> str:
        """Every trace in the store as a text tree, headed by its trace id."""
        from .render import render_spans

        return render_spans(
            self.spans(), durations=durations, attributes=attributes, max_lines=max_lines
        )

    def trace_ids(self) -> list[str]:
        """The ids of the traces held, in the order their first span ended."""
        self._sync()
        with self._lock:
            self._catch_up()
            return list(self._by_trace)

    def get_trace(self, trace_id: int | str) -> list[SpanRecord]:
        """Every span of one trace, ordered by start time.

        ``trace_id`` is the SDK's int or a hex string.  A malformed id raises
        ``ValueError`` naming it; an unknown one gives ``[]``.
        """
        key = normalize_trace_id(trace_id)
        self._sync()
        with self._lock:
            self._catch_up()
            bucket = self._by_trace.get(key)
            return sorted(bucket, key=_by_start) if bucket else []

    def failures(self) -> list[SpanRecord]:
        """Every span whose status is ``ERROR``, ordered by start time."""
        self._sync()
        with self._lock:
            self._catch_up()
            bucket = self._by_status.get("ERROR")
            return sorted(bucket, key=_by_start) if bucket else []

    def recent_failures(self, hours: float = 1) -> list[SpanRecord]:
        """``ERROR`` spans that ended within the last ``hours`` hours."""
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours > 0:
            raise ValueError(f"invalid hours {hours!r}: expected a positive number")
        cutoff = time.time_ns() - int(hours * 3600 * 1e9)
        self._sync()
        with self._lock:
            self._catch_up()
            bucket = self._by_status.get("ERROR") or ()
            found = [r for r in bucket if r.end_time >= cutoff]
        found.sort(key=_by_start)
        return found

    def filter_by_error_type(self, error_type: str | type[BaseException]) -> list[SpanRecord]:
        """Spans whose ``error.type`` attribute or exception event type matches.

        ``error_type`` is a string or an exception class (matched by the name
        the SDK records: ``module.qualname``, bare for builtins).  A short name
        matches a qualified one: ``"Declined"`` matches ``shop.payments.Declined``.
        """
        wanted = error_type_name(error_type)
        self._sync()
        with self._lock:
            self._catch_up()
            bucket = self._by_error.get(short_error_type(wanted)) or ()
            found = [
                r for r in bucket if any(error_type_matches(wanted, t) for t in r.error_types())
            ]
        found.sort(key=_by_start)
        return found

    def filter_by_attribute(self, key: str, value: Any) -> list[SpanRecord]:
        """Spans whose attribute ``key`` equals ``value``.

        A list and a tuple of the same items are equal; ``True`` does not
        equal ``1``.
        """
        if not isinstance(key, str):
            raise ValueError(f"invalid attribute key {key!r}: expected a string")
        try:
            wanted = index_key(value)
            hash(wanted)
        except TypeError:
            raise ValueError(
                f"invalid attribute value {value!r}: expected a str, bool, int, float "
                "or a sequence of them"
            ) from None
        self._sync()
        with self._lock:
            bucket = self._attr_index(key).get(wanted) or ()
            found = [r for r in bucket if _same_value(r.attributes.get(key), value)]
        found.sort(key=_by_start)
        return found

    def _attr_index(self, key: str) -> Dict[Any, Bucket]:
        self._catch_up()
        index = self._by_attr.get(key)
        if index is None:
            index = {}
            for record in self._records:
                value = _attribute(record, key)
                if value is not _ABSENT:
                    _add(index, index_key(value), record)
            self._by_attr[key] = index
        return index

    def query_spans(self, query: Query | None = None, **filters: Any) -> list[SpanRecord]:
        """Spans matching a :class:`Query`, or keyword filters that build one.

        With both, the keywords replace the query's fields.  With neither,
        every span.  Unknown keywords raise ``ValueError``.
        """
        if query is None and not filters:
            return self.spans()
        query = _as_query(query, filters)
        norm = query.normalized
        from .matchers import Matcher

        self._sync()
        with self._lock:
            self._catch_up()
            candidates: Optional[Iterable[SpanRecord]] = None
            smallest = len(self._records)
            options: list[Any] = []
            if norm["trace_id"] is not None:
                options.append(self._by_trace.get(norm["trace_id"]) or ())
            if norm["status"] is not None:
                options.append(self._by_status.get(norm["status"]) or ())
            if norm["error_type"] is not None:
                options.append(self._by_error.get(short_error_type(norm["error_type"])) or ())
            for key, value in (norm["attributes"] or {}).items():
                if isinstance(value, (Matcher, re.Pattern)):
                    continue  # not an equality: the scan below tests it
                try:
                    options.append(self._attr_index(key).get(index_key(value)) or ())
                except TypeError:
                    options.append(())
            for option in options:
                if len(option) <= smallest:
                    candidates, smallest = option, len(option)
            source = self._records if candidates is None else candidates
            nav = self._navigator() if query.is_relational else None
            found = [r for r in source if query.matches(r, nav)]
        found.sort(key=_by_start)
        return found

    def traceql(self, query: str | TraceQL) -> list[SpanRecord]:
        """The spans a TraceQL query returns (Tempo's language, a documented subset), by start time.

        ``query`` is text or a compiled :class:`~pytest_tracestore.TraceQL`.
        A malformed query raises ``ValueError`` naming the column.
        """
        from .traceql import compile_traceql

        return compile_traceql(query).search(self)

    def wait_for(self, timeout: float = 5, **filters: Any) -> list[SpanRecord]:
        """Wait until spans matching ``filters`` are in the store, and return them.

        ``filters`` are :meth:`query_spans` keywords (``name=...``,
        ``trace_id=...``, ...); with none, any span will do.  Use it for spans
        that arrive from another process, which its exporter sends in
        batches.  Returns as soon as a match is there; after ``timeout``
        seconds it raises ``AssertionError`` listing the spans that did arrive.
        """
        __tracebackhide__ = True
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"invalid timeout {timeout!r}: expected a number of seconds >= 0")
        deadline = time.monotonic() + timeout
        source = self._source
        if source is not None:
            # Spans ending in other threads of this process reach the store
            # (and wake this wait) as they end, not a batch later.
            source._wait_started()
        try:
            while True:
                with self._lock:
                    seen = self._evicted + len(self._records)
                found = self.query_spans(**filters)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    break
                with self._lock:
                    if self._evicted + len(self._records) != seen:
                        continue  # spans came in since the query: look again
                    if self._added_cond is None:
                        self._added_cond = threading.Condition(self._lock)
                    self._waiters += 1
                    try:
                        self._added_cond.wait(remaining)
                    finally:
                        self._waiters -= 1
        finally:
            if source is not None:
                source._wait_ended()
        if found:
            return found
        with self._lock:
            seen_spans = [
                f"{r.name!r} ({r.resource.get('service.name', 'no service.name')})"
                for r in self._records
            ]
        wanted = ", ".join(f"{k}={v!r}" for k, v in filters.items()) or "any span"
        held = "; ".join(seen_spans[-20:]) if seen_spans else "nothing"
        more = f" (the last 20 of {len(seen_spans)})" if len(seen_spans) > 20 else ""
        lines = [f"no span matching {wanted} arrived within {timeout} s; the store holds{more}: {held}"]
        if filters:
            lines.extend(self._nearest_misses(_as_query(None, filters), self.spans()))
        raise AssertionError("\n".join(lines) + self._empty_note())

    # -- navigation -----------------------------------------------------

    def _navigator(self) -> _LockedNavigator:
        """Parent and child lookups for matching under the lock.  Call with the lock held."""
        self._catch_up()
        if self._by_span is None or self._by_parent is None:
            by_span: Dict[Tuple[str, str], Bucket] = {}
            by_parent: Dict[Tuple[str, str], Bucket] = {}
            for record in self._records:
                _add(by_span, (record.trace_id, record.span_id), record)
                if record.parent_span_id is not None:
                    _add(by_parent, (record.trace_id, record.parent_span_id), record)
            self._by_span, self._by_parent = by_span, by_parent
        return _LockedNavigator(self._by_span, self._by_parent)

    def parent(self, span: SpanRecord) -> SpanRecord | None:
        """The span's parent, or ``None`` for a root or a parent not in the store.

        Looked up in the span-id index, made on first use and kept from then on.
        """
        _check_span(span)
        self._sync()
        with self._lock:
            return self._navigator().parent(span)

    def children(self, span: SpanRecord) -> list[SpanRecord]:
        """The span's children in the store, by start time."""
        _check_span(span)
        self._sync()
        with self._lock:
            return self._navigator().children(span)

    def ancestors(self, span: SpanRecord) -> list[SpanRecord]:
        """The span's parent, its parent's parent, ... up to the highest one recorded."""
        from .query import _ancestors

        _check_span(span)
        self._sync()
        with self._lock:
            return list(_ancestors(span, self._navigator()))

    def descendants(self, span: SpanRecord) -> list[SpanRecord]:
        """Every span below ``span``, depth first, children by start time."""
        from .query import _descendants

        _check_span(span)
        self._sync()
        with self._lock:
            return list(_descendants(span, self._navigator()))

    def siblings(self, span: SpanRecord) -> list[SpanRecord]:
        """The other spans with the same parent, by start time; for a root, the trace's other roots.

        ``[]`` for a span whose trace is not in the store, as :meth:`children` gives.
        """
        _check_span(span)
        self._sync()
        with self._lock:
            self._catch_up()
            known = span.trace_id in self._by_trace
        return self.trace(span.trace_id).siblings(span) if known else []

    def depth(self, span: SpanRecord) -> int:
        """How many recorded ancestors the span has: 0 for a root."""
        return len(self.ancestors(span))

    def traces(self) -> list[Trace]:
        """Every trace in the store as a :class:`Trace`, by the start of its first span."""
        from .trace import Trace

        self._sync()
        with self._lock:
            self._catch_up()
            buckets = [list(b) for b in self._by_trace.values()]
        traces = [Trace(records) for records in buckets]
        traces.sort(key=lambda t: (t.start_time, t.trace_id))
        return traces

    def trace(self, trace_id: int | str | None = None) -> Trace:
        """One trace as a :class:`Trace`, to navigate, match and snapshot.

        With ``trace_id=None``, the store's only trace; when it holds none or
        several, ``ValueError`` lists them.  An unknown id is a ``ValueError``.
        """
        from .trace import Trace

        if trace_id is None:
            ids = self.trace_ids()
            if len(ids) != 1:
                raise ValueError(_which_trace(ids) + ("" if ids else self._empty_note()))
            trace_id = ids[0]
        records = self.get_trace(trace_id)
        if not records:
            raise ValueError(f"unknown trace id {trace_id!r}: not in this store")
        return Trace(records)

    def assert_tree(
        self,
        expected: TreeSpec,
        trace_id: int | str | None = None,
        *,
        exact: bool = False,
        ordered: bool = False,
    ) -> None:
        """Fail the test unless the trace has the shape ``expected``.

        See :meth:`Trace.assert_tree` for the format; ``trace_id=None``
        means the store's only trace.
        """
        __tracebackhide__ = True
        self.trace(trace_id).assert_tree(expected, exact=exact, ordered=ordered)

    def snapshot(self, trace_id: int | str | None = None, **options: Any) -> Any:
        """A deterministic, JSON-able picture of the store's traces, for snapshot tests.

        Without ``trace_id``, a list with one entry per trace, by start time
        (by names first with ``order="name"``); with it, that trace's entry
        alone.  ``options`` are those of
        :func:`~pytest_tracestore.snapshot.snapshot_traces`.
        """
        from .snapshot import snapshot_with

        if trace_id is not None:
            return self.trace(trace_id).snapshot(**options)
        return snapshot_with(self.traces(), options)

    # -- files ----------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: Union[str, os.PathLike[str]],
        max_spans: int | None = None,
        max_bytes: int | None = None,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> TraceStore:
        """Read an artifact file back into a new store.

        The file may be our JSON Lines or OTLP JSON Lines; the format is
        detected from its first line.  A torn or corrupt line is skipped with a :class:`TraceStoreWarning`
        that names the file, the line number and the problem, and so is a
        line longer than ``max_line_bytes`` (read a piece at a time, never
        whole) and, in OTLP lines, a span with values of the wrong type (the
        line's other spans are kept).  A missing file raises ``FileNotFoundError``.
        """
        from .parse import collection_paused, read_records

        store = cls(max_spans=max_spans, max_bytes=max_bytes)
        records = read_records(path, max_line_bytes=max_line_bytes)
        with collection_paused():
            store.extend(records)
        return store

    # -- waiting for a whole trace ----------------------------------------

    def wait_for_trace(self, trace_id: int | str, timeout: float = 5.0, quiet: float = 0.2) -> Trace:
        """Wait until trace ``trace_id`` is whole, and return it as a :class:`Trace`.

        Whole means: it holds a span, every span's parent has arrived, and no
        span of it has arrived for ``quiet`` seconds.  A parent still open in
        the calling context (the span current there, and with test spans on
        the test's and the session's) counts as arrived.  Use it for traces
        that other processes export in batches, where ``wait_for`` returns on
        the first span.  It wakes as spans are added, without polling.  After
        ``timeout`` seconds it raises ``AssertionError`` saying how many spans
        arrived and which parent span ids are missing.  A malformed id, or a
        ``timeout`` or ``quiet`` that is not a number of seconds >= 0, is a
        ``ValueError`` naming it.
        """
        __tracebackhide__ = True
        key = normalize_trace_id(trace_id)
        _check_seconds("timeout", timeout)
        _check_seconds("quiet", quiet)
        open_here = _open_span_ids(key)
        source = self._source
        if source is not None:
            # Every span is stored as it ends while someone waits, and wakes them.
            source._wait_started()
        try:
            records, missing, whole = self._await_whole(
                key, open_here, time.monotonic() + timeout, quiet
            )
        finally:
            if source is not None:
                source._wait_ended()
        from .trace import Trace

        if whole:
            return Trace(records)
        raise AssertionError(_not_whole(key, timeout, quiet, records, missing, len(self)))

    def _await_whole(
        self, key: str, open_here: frozenset[str], deadline: float, quiet: float
    ) -> tuple[list[SpanRecord], list[str], bool]:
        """The trace's records and missing parents once whole, or at ``deadline``; and which."""
        size, changed = -1, time.monotonic()
        while True:
            self._sync()
            with self._lock:
                self._catch_up()
                records = list(self._by_trace.get(key) or ())
                now = time.monotonic()
                if len(records) != size:
                    size, changed = len(records), now
                missing = _missing_parents(records, open_here)
                settled = bool(records) and not missing
                if settled and now - changed >= quiet:
                    return records, missing, True
                if now >= deadline:
                    return records, missing, False
                until = min(deadline, changed + quiet) if settled else deadline
                if self._added_cond is None:
                    self._added_cond = threading.Condition(self._lock)
                self._waiters += 1
                try:
                    # A span added meanwhile waits for this lock, then wakes us.
                    self._added_cond.wait(min(until - now, threading.TIMEOUT_MAX))
                finally:
                    self._waiters -= 1


class _LockedNavigator:
    """A store's parent and child lookups, for use while its lock is held."""

    __slots__ = ("_by_span", "_by_parent")

    def __init__(
        self,
        by_span: Dict[Tuple[str, str], Bucket],
        by_parent: Dict[Tuple[str, str], Bucket],
    ) -> None:
        self._by_span = by_span
        self._by_parent = by_parent

    def parent(self, span: SpanRecord) -> SpanRecord | None:
        wanted = span.parent_span_id
        if wanted is None:
            return None
        # A span recorded twice (a file merged with itself) is the same span: the last one.
        bucket = self._by_span.get((span.trace_id, wanted))
        return bucket[-1] if bucket else None

    def children(self, span: SpanRecord) -> list[SpanRecord]:
        return sorted(self._by_parent.get((span.trace_id, span.span_id)) or (), key=_by_start)


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"invalid {name} {value!r}: expected a number of seconds >= 0")


def _open_span_ids(trace_id: str) -> frozenset[str]:
    """Span ids of ``trace_id`` open in the current context: they cannot have arrived yet."""
    from opentelemetry import context, trace

    from .base import OPEN_SPANS_KEY

    pairs: Any = context.get_value(OPEN_SPANS_KEY) or ()
    ids = {span_id for owner, span_id in pairs if owner == trace_id}
    current = trace.get_current_span()
    span_context = current.get_span_context()
    if current.is_recording() and format(span_context.trace_id, "032x") == trace_id:
        ids.add(format(span_context.span_id, "016x"))
    return frozenset(ids)


def _missing_parents(records: list[SpanRecord], open_here: frozenset[str]) -> list[str]:
    """The parent span ids that ``records`` (one trace) point to but do not hold."""
    held = {r.span_id for r in records}
    return list(
        dict.fromkeys(
            r.parent_span_id
            for r in records
            if r.parent_span_id is not None
            and r.parent_span_id not in held
            and r.parent_span_id not in open_here
        )
    )


def _not_whole(
    trace_id: str,
    timeout: float,
    quiet: float,
    records: list[SpanRecord],
    missing: list[str],
    held: int,
) -> str:
    """Why ``wait_for_trace`` gave up: nothing came, parents are missing, or spans kept coming."""
    if not records:
        return (
            f"trace {trace_id}: no span of it arrived within {timeout} s; "
            f"the store holds {held} span{'s' if held != 1 else ''} of other traces"
        )
    count = f"{len(records)} span{'s' if len(records) != 1 else ''} arrived"
    if not missing:
        return (
            f"trace {trace_id} is not whole after {timeout} s: {count}, and spans were still "
            f"arriving (no {quiet} s without a new one)"
        )
    waiting = []
    for parent in missing[:_MAX_LISTED]:
        children = [r.name for r in records if r.parent_span_id == parent]
        waiting.append(f"{parent} (parent of {', '.join(map(repr, children[:3]))})")
    more = f" … and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
    return (
        f"trace {trace_id} is not whole after {timeout} s: {count}; "
        f"missing parent spans: {', '.join(waiting)}{more}"
    )


def _check_span(span: Any) -> None:
    if not isinstance(span, SpanRecord):
        raise ValueError(f"expected a SpanRecord, got {span!r}")


def _which_trace(ids: list[str]) -> str:
    if not ids:
        return "no trace in this store: trace_id=None needs exactly one"
    shown = ", ".join(ids[:_MAX_LISTED]) + (" …" if len(ids) > _MAX_LISTED else "")
    return f"{len(ids)} traces in this store, pass trace_id= to pick one: {shown}"


def _as_query(query: Query | None, filters: dict[str, Any]) -> Query:
    """The query that ``query`` and keyword ``filters`` make together."""
    # Imported on first use: a run that never queries does not pay for
    # building the dataclass at start-up, in every test process.
    from .query import combine

    return combine(query, filters)


class ScopedTraceStore(TraceStore):
    """The spans of one test, with a way to reach the whole run's store.

    This is what the ``trace_store`` fixture returns.  Given ``test`` (a
    node id), it keeps only the spans that test owns (``SpanRecord.test``).
    """

    def __init__(
        self,
        session: TraceStore,
        max_spans: int | None = None,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        *,
        test: str | None = None,
    ) -> None:
        if test is not None and (not isinstance(test, str) or not test):
            raise ValueError(f"invalid test {test!r}: expected a node id")
        super().__init__(max_spans=max_spans, max_bytes=max_bytes)
        self._session = session
        self._test = test

    def _add_batch(self, records: List[SpanRecord], total: int) -> None:
        test = self._test
        if test is not None:
            mine = [record for record in records if record.test == test]
            if len(mine) != len(records):
                if not mine:
                    return
                records, total = mine, batch_bytes(mine)
        super()._add_batch(records, total)

    @property
    def session(self) -> TraceStore:
        """The store of the whole run (FIFO-capped like the run's artifact)."""
        return self._session

    def _run_store(self) -> TraceStore:
        return self._session
