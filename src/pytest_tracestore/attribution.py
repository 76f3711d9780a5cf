"""Which test owns a span: decided once, from where its trace began.

A span belongs to the test during which its trace's local root started (a
span without a parent).  A span whose root is not in this process (a child
of a remote parent, or a span received over OTLP) belongs to the test that
started that trace here, found by trace id, and else to the test during
which the span itself started.  A trace whose root started outside every
test (a session span, say) owns nothing: each of its spans belongs to the
test during which that span started, and one started outside any test
belongs to no test (``None``).  Set-up of a fixture wider
than a function is an owner of its own, so a server that a session fixture
starts does not land in the first test that needed it.

:class:`Attribution` tracks starts in the span processor's ``on_start`` (the
SDK calls it for every span, on the thread that starts it) and answers when
the span ends.  Its maps are bounded: the oldest entries go first, so a long
run never grows them without end.  It imports no pytest; the plugin enters
:meth:`Attribution.scope` once per test and once per wide fixture's set-up.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterator, List, NamedTuple, Optional

# The records load with the first span: an xdist controller, which runs no
# test, makes an Attribution all the same, and seldom records.
if TYPE_CHECKING:
    from .record import SpanRecord

__all__ = ["Attribution", "OpenSpan", "Scope", "fixture_owner", "render_open"]

#: How many traces (trace id -> owner) and open spans (span id -> owner) are
#: remembered; past that the oldest are forgotten.
DEFAULT_MAX_TRACES = 65536
DEFAULT_MAX_OPEN = 65536
#: How many past scopes are kept to place a received span by its start time.
DEFAULT_HISTORY = 256

_UNKNOWN: Any = object()
# The owner of a trace whose root started here outside every test.
_OUTSIDE: Any = object()
# Positions in the API's SpanContext tuple.
_TRACE_ID, _SPAN_ID, _IS_REMOTE = 0, 1, 2


def fixture_owner(scope_nodeid: str, fixture: str) -> str:
    """The owner of the spans a wide fixture's set-up makes: ``<scope node id>::fixture:<name>``.

    A session-scoped fixture's scope is written ``<session>``.
    """
    return f"{scope_nodeid or '<session>'}::fixture:{fixture}"


class OpenSpan(NamedTuple):
    """A span started within a scope that had not ended when the scope did."""

    name: str
    trace_id: str
    span_id: str
    start_time: int


class Scope:
    """One owner's stretch of time: a test, or a wide fixture's set-up."""

    __slots__ = ("owner", "start", "end", "open")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.start = time.time_ns()
        #: ``None`` while the scope lasts.
        self.end: Optional[int] = None
        # span id -> the span, for the spans started within and not ended yet.
        self.open: Dict[int, Any] = {}

    def still_open(self) -> List[OpenSpan]:
        """The spans started within this scope that have not ended, oldest first."""
        found = []
        for span in list(self.open.values()):
            context = span.get_span_context()
            found.append(
                OpenSpan(
                    str(getattr(span, "name", "")),
                    f"{context.trace_id:032x}",
                    f"{context.span_id:016x}",
                    int(getattr(span, "start_time", None) or 0),
                )
            )
        return sorted(found, key=lambda s: s.start_time)


def _forget_oldest(entries: Dict[int, Any]) -> Any:
    """Drop the oldest entry of a map another thread may change meanwhile; its value or ``None``."""
    try:
        return entries.pop(next(iter(entries)))
    except (RuntimeError, StopIteration, KeyError):
        return None


class Attribution:
    """Decides which test owns each span; see the module docstring for the rule."""

    def __init__(
        self,
        *,
        max_traces: int = DEFAULT_MAX_TRACES,
        max_open: int = DEFAULT_MAX_OPEN,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        for what, value in (("max_traces", max_traces), ("max_open", max_open), ("history", history)):
            if type(value) is not int or value < 1:
                raise ValueError(f"invalid {what} {value!r}: expected an integer >= 1")
        self._max_traces = max_traces
        self._max_open = max_open
        # The innermost scope now, or None outside every test.
        self._current: Optional[Scope] = None
        # trace id -> owner of the test that started the trace here, or _OUTSIDE.
        self._traces: Dict[int, Any] = {}
        # span id -> the scope the span started in, while it is open.
        self._spans: Dict[int, Scope] = {}
        self._history: Deque[Scope] = deque(maxlen=history)

    @property
    def current(self) -> Optional[str]:
        """The owner of spans that start now, if their trace is new: a test, a fixture, or ``None``."""
        scope = self._current
        return None if scope is None else scope.owner

    @contextmanager
    def scope(self, owner: str) -> Iterator[Scope]:
        """Spans started inside the block belong to ``owner`` (unless their trace began elsewhere).

        Blocks nest: the inner one's owner wins until it ends.  The scope it
        yields lists, through :meth:`Scope.still_open`, the spans started
        within that have not ended.
        """
        if not isinstance(owner, str):
            raise ValueError(f"invalid owner {owner!r}: expected a string")
        scope = Scope(owner)
        outer, self._current = self._current, scope
        self._history.append(scope)
        try:
            yield scope
        finally:
            scope.end = time.time_ns()
            self._current = outer

    def later_scope(self, owner: str) -> tuple[Callable[[], None], Callable[[], None]]:
        """``(enter, leave)``: :meth:`scope` as two calls, for a block that is not one in code.

        A wide fixture's teardown runs among pytest's finalizers; ``leave``
        without ``enter`` does nothing, and so does a second ``leave``.
        """
        stack = ExitStack()

        def enter() -> None:
            stack.enter_context(self.scope(owner))

        return enter, stack.close

    # -- the span processor's side ------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Note where a span started: its scope, and for a local root its trace's owner."""
        scope = self._current
        try:
            context = span.get_span_context()
            parent = span.parent
        except AttributeError:  # not an SDK span: it is placed when it ends
            return
        # A SpanContext is a tuple (trace id, span id, is remote, ...): read by
        # position, as the converter does, since each of its properties is a
        # Python call and this runs for every span.
        if parent is None or parent[_IS_REMOTE]:
            traces = self._traces
            trace_id = context[_TRACE_ID]
            # A root starts its trace here; a remote parent's child continues
            # one that may have started here already, in an earlier test.
            if parent is None or trace_id not in traces:
                traces[trace_id] = _OUTSIDE if scope is None else scope.owner
                if len(traces) > self._max_traces:
                    _forget_oldest(traces)
        if scope is not None:
            span_id = context[_SPAN_ID]
            spans = self._spans
            spans[span_id] = scope
            scope.open[span_id] = span
            if len(spans) > self._max_open:
                self._forget_open()

    def _forget_open(self) -> None:
        spans = self._spans
        try:
            span_id = next(iter(spans))
            scope = spans.pop(span_id)
        except (RuntimeError, StopIteration, KeyError):
            return
        scope.open.pop(span_id, None)

    def owner_of_context(self, context: Any) -> Optional[str]:
        """:meth:`owner`, from the ending span's context (trace id and span id at 0 and 1)."""
        span_id = context[_SPAN_ID]
        scope = self._spans.pop(span_id, None)
        if scope is not None:
            scope.open.pop(span_id, None)
        owner = self._traces.get(context[_TRACE_ID], _UNKNOWN)
        if owner is _UNKNOWN or owner is _OUTSIDE:
            return None if scope is None else scope.owner
        return owner  # type: ignore[no-any-return]

    def owner_of_record(self, record: SpanRecord) -> Optional[str]:
        """The owner of a span that was never started here (received over OTLP, say).

        Its trace's owner if the trace is known, else the scope during which
        it started, by its start time; the trace is then remembered as that
        scope's, so the rest of the trace follows.
        """
        trace_id = int(record.trace_id, 16)
        traces = self._traces
        owner = traces.get(trace_id, _UNKNOWN)
        if owner is _OUTSIDE:
            return self.owner_at(record.start_time)
        if owner is not _UNKNOWN:
            return owner  # type: ignore[no-any-return]
        owner = self.owner_at(record.start_time)
        traces[trace_id] = owner
        if len(traces) > self._max_traces:
            _forget_oldest(traces)
        return owner

    def owner_at(self, time_ns: int) -> Optional[str]:
        """The owner of the innermost recent scope that lasted over ``time_ns``, or ``None``."""
        for scope in reversed(self._history):
            end = scope.end
            if scope.start <= time_ns and (end is None or time_ns <= end):
                return scope.owner
        return None

    def claim(self, record: SpanRecord) -> SpanRecord:
        """``record`` with its owner set, if it has none yet (a received span)."""
        if record.test is not None:
            return record
        owner = self.owner_of_record(record)
        if owner is None:
            return record
        return record._owned_by(owner)


def render_open(spans: List[OpenSpan], now_ns: Optional[int] = None) -> str:
    """The report text naming spans still open at the end of their test."""
    from .record import format_duration

    now = time.time_ns() if now_ns is None else now_ns
    one = len(spans) == 1
    lines = [
        f"{len(spans)} span{'' if one else 's'} started in this test had not ended when its "
        f"teardown did; {'it stays' if one else 'they stay'} this test's (in the artifact), "
        f"and fail-on-error does not count {'it' if one else 'them'}"
    ]
    for span in spans:
        lines.append(
            f"  {span.name} trace={span.trace_id} span={span.span_id} "
            f"open for {format_duration(max(0, now - span.start_time))}"
        )
    return "\n".join(lines)

