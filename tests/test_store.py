from __future__ import annotations

import datetime as dt
import re
import threading
import time
import warnings

import pytest
from conftest import exception_event, make_record

from pytest_tracestore import Query, TraceStore, TraceStoreWarning
from pytest_tracestore.serialize import dumps_line, record_to_dict


class Declined(Exception):
    pass


def test_get_trace_orders_by_start_and_accepts_int_or_hex():
    store = TraceStore()
    late = make_record(trace_id=0xAB, start_time=300)
    early = make_record(trace_id=0xAB, start_time=100)
    other = make_record(trace_id=0xCD)
    store.extend([late, early, other])
    assert store.get_trace(0xAB) == [early, late]
    assert store.get_trace("00000000000000000000000000000AB") == [early, late]
    assert store.get_trace("0xab") == [early, late]
    assert store.get_trace(0xEEE) == []


@pytest.mark.parametrize("bad", ["not-hex", "", "0" * 32, 2**128, None, 3.0])
def test_get_trace_rejects_malformed_ids(bad):
    with pytest.raises(ValueError, match="invalid trace id") as info:
        TraceStore().get_trace(bad)
    assert repr(bad) in str(info.value)


def test_results_are_copies():
    store = TraceStore()
    record = make_record(trace_id=1)
    store.add(record)
    result = store.get_trace(1)
    result.clear()
    assert store.get_trace(1) == [record]
    assert len(store) == 1


def test_fifo_keeps_newest_and_updates_every_index():
    store = TraceStore(max_spans=3)
    records = [
        make_record(trace_id=i % 2 + 1, status="ERROR", attributes={"k": "v", "n": i},
                    events=[exception_event("shop.Declined")])
        for i in range(200)
    ]
    store.filter_by_attribute("k", "v")  # index the key before the records arrive
    store.extend(records)
    assert list(store) == records[-3:]
    assert store.evicted == 197 and store.added == 200
    assert store.filter_by_attribute("k", "v") == records[-3:]
    assert store.filter_by_attribute("n", 5) == []
    assert store.filter_by_error_type("Declined") == records[-3:]
    assert store.failures() == records[-3:]
    assert sorted(store.get_trace(1) + store.get_trace(2), key=lambda r: r.start_time) == records[-3:]
    # Index buckets of evicted spans are gone, not just emptied.
    assert set(store.trace_ids()) == {records[-1].trace_id, records[-2].trace_id}


def test_memory_budget_evicts_oldest():
    store = TraceStore(max_spans=None, max_bytes=20_000)
    records = [make_record(attributes={"payload": "x" * 1000}) for _ in range(100)]
    store.extend(records)
    assert 0 < len(store) < 100
    assert list(store) == records[-len(store):]
    assert store.estimated_bytes <= 20_000


def test_a_single_span_over_budget_is_kept():
    store = TraceStore(max_bytes=10)
    record = make_record(attributes={"payload": "x" * 1000})
    store.add(record)
    assert list(store) == [record]


def test_filter_by_error_type_matches_short_qualified_and_class_names():
    store = TraceStore()
    declined = make_record(events=[exception_event(f"{__name__}.Declined")])
    timeout = make_record(attributes={"error.type": "TimeoutError"})
    other = make_record(attributes={"error.type": "shop.NotDeclined"})
    store.extend([declined, timeout, other])
    assert store.filter_by_error_type("Declined") == [declined]
    assert store.filter_by_error_type(Declined) == [declined]
    assert store.filter_by_error_type(f"{__name__}.Declined") == [declined]
    assert store.filter_by_error_type(TimeoutError) == [timeout]
    assert store.filter_by_error_type("KeyError") == []
    with pytest.raises(ValueError, match="invalid error type 42"):
        store.filter_by_error_type(42)  # type: ignore[arg-type]


def test_filter_by_attribute_equality_rules():
    store = TraceStore()
    listed = make_record(attributes={"tags": ("a", "b")})
    flag = make_record(attributes={"retry": True})
    one = make_record(attributes={"retry": 1})
    store.extend([listed, flag, one])
    assert store.filter_by_attribute("tags", ["a", "b"]) == [listed]
    assert store.filter_by_attribute("tags", ("a", "b")) == [listed]
    assert store.filter_by_attribute("retry", True) == [flag]
    assert store.filter_by_attribute("retry", 1) == [one]
    assert store.filter_by_attribute("missing", 1) == []
    with pytest.raises(ValueError, match="invalid attribute value"):
        store.filter_by_attribute("tags", {"a": 1})


