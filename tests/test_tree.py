"""assert_tree: expected shapes, exact and ordered matching, and the failure drawing."""

from __future__ import annotations

import re

import pytest
from conftest import make_record

from pytest_tracestore import Query, Trace, TraceStore, prefix

T = "ef" * 16


def checkout(extra=()):
    spans = [
        make_record(
            trace_id=T, span_id=1, name="POST /checkout", kind="SERVER", start_time=0, end_time=1000
        ),
        make_record(
            trace_id=T,
            span_id=2,
            parent_span_id=1,
            name="inventory.reserve",
            start_time=10,
            end_time=20,
        ),
        make_record(
            trace_id=T,
            span_id=3,
            parent_span_id=1,
            name="payments.charge",
            start_time=30,
            end_time=80,
            status="ERROR",
        ),
        make_record(trace_id=T, span_id=4, parent_span_id=3, name="db", start_time=40, end_time=50),
        make_record(trace_id=T, span_id=5, parent_span_id=3, name="db", start_time=60, end_time=70),
    ]
    store = TraceStore()
    store.extend(spans + list(extra))
    return store


SHAPE = ("POST /checkout", ["inventory.reserve", ("payments.charge", ["db", "db"])])


def test_matching_shapes_pass():
    store = checkout()
    store.assert_tree(SHAPE)
    store.assert_tree(SHAPE, exact=True)
    store.assert_tree(SHAPE, ordered=True)
    store.assert_tree(SHAPE, T, exact=True, ordered=True)
    store.trace().assert_tree(SHAPE)


def test_dict_form_and_mixed_nodes():
    store = checkout()
    store.assert_tree({"POST /checkout": ["inventory.reserve", {"payments.charge": ["db"]}]})
    store.assert_tree({"POST /checkout": [{"inventory.reserve": [], "payments.charge": ["db"]}]})
    store.assert_tree((re.compile("^POST"), [prefix("payments."), Query(name="inventory.reserve")]))
    store.assert_tree(("POST /checkout", [(Query(status="error"), ["db"])]))


def test_extra_spans_and_any_order_by_default():
    store = checkout()
    store.assert_tree(("POST /checkout", ["payments.charge", "inventory.reserve"]))
    store.assert_tree(("POST /checkout", []))
    store.assert_tree("POST /checkout")
    # Without exact=True the expected top may be any span: spans above it are extra.
    store.assert_tree(("payments.charge", ["db"]))


def test_repeated_names_need_as_many_spans():
    store = checkout()
    with pytest.raises(AssertionError) as info:
        store.assert_tree(("payments.charge", ["db", "db", "db"]))
    assert (
        "too few children of 'payments.charge' match: expected 'db', 'db', 'db'; found 'db', 'db'"
        in str(info.value)
    )


def test_children_are_assigned_without_regard_to_the_listed_order():
    # The first expected child must not greedily take the span the second one needs.
    store = TraceStore()
    store.extend(
        [
            make_record(trace_id=1, span_id=1, name="root", start_time=0, end_time=100),
            make_record(
                trace_id=1, span_id=2, parent_span_id=1, name="a", start_time=1, attributes={"x": 1}
            ),
            make_record(trace_id=1, span_id=3, parent_span_id=1, name="a", start_time=2),
        ]
    )
    store.assert_tree(("root", [prefix("a"), Query(name="a", attributes={"x": 1})]), exact=True)


def test_failure_draws_both_trees_and_marks_the_divergence():
    store = checkout()
    with pytest.raises(AssertionError) as info:
        store.assert_tree(("POST /checkout", ["inventory.reserve", ("payments.charge", ["cache"])]))
    text = str(info.value)
    assert text.splitlines()[0] == (
        f"trace {T} does not have the expected shape: "
        "no child of 'payments.charge' matches 'cache' (children: 'db', 'db')"
    )
    assert text.splitlines()[2:] == [
        "  expected              │   actual",
        "  POST /checkout        │   POST /checkout [SERVER]",
        "  ├── inventory.reserve │   ├── inventory.reserve",
        "  └── payments.charge   │ > └── payments.charge ERROR",
        ">     └── cache         │       ├── db",
        "                        │       └── db",
    ]


def test_missing_root():
    store = checkout()
    with pytest.raises(
        AssertionError,
        match="no span matches 'POST /orders' "
        r"\(spans: 'POST /checkout', 'inventory.reserve'",
    ):
        store.assert_tree("POST /orders")
    with pytest.raises(AssertionError, match="no span matches 'db.query'"):
        store.assert_tree("db.query", exact=True)


def test_exact_rejects_extra_children_and_extra_roots():
    store = checkout()
    with pytest.raises(AssertionError) as info:
        store.assert_tree(("POST /checkout", ["payments.charge"]), exact=True)
    assert (
        "(exact=True): 'POST /checkout' has 2 children, expected exactly 1: "
        "'inventory.reserve', 'payments.charge'"
    ) in str(info.value)
    assert "> POST /checkout" in str(info.value)
    with pytest.raises(
        AssertionError, match="'payments.charge' has children \\('db', 'db'\\), expected none"
    ):
        store.assert_tree(("POST /checkout", ["inventory.reserve", "payments.charge"]), exact=True)
    # exact=True: the expected top must be the trace's roots, all of them.
    with pytest.raises(AssertionError, match="no span matches 'payments.charge'"):
        store.assert_tree(("payments.charge", ["db", "db"]), exact=True)


def test_ordered_wants_start_order():
    store = checkout()
    with pytest.raises(AssertionError) as info:
        store.assert_tree(
            ("POST /checkout", ["payments.charge", "inventory.reserve"]), ordered=True
        )
    assert (
        "(ordered=True): the children of 'POST /checkout' are not in the expected order: "
        "expected 'payments.charge', 'inventory.reserve'; found, by start time, "
        "'inventory.reserve', 'payments.charge'"
    ) in str(info.value)


