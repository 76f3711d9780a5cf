"""Navigation: the span-id index, Trace, and time relations between records."""

from __future__ import annotations

import pytest
from conftest import make_record

from pytest_tracestore import Trace, TraceStore

T = "ab" * 16
MS = 1_000_000
SHOP = {"service.name": "shop"}
PAY = {"service.name": "payments"}


def checkout():
    """A checkout trace: a request, two calls below it, a query below the second."""
    root = make_record(
        trace_id=T,
        span_id=1,
        name="POST /checkout",
        kind="SERVER",
        start_time=0,
        end_time=100 * MS,
        resource=SHOP,
    )
    inventory = make_record(
        trace_id=T,
        span_id=2,
        parent_span_id=1,
        name="inventory.reserve",
        start_time=10 * MS,
        end_time=20 * MS,
        resource=SHOP,
    )
    charge = make_record(
        trace_id=T,
        span_id=3,
        parent_span_id=1,
        name="payments.charge",
        kind="CLIENT",
        start_time=30 * MS,
        end_time=80 * MS,
        resource=PAY,
    )
    db = make_record(
        trace_id=T,
        span_id=4,
        parent_span_id=3,
        name="db.query",
        start_time=40 * MS,
        end_time=50 * MS,
        resource=PAY,
    )
    return root, inventory, charge, db


@pytest.fixture
def store():
    store = TraceStore()
    root, inventory, charge, db = checkout()
    store.extend([db, inventory, charge, root])  # end order: children first
    return store


def test_store_navigation_from_a_record(store):
    root, inventory, charge, db = checkout()
    assert store.parent(db) == charge
    assert store.parent(root) is None
    assert store.children(root) == [inventory, charge]
    assert store.children(db) == []
    assert store.ancestors(db) == [charge, root]
    assert store.descendants(root) == [inventory, charge, db]
    assert store.siblings(inventory) == [charge]
    assert store.siblings(root) == []
    assert store.depth(root) == 0
    assert store.depth(db) == 2


def test_span_ids_are_looked_up_within_the_span_trace():
    # Span ids are unique within a trace only: the same id in another trace is not a parent.
    store = TraceStore()
    other_parent = make_record(trace_id=2, span_id=7, name="other")
    parent = make_record(trace_id=1, span_id=7, name="parent")
    child = make_record(trace_id=1, span_id=8, parent_span_id=7, name="child", start_time=5)
    store.extend([parent, other_parent, child])
    assert store.parent(child) == parent
    assert store.children(other_parent) == []
    assert store.children(parent) == [child]


def test_navigation_index_follows_fifo_eviction():
    store = TraceStore(max_spans=3)
    root = make_record(trace_id=1, span_id=1, name="root", start_time=0, end_time=100)
    a = make_record(trace_id=1, span_id=2, parent_span_id=1, name="a", start_time=10)
    store.extend([root, a])
    assert store.parent(a) == root  # the index is made now, and kept from here on
    b = make_record(trace_id=1, span_id=3, parent_span_id=1, name="b", start_time=20)
    c = make_record(trace_id=1, span_id=4, parent_span_id=2, name="c", start_time=30)
    store.extend([b, c])  # root is evicted
    assert store.evicted == 1
    assert store.parent(a) is None
    assert store.parent(b) is None
    assert store.children(root) == [a, b]  # they still name it as their parent
    assert store.children(a) == [c]
    d = make_record(trace_id=1, span_id=5, parent_span_id=3, name="d", start_time=40)
    store.add(d)  # a is evicted, and leaves the parent index
    assert store.children(root) == [b]
    assert store.parent(c) is None
    assert store.spans(parent="root") == []
    assert store.spans(parent="b") == [d]
    store.clear()
    assert store.children(b) == []
    store.add(d)
    store.add(b)
    assert store.children(b) == [d]


def test_navigation_sees_spans_added_after_the_index_was_made(store):
    root, *_ = checkout()
    assert len(store.children(root)) == 2
    late = make_record(trace_id=T, span_id=9, parent_span_id=1, name="late", start_time=90 * MS)
    store.add(late)
    assert store.children(root)[-1] == late
    assert store.parent(late) == root


