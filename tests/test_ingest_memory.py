"""A request's last batch is handed on after the reader has let the body go."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from pytest_tracestore.ingest import json_batches

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
