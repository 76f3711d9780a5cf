"""Relational filters (parent, ancestor, child, descendant), span filters beyond the span's
own fields (root, service, scope, has_attributes, where), and attribute matchers."""

from __future__ import annotations

import re

import pytest
from conftest import make_record

from pytest_tracestore import (
    Query,
    Scope,
    TraceStore,
    all_of,
    any_of,
    contains,
    gt,
    gte,
    lt,
    lte,
    not_,
    one_of,
    prefix,
    regex,
    suffix,
)

T = "cd" * 16
MS = 1_000_000
SHOP = {"service.name": "shop"}
PAY = {"service.name": "payments"}
HTTP = Scope("opentelemetry.instrumentation.requests", "0.48b0")


def shop():
    root = make_record(
        trace_id=T,
        span_id=1,
        name="POST /checkout",
        kind="SERVER",
        status="ERROR",
        start_time=0,
        end_time=100 * MS,
        resource=SHOP,
        attributes={"http.response.status_code": 502, "http.route": "/checkout"},
    )
    health = make_record(
        trace_id=T,
        span_id=2,
        parent_span_id=1,
        name="GET /health",
        start_time=5 * MS,
        end_time=6 * MS,
        resource=SHOP,
        scope=HTTP,
        attributes={"http.response.status_code": 200},
    )
    charge = make_record(
        trace_id=T,
        span_id=3,
        parent_span_id=1,
        name="payments.charge",
        kind="CLIENT",
        status="ERROR",
        start_time=10 * MS,
        end_time=90 * MS,
        resource=PAY,
        scope=HTTP,
        attributes={"http.response.status_code": 503, "retry": True, "tags": ("card", "eu")},
    )
    db = make_record(
        trace_id=T,
        span_id=4,
        parent_span_id=3,
        name="db.query",
        start_time=20 * MS,
        end_time=30 * MS,
        resource=PAY,
        attributes={"db.statement": "SELECT * FROM cards", "rows": 3},
    )
    return root, health, charge, db


@pytest.fixture
def store():
    s = TraceStore()
    s.extend(shop())
    return s


def names(spans):
    return [s.name for s in spans]


def test_parent_by_name_regex_matcher_and_query(store):
    assert names(store.spans(parent="POST /checkout")) == ["GET /health", "payments.charge"]
    assert names(store.spans(parent=re.compile("charge$"))) == ["db.query"]
    assert names(store.spans(parent=prefix("payments."))) == ["db.query"]
    assert names(store.spans(parent=Query(kind="server", status="error"))) == [
        "GET /health",
        "payments.charge",
    ]
    assert store.spans(parent="nothing") == []


def test_ancestor_child_descendant(store):
    assert names(store.spans(ancestor="POST /checkout")) == [
        "GET /health",
        "payments.charge",
        "db.query",
    ]
    assert names(store.spans(child="db.query")) == ["payments.charge"]
    assert names(store.spans(descendant="db.query")) == ["POST /checkout", "payments.charge"]
    assert names(store.spans(descendant=Query(attributes={"rows": gte(1)}))) == [
        "POST /checkout",
        "payments.charge",
    ]


def test_relational_queries_nest(store):
    # A span whose parent has a parent named POST /checkout.
    assert names(store.spans(parent=Query(parent="POST /checkout"))) == ["db.query"]
    assert names(store.spans(child=Query(child="db.query"))) == ["POST /checkout"]


def test_relational_filters_combine_with_the_others(store):
    assert names(store.spans(ancestor="POST /checkout", status="ERROR")) == ["payments.charge"]
    assert names(store.spans(Query(service="payments"), parent="POST /checkout")) == [
        "payments.charge"
    ]
    assert store.span(trace_id=T, child="db.query").name == "payments.charge"


def test_root_service_scope_has_attributes_where(store):
    assert names(store.spans(root=True)) == ["POST /checkout"]
    assert names(store.spans(root=False)) == ["GET /health", "payments.charge", "db.query"]
    assert names(store.spans(service="payments")) == ["payments.charge", "db.query"]
    assert names(store.spans(service=prefix("pay"))) == ["payments.charge", "db.query"]
    assert names(store.spans(scope="opentelemetry.instrumentation.requests")) == [
        "GET /health",
        "payments.charge",
    ]
    assert names(store.spans(scope=re.compile("requests"))) == ["GET /health", "payments.charge"]
    assert names(store.spans(has_attributes=["http.response.status_code", "retry"])) == [
        "payments.charge"
    ]
    assert names(store.spans(has_attributes="rows")) == ["db.query"]
    assert names(store.spans(where=lambda s: s.duration_ns > 50 * MS)) == [
        "POST /checkout",
        "payments.charge",
    ]


