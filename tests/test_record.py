from __future__ import annotations

import json
import pickle

import pytest
from conftest import exception_event, make_record

from pytest_tracestore import FrozenAttributes, SpanRecord
from pytest_tracestore import record as record_module
from pytest_tracestore.parse import record_from_dict
from pytest_tracestore.serialize import dumps_line, record_to_dict


def test_ids_are_normalized_to_lowercase_hex():
    record = make_record(trace_id=0xABC, span_id="0X00FF", parent_span_id="1f")
    assert record.trace_id == "0" * 29 + "abc"
    assert record.span_id == "00000000000000ff"
    assert record.parent_span_id == "000000000000001f"


@pytest.mark.parametrize(
    "bad", ["", "xyz", "0" * 32, "1" * 33, -1, 0, 1 << 128, True, 1.5, None]
)
def test_malformed_trace_id_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="invalid trace id") as info:
        make_record(trace_id=bad)
    assert repr(bad) in str(info.value)


def test_status_and_kind_are_validated():
    with pytest.raises(ValueError, match="invalid status 'FAILED'"):
        make_record(status="FAILED")
    with pytest.raises(ValueError, match="invalid span kind 'browser'"):
        make_record(kind="browser")
    assert make_record(status="error", kind="server").status == "ERROR"


def test_record_is_immutable():
    record = make_record()
    with pytest.raises(AttributeError):
        record.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.attributes["x"] = 1  # type: ignore[index]


def test_trusted_makers_build_immutable_objects_equal_to_checked_ones():
    # The processor's and the file reader's unchecked constructors must give
    # the same objects the checked constructors do, just as immutable.
    attrs = record_module.make_attributes(("http.route",), ("/cart",))
    event = record_module.make_event("exception", 5, attrs)
    link = record_module.make_link("ab" * 16, "cd" * 8, attrs)
    made = record_module.make_record(
        "ab" * 16, "cd" * 8, None, "op", "SERVER", "ERROR", "boom", 1, 3, attrs,
        (event,), (link,), record_module.EMPTY_ATTRIBUTES, None, "", 0,
    )
    checked = SpanRecord(
        trace_id="ab" * 16, span_id="cd" * 8, name="op", kind="SERVER", status="ERROR",
        status_description="boom", start_time=1, end_time=3, attributes={"http.route": "/cart"},
        events=[record_module.SpanEvent("exception", 5, {"http.route": "/cart"})],
        links=[record_module.SpanLink("ab" * 16, "cd" * 8, {"http.route": "/cart"})],
    )
    assert type(made) is SpanRecord and made == checked and hash(made) == hash(checked)
    assert type(attrs) is FrozenAttributes and attrs == {"http.route": "/cart"}
    for obj in (event, link, made):
        with pytest.raises(AttributeError):
            obj.name = "other"  # type: ignore[misc, union-attr]


def test_attributes_are_made_on_access_and_a_kept_record_holds_no_mapping_object():
    # A run keeps up to max_spans records: each is one object for the garbage
    # collector to track, its attributes kept as plain tuples, not another.
    import gc

    from opentelemetry.sdk.trace import TracerProvider

    from pytest_tracestore.serialize import SpanConverter

    with TracerProvider().get_tracer("t").start_as_current_span("op", attributes={"a": 1, "b": "x"}) as span:
        pass
    record, _ = SpanConverter().convert(span._readable_span())
    for built in (record, make_record(attributes={"a": 1, "b": "x"})):
        assert built.attributes == {"a": 1, "b": "x"}
        assert built.attributes == built.attributes and type(built.attributes) is FrozenAttributes
        # The resource is a mapping, but one that every record of a process shares.
        held = [x for x in gc.get_referents(built) if isinstance(x, FrozenAttributes)]
        assert held == [built.resource] and built.resource is built.resource
    assert make_record(attributes={}).attributes is record_module.EMPTY_ATTRIBUTES
    assert make_record(attributes={"error.type": "Boom"}).error_type == "Boom"


def test_pickle_round_trip_keeps_events_links_and_scope():
    record = SpanRecord(
        trace_id="ab" * 16, span_id="cd" * 8, name="op",
        events=[record_module.SpanEvent("exception", 5, {"exception.type": "KeyError"})],
        links=[record_module.SpanLink("ab" * 16, "ef" * 8, {"why": "retry"})],
        scope=record_module.Scope("shop", "1.2", attributes={"team": "cart"}),
    )
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record and copy.scope == record.scope and copy.links == record.links


