from __future__ import annotations

import base64
import json
import math

import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from pytest_tracestore import Scope, SpanEvent, SpanLink, SpanRecord
from pytest_tracestore.otlp import (
    OtlpLineEncoder,
    is_traces_data,
    record_to_otlp_line,
    records_from_otlp_line,
    records_from_traces_data,
    records_to_traces_data,
)
from pytest_tracestore.serialize import dumps_line

SHOP = {"service.name": "shop", "deployment.environment": "ci"}
SCOPE = Scope("shop.payments", "1.2", "https://opentelemetry.io/schemas/1.21.0", {"lib": "x"})


def rich_record(**overrides) -> SpanRecord:
    fields = dict(
        trace_id="5b8aa5a2d2c872e8321cf37308d69df2",
        span_id="051581bf3cb55c13",
        parent_span_id="9e1e1e2c5f5b6f3a",
        name="payments.charge ✓",
        kind="CLIENT",
        status="ERROR",
        status_description="Declined: card ending 0002",
        start_time=1764201600000000000,
        end_time=1764201600004000000,
        attributes={
            "payment.amount": 9.5,
            "retries": 3,
            "big": 2**62,
            "card.ok": False,
            "tags": ["a", "ü"],
            "codes": [1, 2],
            "nan": float("nan"),
        },
        events=[
            SpanEvent(
                "exception",
                1764201600003900000,
                {"exception.type": "shop.Declined", "exception.message": "declined"},
            )
        ],
        links=[SpanLink("0" * 31 + "1", "0" * 15 + "2", {"why": "retry"})],
        resource=SHOP,
        scope=SCOPE,
        trace_state="vendor=abc",
    )
    fields.update(overrides)
    return SpanRecord(**fields)


def test_encoding_follows_the_otlp_json_mapping():
    data = records_to_traces_data([rich_record()])
    (rs,) = data["resourceSpans"]
    assert {"key": "service.name", "value": {"stringValue": "shop"}} in rs["resource"]["attributes"]
    (ss,) = rs["scopeSpans"]
    assert ss["scope"] == {
        "name": "shop.payments",
        "version": "1.2",
        "attributes": [{"key": "lib", "value": {"stringValue": "x"}}],
    }
    assert ss["schemaUrl"] == "https://opentelemetry.io/schemas/1.21.0"
    (span,) = ss["spans"]
    assert span["traceId"] == "5b8aa5a2d2c872e8321cf37308d69df2"
    assert span["spanId"] == "051581bf3cb55c13"
    assert span["parentSpanId"] == "9e1e1e2c5f5b6f3a"
    assert span["kind"] == 3  # SPAN_KIND_CLIENT
    assert span["status"] == {"message": "Declined: card ending 0002", "code": 2}
    assert span["startTimeUnixNano"] == "1764201600000000000"
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["retries"] == {"intValue": "3"}
    assert attrs["big"] == {"intValue": str(2**62)}
    assert attrs["card.ok"] == {"boolValue": False}
    assert attrs["payment.amount"] == {"doubleValue": 9.5}
    assert attrs["nan"] == {"doubleValue": "NaN"}
    assert attrs["tags"] == {
        "arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "ü"}]}
    }
    assert span["events"][0]["timeUnixNano"] == "1764201600003900000"
    assert span["links"][0]["traceId"] == "0" * 31 + "1"


def test_spans_are_grouped_per_resource_then_scope():
    other_scope = Scope("shop.db")
    records = [
        rich_record(span_id=1),
        rich_record(span_id=2, resource={"service.name": "db"}),
        rich_record(span_id=3, scope=other_scope),
        rich_record(span_id=4),
        rich_record(span_id=5, scope=None),
    ]
    data = records_to_traces_data(records)
    layout = [
        (
            [a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name"],
            [(ss.get("scope", {}).get("name"), [s["spanId"][-1] for s in ss["spans"]]) for ss in rs["scopeSpans"]],
        )
        for rs in data["resourceSpans"]
    ]
    assert layout == [
        (["shop"], [("shop.payments", ["1", "4"]), ("shop.db", ["3"]), (None, ["5"])]),
        (["db"], [("shop.payments", ["2"])]),
    ]
    back = records_from_traces_data(json.loads(json.dumps(data)))
    assert sorted(back, key=lambda r: r.span_id) == records


def test_round_trip_keeps_everything_and_shares_resources():
    records = [rich_record(span_id=i) for i in range(1, 4)] + [
        rich_record(span_id=9, parent_span_id=None, status="UNSET", status_description=None,
                    events=[], links=[], scope=None, trace_state="", attributes={}, resource={})
    ]
    back = records_from_traces_data(json.loads(json.dumps(records_to_traces_data(records))))
    assert back == records
    assert back[0].resource is back[1].resource
    assert back[0].scope is back[1].scope
    assert math.isnan(back[0].attributes["nan"])


def _hex_ids_to_base64(node):
    """Turn the OTLP/JSON mapping into protobuf's JSON, which wants base64 bytes."""
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId") else _hex_ids_to_base64(v)
            for k, v in node.items()
        }
    return node