def test_attribute_matchers(store):
    code = "http.response.status_code"
    assert names(store.spans(attributes={code: gte(500)})) == ["POST /checkout", "payments.charge"]
    assert names(store.spans(attributes={code: gt(502)})) == ["payments.charge"]
    assert names(store.spans(attributes={code: lt(500)})) == ["GET /health"]
    assert names(store.spans(attributes={code: lte(502)})) == ["POST /checkout", "GET /health"]
    assert names(store.spans(attributes={code: one_of(200, 204)})) == ["GET /health"]
    assert names(store.spans(attributes={code: not_(200)})) == ["POST /checkout", "payments.charge"]
    assert names(store.spans(attributes={code: any_of(200, gte(503))})) == [
        "GET /health",
        "payments.charge",
    ]
    assert names(store.spans(attributes={code: all_of(gte(500), lt(503))})) == ["POST /checkout"]
    assert names(store.spans(attributes={"db.statement": prefix("SELECT")})) == ["db.query"]
    assert names(store.spans(attributes={"db.statement": suffix("cards")})) == ["db.query"]
    assert names(store.spans(attributes={"db.statement": contains("FROM")})) == ["db.query"]
    assert names(store.spans(attributes={"db.statement": regex(r"from\s+cards$|FROM \w+$")})) == [
        "db.query"
    ]
    assert names(store.spans(attributes={"db.statement": re.compile("^SELECT")})) == ["db.query"]
    assert names(store.spans(attributes={"tags": contains("eu")})) == ["payments.charge"]
    # Matchers mixed with plain values: the plain one still uses the index.
    assert names(store.spans(attributes={code: gte(500), "retry": True})) == ["payments.charge"]


def test_matchers_never_match_across_types(store):
    # A bool is no number, a number no string: no TypeError, no match.
    assert store.spans(attributes={"retry": gte(0)}) == []
    assert store.spans(attributes={"rows": prefix("3")}) == []
    assert store.spans(attributes={"db.statement": gt(5)}) == []
    assert names(store.spans(attributes={"db.statement": gt("A")})) == ["db.query"]
    # The attribute must exist, even for not_.
    assert names(store.spans(attributes={"rows": not_(4)})) == ["db.query"]


def test_matchers_describe_themselves():
    assert repr(gte(500)) == "gte(500)"
    assert repr(one_of(200, prefix("2"))) == "one_of(200, prefix('2'))"
    assert repr(not_(regex("x+"))) == "not_(regex('x+'))"
    assert gte(5) == gte(5) and gte(5) != gte(6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gte(True), "invalid gte bound True"),
        (lambda: lt(None), "invalid lt bound None"),
        (lambda: gt(float("nan")), "invalid gt bound nan"),
        (lambda: prefix(5), "invalid prefix 5: expected a string"),
        (lambda: regex("("), r"invalid regex '\('"),
        (lambda: one_of(), r"invalid one_of\(\): expected at least one value"),
    ],
)
def test_bad_matcher_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "filters, message",
    [
        ({"parent": 5}, "invalid parent 5: expected a span name"),
        ({"descendant": ["a"]}, r"invalid descendant \['a'\]"),
        ({"root": "yes"}, "invalid root 'yes': expected True or False"),
        ({"service": 3}, "invalid service 3"),
        ({"scope": None, "name": 1.5}, "invalid name 1.5"),
        ({"has_attributes": [1]}, "invalid has_attributes key 1"),
        ({"has_attributes": 7}, "invalid has_attributes 7"),
        ({"where": "lambda"}, "invalid where 'lambda': expected a callable"),
        ({"sibling": "x"}, "unexpected keyword argument 'sibling'.*the filters are: .*descendant"),
    ],
)
def test_bad_filters_are_value_errors(store, filters, message):
    with pytest.raises(ValueError, match=message):
        store.spans(**filters)