def test_attribute_index_is_built_once_and_maintained():
    store = TraceStore()
    first = make_record(attributes={"user": "ana"})
    store.add(first)
    assert store.filter_by_attribute("user", "ana") == [first]
    second = make_record(attributes={"user": "ana"})
    store.add(second)
    assert store.filter_by_attribute("user", "ana") == [first, second]
    assert "user" in store._by_attr  # the lookup used an index


def test_recent_failures_uses_end_time_window():
    store = TraceStore()
    now = time.time_ns()
    recent = make_record(status="ERROR", start_time=now - 10**9, end_time=now)
    old = make_record(status="ERROR", start_time=now - 3 * 3600 * 10**9, end_time=now - 2 * 3600 * 10**9)
    fine = make_record(status="OK", start_time=now - 10**9, end_time=now)
    store.extend([recent, old, fine])
    assert store.recent_failures() == [recent]
    assert store.recent_failures(hours=3) == [old, recent]
    for bad in (0, -1, "1", True):
        with pytest.raises(ValueError, match="invalid hours"):
            store.recent_failures(hours=bad)  # type: ignore[arg-type]


def test_query_spans_combines_fields_with_and():
    store = TraceStore()
    base = 1_700_000_000 * 10**9
    a = make_record(name="GET /a", kind="SERVER", status="ERROR", start_time=base, end_time=base + 2 * 10**9,
                    attributes={"http.method": "GET", "error.type": "TimeoutError"})
    b = make_record(name="GET /b", kind="SERVER", start_time=base + 10**9, end_time=base + 10**9 + 10**6,
                    attributes={"http.method": "GET"})
    c = make_record(name="db", kind="CLIENT", start_time=base + 5 * 10**9, end_time=base + 6 * 10**9)
    store.extend([c, b, a])
    assert store.query_spans() == [a, b, c]
    assert store.query_spans(kind="server") == [a, b]
    assert store.query_spans(attributes={"http.method": "GET"}, status="error") == [a]
    assert store.query_spans(name=re.compile(r"^GET ")) == [a, b]
    assert store.query_spans(min_duration=0.5) == [a, c]
    assert store.query_spans(max_duration=dt.timedelta(milliseconds=1)) == [b]
    since = dt.datetime.fromtimestamp(1_700_000_004, tz=dt.timezone.utc)
    assert store.query_spans(since=since) == [c]
    assert store.query_spans(until=1_700_000_000.5) == [a]
    assert store.query_spans(error_type=TimeoutError, trace_id=a.trace_id) == [a]
    query = Query(kind="SERVER")
    assert store.query_spans(query, name="GET /b") == [b]
    assert store.query_spans(query) == [a, b]


