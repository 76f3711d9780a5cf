"""A request's last batch is handed on after the reader has let the body go."""

from __future__ import annotations

import json
import tracemalloc
import weakref
from array import array

import pytest

from pytest_tracestore import ingest
from pytest_tracestore.ingest import json_batches, protobuf_batches

MIB = 1024 * 1024


def _request(spans):
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]}]})


def _span(number, value="v"):
    return {"traceId": "ab" * 16, "spanId": f"{number:016x}", "name": "op",
            "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [{"key": "k", "value": {"stringValue": value}}]}


def test_one_huge_span_arrives_without_the_body_beside_it():
    tracemalloc.start()
    try:
        batches = json_batches(_request([_span(1, "x" * (8 * MIB))]))
        data, count = next(batches)  # as the receiver takes it: the reader is still open
        held = tracemalloc.get_traced_memory()[0]
        assert next(batches, None) is None
    finally:
        tracemalloc.stop()
    value = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"]["stringValue"]
    assert count == 1 and len(value) == 8 * MIB
    # The span's value alone, not the 8 MiB body as well.
    assert held < 1.5 * 8 * MIB


def _protobuf_request(value):
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    data = json.loads(_request([_span(1, value)]))
    only = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    only["traceId"], only["spanId"] = "q" * 22 + "==", "q" * 11 + "="
    return ParseDict(data, ExportTraceServiceRequest()).SerializeToString()


def test_one_huge_protobuf_span_is_parsed_once_the_body_is_gone(monkeypatch):
    pytest.importorskip("opentelemetry.proto")
    # An array, not bytes: a weak reference can see it go.
    box = [array("B", _protobuf_request("x" * (8 * MIB)))]
    body = weakref.ref(box[0])
    parsed = ingest._Protobuf.spans
    seen = []

    def spans(proto, parts):
        seen.append((body() is None, sum(map(len, parts))))
        return parsed(proto, parts)

    monkeypatch.setattr(ingest._Protobuf, "spans", spans)
    batches = protobuf_batches(box.pop())
    data, count = next(batches)
    assert next(batches, None) is None
    value = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"]["stringValue"]
    assert count == 1 and len(value) == 8 * MIB
    # The span's bytes alone, copied out: the body beside them and the
    # parsed message would make three copies of the value at once.
    (gone, size), = seen
    assert gone and 8 * MIB < size < 8 * MIB + 1024


def test_batches_read_before_a_problem_are_handed_on_first():
    text = _request([_span(n) for n in range(1, 6)])
    broken = text[: -len("]}]}")] + "]}],}"  # trailing comma at the top: malformed after the spans
    got = []
    with pytest.raises(ValueError, match="malformed JSON body"):
        for _, count in json_batches(broken, batch=2):
            got.append(count)
    assert got == [2, 2, 1]


def test_every_batch_comes_in_order():
    text = _request([_span(n) for n in range(1, 8)])
    spans = [s["spanId"] for data, _ in json_batches(text, batch=3)
             for s in data["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    assert spans == [f"{n:016x}" for n in range(1, 8)]
