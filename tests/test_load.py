"""Reading artifact files back: the fast path agrees with the general one, and hostile input."""

from __future__ import annotations

import io
import json
import tracemalloc
import warnings

import pytest
from conftest import exception_event, make_record

from pytest_tracestore import SpanEvent, SpanLink, TraceStore, TraceStoreWarning
from pytest_tracestore.otlp import record_to_otlp_line, records_to_traces_data
from pytest_tracestore.parse import LineDecoder, Shared, parse_records, record_from_dict
from pytest_tracestore.record import Scope
from pytest_tracestore.serialize import dumps_line, record_line

MIB = 1024 * 1024


def _rich(**fields):
    fields.setdefault("attributes", {"http.method": "GET", "tags": ["a", "b"], "n": 3, "ok": True})
    fields.setdefault("resource", {"service.name": "shop", "host": "h1"})
    fields.setdefault("scope", Scope("shop.web", "1.2"))
    fields.setdefault("events", [exception_event("ValueError")])
    return make_record(**fields)


def _load(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = TraceStore.load(path, **kwargs)
    assert all(issubclass(w.category, TraceStoreWarning) for w in caught), [
        str(w.message) for w in caught
    ]
    return store, [str(w.message) for w in caught]


# -- the fast path decides as the general path does ----------------------


def _variants():
    record = _rich(parent_span_id=7, status="ERROR", status_description="bad", trace_state="a=1")
    line = record_line(record)
    data = json.loads(line)
    yield "as written", line
    yield "uppercase ids", line.replace(record.trace_id, record.trace_id.upper())
    yield "ids as ints", dumps_line(dict(data, trace_id=int(record.trace_id, 16))) + "\n"
    yield "times as strings", dumps_line(dict(data, start_time_unix_nano="5", end_time_unix_nano="9"))
    yield "lowercase kind", dumps_line(dict(data, kind="server", status="ok"))
    yield "resource in the head too", line.replace('"attributes"', '"resource":{"x":1},"attributes"', 1)
    yield "nested attribute", dumps_line(dict(data, attributes={"m": {"a": [1, 2]}, "l": [[1], 2]}))
    yield "null attributes and events", dumps_line(dict(data, attributes=None, events=None, links=None))
    yield "a link", dumps_line(
        dict(data, links=[{"trace_id": "AB" * 16, "span_id": 5, "attributes": {"k": "v"}}])
    )
    yield "two events", dumps_line(dict(data, events=data["events"] * 2))
    yield "spaces", json.dumps(data) + "\n"
    yield "number description", dumps_line(dict(data, status_description=5))
    yield "empty parent", dumps_line(dict(data, parent_span_id=""))
    yield "a test", dumps_line(dict(data, test="t.py::test_a[1]"))
    yield "an empty test", dumps_line(dict(data, test=""))
    yield "a null test", dumps_line(dict(data, test=None))
    yield "an array among attributes", dumps_line(
        dict(data, attributes={"a": 1, "l": ["x", "y"], "b": "s", "m": [2, 3], "e": []})
    )
    for bad in [
        dict(data, trace_id="0" * 32),
        dict(data, trace_id=""),
        dict(data, span_id="x" * 16),
        dict(data, parent_span_id=0),
        dict(data, name=None),
        dict(data, kind="browser"),
        dict(data, start_time_unix_nano=True),
        dict(data, attributes=[1]),
        dict(data, test=5),
        dict(data, test=["t.py::test_a"]),
        dict(data, events=[None]),
        dict(data, events="e"),
        dict(data, links=[{"trace_id": 1}]),
        dict(data, scope={"name": 3}),
        dict(data, resource=[]),
        {k: v for k, v in data.items() if k != "span_id"},
    ]:
        changed = sorted(k for k in set(bad) | set(data) if bad.get(k, "-") != data.get(k, "-"))
        yield f"bad {','.join(changed)} {[bad.get(k) for k in changed]!s:.30}", dumps_line(bad)


VARIANTS = list(_variants())


def _outcome(decode, line):
    try:
        return decode(line)
    except ValueError as exc:
        return ("ValueError", str(exc))


@pytest.mark.parametrize("line", [v[1] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_fast_path_decodes_as_the_general_path(line, as_bytes):
    raw = line.encode("utf-8") if as_bytes else line
    decoder = LineDecoder(Shared())
    # Twice: the second line meets the tail already learnt.
    for _ in range(2):
        fast = _outcome(decoder.decode, raw)
        general = _outcome(lambda x: record_from_dict(json.loads(x)), raw)
        assert fast == general
        if not isinstance(fast, tuple):
            assert fast.scope == general.scope and fast.trace_state == general.trace_state


def test_loaded_records_share_what_spans_share(tmp_path):
    path = tmp_path / "spans.jsonl"
    records = [_rich(trace_id=1, parent_span_id=9, name="GET") for _ in range(3)]
    path.write_text("".join(record_line(r) for r in records), encoding="utf-8")
    store, caught = _load(path)
    assert list(store) == records and not caught
    a, b = list(store)[:2]
    assert a.resource is b.resource and a.scope is b.scope
    assert a.trace_id is b.trace_id and a.parent_span_id is b.parent_span_id
    assert a._attribute_keys is b._attribute_keys and a.name is b.name


def test_the_spans_of_one_test_share_its_name_as_recorded_ones_do(tmp_path):
    path = tmp_path / "spans.jsonl"
    tests = ["t.py::test_a", "t.py::test_a", "t.py::test_b", "t.py::test_a", None, "t.py::test_b"]
    records = [_rich(span_id=i + 1).replace(test=test) for i, test in enumerate(tests)]
    lines = [record_line(r) for r in records]
    path.write_text("".join(lines), encoding="utf-8")
    store, caught = _load(path)
    loaded = list(store)
    assert loaded == [record_from_dict(json.loads(line)) for line in lines] and not caught
    assert [r.test for r in loaded] == tests
    assert loaded[0].test is loaded[1].test is loaded[3].test
    assert loaded[2].test is loaded[5].test


@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_lines_of_tracers_taking_turns_decode_as_the_general_path(as_bytes):
    one = {"resource": {"service.name": "shop"}, "scope": Scope("shop.web", "1.2")}
    two = {"resource": {"service.name": "cart"}, "scope": Scope("cart", None)}
    lines = [record_line(_rich(span_id=i + 1, **kind)) for i, kind in enumerate([one, one, two, one, two, two])]
    # The same tail without its newline, then a line whose head holds another tail's text.
    lines += [lines[0].rstrip("\n"), lines[2].replace('"name"', '"x":' + json.dumps(lines[0][-60:]) + ',"name"', 1)]
    decoder = LineDecoder(Shared())
    for line in lines:
        raw = line.encode("utf-8") if as_bytes else line
        fast, general = decoder.decode(raw), record_from_dict(json.loads(raw))
        assert fast == general
        assert (fast.resource, fast.scope, fast.test) == (general.resource, general.scope, general.test)


def _otlp_outcome(decode, line):
    errors = []
    try:
        records = decode(line, errors.append)
    except ValueError as exc:
        return ("ValueError", str(exc))
    return [(r, r.resource, r.scope, r.test) for r in records], [str(e) for e in errors]


@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_otlp_lines_of_tracers_taking_turns_decode_as_the_general_path(as_bytes):
    from pytest_tracestore.otlp import OtlpLineDecoder, records_from_traces_data

    one = {"resource": {"service.name": "shop"}, "scope": Scope("shop.web", "1.2")}
    two = {"resource": {"service.name": "cart"}, "scope": Scope("cart", None)}
    kinds = [one, one, two, one, two, two]
    records = [_rich(span_id=i + 1, **kind).replace(test=f"t.py::test_{i // 2}") for i, kind in enumerate(kinds)]
    lines = [record_to_otlp_line(r) for r in records]
    key = '{"key":"http.method","value":{"stringValue":"GET"}}'
    # The same key set again, then with a key twice and with the test key not last.
    lines += [lines[0], lines[0].replace(key, key + "," + key, 1)]
    lines.append(lines[2].replace(key, '{"key":"test.case.name","value":{"stringValue":"x"}},' + key, 1))
    lines.append(lines[3].replace('"stringValue":"GET"', '"stringValue":null', 1))
    decoder = OtlpLineDecoder(Shared())

    def general(line, on_error):
        return records_from_traces_data(json.loads(line), on_error=on_error)

    for line in lines:
        raw = line.encode("utf-8") if as_bytes else line
        assert _otlp_outcome(decoder.decode, raw) == _otlp_outcome(general, raw)


# -- over-long lines ------------------------------------------------------


def test_a_line_over_max_line_bytes_is_skipped_naming_it(tmp_path):
    path = tmp_path / "spans.jsonl"
    good = [make_record(), make_record()]
    long = make_record(attributes={"blob": "x" * 5000})
    path.write_text(record_line(good[0]) + record_line(long) + record_line(good[1]), encoding="utf-8")
    store, caught = _load(path, max_line_bytes=4096)
    assert list(store) == good
    assert len(caught) == 1 and f"{path}:2: skipped an over-long line" in caught[0]
    assert "max_line_bytes=4096" in caught[0]
    assert len(TraceStore.load(path)) == 3


def test_parse_records_applies_the_limit_to_given_lines():
    good = make_record()
    lines = [record_line(make_record(name="n" * 2000)), record_line(good)]
    with pytest.warns(TraceStoreWarning, match=r"here:1: skipped an over-long line"):
        assert list(parse_records(lines, "here", max_line_bytes=1000)) == [good]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "16"])
def test_max_line_bytes_is_validated(tmp_path, bad):
    path = tmp_path / "spans.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid max_line_bytes"):
        TraceStore.load(path, max_line_bytes=bad)


