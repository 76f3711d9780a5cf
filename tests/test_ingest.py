"""Reading an export request a batch at a time gives what decoding it whole gives."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tracestore.ingest import json_batches
from pytest_tracestore.otlp import records_from_traces_data

hex_ids = st.integers(1, 2**64 - 1).map(lambda n: format(n, "016x"))
values = st.one_of(
    st.fixed_dictionaries({"stringValue": st.text(max_size=5)}),
    st.fixed_dictionaries({"intValue": st.integers(-(2**63), 2**63 - 1).map(str)}),
    st.fixed_dictionaries({"boolValue": st.booleans()}),
)
attributes = st.lists(
    st.fixed_dictionaries({"key": st.text(min_size=1, max_size=4), "value": values}), max_size=3
)
spans = st.fixed_dictionaries(
    {
        "traceId": hex_ids.map(lambda h: h * 2),
        "spanId": hex_ids,
        "name": st.text(max_size=8),
        "startTimeUnixNano": st.integers(0, 2**63).map(str),
        "endTimeUnixNano": st.integers(0, 2**63).map(str),
        "attributes": attributes,
    }
)


def shuffled(mapping):
    """The same object with its keys in any order (JSON objects are unordered)."""
    return st.permutations(list(mapping.items())).map(dict)


scope_levels = st.fixed_dictionaries(
    {"scope": st.fixed_dictionaries({"name": st.text(max_size=4)}), "spans": st.lists(spans, max_size=5)},
    optional={"schemaUrl": st.text(min_size=1, max_size=6)},
).flatmap(shuffled)
resource_levels = st.fixed_dictionaries(
    {"resource": st.fixed_dictionaries({"attributes": attributes}), "scopeSpans": st.lists(scope_levels, max_size=3)}
).flatmap(shuffled)
requests = st.fixed_dictionaries({"resourceSpans": st.lists(resource_levels, max_size=3)})
layouts = st.sampled_from([{}, {"indent": 1}, {"separators": (",", ":")}, {"ensure_ascii": False}])


def batched(text, size):
    out = []
    for data, count in json_batches(text, batch=size):
        records = records_from_traces_data(data)
        assert len(records) == count <= size
        out.extend(records)
    return out


@settings(max_examples=60, deadline=None)
@given(requests, layouts, st.integers(1, 4))
def test_batches_hold_the_spans_of_the_whole_request(request, layout, size):
    text = json.dumps(request, **layout)
    assert batched(text, size) == records_from_traces_data(json.loads(text))


@settings(max_examples=120, deadline=None)
@given(requests, st.data())
def test_a_damaged_request_is_a_value_error_or_decodes(request, data):
    text = json.dumps(request)
    cut = data.draw(st.integers(0, len(text)))
    damaged = text[:cut] + data.draw(st.sampled_from(["", "}", "]", ",", '"', "[", "{", "x", " "])) + text[cut + 1 :]
    try:
        for _ in json_batches(damaged):
            pass
    except ValueError:
        return
    json.loads(damaged)  # what the reader took must be JSON


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "malformed JSON body"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [1}]}]}', "malformed JSON body"),
        ('{"resourceSpans": [5]}', "resourceSpans[] must be an object"),
        ('{"resourceSpans": [{"scopeSpans": [5]}]}', "scopeSpans[] must be an object"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}', "spans must be an array"),
        ('{"resourceSpans": [], }', "expected '\"'"),
    ],
)
def test_malformed_requests_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("{", r"\{")):
        list(json_batches(text))