@pytest.mark.parametrize(
    "filters, message",
    [
        ({"status": "BROKEN"}, "invalid status 'BROKEN'"),
        ({"kind": 3}, "invalid span kind 3"),
        ({"since": "yesterday"}, "invalid since 'yesterday'"),
        ({"min_duration": -1}, "invalid min_duration -1"),
        ({"attributes": ["a"]}, "invalid attributes"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_query_spans_bad_filters_raise_value_error(filters, message):
    with pytest.raises(ValueError, match=message):
        TraceStore().query_spans(**filters)


def test_clear_empties_everything():
    store = TraceStore()
    store.add(make_record(trace_id=9, status="ERROR", attributes={"k": 1}))
    store.filter_by_attribute("k", 1)
    store.clear()
    assert len(store) == 0 and store.get_trace(9) == [] and store.failures() == []
    assert store.filter_by_attribute("k", 1) == []


def test_load_reads_artifact_and_skips_corrupt_lines(tmp_path):
    good = [make_record(attributes={"i": i}) for i in range(3)]
    lines = [dumps_line(record_to_dict(r)) for r in good]
    path = tmp_path / "spans.jsonl"
    path.write_text(
        lines[0] + "\n" + "{not json\n" + lines[1] + "\n" + '{"trace_id": "1"}\n' + lines[2][:40],
        encoding="utf-8",
    )
    with pytest.warns(TraceStoreWarning) as caught:
        store = TraceStore.load(path)
    assert list(store) == good[:2]
    messages = [str(w.message) for w in caught]
    assert any(":2: skipped a corrupt line" in m for m in messages)
    assert any(":4: skipped a corrupt line (missing field" in m for m in messages)
    assert any(":5: skipped a corrupt line" in m for m in messages)


def test_load_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        TraceStore.load(tmp_path / "nope.jsonl")


def test_load_clean_file_warns_nothing(tmp_path):
    path = tmp_path / "spans.jsonl"
    records = [make_record() for _ in range(5)]
    path.write_text("".join(dumps_line(record_to_dict(r)) + "\n" for r in records), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(TraceStore.load(path)) == records


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "10"])
def test_store_limits_are_validated(bad):
    with pytest.raises(ValueError, match="invalid max_spans"):
        TraceStore(max_spans=bad)  # type: ignore[arg-type]


def test_load_detects_otlp_json_lines_and_skips_corrupt_lines(tmp_path):
    from pytest_tracestore.otlp import record_to_otlp_line, records_to_traces_data

    records = [make_record(attributes={"i": i}, resource={"service.name": "shop"}) for i in range(4)]
    path = tmp_path / "spans.otlp.jsonl"
    path.write_text(
        "\n"  # a blank first line does not decide the format
        + record_to_otlp_line(records[0]) + "\n"
        + '{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}\n'
        # A line may hold several spans, as other exporters write them.
        + dumps_line(records_to_traces_data(records[1:])) + "\n",
        encoding="utf-8",
    )
    with pytest.warns(TraceStoreWarning) as caught:
        store = TraceStore.load(path)
    assert list(store) == records
    assert [str(w.message) for w in caught] == [
        f"{path}:3: skipped a corrupt span (missing or all-zero traceId: None)"
    ]
    assert store.get_trace(records[2].trace_id)[0].resource is store.get_trace(records[3].trace_id)[0].resource


def test_wait_for_returns_at_once_when_the_span_is_there():
    store = TraceStore()
    span = make_record(name="ready")
    store.add(span)
    assert store.wait_for(timeout=0, name="ready") == [span]


class CountingStore(TraceStore):
    """Counts wait_for's checks, and signals the first one."""

    def __init__(self):
        super().__init__()
        self.checks = 0
        self.first_check = threading.Event()

    def query_spans(self, query=None, **filters):
        self.checks += 1
        self.first_check.set()
        return super().query_spans(query, **filters)


def test_wait_for_wakes_when_a_matching_span_is_added_from_another_thread():
    store = CountingStore()
    other = make_record(name="other")
    wanted = make_record(name="GET /items", resource={"service.name": "inventory"})

    def producer():
        # wait_for holds the store's lock from its first check until it
        # sleeps, so these adds land while it waits.
        store.first_check.wait()
        store.add(other)
        store.add(wanted)

    thread = threading.Thread(target=producer)
    thread.start()
    started = time.monotonic()
    assert store.wait_for(timeout=30, name="GET /items") == [wanted]
    assert time.monotonic() - started < 10
    assert store.checks >= 2  # it did wait, and woke on an add
    thread.join()


def test_wait_for_fails_listing_what_did_arrive():
    store = TraceStore()
    store.add(make_record(name="GET /health", resource={"service.name": "inventory"}))
    store.add(make_record(name="local"))
    with pytest.raises(AssertionError) as excinfo:
        store.wait_for(timeout=0.01, name="GET /items")
    assert str(excinfo.value).splitlines() == [
        "no span matching name='GET /items' arrived within 0.01 s; the store holds: "
        "'GET /health' (inventory); 'local' (no service.name)",
        "Nearest misses:",
        "  <SpanRecord 'GET /health' UNSET 500ns trace=00000000 span=00000000>: name is 'GET /health'",
        "  <SpanRecord 'local' UNSET 500ns trace=00000000 span=00000000>: name is 'local'",
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"timeout": -1}, "invalid timeout -1"),
        ({"timeout": "5"}, "invalid timeout '5'"),
        ({"colour": "red"}, "the filters are"),
    ],
)
def test_wait_for_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TraceStore().wait_for(**kwargs)


