from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from pytest_tracestore import FileBasedSpanProcessor, TraceStore, TraceStoreWarning
from pytest_tracestore.artifact import MIN_SLACK as _MIN_SLACK
from pytest_tracestore.processor import DEFAULT_BATCH_SIZE


def provider_with(processor):
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_on_end_writes_a_line_and_indexes_the_record(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path)
    tracer = provider_with(processor).get_tracer("shop", "2.0")
    with tracer.start_as_current_span("checkout", attributes={"cart.items": 3}) as root:
        with tracer.start_as_current_span("charge") as child:
            child.set_status(Status(StatusCode.ERROR, "card declined"))
            child.set_attribute("error.type", "shop.payments.Declined")
    # In the file as each span ended, with no flush: a kill now would keep them.
    lines = read_lines(path)
    assert [line["name"] for line in lines] == ["charge", "checkout"]
    charge, checkout = lines
    assert charge["parent_span_id"] == checkout["span_id"]
    assert charge["status"] == "ERROR" and charge["status_description"] == "card declined"
    assert checkout["attributes"] == {"cart.items": 3}
    assert checkout["scope"] == {"name": "shop", "version": "2.0"}
    assert checkout["resource"]["telemetry.sdk.language"] == "python"
    for key in ("trace_id", "span_id", "kind", "start_time_unix_nano", "end_time_unix_nano", "events"):
        assert key in checkout
    trace_id = root.get_span_context().trace_id
    assert [r.name for r in processor.store.get_trace(trace_id)] == ["checkout", "charge"]
    assert processor.store.filter_by_error_type("Declined")[0].name == "charge"