def test_relational_filter_without_a_store_is_a_clear_error():
    _, _, _, db = shop()
    with pytest.raises(ValueError, match="the parent= filter needs spans to navigate"):
        Query(parent="payments.charge").matches(db)
    with pytest.raises(ValueError, match="the child= filter needs spans"):
        Query(child="x").mismatches(db)
    assert Query(service="payments").matches(db)  # no navigation needed


def test_query_matches_with_a_store_or_a_trace(store):
    _, _, charge, db = shop()
    assert Query(parent="payments.charge").matches(db, store=store)
    assert Query(parent="payments.charge").matches(db, store=store.trace(T))
    assert not Query(parent="POST /checkout").matches(db, store=store)
    assert Query(ancestor="POST /checkout", child="db.query").matches(charge, store)
    assert Query(parent="x").is_relational and not Query(root=True).is_relational


def test_nearest_misses_name_the_relational_filter(store):
    with pytest.raises(AssertionError) as info:
        store.span(name="GET /health", parent="POST /orders")
    assert "parent is 'POST /checkout', not 'POST /orders'" in str(info.value)
    with pytest.raises(AssertionError) as info:
        store.span(name="POST /checkout", parent="POST /orders")
    assert "no parent (a root span)" in str(info.value)
    with pytest.raises(AssertionError) as info:
        store.span(name="db.query", ancestor="GET /health")
    assert (
        "no ancestor matching name='GET /health' (ancestors: 'payments.charge', 'POST /checkout')"
    ) in str(info.value)
    with pytest.raises(AssertionError) as info:
        store.span(name="payments.charge", child=Query(name="db.query", attributes={"rows": 0}))
    assert (
        "no child matching name='db.query', attributes={'rows': 0} (children: 'db.query')"
    ) in str(info.value)
    with pytest.raises(AssertionError) as info:
        store.span(name="GET /health", descendant="db.query")
    assert "no descendant matching name='db.query' (no descendants)" in str(info.value)
    with pytest.raises(AssertionError) as info:
        store.span(name="db.query", parent=Query(kind="SERVER"))
    assert "parent 'payments.charge' does not match kind='SERVER'" in str(info.value)


def test_nearest_misses_name_the_other_new_filters(store):
    with pytest.raises(AssertionError) as info:
        store.span(
            name="db.query",
            service="shop",
            scope="x",
            root=True,
            has_attributes=["retry"],
            attributes={"rows": gte(10)},
        )
    text = str(info.value)
    assert "service is 'payments'" in text
    assert "no instrumentation scope" in text
    assert "not a root span" in text
    assert "no attribute 'retry'" in text
    assert "rows=3, not gte(10)" in text
    with pytest.raises(
        AssertionError,
        match=r"where=test_nearest_misses_name_the_other_new_filters"
        r"\.<locals>\.<lambda> is false",
    ):
        store.span(name="db.query", where=lambda s: False)


def test_relational_filters_run_only_on_spans_passing_their_own_filters():
    # The parent query sees the one candidate's parent, not every span of the store.
    store = TraceStore()
    spans = [make_record(trace_id=1, span_id=1, name="root", start_time=0, end_time=10**9)]
    spans += [
        make_record(trace_id=1, span_id=i, parent_span_id=1, name=f"c{i}", start_time=i)
        for i in range(2, 2002)
    ]
    store.extend(spans)
    seen = []

    def parent_query(record):
        seen.append(record.name)
        return record.name == "root"

    found = store.spans(trace_id=1, name="c7", parent=Query(where=parent_query))
    assert names(found) == ["c7"]
    assert seen == ["root"]  # only the one candidate's parent was looked at


def test_wait_for_takes_relational_filters(store):
    assert names(store.wait_for(timeout=0, parent="payments.charge")) == ["db.query"]
    with pytest.raises(AssertionError, match="no span matching parent='GET /health'"):
        store.wait_for(timeout=0, parent="GET /health")


def test_describe_shows_nested_queries():
    q = Query(name="db", parent=Query(name="x", kind="client"), where=len)
    assert q.describe() == "name='db', parent=Query(name='x', kind='client'), where=len"


def test_relational_queries_pickle(store):
    import pickle

    query = Query(parent="payments.charge", ancestor=Query(kind="SERVER"))
    copy = pickle.loads(pickle.dumps(query))
    assert copy == query
    assert names(store.spans(copy)) == ["db.query"]