def test_load_keeps_object_attribute_values_as_json_text(tmp_path):
    # No SDK writes one, but a hand-written or foreign file may.
    path = tmp_path / "spans.jsonl"
    path.write_text(
        '{"trace_id": "1", "span_id": "2", "name": "x", "start_time_unix_nano": 5,'
        ' "end_time_unix_nano": 9, "attributes": {"k": {"a": 1}, "l": [{"b": 2}]}}\n',
        encoding="utf-8",
    )
    (record,) = TraceStore.load(path)
    assert record.attributes == {"k": '{"a":1}', "l": ('{"b":2}',)}
    store = TraceStore.load(path)
    assert store.filter_by_attribute("k", '{"a":1}') == [record]
    assert store.filter_by_attribute("k", "other") == []


def test_query_is_empty_only_without_filters():
    assert Query().is_empty()
    assert not Query(name="x").is_empty()
    assert not Query(attributes={}).is_empty()


def test_indexes_catch_up_with_adds_and_evictions_between_lookups():
    # Adding only appends; lookups index what came since.  Evictions hit both
    # indexed records and records no lookup has seen yet.
    store = TraceStore(max_spans=7)
    store.filter_by_attribute("n", 0)  # an attribute index from the start
    added = []
    for step in range(60):
        record = make_record(
            trace_id=step % 3 + 1,
            status="ERROR" if step % 4 == 0 else "OK",
            attributes={"n": step % 5},
            events=[exception_event("shop.Declined")] if step % 4 == 0 else [],
        )
        store.add(record)
        added.append(record)
        if step % 11 in (0, 3):  # lookups at uneven intervals
            held = added[-7:]
            by_start = sorted(held, key=lambda r: r.start_time)
            assert list(store) == held
            for n in range(5):
                assert store.filter_by_attribute("n", n) == [
                    r for r in by_start if r.attributes["n"] == n
                ]
            for trace in (1, 2, 3):
                assert store.get_trace(trace) == [
                    r for r in by_start if r.trace_id == f"{trace:032x}"
                ]
            failed = [r for r in by_start if r.status == "ERROR"]
            assert store.failures() == failed
            assert store.filter_by_error_type("Declined") == failed
            assert store.query_spans(status="OK", attributes={"n": 1}) == [
                r for r in by_start if r.status == "OK" and r.attributes["n"] == 1
            ]
            assert store.trace_ids() == list(dict.fromkeys(r.trace_id for r in held))
    assert store.evicted == 53


@pytest.mark.parametrize("limits", [{"max_spans": 7}, {"max_spans": None, "max_bytes": 4000}])
def test_extend_keeps_what_adding_one_at_a_time_keeps(limits):
    import random

    rng = random.Random(7)
    batches = [
        [
            make_record(
                name=f"b{b}s{i}",
                status=rng.choice(["OK", "ERROR", "UNSET"]),
                attributes={"k": rng.randrange(3), "pad": "x" * rng.randrange(400)},
            )
            for i in range(rng.randrange(1, 12))
        ]
        for b in range(12)
    ]
    one, many = TraceStore(**limits), TraceStore(**limits)
    for n, batch in enumerate(batches):
        for record in batch:
            one.add(record)
        many.extend(batch)
        if n % 3 == 1:  # index some records, leave others pending
            assert one.filter_by_attribute("k", 1) == many.filter_by_attribute("k", 1)
        assert list(one) == list(many)
        assert (one.evicted, one.estimated_bytes) == (many.evicted, many.estimated_bytes)
        assert one.failures() == many.failures()
        assert one.trace_ids() == many.trace_ids()
    assert many.evicted > 0
    added = many.added
    with pytest.raises(ValueError, match="expected a SpanRecord"):
        many.extend([make_record(name="kept"), "not a record", make_record(name="never")])
    # As adding one at a time would: the record before the bad one is in.
    assert many.added == added + 1
    assert [r.name for r in many][-1] == "kept"


def test_extend_reads_a_long_iterable_a_chunk_at_a_time():
    store = TraceStore(max_spans=5)
    held = []

    def records():
        for i in range(5000):
            held.append(len(store._records))
            yield make_record(name=f"s{i}")

    store.extend(records())
    # Records were added (and evicted) while the iterable was still being read.
    assert max(held) == 5 and held[-1] == 5
    assert [r.name for r in store] == [f"s{i}" for i in range(4995, 5000)]
    assert store.evicted == 4995