def test_exception_events_are_kept(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracer = provider_with(processor).get_tracer("t")
    with pytest.raises(TimeoutError):
        with tracer.start_as_current_span("call"):
            raise TimeoutError("upstream slow")
    (record,) = processor.store
    assert record.status == "ERROR"
    assert record.error_type == "TimeoutError"
    assert record.exception_message == "upstream slow"
    assert processor.store.filter_by_error_type(TimeoutError) == [record]


def test_file_starts_empty(tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text("old run\n", encoding="utf-8")
    FileBasedSpanProcessor(path).shutdown()
    assert path.read_text(encoding="utf-8") == ""


def test_fifo_file_and_memory_keep_newest_in_end_order(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=10)
    tracer = provider_with(processor).get_tracer("t")
    count = 2 * _MIN_SLACK + 100  # enough to prune the file twice on the way
    for i in range(count):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    # Pruning is amortised: the file may run ahead of the cap until shutdown.
    assert 10 <= len(read_lines(path)) < 10 + _MIN_SLACK
    processor.shutdown()
    names = [line["name"] for line in read_lines(path)]
    assert names == [f"s{i}" for i in range(count - 10, count)]
    assert [r.name for r in processor.store] == names
    assert not [p for p in tmp_path.iterdir() if p.name != "spans.jsonl"]  # no temp files left
    # The end times kept for a merge follow the file through every trim.
    assert processor.line_end_times() == [line["end_time_unix_nano"] for line in read_lines(path)]
    assert processor.line_sizes() == [len(line) for line in path.read_bytes().splitlines(keepends=True)]


def test_pruning_keeps_whole_lines_when_batches_mix_non_ascii_and_unencodable(tmp_path):
    # A batch is encoded in one go when it is all ASCII; otherwise each line
    # is measured in bytes on its own.  Pruning seeks by those sizes, so a
    # size counted in characters would cut a line in half.
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=10)
    tracer = provider_with(processor).get_tracer("t")
    forms = ["s{}", "caf\u00e9 \u2603 {}", "bad\ud800 {}", "\U0001f680{}"]
    count = _MIN_SLACK + 3 * DEFAULT_BATCH_SIZE + 5  # prunes once, ends mid-batch
    names = [forms[(i // 7) % len(forms)].format(i) for i in range(count)]
    for name in names:
        with tracer.start_as_current_span(name, attributes={"who": name}):
            pass
    processor.shutdown()
    lines = read_lines(path)  # every line whole, valid JSON
    assert [line["name"] for line in lines] == names[-10:]
    assert [line["attributes"]["who"] for line in lines] == names[-10:]
    assert [r.name for r in processor.store] == names[-10:]


def test_artifact_loads_back_equal(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path)
    tracer = provider_with(processor).get_tracer("t")
    with tracer.start_as_current_span("a", attributes={"l": ["x", "y"], "f": 0.25, "b": True}) as span:
        span.add_event("retry", {"attempt": 2})
    processor.shutdown()
    assert list(TraceStore.load(path)) == list(processor.store)


def test_shutdown_is_idempotent_and_later_spans_are_ignored(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    provider = provider_with(processor)
    processor.shutdown()
    processor.shutdown()
    with provider.get_tracer("t").start_as_current_span("late"):
        pass
    assert len(processor.store) == 0
    assert processor.force_flush() is True


def test_write_failure_warns_once_and_keeps_spans_in_memory(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracer = provider_with(processor).get_tracer("t")
    fd = processor._file._fd
    os.close(fd)  # the disk goes away under us
    with pytest.warns(TraceStoreWarning, match="could not write spans") as caught:
        for i in range(3):
            with tracer.start_as_current_span(f"s{i}"):
                pass
        processor.drain()  # warnings come with reads, never as a span ends
    assert len([w for w in caught if issubclass(w.category, TraceStoreWarning)]) == 1
    assert [r.name for r in processor.store] == ["s0", "s1", "s2"]
    assert processor.spans_unwritten == 3 and processor.spans_in_file == 0
    os.open(os.devnull, os.O_WRONLY)  # takes the number back, so closing it is harmless
    processor._file._fd = None


def test_unencodable_string_is_written_as_escape(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, batch_size=1)
    tracer = provider_with(processor).get_tracer("t")
    with tracer.start_as_current_span("bad\ud800name"):
        pass
    with tracer.start_as_current_span("nan", attributes={"ratio": float("nan")}):
        pass
    lines = read_lines(path)
    assert lines[0]["name"] == "bad\ud800name"
    assert lines[1]["attributes"]["ratio"] == "NaN"


def test_subscribers_see_spans_only_while_subscribed(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracer = provider_with(processor).get_tracer("t")
    view = TraceStore()
    with tracer.start_as_current_span("before"):
        pass
    processor.subscribe(view)  # "before" is still queued: it is not the view's
    with tracer.start_as_current_span("during"):
        pass
    processor.unsubscribe(view)  # "during" is still queued: it is the view's
    with tracer.start_as_current_span("after"):
        pass
    assert [r.name for r in view] == ["during"]
    assert len(processor.store) == 3
    assert [r.name for r in processor.store] == ["before", "during", "after"]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "5", True])
def test_bad_max_spans_raises(tmp_path, bad):
    with pytest.raises(ValueError, match="invalid max_spans"):
        FileBasedSpanProcessor(tmp_path / "x.jsonl", max_spans=bad)


def test_threads_lose_no_span_and_every_line_is_json(tmp_path):
    path = tmp_path / "spans.jsonl"
    writers, per_writer = 8, 250
    processor = FileBasedSpanProcessor(path, max_spans=writers * per_writer)
    tracer = provider_with(processor).get_tracer("t")
    errors: list[BaseException] = []
    done = threading.Event()
    start = threading.Barrier(writers + 2)

    def write(n):
        try:
            start.wait()
            for i in range(per_writer):
                with tracer.start_as_current_span(f"w{n}", attributes={"i": i, "writer": n}):
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read():
        try:
            start.wait()
            while not done.is_set():
                store = processor.store
                for record in store.query_spans(attributes={"writer": 3}):
                    assert record.attributes["writer"] == 3
                store.get_trace(1)
                store.filter_by_attribute("i", 7)
                len(list(store))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in threads + readers:
        t.start()
    for t in threads:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert errors == []
    processor.shutdown()
    lines = read_lines(path)
    assert len(lines) == writers * per_writer == len(processor.store)
    seen = {(line["attributes"]["writer"], line["attributes"]["i"]) for line in lines}
    assert seen == {(n, i) for n in range(writers) for i in range(per_writer)}
    for n in range(writers):
        assert len(processor.store.filter_by_attribute("writer", n)) == per_writer


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("count", [120, _MIN_SLACK + 700])
@pytest.mark.parametrize("batch_size", [1, DEFAULT_BATCH_SIZE])
def test_sigkill_keeps_every_span_that_ended_before_it(tmp_path, count, batch_size):
    path = tmp_path / "spans.jsonl"
    script = textwrap.dedent(
        f"""
        import os, signal
        from opentelemetry.sdk.trace import TracerProvider
        from pytest_tracestore import FileBasedSpanProcessor
        processor = FileBasedSpanProcessor({str(path)!r}, max_spans=50, batch_size={batch_size})
        provider = TracerProvider()
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("victim")
        for i in range({count}):
            with tracer.start_as_current_span(f"s{{i}}"):
                pass
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    names = [line["name"] for line in read_lines(path)]
    # Written: every span, whatever the batch size (it batches the store only).
    last = count
    # Nothing trimmed the file at exit.  Below the pruning threshold every
    # written span is there; past it, a run of the newest, at least max_spans
    # of them, the last written one included.
    if count < _MIN_SLACK:
        assert names == [f"s{i}" for i in range(last)]
    else:
        assert len(names) >= 50
        assert names == [f"s{i}" for i in range(last - len(names), last)]
    assert not [p for p in tmp_path.iterdir() if p.name != "spans.jsonl"]


def test_otlp_format_writes_one_traces_data_per_line_and_keeps_the_fifo(tmp_path):
    from pytest_tracestore.otlp import records_from_otlp_line

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=3, format="otlp")
    tracer = provider_with(processor).get_tracer("shop", "2.0")
    count = _MIN_SLACK + 100  # enough to prune the file once on the way
    for i in range(count):
        with tracer.start_as_current_span(f"s{i}", attributes={"i": i, "tags": ["a", "b"]}):
            pass
    processor.shutdown()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])["resourceSpans"][0]
    assert first["scopeSpans"][0]["scope"] == {"name": "shop", "version": "2.0"}
    assert first["scopeSpans"][0]["spans"][0]["name"] == f"s{count - 3}"
    assert [r for line in lines for r in records_from_otlp_line(line)] == list(processor.store)
    assert list(TraceStore.load(path)) == list(processor.store)


def test_bad_format_raises(tmp_path):
    with pytest.raises(ValueError, match="invalid format 'xml': expected one of jsonl, otlp"):
        FileBasedSpanProcessor(tmp_path / "spans.jsonl", format="xml")


def test_add_record_writes_stores_and_feeds_subscribers_like_on_end(tmp_path, record_factory):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path)
    subscriber = TraceStore()
    processor.subscribe(subscriber)
    record = record_factory(name="from-elsewhere", resource={"service.name": "shop"})
    processor.add_record(record)
    assert list(processor.store) == [record] and list(subscriber) == [record]
    assert TraceStore.load(path).spans() == [record]
    with pytest.raises(ValueError, match="expected a SpanRecord, got {'name': 'x'}"):
        processor.add_record({"name": "x"})
    processor.shutdown()
    processor.add_record(record_factory())
    assert len(processor.store) == 1


def test_add_record_goes_through_the_transform_too(tmp_path, record_factory):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    processor.transform = lambda r: None if r.name == "GET /health" else r
    processor.add_record(record_factory(name="GET /health"))
    kept = record_factory(name="GET /items")
    processor.add_record(kept)
    processor.shutdown()
    assert list(processor.store) == [kept]
    assert [line["name"] for line in read_lines(tmp_path / "spans.jsonl")] == ["GET /items"]


def test_spans_of_other_types_convert_through_public_properties(tmp_path):
    # The converter reads a plain ReadableSpan's fields directly; any other
    # span type (a subclass, a wrapper) must give the same record and line.
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Link

    from pytest_tracestore.serialize import SpanConverter

    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracer = provider_with(processor).get_tracer("shop", "2.0")
    with tracer.start_as_current_span("parent") as parent:
        with tracer.start_as_current_span(
            "call", attributes={"a": 1, "tags": ("x", "y")},
            links=[Link(parent.get_span_context(), {"why": "retry"})],
        ) as span:
            span.add_event("cache.miss", {"key": "k1"})
            span.set_status(Status(StatusCode.ERROR, "boom"))
    plain = span._readable_span()
    assert type(plain) is ReadableSpan

    class Wrapped(ReadableSpan):
        pass

    wrapped = Wrapped(
        name=plain.name, context=plain.context, parent=plain.parent,
        resource=plain.resource, attributes=plain.attributes, events=plain.events,
        links=plain.links, kind=plain.kind, status=plain.status,
        start_time=plain.start_time, end_time=plain.end_time,
        instrumentation_scope=plain.instrumentation_scope,
    )
    converter = SpanConverter()
    record, line = converter.convert(plain)
    assert converter.convert(wrapped) == (record, line)
    assert record.links[0].attributes == {"why": "retry"}
    assert record.events[0].attributes == {"key": "k1"}
    assert json.loads(line)["status_description"] == "boom"


def test_a_line_written_in_pieces_arrives_whole(tmp_path, monkeypatch):
    # write(2) may take part of a buffer (a signal, a nearly full disk): the
    # rest of the line must follow, or the file gets a torn line.
    import pytest_tracestore.processor as processor_module

    real_write = os.write
    calls = []

    def short_write(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data[:7]))

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, batch_size=1)
    monkeypatch.setattr(processor_module.os, "write", short_write)
    tracer = provider_with(processor).get_tracer("t")
    for i in range(3):
        with tracer.start_as_current_span(f"s{i}", attributes={"i": i}):
            pass
    monkeypatch.undo()
    processor.shutdown()
    assert len(calls) > 3  # the pieces really were short
    assert [line["name"] for line in read_lines(path)] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("max_spans", [3, 1000])
def test_a_write_torn_by_an_error_does_not_swallow_the_next_spans(tmp_path, monkeypatch, max_spans):
    # The disk fills halfway through one line: that line is torn, but the
    # spans after it must land on lines of their own, in the file's FIFO.
    import pytest_tracestore.processor as processor_module

    real_write = os.write
    calls = {"s1": 0}

    def failing_write(fd, data):
        # s1's line: write(2) takes 20 bytes, then the disk is full.
        if b'"s1"' in bytes(data) or calls["s1"] == 1:
            calls["s1"] += 1
            if calls["s1"] == 1:
                return real_write(fd, bytes(data[:20]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=max_spans, batch_size=1)
    monkeypatch.setattr(processor_module.os, "write", failing_write)
    tracer = provider_with(processor).get_tracer("t")
    with pytest.warns(TraceStoreWarning, match="could not write spans"):
        for i in range(5):
            with tracer.start_as_current_span(f"s{i}"):
                pass
        processor.drain()
    # s1 again whole, and the spans after it (no more than the cap).
    assert processor.spans_unwritten == min(4, max_spans)
    monkeypatch.undo()  # space is back
    processor.shutdown()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = [r.name for r in TraceStore.load(path)]
    # Every span, in order: the torn piece of s1 is gone with the trim.
    assert names == [f"s{i}" for i in range(5)][-max_spans:] and not caught
    assert [r.name for r in processor.store] == names
    assert processor.spans_unwritten == 0 and processor.lines_whole


def test_a_write_that_fails_whole_leaves_no_gap_in_the_file(tmp_path, monkeypatch):
    import pytest_tracestore.processor as processor_module

    real_write = os.write

    def full_disk_for_b(fd, data):
        if b'"B"' in bytes(data):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=2, batch_size=1)
    monkeypatch.setattr(processor_module.os, "write", full_disk_for_b)
    tracer = provider_with(processor).get_tracer("t")
    with pytest.warns(TraceStoreWarning, match="could not write spans"):
        for name in ("A", "B", "C"):
            with tracer.start_as_current_span(name):
                pass
        processor.drain()
    # C waits behind B: the file never skips a span.
    assert [line["name"] for line in read_lines(path)] == ["A"]
    assert processor.spans_unwritten == 2
    monkeypatch.undo()
    processor.shutdown()
    assert [line["name"] for line in read_lines(path)] == ["B", "C"]
    assert path.read_bytes().count(b"\n") == processor.spans_in_file == 2


def test_converter_takes_any_span_type_and_sdk_internals_that_moved():
    from types import SimpleNamespace

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, SpanKind
    from opentelemetry.trace.status import Status as ApiStatus

    from pytest_tracestore.serialize import SpanConverter

    context = SpanContext(trace_id=7, span_id=9, is_remote=False)
    # A duck-typed span from elsewhere: no resource, no scope, no attributes.
    foreign = SimpleNamespace(
        name="foreign", context=context, parent=None, status=ApiStatus(StatusCode.OK),
        kind=SpanKind.CLIENT, start_time=5, end_time=8, attributes=None, events=(),
        links=(), resource=None, instrumentation_scope=None,
    )
    converter = SpanConverter()
    for _ in range(2):  # the second time through the converter's caches
        record, line = converter.convert(foreign)
        assert (record.name, record.kind, record.status, record.scope) == ("foreign", "CLIENT", "OK", None)
        assert json.loads(line)["resource"] == {} and record.resource == {}

    # An SDK span whose private fields moved falls back to its public properties.
    span = ReadableSpan(name="moved", context=context, attributes={}, events=(), links=())
    span._events = tuple(span._events)  # no BoundedList: the fast path cannot read it
    record, _ = converter.convert(span)
    assert record.name == "moved" and converter.fast is False


def test_each_span_is_written_as_it_ends_in_one_write_and_stored_a_batch_at_a_time(
    tmp_path, monkeypatch
):
    import pytest_tracestore.processor as processor_module

    writes = []
    real_write = os.write

    def counting_write(fd, data):
        writes.append(bytes(data).count(b"\n"))
        return real_write(fd, data)

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, batch_size=4)
    monkeypatch.setattr(processor_module.os, "write", counting_write)
    tracer = provider_with(processor).get_tracer("t")
    for i in range(10):
        with tracer.start_as_current_span(f"s{i}"):
            pass
        # The line is in the file before the span's end returns.
        assert [line["name"] for line in read_lines(path)] == [f"s{j}" for j in range(i + 1)]
    assert writes == [1] * 10  # one write(2) per span
    assert len(processor._queue) == 2  # two full batches stored, two records waiting
    processor.shutdown()
    assert writes == [1] * 10
    assert [r.name for r in processor.store] == [f"s{i}" for i in range(10)]
    assert processor.lines_whole and processor.spans_in_file == 10


def test_every_read_of_the_store_sees_the_queued_spans(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracer = provider_with(processor).get_tracer("t")
    store = processor.store
    reads = [
        lambda: len(store),
        lambda: bool(store),
        lambda: len(list(store)),
        lambda: store.added,
        lambda: len(store.spans()),
        lambda: len(store.query_spans(name="s")),
        lambda: len(store.filter_by_attribute("k", 1)),
        lambda: len(store.trace_ids()),
    ]
    for n, read in enumerate(reads, 1):
        with tracer.start_as_current_span("s", attributes={"k": 1}):
            pass
        assert len(processor._queue) == 1  # queued, not written yet
        assert read() == (True if read is reads[1] else n), n
        assert not processor._queue
    assert len(read_lines(tmp_path / "spans.jsonl")) == len(reads)


def test_wait_for_wakes_for_a_span_ending_in_another_thread(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracer = provider_with(processor).get_tracer("t")
    store = processor.store
    pause = threading.Event()

    def background():
        # End the span only once wait_for sleeps on its condition: left in
        # the queue, it would be found only by the last look at the timeout.
        deadline = time.monotonic() + 20
        while not store._waiters and time.monotonic() < deadline:
            pause.wait(0.001)
        with tracer.start_as_current_span("from-thread"):
            pass

    thread = threading.Thread(target=background)
    thread.start()
    start = time.monotonic()
    try:
        found = store.wait_for(name="from-thread", timeout=20)
    finally:
        thread.join()
    assert [r.name for r in found] == ["from-thread"]
    assert time.monotonic() - start < 10  # woken by the span, not by the timeout
    assert processor._urgent == 0


def test_wait_for_leaves_no_urgency_behind_when_it_raises(tmp_path, monkeypatch):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    with provider_with(processor).get_tracer("t").start_as_current_span("s"):
        pass

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(processor, "_drain_locked", interrupted)
    with pytest.raises(KeyboardInterrupt):
        processor.store.wait_for(timeout=0)
    monkeypatch.undo()
    with pytest.raises(ValueError):
        processor.store.wait_for(timeout=1, no_such_filter=1)
    assert processor._urgent == 0
    assert [r.name for r in processor.store] == ["s"]


def test_a_transform_that_reads_a_store_gets_its_verdict_and_the_warning_comes_after(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, batch_size=2)
    seen = []

    def transform(record):
        seen.append(len(processor.store))  # a store read, from inside on_end
        if record.name == "broken":
            raise RuntimeError("hook bug")
        return None if record.name == "secret" else record

    processor.transform = transform
    tracer = provider_with(processor).get_tracer("t")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceStoreWarning)
        with tracer.start_as_current_span("broken"):
            pass  # no warning as the span ends: that is the application's code
        with tracer.start_as_current_span("secret"):
            pass  # its transform's store read leaves the warning for later
        with pytest.raises(TraceStoreWarning, match="could not transform"):
            processor.drain()
    # "broken" is recorded as it was, "secret" dropped as the hook said.
    assert [r.name for r in processor.store] == ["broken"]
    assert [line["name"] for line in read_lines(path)] == ["broken"]
    assert seen == [0, 1]


def test_quiet_holds_warnings_back_and_issues_them_as_warnings(tmp_path):
    def transform(record):
        raise RuntimeError("hook bug")

    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", transform=transform)
    tracer = provider_with(processor).get_tracer("t")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error", TraceStoreWarning)
        with processor.quiet():
            with tracer.start_as_current_span("s"):
                pass  # would raise here without quiet()
            assert not caught
            processor.shutdown()  # the work after the warning still runs
    assert [str(w.message) for w in caught if w.category is TraceStoreWarning] == [
        f"pytest-tracestore: could not transform a span for {processor.path}: hook bug; "
        "spans stay queryable in memory"
    ]
    assert processor.closed and [r.name for r in processor.store] == ["s"]


def test_an_interrupt_in_a_transform_records_nothing_of_that_span(tmp_path):
    calls = []

    def transform(record):
        calls.append(record.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return record

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, transform=transform)
    tracer = provider_with(processor).get_tracer("t")
    for name in ("a", "b", "c"):
        try:
            with tracer.start_as_current_span(name):
                pass
        except KeyboardInterrupt:
            assert name == "b"
    # b is in neither the file nor the store; a and c in both.
    assert [line["name"] for line in read_lines(path)] == ["a", "c"]
    assert [r.name for r in processor.store] == ["a", "c"]


class _CountingLock:
    """An RLock that counts the threads that came to take it."""

    def __init__(self):
        self.lock = threading.RLock()
        self.arrivals = 0
        self.arrived = threading.Event()

    def __enter__(self):
        self.arrivals += 1
        self.arrived.set()
        return self.lock.__enter__()

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)

    def acquire(self):  # the fork handlers take the lock too
        return self.lock.acquire()

    def release(self):
        return self.lock.release()


def test_a_read_waits_for_a_drain_running_in_another_thread(tmp_path, monkeypatch):
    # The drainer is adding "mine" and "bg" to the store: a read in another
    # thread must wait for it, not find nothing to drain and return without them.
    release = threading.Event()
    in_store = threading.Event()
    lock = _CountingLock()
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", batch_size=2)
    real_add = processor.store._add_batch

    def slow_add(records, total):
        in_store.set()
        release.wait(60)
        real_add(records, total)

    monkeypatch.setattr(processor.store, "_add_batch", slow_add)
    processor._lock = lock
    tracer = provider_with(processor).get_tracer("t")
    with tracer.start_as_current_span("mine"):
        pass

    def end_bg():
        with tracer.start_as_current_span("bg"):  # fills the batch: drains here
            pass

    drainer = threading.Thread(target=end_bg)
    drainer.start()
    assert in_store.wait(60)
    seen = []
    lock.arrived.clear()
    arrivals = lock.arrivals

    def read():
        try:
            seen.append([r.name for r in processor.store.spans()])
        finally:
            lock.arrived.set()  # wakes the test also if the read returned at once

    reader = threading.Thread(target=read)
    reader.start()
    lock.arrived.wait(60)  # the reader came for the lock (or gave up on it) ...
    came_for_the_lock = lock.arrivals > arrivals
    release.set()  # ... so the drain may finish
    drainer.join()
    reader.join()
    assert came_for_the_lock
    assert seen == [["mine", "bg"]]


def test_a_warning_turned_error_loses_no_span(tmp_path):
    def transform(record):
        if record.name == "s2":
            raise RuntimeError("bad hook")
        return record

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, batch_size=4, transform=transform)
    tracer = provider_with(processor).get_tracer("t")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceStoreWarning)
        for i in range(4):
            with tracer.start_as_current_span(f"s{i}"):
                pass  # never raises as a span ends
        with pytest.raises(TraceStoreWarning, match="could not transform a span"):
            processor.store.spans()
    # The warning came with the read, once every span was recorded, s2 as it was.
    assert [r.name for r in processor.store] == ["s0", "s1", "s2", "s3"]
    assert [line["name"] for line in read_lines(path)] == ["s0", "s1", "s2", "s3"]


def test_spans_a_transform_ends_are_drained_with_the_batch(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path)
    tracer = provider_with(processor).get_tracer("t")

    def transform(record):
        if record.name == "outer":
            with tracer.start_as_current_span("from-transform"):
                pass
        return record

    processor.transform = transform
    with tracer.start_as_current_span("outer"):
        pass
    assert processor.force_flush() is True
    assert not processor._queue
    # The transform runs as "outer" ends, so the span it ends is written first.
    assert [line["name"] for line in read_lines(path)] == ["from-transform", "outer"]


def test_bad_batch_size_raises(tmp_path):
    with pytest.raises(ValueError, match="invalid batch_size 0"):
        FileBasedSpanProcessor(tmp_path / "x.jsonl", batch_size=0)


def test_a_torn_line_marks_the_file_as_not_whole(tmp_path, monkeypatch):
    import pytest_tracestore.processor as processor_module

    real_write = os.write
    state = {"calls": 0}

    def torn_write(fd, data):
        state["calls"] += 1
        if state["calls"] == 1:
            return real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", batch_size=1)
    monkeypatch.setattr(processor_module.os, "write", torn_write)
    tracer = provider_with(processor).get_tracer("t")
    with pytest.warns(TraceStoreWarning, match="could not write spans"):
        with tracer.start_as_current_span("s"):
            pass
        processor.drain()
    monkeypatch.undo()
    assert not processor.lines_whole
    # Which line holds which span is no longer known: a merge must read them.
    assert processor.line_end_times() is None and processor.line_sizes() is None
    processor.shutdown()
    # The span went in again whole; the trim read the file and left the torn piece out.
    path = tmp_path / "spans.jsonl"
    assert processor.lines_whole
    assert processor.line_sizes() == [len(line) for line in path.read_bytes().splitlines(keepends=True)]
    assert processor.line_end_times() == [line["end_time_unix_nano"] for line in read_lines(path)]
    assert [line["name"] for line in read_lines(path)] == ["s"]
    assert not FileBasedSpanProcessor(tmp_path / "o.jsonl", format="otlp").lines_whole


def test_a_trim_that_fails_before_replacing_leaves_the_file_and_its_line_times(
    tmp_path, monkeypatch, record_factory
):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", max_spans=2, batch_size=1)
    for end in (10, 20, 30):
        processor.add_record(record_factory(start_time=1, end_time=end))
    assert processor.line_end_times() == [10, 20, 30]

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(processor._file, "_replace", full_disk)
    with pytest.warns(TraceStoreWarning, match="could not trim .* to its newest 2 spans"):
        processor.shutdown()
    # The file was left as it was, and so is what is known of its lines.
    assert processor.line_end_times() == [10, 20, 30]
    assert len(read_lines(tmp_path / "spans.jsonl")) == 3 == processor.spans_in_file


def test_a_numeric_tracer_version_is_kept_as_text(tmp_path):
    # The SDK lets get_tracer("lib", 3) through: the span is recorded all the same.
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", batch_size=1)
    with provider_with(processor).get_tracer("lib", 3).start_as_current_span("op"):  # type: ignore[arg-type]
        pass
    (record,) = processor.store
    assert record.scope.version == "3"
    assert json.loads((tmp_path / "spans.jsonl").read_text())["scope"]["version"] == "3"


def test_a_span_that_cannot_be_converted_is_skipped_with_one_warning(tmp_path, monkeypatch):
    # Conversion runs in on_end, in the application's own code: it must not raise there.
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    real = processor._converter.convert

    def convert(span):
        if span.name == "bad":
            raise RuntimeError("odd span")
        return real(span)

    monkeypatch.setattr(processor._converter, "convert", convert)
    tracer = provider_with(processor).get_tracer("t")
    for name in ("a", "bad", "b", "bad"):
        with tracer.start_as_current_span(name):
            pass  # no exception here
    with pytest.warns(TraceStoreWarning, match="could not convert a span for .*odd span") as caught:
        assert [r.name for r in processor.store] == ["a", "b"]
    assert len([w for w in caught if "odd span" in str(w.message)]) == 1
    processor.shutdown()
    assert [line["name"] for line in read_lines(tmp_path / "spans.jsonl")] == ["a", "b"]


def _interrupt_before_write(monkeypatch, processor):
    real = os.write
    state = {"armed": True}

    def write(fd, data):
        if state.pop("armed", False):
            raise KeyboardInterrupt
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


def _interrupt_after_write(monkeypatch, processor):
    real = os.write
    state = {"armed": True}

    def write(fd, data):
        written = real(fd, data)
        if state.pop("armed", False):
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(os, "write", write)


def _interrupt_in_fsync(monkeypatch, processor):
    # Right after the line went in, before its size is noted.
    processor._file.fsync = True
    state = {"armed": True}
    real = os.fsync

    def fsync(fd):
        if state.pop("armed", False):
            raise KeyboardInterrupt
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _interrupt_store_add(after: bool):
    def arm(monkeypatch, processor):
        real = processor.store._add_batch
        state = {"armed": True}

        def add(records, total):
            if after:
                real(records, total)
            if state.pop("armed", False):
                raise KeyboardInterrupt
            if not after:
                real(records, total)

        monkeypatch.setattr(processor.store, "_add_batch", add)

    return arm


def _interrupt_replace(after: bool):
    def arm(monkeypatch, processor):
        real = os.replace
        state = {"armed": True}

        def replace(src, dst):
            if after:
                real(src, dst)
            if state.pop("armed", False):
                raise KeyboardInterrupt
            if not after:
                real(src, dst)

        monkeypatch.setattr(os, "replace", replace)

    return arm


@pytest.mark.parametrize(
    "arm",
    [
        _interrupt_before_write,
        _interrupt_after_write,
        _interrupt_in_fsync,
        _interrupt_store_add(after=False),
        _interrupt_store_add(after=True),
        _interrupt_replace(after=False),
        _interrupt_replace(after=True),
    ],
    ids=[
        "before-write", "after-write", "before-sizes-noted", "store-add-before",
        "store-add-after", "replace-before", "replace-after",
    ],
)
def test_an_interrupt_anywhere_in_the_write_path_keeps_file_sizes_and_store_in_step(
    tmp_path, monkeypatch, arm
):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=3, batch_size=1)
    tracer = provider_with(processor).get_tracer("t")
    for name in ("a", "b"):
        with tracer.start_as_current_span(name):
            pass
    arm(monkeypatch, processor)
    interrupted = 0
    for name in ("c", "d", "e"):
        try:
            with tracer.start_as_current_span(name):
                pass
        except KeyboardInterrupt:
            interrupted += 1
    try:
        processor._file.trim()  # a trim, with or without the interrupt armed for it
    except KeyboardInterrupt:
        interrupted += 1
    assert interrupted == 1
    monkeypatch.undo()
    # Every span is in both, once, or in neither; sizes describe the file.
    data = path.read_bytes()
    assert processor.line_sizes() == [len(x) for x in data.splitlines(keepends=True)]
    in_file = [json.loads(x)["name"] for x in data.splitlines()]
    stored = [r.name for r in processor.store]
    # The file runs ahead of the cap until a trim; the store keeps the newest.
    tail = min(len(in_file), len(stored))
    assert in_file[-tail:] == stored[-tail:] and len(set(in_file)) == len(in_file)
    assert len(set(r.span_id for r in processor.store)) == len(processor.store)
    with tracer.start_as_current_span("f"):
        pass
    processor.shutdown()
    in_file = [line["name"] for line in read_lines(path)]
    assert in_file == [r.name for r in processor.store] == ["d", "e", "f"]
    assert processor.line_end_times() == [line["end_time_unix_nano"] for line in read_lines(path)]
