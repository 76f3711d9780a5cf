"""The fence around the SDK's private span fields: same record either way, a fallback for good."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from pytest_tracestore import serialize
from pytest_tracestore._sdk import FieldReader, private_fields, public_fields, sample_span
from pytest_tracestore.serialize import SpanConverter


def test_the_sample_span_uses_every_field_the_converter_reads():
    span = sample_span()
    assert type(span) is ReadableSpan
    assert span.context.trace_state.to_header() == "vendor=value"
    assert span.links and span.links[0].attributes == {"why": "retry"}
    assert span.events and span.events[0].attributes == {"k": "v"}
    assert span.status.description == "description"
    scope = span.instrumentation_scope
    assert scope.schema_url and scope.version == "1.0"
    assert span.resource.attributes["service.name"] == "check"
    assert span.parent is not None and span.attributes["t"] == ("a", "b")


def test_private_and_public_fields_give_the_same_record_and_line():
    span = sample_span()
    fast_converter, slow_converter = SpanConverter(check=False), SpanConverter(check=False)
    fast_converter._reader.fast = True
    fast = fast_converter.convert(span)
    slow = slow_converter.convert(span)
    assert private_fields(span) != public_fields(span)  # two paths really ran: copies differ
    assert fast == slow
    record, line = fast
    assert record.trace_state == "vendor=value" and '"trace_state":"vendor=value"' in line
    assert record.links[0].attributes == {"why": "retry"}
    assert record.events[0].attributes == {"k": "v"}
    assert record.status_description == "description"
    assert record.scope.schema_url == "https://opentelemetry.io/schemas/1.21.0"
    scope_attributes = getattr(span.instrumentation_scope, "attributes", None)
    if scope_attributes is not None:  # SDK 1.20's scopes have none
        assert dict(record.scope.attributes) == dict(scope_attributes)
    assert record.resource["service.name"] == "check"


def test_the_fast_path_is_on_once_the_start_up_check_passes():
    assert SpanConverter().fast is True


def test_a_check_that_disagrees_turns_the_fast_path_off_for_good(monkeypatch):
    reader = FieldReader()
    assert reader.check(lambda fast: False) is False
    span = sample_span()
    span._name = "a private field the public property hides"
    monkeypatch.setattr(ReadableSpan, "name", property(lambda self: "public"))
    assert reader.read(span)[4] == "public"


def test_a_check_that_raises_turns_the_fast_path_off(monkeypatch):
    def moved():
        raise AttributeError("_status")

    monkeypatch.setattr(serialize, "sample_span", moved)
    converter = SpanConverter()
    assert converter.fast is False
    record, _ = converter.convert(sample_span())
    assert record.name == "sample"


def test_a_read_that_raises_falls_back_to_the_public_path_for_good():
    reader = FieldReader()
    assert reader.check(lambda fast: True)
    span = sample_span()
    span._events = tuple(span._events)  # a field that changed shape in some later SDK
    fields = reader.read(span)
    assert reader.fast is False and fields[4] == "sample"