def test_navigation_rejects_what_is_not_a_record(store):
    for method in (store.parent, store.children, store.ancestors, store.descendants):
        with pytest.raises(ValueError, match="expected a SpanRecord, got 'db.query'"):
            method("db.query")


def test_trace_of_the_store(store):
    root, inventory, charge, db = checkout()
    trace = store.trace(T)
    assert isinstance(trace, Trace)
    assert trace.trace_id == T
    assert list(trace) == [root, inventory, charge, db]
    assert trace.spans() == [root, inventory, charge, db]
    assert trace[0] == root and len(trace) == 4 and db in trace
    assert trace.root == root
    assert trace.roots == [root]
    assert trace.missing_parents == []
    assert trace.parent(db) == charge
    assert trace.children(root) == [inventory, charge]
    assert trace.descendants(charge) == [db]
    assert trace.ancestors(db) == [charge, root]
    assert trace.siblings(charge) == [inventory]
    assert trace.depth(db) == 2
    assert list(trace.walk()) == [root, inventory, charge, db]
    assert trace.duration_ns == 100 * MS
    assert trace.duration == pytest.approx(0.1)
    assert trace.services == ["shop", "payments"]
    assert trace.start_time == 0 and trace.end_time == 100 * MS


def test_trace_walk_is_depth_first_with_children_by_start_time():
    a = make_record(trace_id=1, span_id=1, name="a", start_time=0, end_time=100)
    b = make_record(trace_id=1, span_id=2, parent_span_id=1, name="b", start_time=10)
    b1 = make_record(trace_id=1, span_id=3, parent_span_id=2, name="b1", start_time=50)
    c = make_record(trace_id=1, span_id=4, parent_span_id=1, name="c", start_time=20)
    assert [s.name for s in Trace([c, b1, b, a]).walk()] == ["a", "b", "b1", "c"]


def test_trace_tree_draws_like_render_trace(store):
    trace = store.trace(T)
    assert trace.tree(durations=False) == store.render_trace(T, durations=False)
    assert trace.tree().splitlines()[3].startswith("    └── db.query")


def test_trace_id_none_means_the_only_trace(store):
    assert store.trace().trace_id == T
    store.add(make_record(trace_id=5, span_id=5, name="other"))
    with pytest.raises(
        ValueError, match=f"2 traces in this store, pass trace_id= to pick one: {T}"
    ):
        store.trace()
    with pytest.raises(ValueError, match="no trace in this store"):
        TraceStore().trace()


def test_unknown_or_malformed_trace_id(store):
    with pytest.raises(ValueError, match="unknown trace id 'cd'"):
        store.trace("cd")
    with pytest.raises(ValueError, match="invalid trace id 'xyz'"):
        store.trace("xyz")


def test_traces_are_ordered_by_start():
    store = TraceStore()
    late = make_record(trace_id=1, span_id=1, name="late", start_time=500)
    early = make_record(trace_id=2, span_id=2, name="early", start_time=100)
    store.extend([late, early])
    assert [t.root.name for t in store.traces()] == ["early", "late"]


def test_missing_parent_gives_roots_and_names_the_missing_id():
    root = make_record(trace_id=1, span_id=1, name="root", start_time=0, end_time=100)
    orphan = make_record(trace_id=1, span_id=3, parent_span_id=2, name="orphan", start_time=10)
    trace = Trace([orphan, root])
    assert trace.roots == [root, orphan]
    assert trace.missing_parents == ["0000000000000002"]
    with pytest.raises(
        ValueError,
        match=r"2 roots \('root', 'orphan'\); parent spans not "
        r"recorded: 0000000000000002; use .roots",
    ):
        _ = trace.root
    assert trace.parent(orphan) is None
    assert trace.siblings(orphan) == [root]


def test_trace_rejects_foreign_spans_and_mixed_traces(store):
    trace = store.trace(T)
    stranger = make_record(trace_id=1, span_id=1, name="stranger")
    with pytest.raises(ValueError, match="is not in trace"):
        trace.parent(stranger)
    with pytest.raises(ValueError, match="expected a SpanRecord, got 3"):
        trace.children(3)
    with pytest.raises(ValueError, match="spans of several traces"):
        Trace([stranger, trace.root])
    with pytest.raises(ValueError, match="at least one span"):
        Trace([])