def test_protobuf_decoder_reads_our_encoding():
    record = rich_record()
    message = ParseDict(
        _hex_ids_to_base64(json.loads(json.dumps(records_to_traces_data([record])))), TracesData()
    )
    span = message.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == record.trace_id
    assert span.span_id.hex() == record.span_id
    assert span.parent_span_id.hex() == record.parent_span_id
    assert span.kind == PbSpan.SPAN_KIND_CLIENT
    assert span.status.code == PbStatus.STATUS_CODE_ERROR
    assert span.status.message == record.status_description
    assert span.start_time_unix_nano == record.start_time
    assert span.trace_state == "vendor=abc"
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["big"].int_value == 2**62
    assert attrs["card.ok"].HasField("bool_value") and not attrs["card.ok"].bool_value
    assert [v.string_value for v in attrs["tags"].array_value.values] == ["a", "ü"]
    assert math.isnan(attrs["nan"].double_value)
    assert span.events[0].attributes[0].value.string_value == "shop.Declined"
    assert span.links[0].span_id.hex() == "0" * 15 + "2"
    scope_spans = message.resource_spans[0].scope_spans[0]
    assert scope_spans.scope.name == "shop.payments"
    assert scope_spans.schema_url == SCOPE.schema_url


def test_protobuf_canonical_json_decodes_to_the_same_records():
    records = [rich_record(span_id=1), rich_record(span_id=2, kind="SERVER", status="OK",
                                                   status_description=None, parent_span_id=None)]
    request = ParseDict(
        _hex_ids_to_base64(json.loads(json.dumps(records_to_traces_data(records)))),
        ExportTraceServiceRequest(),
    )
    canonical = MessageToDict(request)
    span = canonical["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    assert span["kind"] == "SPAN_KIND_SERVER" and "parentSpanId" not in span  # base64, names
    assert records_from_traces_data(canonical) == records
    snake = MessageToDict(request, preserving_proto_field_name=True)
    assert records_from_traces_data(snake) == records


def test_otlp_line_holds_one_span_and_reads_back():
    record = rich_record()
    line = record_to_otlp_line(record)
    assert "\n" not in line
    data = json.loads(line)
    assert is_traces_data(data) and not is_traces_data({"trace_id": "x"})
    assert len(data["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 1
    assert records_from_otlp_line(line) == [record]
    assert records_from_otlp_line(line.encode()) == [record]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"spans": []}, "expected an OTLP TracesData"),
        ({"resourceSpans": {}}, "resourceSpans must be an array"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "0102030405060708"}]}]}]},
         "missing or all-zero traceId"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "zz" * 16, "spanId": "0102030405060708"}]}]}]}, "invalid traceId"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "01" * 16, "spanId": "0102030405060708", "kind": 9}]}]}]}, "invalid span kind 9"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "01" * 16, "spanId": "0102030405060708", "startTimeUnixNano": "soon"}]}]}]},
         "field 'startTimeUnixNano' must be an integer, got 'soon'"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "01" * 16, "spanId": "0102030405060708",
             "attributes": [{"key": "k", "value": {"mapValue": 1}}]}]}]}]}, "unknown value type 'mapValue'"),
    ],
)
def test_bad_payloads_raise_value_error_naming_the_problem(data, message):
    with pytest.raises(ValueError, match=message):
        records_from_traces_data(data)


def test_bad_line_is_a_value_error():
    with pytest.raises(ValueError, match="not valid JSON"):
        records_from_otlp_line('{"resourceSpans": [')


# -- property: ours -> OTLP JSON text -> ours is lossless -------------------

_text = st.text(max_size=12)
_scalar = st.one_of(
    _text,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=4), st.lists(st.lists(_scalar, max_size=2), max_size=2))
_attrs = st.dictionaries(_text, _value, max_size=5)
_trace_id = st.integers(min_value=1, max_value=2**128 - 1)
_span_id = st.integers(min_value=1, max_value=2**64 - 1)
_time = st.integers(min_value=0, max_value=2**63 - 2**40)


