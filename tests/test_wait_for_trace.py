"""TraceStore.wait_for_trace: a whole trace, not its first span; and wait_for's nearest misses."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import make_record
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from pytest_tracestore import TraceStore
from pytest_tracestore.base import OPEN_SPANS_KEY

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def span(span_id: int, parent: int | None = None, name: str | None = None, **fields):
    return make_record(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        name=name or f"span-{span_id}",
        **fields,
    )


def test_a_whole_trace_returns_after_the_quiet_time():
    store = TraceStore()
    store.extend([span(1), span(2, parent=1), span(3, parent=2)])
    started = time.monotonic()
    whole = store.wait_for_trace(TRACE, timeout=5, quiet=0.05)
    assert time.monotonic() - started >= 0.05
    assert [s.name for s in whole] == ["span-1", "span-2", "span-3"]
    assert whole.trace_id == TRACE and whole.root.name == "span-1"


class Watched(TraceStore):
    """A store that says each time a wait has looked at it."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = threading.Semaphore(0)

    def _sync(self) -> None:
        super()._sync()
        self.looks.release()


def test_it_waits_for_the_missing_parent_not_just_the_first_span():
    store = Watched()
    store.add(span(3, parent=2, name="db.query"))  # the child arrives first

    def late_parents() -> None:
        store.looks.acquire()  # the wait has seen the child alone
        store.add(span(2, parent=1, name="charge"))  # still one parent short
        store.add(span(1, name="POST /checkout"))

    thread = threading.Thread(target=late_parents)
    thread.start()
    whole = store.wait_for_trace(int(TRACE, 16), timeout=30, quiet=0)
    thread.join()
    assert {s.name for s in whole} == {"POST /checkout", "charge", "db.query"}
    assert whole.root.name == "POST /checkout"


def test_spans_still_coming_restart_the_quiet_time():
    store = TraceStore()
    store.add(span(1))
    added = [time.monotonic()]
    stop = threading.Event()

    def trickle() -> None:
        for n in range(2, 8):
            if stop.wait(0.05):  # a pace well inside the quiet time, not a sync
                return
            store.add(span(n, parent=1))
            added.append(time.monotonic())

    thread = threading.Thread(target=trickle)
    thread.start()
    whole = store.wait_for_trace(TRACE, timeout=60, quiet=0.3)
    returned = time.monotonic()
    stop.set()
    thread.join()
    # Whatever the machine's pace: the wait returned a quiet time after the
    # last span it holds, and holds every span added before it returned.
    before = [t for t in added if t <= returned]
    assert len(whole) >= len(before) - 1  # one add may race the return itself
    assert returned - added[len(whole) - 1] >= 0.3


def test_timeout_names_the_missing_parents_and_the_count():
    store = TraceStore()
    store.extend([span(1), span(0xAA, parent=0xFF, name="GET /hello"), span(0xAB, parent=0xAA)])
    with pytest.raises(AssertionError) as excinfo:
        store.wait_for_trace(TRACE, timeout=0.05, quiet=0)
    assert str(excinfo.value) == (
        f"trace {TRACE} is not whole after 0.05 s: 3 spans arrived; "
        "missing parent spans: 00000000000000ff (parent of 'GET /hello')"
    )


def test_timeout_with_no_span_of_the_trace():
    store = TraceStore()
    store.add(make_record(name="other"))
    with pytest.raises(AssertionError, match=rf"trace {TRACE}: no span of it arrived within 0.01 s; "
                       "the store holds 1 span of other traces"):
        store.wait_for_trace(TRACE, timeout=0.01)


def test_timeout_while_spans_keep_coming():
    store = TraceStore()
    store.add(span(1))
    with pytest.raises(AssertionError, match="1 span arrived, and spans were still arriving"):
        store.wait_for_trace(TRACE, timeout=0.01, quiet=10)


def test_a_parent_open_in_the_current_context_counts_as_arrived():
    store = TraceStore()
    store.extend([span(2, parent=1), span(3, parent=2)])
    with pytest.raises(AssertionError, match="missing parent spans: 0000000000000001"):
        store.wait_for_trace(TRACE, timeout=0.01, quiet=0)
    ctx = otel_context.set_value(OPEN_SPANS_KEY, frozenset([(TRACE, "0000000000000001")]))
    token = otel_context.attach(ctx)
    try:
        assert len(store.wait_for_trace(TRACE, timeout=5, quiet=0)) == 2
    finally:
        otel_context.detach(token)
    # The same id in another trace does not count.
    ctx = otel_context.set_value(OPEN_SPANS_KEY, frozenset([("1" * 32, "0000000000000001")]))
    token = otel_context.attach(ctx)
    try:
        with pytest.raises(AssertionError, match="missing parent spans"):
            store.wait_for_trace(TRACE, timeout=0.01, quiet=0)
    finally:
        otel_context.detach(token)


def test_the_current_recording_span_counts_as_arrived():
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("call hello") as client:
        ids = client.get_span_context()
        trace_id = format(ids.trace_id, "032x")
        store = TraceStore()
        store.add(make_record(trace_id=trace_id, span_id=7, parent_span_id=ids.span_id))
        assert len(store.wait_for_trace(trace_id, timeout=5, quiet=0)) == 1
    # A non-recording span (a remote parent) is not open here: it is waited for.
    remote = NonRecordingSpan(SpanContext(int(trace_id, 16), ids.span_id, is_remote=True))
    with trace.use_span(remote):
        with pytest.raises(AssertionError, match="missing parent spans"):
            store.wait_for_trace(trace_id, timeout=0.01, quiet=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"trace_id": "xyz"}, "'xyz'"),
        ({"trace_id": 0}, "trace id 0"),
        ({"trace_id": TRACE, "timeout": -1}, "invalid timeout -1"),
        ({"trace_id": TRACE, "timeout": True}, "invalid timeout True"),
        ({"trace_id": TRACE, "quiet": -0.5}, "invalid quiet -0.5"),
        ({"trace_id": TRACE, "quiet": "1"}, "invalid quiet '1'"),
        ({"trace_id": TRACE, "timeout": float("nan")}, "invalid timeout nan"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TraceStore().wait_for_trace(**kwargs)


def test_wait_for_timeout_lists_the_nearest_misses():
    store = TraceStore()
    store.add(make_record(name="GET /items", kind="CLIENT"))
    store.add(make_record(name="local"))
    with pytest.raises(AssertionError) as excinfo:
        store.wait_for(timeout=0.01, name="GET /items", kind="SERVER")
    lines = str(excinfo.value).splitlines()
    assert lines[0].startswith("no span matching name='GET /items', kind='SERVER' arrived within")
    assert lines[1] == "Nearest misses:"
    assert "'GET /items'" in lines[2] and lines[2].endswith(": kind is CLIENT")
    assert "'local'" in lines[3]
