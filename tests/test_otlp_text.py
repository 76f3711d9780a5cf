"""The template OTLP encoder writes what the general one writes, for every kind of record."""

from __future__ import annotations

import json

from conftest import make_record
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_tracestore import SpanEvent, SpanLink
from pytest_tracestore.otlp import OtlpLineEncoder, records_to_traces_data
from pytest_tracestore.otlp_text import OtlpTextEncoder
from pytest_tracestore.record import KINDS, STATUSES, Scope
from pytest_tracestore.serialize import dumps_line

_text = st.text(st.characters(), max_size=8) | st.sampled_from(['a"b', "a\\b", "\n\t", "\x00", "\ud800", "é€𝄞", "{}", "}{"])
_scalar = (
    _text
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0, True, False])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.binary(max_size=4)
    | st.none()
)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=2), max_leaves=6)
_attributes = st.dictionaries(_text | st.just("test.case.name"), _value, max_size=5)
_scope = st.none() | st.builds(
    Scope, _text, st.none() | _text, st.none() | _text, st.dictionaries(_text, _scalar, max_size=2)
)


@st.composite
def _records(draw):
    resources = draw(st.lists(st.dictionaries(_text, _scalar, max_size=3), min_size=1, max_size=3))
    scopes = draw(st.lists(_scope, min_size=1, max_size=3))
    out = []
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, 2**63))
        out.append(make_record(
            name=draw(_text),
            kind=draw(st.sampled_from(KINDS)),
            status=draw(st.sampled_from(STATUSES)),
            status_description=draw(st.none() | _text),
            parent_span_id=draw(st.none() | st.integers(1, 2**64 - 1)),
            trace_state=draw(st.sampled_from(["", "a=1,b=2"])),
            start_time=start,
            end_time=start + draw(st.integers(0, 2**63)),
            attributes=draw(_attributes),
            events=[SpanEvent(draw(_text), draw(st.integers(0, 2**64 - 1)), draw(_attributes))
                    for _ in range(draw(st.integers(0, 2)))],
            links=[SpanLink(draw(st.integers(1, 2**128 - 1)), draw(st.integers(1, 2**64 - 1)), draw(_attributes))
                   for _ in range(draw(st.integers(0, 2)))],
            resource=draw(st.sampled_from(resources)),
            scope=draw(st.sampled_from(scopes)),
        ).replace(test=draw(st.none() | st.sampled_from(["t.py::test_a", "t.py::test_b[é\"x]"]))))
    return out


def _general(records):
    try:
        return dumps_line(records_to_traces_data(records))
    except ValueError as exc:
        return exc


def _template(records):
    try:
        return OtlpTextEncoder().traces_data(records)
    except ValueError as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(_records())
@example([make_record(attributes={"big": 2**63, "nan": float("nan"), "nested": [[1, "a"], []], "m": {"k": [1]}})])
def test_traces_data_text_is_the_general_encoders_text(records):
    general, template = _general(records), _template(records)
    if isinstance(general, ValueError):
        assert isinstance(template, ValueError) and str(template) == str(general)
        return
    assert template == general
    assert json.loads(template) == json.loads(general)


@settings(max_examples=200, deadline=None)
@given(_records())
def test_one_span_lines_are_the_line_encoders_lines(records):
    template, general = OtlpTextEncoder(), OtlpLineEncoder()
    for record in records * 2:  # the second time from the encoders' caches
        assert template.line(record) == general.encode(record)


def test_a_record_that_is_not_a_span_record_is_a_value_error():
    import pytest

    with pytest.raises(ValueError, match="expected a SpanRecord, got 5"):
        OtlpTextEncoder().traces_data([5])  # type: ignore[list-item]