@st.composite
def _records(draw):
    resources = draw(st.lists(_attrs, min_size=1, max_size=2))
    scopes = draw(st.lists(
        st.one_of(st.none(), st.builds(Scope, _text, st.one_of(st.none(), _text),
                                       st.one_of(st.none(), _text), _attrs)),
        min_size=1, max_size=2,
    ))
    out = []
    for _ in range(draw(st.integers(1, 4))):
        start = draw(_time)
        out.append(SpanRecord(
            trace_id=draw(_trace_id),
            span_id=draw(_span_id),
            parent_span_id=draw(st.one_of(st.none(), _span_id)),
            name=draw(_text),
            kind=draw(st.sampled_from(["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"])),
            status=draw(st.sampled_from(["UNSET", "OK", "ERROR"])),
            status_description=draw(st.one_of(st.none(), _text)),
            start_time=start,
            end_time=start + draw(st.integers(0, 2**40)),
            attributes=draw(_attrs),
            events=draw(st.lists(st.builds(SpanEvent, _text, _time, _attrs), max_size=2)),
            links=draw(st.lists(st.builds(SpanLink, _trace_id, _span_id, _attrs), max_size=2)),
            resource=draw(st.sampled_from(resources)),
            scope=draw(st.sampled_from(scopes)),
            trace_state=draw(st.sampled_from(["", "a=1", "vendor=x,other=y"])),
        ))
    return out


@settings(max_examples=150, deadline=None)
@given(_records())
def test_round_trip_through_otlp_json_is_lossless(records):
    text = json.dumps(records_to_traces_data(records), ensure_ascii=False)
    back = records_from_traces_data(json.loads(text))
    key = records.index
    # Grouping may reorder spans across groups; each span comes back equal.
    assert sorted(back, key=key) == records
    encoder = OtlpLineEncoder()  # reused, as the processor does
    for record in records:
        line = encoder.encode(record)
        assert line == dumps_line(records_to_traces_data([record]))
        assert records_from_otlp_line(line) == [record]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_span_fields = st.fixed_dictionaries(
    {},
    optional={
        "traceId": st.one_of(_json, st.just("01" * 16), st.just("AQEBAQEBAQEBAQEBAQEBAQ==")),
        "spanId": st.one_of(_json, st.just("02" * 8)),
        "parentSpanId": _json,
        "name": _json,
        "kind": st.one_of(_json, st.just("SPAN_KIND_SERVER")),
        "startTimeUnixNano": _json,
        "endTimeUnixNano": _json,
        "attributes": st.one_of(_json, st.lists(st.fixed_dictionaries({"key": _json, "value": _json}))),
        "events": _json,
        "links": _json,
        "status": _json,
    },
)


@settings(max_examples=200, deadline=None)
@given(span=_span_fields, resource=_json, scope=_json)
# Once a TypeError: an unhashable scope version made the scope's cache key.
@example(span={}, resource=None, scope={"version": [None]})
def test_any_malformed_payload_raises_only_value_error(span, resource, scope):
    data = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": scope, "spans": [span]}]}]}
    try:
        records = records_from_traces_data(data)
    except ValueError as exc:
        assert str(exc)  # names the problem
    else:
        assert len(records) == 1


def test_deeply_nested_values_are_a_value_error():
    value = {"stringValue": "x"}
    for _ in range(5000):
        value = {"arrayValue": {"values": [value]}}
    span = {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": [{"key": "k", "value": value}]}
    with pytest.raises(ValueError, match="nested too deeply"):
        records_from_traces_data({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def test_a_span_that_ends_before_it_starts_reads_back_as_in_our_format():
    # The SDK lets span.end(end_time=...) go before the start; no reader may drop it.
    data = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "01" * 16, "spanId": "0102030405060708", "name": "backwards",
        "startTimeUnixNano": "2000", "endTimeUnixNano": "1000"}]}]}]}
    (record,) = records_from_traces_data(data)
    assert (record.start_time, record.end_time) == (2000, 1000)
    assert records_from_otlp_line(record_to_otlp_line(record)) == [record]


def test_bytes_and_key_value_lists_decode_to_text():
    data = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "01" * 16, "spanId": "0102030405060708", "name": "x",
        "attributes": [
            {"key": "raw", "value": {"bytesValue": "AAE="}},
            {"key": "map", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "1"}}]}}},
        ]}]}]}]}
    (record,) = records_from_traces_data(data)
    assert record.attributes == {"raw": "AAE=", "map": '{"a":1}'}