def test_one_huge_line_is_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "spans.jsonl"
    first, last = make_record(), make_record()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(record_line(first))
        handle.write('{"trace_id":"' )
        chunk = "a" * MIB
        for _ in range(64):
            handle.write(chunk)
        handle.write('"}\n')
        handle.write(record_line(last))
    tracemalloc.start()
    try:
        store, caught = _load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(store) == [first, last]
    assert len(caught) == 1 and ":2: skipped an over-long line" in caught[0]
    # The limit (16 MiB) and a chunk, not the 64 MiB line.
    assert peak < 24 * MIB


class _Zeros(io.RawIOBase):
    """A stream of zero bytes, ``total`` long: as ``/dev/zero`` until then."""

    def __init__(self, total: int) -> None:
        self.left = total

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_stream_of_zero_bytes_is_read_in_bounded_memory():
    tracemalloc.start()
    try:
        with pytest.warns(TraceStoreWarning, match="zeros:1: skipped an over-long line"):
            records = list(
                parse_records(io.BufferedReader(_Zeros(96 * MIB)), "zeros", max_line_bytes=MIB)
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert records == []
    assert peak < 8 * MIB


# -- values of the wrong type and impossible times ------------------------


def _otlp_with(spans):
    record = _rich()
    data = json.loads(record_to_otlp_line(record))
    good = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    data["resourceSpans"][0]["scopeSpans"][0]["spans"] = [
        good if s is None else dict(good, **s) for s in spans
    ]
    return record, dumps_line(data)


@pytest.mark.parametrize(
    "bad",
    [
        {"events": [None]},
        {"events": {"name": "e"}},
        {"traceId": None},
        {"traceId": 5},
        {"name": 5},
        {"attributes": {"key": "k"}},
        {"attributes": [{"key": "k", "value": {"stringValue": 5}}]},
        {"attributes": [{"key": "k", "value": {"arrayValue": []}}]},
        {"attributes": [None]},
        {"links": [None]},
        {"startTimeUnixNano": "soon"},
        {"status": []},
        {"kind": "browser"},
    ],
    ids=str,
)
def test_an_otlp_span_of_wrong_types_is_skipped_and_the_rest_kept(tmp_path, bad):
    record, line = _otlp_with([None, bad, None])
    path = tmp_path / "spans.otlp.jsonl"
    path.write_text(record_to_otlp_line(record) + "\n" + line + "\n", encoding="utf-8")
    store, caught = _load(path)
    assert list(store) == [record] * 3
    assert len(caught) == 1 and f"{path}:2: skipped a corrupt span" in caught[0]


def test_out_of_range_timestamps_are_kept_as_integers(tmp_path):
    huge = 10**30
    jsonl = tmp_path / "spans.jsonl"
    jsonl.write_text(record_line(make_record(start_time=0, end_time=huge)), encoding="utf-8")
    otlp = tmp_path / "spans.otlp.jsonl"
    otlp.write_text(
        record_to_otlp_line(make_record(start_time=huge, end_time=huge * 10**300)) + "\n",
        encoding="utf-8",
    )
    (a,), caught_a = _load(jsonl)
    (b,), caught_b = _load(otlp)
    assert not caught_a and not caught_b
    assert a.end_time == huge and a.duration == huge / 1e9
    assert b.start_time == huge and b.duration == float("inf")
    assert f"{huge * 10**300 - huge}ns" in repr(b)


def test_a_line_of_several_otlp_spans_keeps_the_good_ones(tmp_path):
    records = [make_record(events=[SpanEvent("e", 1)], links=[SpanLink(3, 4)]) for _ in range(3)]
    data = records_to_traces_data(records)
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["events"] = [None]
    path = tmp_path / "spans.otlp.jsonl"
    path.write_text(dumps_line(data) + "\n", encoding="utf-8")
    store, caught = _load(path)
    assert list(store) == [records[0], records[2]]
    assert len(caught) == 1


@pytest.mark.parametrize("chunk", [3, 4, 1024], ids=lambda c: f"chunk={c}")
@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "text"])
def test_lines_at_and_over_the_limit(monkeypatch, chunk, as_text):
    from pytest_tracestore import parse

    monkeypatch.setattr(parse, "_SKIP_CHUNK", chunk)
    data = "12345678\n123456789\n\n1234567890123\nabc\n123456789"
    handle = io.StringIO(data) if as_text else io.BytesIO(data.encode())
    got = [
        type(x).__name__ if isinstance(x, parse.LineTooLong) else (x if as_text else x.decode())
        for x in parse.bounded_lines(handle, max_line_bytes=8)
    ]
    assert got == ["12345678\n", "LineTooLong", "\n", "LineTooLong", "abc\n", "LineTooLong"]


def test_load_restores_the_garbage_collector_as_it_was(tmp_path):
    import gc

    path = tmp_path / "spans.jsonl"
    path.write_text(record_line(make_record()), encoding="utf-8")
    assert gc.isenabled()
    assert len(TraceStore.load(path)) == 1
    assert gc.isenabled()
    with pytest.raises(FileNotFoundError):
        TraceStore.load(tmp_path / "missing.jsonl")
    assert gc.isenabled()
    gc.disable()
    try:
        TraceStore.load(path)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("file_format", ["jsonl", "otlp"])
def test_repeated_string_values_are_shared_once_learnt(tmp_path, file_format):
    records = [_rich(attributes={"m": "GET", "tags": ["alpha", f"t{i}"]}) for i in range(40)]
    encode = record_line if file_format == "jsonl" else (lambda r: record_to_otlp_line(r) + "\n")
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(map(encode, records)), encoding="utf-8")
    store, caught = _load(path)
    assert list(store) == records and not caught
    late = [r.attributes for r in list(store)[-10:]]
    assert all(a["m"] is late[0]["m"] for a in late)
    assert all(a["tags"][0] is late[0]["tags"][0] for a in late)