def test_divergence_deep_in_the_tree_is_found():
    store = checkout()
    with pytest.raises(AssertionError) as info:
        store.assert_tree(("POST /checkout", [("payments.charge", [("db", ["socket.read"])])]))
    assert "no child of 'db' matches 'socket.read' (no children)" in str(info.value)


def test_several_roots():
    orphan = make_record(
        trace_id=T,
        span_id=9,
        parent_span_id=8,
        name="late.callback",
        start_time=2000,
        end_time=2100,
    )
    store = checkout([orphan])
    store.assert_tree(["POST /checkout", "late.callback"], exact=False)
    store.assert_tree([SHAPE, "late.callback"], exact=True)
    with pytest.raises(AssertionError, match="the trace has 2 roots, expected exactly 1"):
        store.assert_tree(SHAPE, exact=True)


@pytest.mark.parametrize(
    "expected, message",
    [
        (5, "invalid tree node 5: expected a span name"),
        (("a", "b"), r"invalid tree node \('a', 'b'\): a tuple is \(node, \[children\]\)"),
        (("a", ["b", 3]), "invalid tree node 3"),
        ({"a": "b"}, "invalid children 'b' of tree node 'a': expected a list"),
        ({}, "an empty dict names no span"),
        ([], r"invalid expected tree \[\]"),
    ],
)
def test_bad_expected_trees(expected, message):
    with pytest.raises(ValueError, match=message):
        checkout().assert_tree(expected)


def test_bad_flags():
    with pytest.raises(ValueError, match="invalid exact 'yes'"):
        checkout().assert_tree("POST /checkout", exact="yes")


def test_assert_tree_needs_one_trace_or_an_id():
    store = checkout([make_record(trace_id=1, span_id=1, name="other")])
    with pytest.raises(ValueError, match="2 traces in this store"):
        store.assert_tree("POST /checkout")
    store.assert_tree("other", 1)


def test_trace_assert_tree_hides_its_frames(pytester):
    pytester.makepyfile(
        """
        from pytest_tracestore import SpanRecord, TraceStore

        def test_shape():
            store = TraceStore()
            store.add(SpanRecord(trace_id=1, span_id=1, name="root"))
            store.assert_tree(("root", ["child"]))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*store.assert_tree(("root", [[]"child"]))',
            "E   *AssertionError: trace * no child of 'root' matches 'child'*",
        ]
    )
    assert "def assert_tree" not in result.stdout.str()
    assert "match_tree" not in result.stdout.str()


def test_a_trace_built_by_hand():
    trace = Trace(checkout().spans())
    trace.assert_tree(SHAPE, exact=True)


SHOP_SUITE = """
import pytest
from opentelemetry import trace
from pytest_tracestore import Query, gte, prefix

tracer = trace.get_tracer("shop")


def checkout():
    with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER):
        with tracer.start_as_current_span("inventory.reserve"):
            pass
        with tracer.start_as_current_span(
            "payments.charge", kind=trace.SpanKind.CLIENT,
            attributes={"http.response.status_code": 502},
        ):
            with tracer.start_as_current_span("db.query"):
                pass


def test_navigation(trace_store):
    checkout()
    trace = trace_store.trace()
    charge = trace.span(name="payments.charge")
    assert trace.root.name == "POST /checkout"
    assert [s.name for s in trace.children(charge)] == ["db.query"]
    assert trace.parent(charge) == trace.root == trace_store.parent(charge)
    assert trace.depth(charge) == 1
    assert trace_store.span(name="inventory.reserve").before(charge)
    assert trace.root.contains(charge)


def test_relational_filters(trace_store):
    checkout()
    assert trace_store.span(parent="payments.charge").name == "db.query"
    assert trace_store.span(attributes={"http.response.status_code": gte(500)},
                            child="db.query").name == "payments.charge"
    assert [s.name for s in trace_store.spans(ancestor=Query(kind="SERVER"))] == [
        "inventory.reserve", "payments.charge", "db.query"]
    assert trace_store.span(name=prefix("POST"), root=True, descendant="db.query")


def test_shape(trace_store):
    checkout()
    trace_store.assert_tree(
        ("POST /checkout", ["inventory.reserve", ("payments.charge", ["db.query"])]),
        exact=True,
    )


def test_wrong_shape(trace_store):
    checkout()
    trace_store.assert_tree(("POST /checkout", [("payments.charge", ["payments.authorize"])]))
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_fixture_usage_black_box(pytester, xdist):
    pytester.makepyfile(test_shop=SHOP_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:randomly", *xdist)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "*no child of 'payments.charge' matches 'payments.authorize' (children: 'db.query')",
        "*  expected *│   actual",
        "*>     └── payments.authorize │ > └── payments.charge [[]CLIENT]",
    ])


def test_ordered_matching_of_many_like_children_takes_one_pass():
    # 40 children named "x" and an expected "x" x 20 then "y": a matcher that
    # backtracks tries every way of choosing 20 of 40 before it gives up.
    root = make_record(trace_id=T, span_id=1, name="root", start_time=0, end_time=10**6)
    kids = [
        make_record(trace_id=T, span_id=2 + i, parent_span_id=1, name="x", start_time=10 + i, end_time=11 + i)
        for i in range(40)
    ]
    trace = Trace([root, *kids])
    with pytest.raises(AssertionError):
        trace.assert_tree(("root", ["x"] * 20 + ["y"]), ordered=True)
    trace.assert_tree(("root", ["x"] * 40), ordered=True, exact=True)