def test_parent_cycle_in_a_malformed_file_does_not_loop():
    a = make_record(trace_id=1, span_id=1, parent_span_id=2, name="a", start_time=0)
    b = make_record(trace_id=1, span_id=2, parent_span_id=1, name="b", start_time=1)
    trace = Trace([a, b])
    assert trace.ancestors(a) == [b]
    assert trace.descendants(a) == [b]
    assert sorted(s.name for s in trace.walk()) == ["a", "b"]
    store = TraceStore()
    store.extend([a, b])
    assert store.ancestors(a) == [b]
    assert store.spans(ancestor="a") == [b]


def test_trace_span_and_spans_with_filters(store):
    trace = store.trace(T)
    assert trace.span(parent="payments.charge").name == "db.query"
    assert [s.name for s in trace.spans(service="payments")] == ["payments.charge", "db.query"]
    with pytest.raises(AssertionError, match="found 2"):
        trace.span(parent="POST /checkout")
    with pytest.raises(AssertionError, match="parent is 'payments.charge', not 'POST /orders'"):
        trace.span(name="db.query", parent="POST /orders")


# -- time relations ---------------------------------------------------------


def span(start, end):
    return make_record(start_time=start, end_time=end)


def test_before_and_after():
    a, b = span(0, 10), span(10, 20)
    assert a.before(b) and b.after(a)
    assert not b.before(a) and not a.after(b)
    assert not span(0, 11).before(b)


def test_overlaps():
    assert span(0, 11).overlaps(span(10, 20))
    assert span(10, 20).overlaps(span(0, 11))
    assert not span(0, 10).overlaps(span(10, 20))  # touching ends do not overlap
    assert span(0, 100).overlaps(span(40, 50))


def test_contains():
    outer = span(0, 100)
    assert outer.contains(span(40, 50))
    assert outer.contains(span(0, 100))
    assert not outer.contains(span(50, 101))
    assert not span(40, 50).contains(outer)


def test_time_relations_reject_what_is_not_a_record():
    with pytest.raises(ValueError, match="expected a SpanRecord, got 5"):
        span(0, 1).before(5)


def test_incremental_ids_per_test(pytester):
    pytester.makeconftest(
        """
        import pytest
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        from pytest_tracestore import IncrementalIdGenerator

        IDS = IncrementalIdGenerator()
        trace.set_tracer_provider(TracerProvider(id_generator=IDS))


        @pytest.fixture(autouse=True)
        def _same_ids_per_test(request):
            IDS.reset(request.node.nodeid)
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace


        @pytest.mark.parametrize("run", [1, 2])
        def test_ids(trace_store, run):
            tracer = trace.get_tracer("t")
            with tracer.start_as_current_span("a"):
                with tracer.start_as_current_span("b"):
                    pass
            with tracer.start_as_current_span("c"):
                pass
            spans = trace_store.spans()
            ids = [(s.name, int(s.trace_id, 16) & 0xFFFF, int(s.span_id, 16) & 0xFFFF) for s in spans]
            assert ids == [("a", 1, 1), ("b", 1, 2), ("c", 2, 3)]
            assert trace_store.span(name="b").parent_span_id == trace_store.span(name="a").span_id
            with open(f"ids-{run}.txt", "w") as out:
                out.write(" ".join(s.span_id for s in spans))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    first, second = (pytester.path / "ids-1.txt").read_text(), (pytester.path / "ids-2.txt").read_text()
    # Each test counts from 1 in ids of its own: the two never collide.
    assert not set(first.split()) & set(second.split())
    again = pytester.runpytest_subprocess("-p", "no:randomly", "-k", "ids and 2")
    again.assert_outcomes(passed=1)
    assert (pytester.path / "ids-2.txt").read_text() == second


def test_store_siblings_checks_its_argument_and_knows_no_unknown_trace():
    store = TraceStore()
    a = make_record(trace_id=7, span_id=1, name="root", start_time=0, end_time=10)
    store.extend([a, make_record(trace_id=7, span_id=2, parent_span_id=1, start_time=1, end_time=2)])
    assert store.siblings(make_record(trace_id=8, span_id=3)) == []
    with pytest.raises(ValueError):
        store.siblings("root")