def test_records_compare_by_value_and_hash_alike():
    a = make_record(trace_id=5, span_id=6, attributes={"tags": ["a", "b"]})
    b = SpanRecord(
        trace_id="05",
        span_id=6,
        name=a.name,
        start_time=a.start_time,
        end_time=a.end_time,
        attributes={"tags": ("a", "b")},
    )
    assert a == b and hash(a) == hash(b)
    assert a != make_record(trace_id=5, span_id=6, name=a.name)


def test_attributes_keep_bool_apart_from_int_and_lists_equal_tuples():
    attrs = FrozenAttributes({"retry": True, "tags": ("x",)})
    assert attrs == {"retry": True, "tags": ["x"]}
    assert attrs != {"retry": 1, "tags": ["x"]}
    assert attrs["tags"] == ("x",)
    assert dict(attrs) == {"retry": True, "tags": ("x",)}


def test_error_type_prefers_attribute_then_exception_event():
    assert make_record().error_type is None
    assert make_record(events=[exception_event("shop.Declined")]).error_type == "shop.Declined"
    record = make_record(
        attributes={"error.type": "TimeoutError"}, events=[exception_event("shop.Declined")]
    )
    assert record.error_types() == ("TimeoutError", "shop.Declined")
    assert record.exception_message == "boom"


def test_duration_in_ns_and_seconds():
    record = make_record(start_time=1_000, end_time=1_501_000)
    assert record.duration_ns == 1_500_000
    assert record.duration == pytest.approx(0.0015)


def test_end_before_start_is_rejected():
    with pytest.raises(ValueError, match="before start_time"):
        make_record(start_time=10, end_time=5)


def test_json_round_trip_keeps_everything():
    from pytest_tracestore import Scope, SpanLink

    record = make_record(
        parent_span_id=7,
        kind="CLIENT",
        status="ERROR",
        status_description="déclinée \u2603",
        attributes={"s": "x", "i": 3, "f": 1.5, "b": False, "l": ["a", "b"]},
        events=[exception_event("ValueError")],
        links=[SpanLink(1, 2, {"why": "retry"})],
        resource={"service.name": "shop"},
        scope=Scope("shop.lib", "1.2"),
        trace_state="vendor=1",
    )
    line = dumps_line(record_to_dict(record))
    assert "\n" not in line
    assert record_from_dict(json.loads(line)) == record


def test_pickle_round_trip():
    record = make_record(attributes={"a": 1})
    assert pickle.loads(pickle.dumps(record)) == record


def test_repr_is_short_and_names_the_span():
    record = make_record(name="GET /cart", status="ERROR", attributes={"error.type": "Boom"})
    text = repr(record)
    assert "GET /cart" in text and "ERROR" in text and "Boom" in text
    assert len(text) < 100


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "missing field 'trace_id'"),
        ({"trace_id": "zz", "span_id": "1", "name": "a", "start_time_unix_nano": 1, "end_time_unix_nano": 1}, "invalid trace id"),
        ({"trace_id": "1", "span_id": "1", "name": 5, "start_time_unix_nano": 1, "end_time_unix_nano": 1}, "'name' must be a string"),
        ([1, 2], "expected a JSON object"),
        (
            {"trace_id": "1", "span_id": "1", "name": "a", "start_time_unix_nano": 1,
             "end_time_unix_nano": 1, "scope": {"name": "lib", "version": [None]}},
            "'scope.version' must be a string or null, got \\[None\\]",
        ),
        (
            {"trace_id": "1", "span_id": "1", "name": "a", "start_time_unix_nano": 1,
             "end_time_unix_nano": 1, "scope": {"name": "lib", "schema_url": {}}},
            "'scope.schema_url' must be a string or null",
        ),
    ],
)
def test_record_from_bad_dict_names_the_problem(data, message):
    with pytest.raises(ValueError, match=message):
        record_from_dict(data)


def test_a_numeric_scope_version_reads_back_as_text():
    data = {"trace_id": "1", "span_id": "1", "name": "a", "start_time_unix_nano": 1,
            "end_time_unix_nano": 1, "scope": {"name": "lib", "version": 2, "schema_url": None}}
    assert record_from_dict(data).scope.version == "2"


def test_attributes_to_dict_gives_json_shaped_values():
    attrs = FrozenAttributes({"tags": ("a", "b"), "n": 1})
    assert attrs.to_dict() == {"tags": ["a", "b"], "n": 1}
    assert type(attrs.to_dict()["tags"]) is list
