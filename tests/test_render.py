"""Trace trees as text and the assertion helpers on TraceStore (hand-built records)."""

from __future__ import annotations

import re

import pytest
from conftest import exception_event, make_record

from pytest_tracestore import TraceStore
from pytest_tracestore.render import render_spans

MS = 1_000_000


def checkout_trace(trace_id=0xABC, declined=True):
    """POST /checkout > (inventory.reserve, payments.charge), charge declined."""
    root = make_record(
        trace_id=trace_id, span_id=1, name="POST /checkout", kind="SERVER",
        start_time=0, end_time=12 * MS, attributes={"user.id": "bob", "cart.items": 3},
    )
    reserve = make_record(
        trace_id=trace_id, span_id=2, parent_span_id=1, name="inventory.reserve",
        start_time=1 * MS, end_time=2 * MS, status="OK",
    )
    charge = make_record(
        trace_id=trace_id, span_id=3, parent_span_id=1, name="payments.charge", kind="CLIENT",
        start_time=3 * MS, end_time=7 * MS,
        status="ERROR" if declined else "OK",
        events=[exception_event("shop.Declined", "card ending 0002 declined")] if declined else [],
        attributes={"payment.card_suffix": "0002"},
    )
    return [root, reserve, charge]


def store_of(records):
    store = TraceStore()
    store.extend(records)
    return store


def test_render_trace_draws_the_tree_with_durations_status_and_errors():
    store = store_of(checkout_trace())
    assert store.render_trace(0xABC).splitlines() == [
        "POST /checkout [SERVER] 12.0ms UNSET {user.id=bob, cart.items=3}",
        "├── inventory.reserve 1.0ms OK",
        "└── payments.charge [CLIENT] 4.0ms ERROR ✗ shop.Declined: card ending 0002 declined"
        " {payment.card_suffix=0002}",
    ]


def test_render_trace_without_durations_is_a_stable_shape_for_snapshots():
    first = store_of(checkout_trace()).render_trace(0xABC, durations=False, attributes=False)
    later = [
        make_record(**{**_fields(r), "start_time": r.start_time + 5 * MS, "end_time": r.end_time + 9 * MS})
        for r in checkout_trace(declined=True)
    ]
    assert store_of(later).render_trace(0xABC, durations=False, attributes=False) == first
    assert "ms" not in first and "{" not in first


def _fields(record):
    return {
        "trace_id": record.trace_id, "span_id": record.span_id,
        "parent_span_id": record.parent_span_id, "name": record.name, "kind": record.kind,
        "status": record.status, "events": record.events, "attributes": record.attributes,
    }


def test_render_trace_rejects_an_unknown_trace():
    with pytest.raises(ValueError, match="unknown trace id 'abc'"):
        TraceStore().render_trace("abc")


def test_nested_children_and_a_missing_parent():
    records = [
        make_record(trace_id=7, span_id=1, name="root", start_time=0, end_time=10),
        make_record(trace_id=7, span_id=2, parent_span_id=1, name="a", start_time=1, end_time=5),
        make_record(trace_id=7, span_id=3, parent_span_id=2, name="a1", start_time=2, end_time=3),
        make_record(trace_id=7, span_id=4, parent_span_id=1, name="b", start_time=6, end_time=7),
        make_record(trace_id=7, span_id=5, parent_span_id=99, name="orphan", start_time=8, end_time=9),
    ]
    text = store_of(records).render_trace(7, durations=False, attributes=False)
    assert text.splitlines() == [
        "root UNSET",
        "├── a UNSET",
        "│   └── a1 UNSET",
        "└── b UNSET",
        "… orphan UNSET",
    ]


def test_attributes_are_compact_and_long_values_cut():
    record = make_record(
        name="x",
        attributes={
            "text": "a b", "list": ["p", "q"], "flag": True, "long": "z" * 100,
            "k5": 5, "k6": 6, "k7": 7, "k8": 8,
        },
    )
    (line,) = render_spans([record], durations=False).splitlines()[1:]
    assert "{text='a b', list=[p, q], flag=True, long=" + "z" * 39 + "…" in line
    assert line.endswith(", k5=5, k6=6, +2 more}")


def test_long_output_is_cut_with_a_note_of_what_was_left_out():
    records = [make_record(trace_id=i + 1, span_id=1, name=f"s{i}") for i in range(30)]
    text = render_spans(records, max_lines=10)
    lines = text.splitlines()
    assert len(lines) == 10
    # 30 traces of one span: 60 lines, 9 kept; 51 left, covering 25 spans + 26 headers.
    assert lines[-1].startswith("… 51 more lines (26 spans) not shown")


def test_span_returns_the_single_match():
    store = store_of(checkout_trace())
    assert store.span(name="payments.charge").span_id == "0000000000000003"
    assert [s.name for s in store.spans(kind="CLIENT")] == ["payments.charge"]
    assert len(store.spans()) == 3


def test_span_with_no_match_lists_the_nearest_misses():
    store = store_of(checkout_trace())
    with pytest.raises(AssertionError) as info:
        store.span(name="payments.charge", attributes={"payment.card_suffix": "0001"})
    message = str(info.value)
    lines = message.splitlines()
    assert lines[0] == (
        "expected exactly one span matching name='payments.charge', "
        "attributes={'payment.card_suffix': '0001'}; found none among 3 spans."
    )
    assert lines[1] == "Nearest misses:"
    # The same name with another attribute value comes first, and says why.
    assert re.fullmatch(r"  <SpanRecord 'payments.charge' ERROR .*>: payment.card_suffix='0002'", lines[2])
    assert "name is 'POST /checkout'; no attribute 'payment.card_suffix'" in message


def test_span_with_several_matches_lists_them():
    store = store_of(checkout_trace(1) + checkout_trace(2))
    with pytest.raises(AssertionError) as info:
        store.span(name="payments.charge")
    lines = str(info.value).splitlines()
    assert lines[0] == "expected exactly one span matching name='payments.charge'; found 2:"
    assert all(line.startswith("  <SpanRecord 'payments.charge'") for line in lines[1:3])


def test_span_rejects_unknown_filters():
    with pytest.raises(ValueError, match="the filters are: trace_id, name"):
        TraceStore().span(colour="red")


def test_assert_no_failures_lists_error_spans_with_their_tree_context():
    store = store_of(checkout_trace(declined=False))
    store.assert_no_failures()
    store.extend(checkout_trace(trace_id=0xDEF))
    with pytest.raises(AssertionError) as info:
        store.assert_no_failures()
    assert str(info.value).splitlines() == [
        "1 ERROR span:",
        "  POST /checkout > payments.charge  (trace 00000000, span 00000000)",
        "      shop.Declined: card ending 0002 declined",
    ]


def test_record_lists_diff_readably():
    a, b, c = checkout_trace()
    assert repr(c).startswith("<SpanRecord 'payments.charge' ERROR shop.Declined 4.0ms trace=")
    assert len(repr(a)) < 80
