"""TraceQL: Tempo's documented queries on a hand-built shop (see traceql_shop.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from traceql_shop import LABELS, shop_records, trace_id

from pytest_tracestore import (
    SpanRecord,
    TraceQL,
    TraceQLError,
    TraceQLUnsupported,
    TraceStore,
    compile_traceql,
)
from pytest_tracestore.serialize import dumps_line, record_to_dict

ALL = set(LABELS)


def but(*labels: str) -> set[str]:
    return ALL - set(labels)


T1 = {"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
T2 = {"b1", "b2", "b3", "b4", "b5", "b6", "b7"}
ERRORS = {"a1", "a3", "a4", "a6", "a7", "a8", "a9"}
PAYMENTS = {"a7", "a9", "b7", "c1", "c2", "c3"}
ORDERS = {"a4", "a5", "a6", "a8", "b4", "b5", "b6"}
SERVERS = {"a1", "a4", "a7", "a9", "b1", "b4", "b7", "c1", "d1"}

# (query, the spans it returns), worked out by hand from the shop's drawing.
VALID = [
    # spanset filters and intrinsics
    ("{ }", ALL),
    ("{}", ALL),
    ('{ name = "POST /checkout" }', {"a1", "b1"}),
    ('{ span:name = "load cart" }', {"a2", "b2"}),
    ("{ status = error }", ERRORS),
    ("{ span:status = ok }", {"b1", "b7", "c2"}),
    ("{ status = unset }", {"a2", "a5", "b2", "b3", "b4", "b5", "b6", "c1", "c3", "d1"}),
    ("{ status != ok }", but("b1", "b7", "c2")),
    ("{ kind = server }", SERVERS),
    ("{ span:kind = client }", {"a3", "a5", "a6", "a8", "b3", "b5", "b6"}),
    ("{ kind = producer }", {"c3"}),
    ("{ kind = internal }", {"a2", "b2", "c2"}),
    ("{ kind = consumer }", set()),
    ("{ kind = unspecified }", set()),
    ("{ duration > 500ms }", {"a1", "a3", "a4", "c1", "c2"}),
    ("{ span:duration >= 2.5s }", {"c1"}),
    ("{ duration < 25ms }", {"b2", "b5", "d1"}),
    ("{ duration >= 300ms && duration <= 400ms }", {"a6", "a8", "a9", "b1", "b3", "b4"}),
    ("{ duration > 2 * 400ms }", {"a1", "c1", "c2"}),
    ("{ duration > 1m }", set()),
    ("{ duration < 3000us && duration >= 2000000ns }", {"d1"}),
    ('{ statusMessage = "card declined" }', {"a7", "a9"}),
    ('{ span:statusMessage =~ ".*failed" }', {"a1"}),
    # attributes and their scopes
    ('{ resource.service.name = "payments" }', PAYMENTS),
    ('{ .service.name = "orders" }', ORDERS),
    ('{ .deployment.environment = "production" }', ALL),
    ("{ span.http.response.status_code >= 500 }", {"a1", "a3", "a4"}),
    ("{ .http.response.status_code = 402 }", {"a6", "a7", "a8", "a9"}),
    (
        "{ span.http.response.status_code >= 200 && span.http.response.status_code < 300 }",
        {"b1", "b3", "b4", "b6", "b7", "c1", "d1"},
    ),
    ('{ span.http.response.status_code = "200" }', set()),
    (
        "{ span.http.response.status_code != 200 }",
        {"a1", "a3", "a4", "a6", "a7", "a8", "a9", "b3", "b4"},
    ),
    ('{ span.http.route = "/payments" }', {"a7", "a9", "b7", "c1"}),
    ('{ span.http.route = "/checkout" && span.http.response.status_code = 502 }', {"a1"}),
    ('{ span.db.system =~ "postgresql|mysql" }', {"a5", "b5"}),
    ('{ span.db.system =~ "postgres" }', set()),  # regular expressions are anchored
    ('{ name =~ "POST.*" }', but("a2", "a5", "b2", "b5", "c2", "c3", "d1")),
    ('{ name !~ "POST.*" }', {"a2", "a5", "b2", "b5", "c2", "c3", "d1"}),
    ("{ span.retry.attempt = 2 }", {"a8"}),
    ("{ span.retry.attempt > 1 || status = ok }", {"a8", "b1", "b7", "c2"}),
    ("{ span.cart.items = 3 }", {"a2"}),
    ("{ span.cart.items = 3.0 }", {"a2"}),
    ("{ span.payment.amount > 40 }", {"a7", "a9", "c1"}),
    ("{ span.payment.amount = 250 }", {"c1"}),
    ("{ span.fraud.score > 0.9 }", {"c2"}),
    ('{ span.payment.tags = "gift" }', {"c1"}),
    ('{ span.payment.tags != "gift" }', set()),
    ('{ span.payment.tags != "refund" }', {"c1"}),
    ('{ span.payment.tags =~ "pri.*" }', {"c1"}),
    ("{ span.order.id = nil }", but("a4", "b4")),
    ("{ span.order.id != nil }", {"a4", "b4"}),
    ("{ nil != span.order.id }", {"a4", "b4"}),
    ("{ resource.service.version = nil }", ALL - PAYMENTS),
    ("{ resource.service.version != nil && kind = server }", {"a7", "a9", "b7", "c1"}),
    ('{ span."check name" = "liveness" }', {"d1"}),
    ("{ span.synthetic = true }", {"d1"}),
    ("{ span.synthetic = 1 }", set()),
    ("{ span.synthetic }", {"d1"}),
    ("{ !span.synthetic }", set()),
    ('{ trace:id = "not an id" }', set()),
    ('{ span.http.user_agent = "kube-probe/1.29" }', {"d1"}),
    ("{ name = `GET /health` }", {"d1"}),
    ('{ span.db.statement = "INSERT INTO orders VALUES (\\"$1\\")" }', {"a5", "b5"}),
    ("{ minInt < span.cart.items && span.cart.items < maxInt }", {"a2", "b2"}),
    ('{\n  resource.service.name = "frontend" &&\n  status = error\n}', {"a1", "a3"}),
    # events, links, instrumentation scope
    ('{ event:name = "exception" }', {"a7", "a9"}),
    ('{ event.exception.type = "shop.payments.Declined" }', {"a7", "a9"}),
    ("{ event.exception.message = nil }", but("a7", "a9")),
    ('{ event:name = "enqueued" && event.queue = "emails" }', {"c3"}),
    ('{ event:name = "exception" && event.queue = "emails" }', set()),
    ("{ event:timeSinceStart > 200ms }", {"a7", "a9"}),
    (f'{{ link:traceID = "{trace_id("T1")}" }}', {"b7"}),
    ('{ link:spanID = "00000000000000a9" }', {"b7"}),
    ('{ link.reason = "retry of declined" }', {"b7"}),
    ('{ instrumentation:name = "grpc" }', PAYMENTS),
    ('{ instrumentation:version = "2.31.0" }', ORDERS),
    ('{ instrumentation.language = "python" }', PAYMENTS),
    # trace-level intrinsics
    ('{ rootName = "POST /checkout" && kind = server }', SERVERS & (T1 | T2)),
    ('{ trace:rootName = "GET /health" }', {"d1"}),
    ('{ rootServiceName = "frontend" && resource.service.name = "payments" }', {"a7", "a9", "b7"}),
    ('{ trace:rootService = "payments" }', set()),  # T3's root never arrived
    ("{ traceDuration > 2s }", {"c1", "c2", "c3"}),
    ("{ trace:duration < 500ms && span:duration < 25ms }", {"b2", "b5", "d1"}),
    (f'{{ trace:id = "{trace_id("T4")}" }}', {"d1"}),
    ('{ span:id = "00000000000000c2" }', {"c2"}),
    ('{ span:parentID = "00000000000000a4" }', {"a5", "a6", "a8"}),
    ("{ span:childCount = 0 }", {"a2", "a5", "a7", "a9", "b2", "b5", "b7", "c2", "c3", "d1"}),
    ("{ span:childCount > 2 }", {"a4"}),
    # arithmetic, negation, precedence
    ("{ span.http.response.status_code / 100 = 4 }", {"a6", "a7", "a8", "a9"}),
    ("{ span.payment.amount * 2 > 80 }", {"a7", "a9", "c1"}),
    ("{ span.cart.items ^ 2 = 9 }", {"a2"}),
    ("{ -span.cart.items < -2 }", {"a2"}),
    ("{ span.retry.attempt % 2 = 0 }", {"a8"}),
    ("{ span.cart.items + 1 - 1 * 2 = 2 }", {"a2"}),
    ("{ !(status = error) && kind = client }", {"a5", "b3", "b5", "b6"}),
    (
        '{ span.http.request.method = "GET" || span.http.request.method = "DELETE" }',
        {"d1"},
    ),
    ('{ (kind = server || kind = client) && resource.service.name = "orders" }', ORDERS),
    # && and || bind alike, left to right, as in Tempo's grammar
    ("{ status = ok || kind = server && status = error }", {"a1", "a4", "a7", "a9"}),
    ("{ true }", ALL),
    ("{ false }", set()),
    # spanset operators
    (
        '{ name = "POST /orders" } && { name = "INSERT orders" }',
        {"a3", "a4", "a5", "b3", "b4", "b5"},
    ),
    (
        '{ resource.service.name = "payments" } && { resource.service.name = "frontend" }',
        {"a1", "a2", "a3", "a7", "a9", "b1", "b2", "b3", "b7"},
    ),
    ('{ name = "GET /health" } || { name = "fraud check" }', {"c2", "d1"}),
    (
        '({ name = "GET /health" } || { name = "load cart" }) && { status = error }',
        ERRORS | {"a2"},
    ),
    (
        '{ name = "GET /health" } || { name = "load cart" } && { status = error }',
        ERRORS | {"a2"},
    ),
    (
        '{ name = "GET /health" } || { name = "POST /orders" } > { name = "INSERT orders" }',
        {"a5", "b5", "d1"},
    ),
    # structural operators return the right-hand spans
    ('{ resource.service.name = "frontend" } >> { status = error }', ERRORS - {"a1"}),
    ('{ name = "POST /checkout" } > { }', {"a2", "a3", "b2", "b3"}),
    (
        '{ kind = server && resource.service.name = "orders" } > { name = "POST /payments" }',
        {"a6", "a8", "b6"},
    ),
    ("{ span.retry.attempt = 1 } > { }", {"a7", "b7"}),
    ("{ status = error } < { }", {"a1", "a3", "a4", "a6", "a8"}),
    ('{ name = "INSERT orders" } << { }', {"a1", "a3", "a4", "b1", "b3", "b4"}),
    ('{ name = "INSERT orders" } ~ { name = "POST /payments" }', {"a6", "a8", "b6"}),
    ('{ name = "fraud check" } ~ { }', {"c3"}),
    ('{ span.payment.method = "card" } >> { }', {"c2", "c3"}),
    # negated structural operators
    ('{ } !< { resource.service.name = "payments" }', {"a7", "a9", "b7", "c2", "c3"}),
    ("{ status = error } !< { status = error }", {"a7", "a9"}),
    ('{ resource.service.name = "frontend" } !>> { resource.service.name = "payments" }',
     {"c1", "c2", "c3"}),
    ('{ name = "POST /checkout" } !> { kind = server }', SERVERS),
    ("{ kind = client } !<< { kind = server }", {"a7", "a9", "b7", "c1", "d1"}),
    ('{ name = "load cart" } !~ { kind = client }', {"a5", "a6", "a8", "b5", "b6"}),
    ('{ name = "no such span" } !>> { kind = producer }', {"c3"}),
    # union structural operators return both sides
    ("{ status = error && kind = server } &>> { status = error }", ERRORS),
    ('{ name = "POST /checkout" } &> { name = "load cart" }', {"a1", "a2", "b1", "b2"}),
    ('{ name = "INSERT orders" } &< { kind = server }', {"a4", "a5", "b4", "b5"}),
    (
        '{ span.db.system = "postgresql" } &<< { resource.service.name = "frontend" }',
        {"a1", "a3", "a5", "b1", "b3", "b5"},
    ),
    ('{ name = "fraud check" } &~ { name = "notify" }', {"c2", "c3"}),
    ('{ name = "load cart" } &~ { name = "notify" }', set()),
    # pipelines and aggregates (evaluated per trace)
    ("{ } | count() > 5", T1 | T2),
    ("{ status = error } | count() > 1", ERRORS),
    ('{ resource.service.name = "payments" } | count() = 3', {"c1", "c2", "c3"}),
    ("{ kind = server } | avg(duration) > 500ms", {"a1", "a4", "a7", "a9", "c1"}),
    ("{ } | max(duration) >= 2s", {"c1", "c2", "c3"}),
    ("{ } | min(duration) < 5ms", {"d1"}),
    ("{ span.payment.amount != nil } | sum(span.payment.amount) > 80", {"a7", "a9", "c1"}),
    ("{ } | count() > 8", T1),
    ("count() > 8", T1),
    ("{ } | count() * 2 > 16", T1),
    ("{ } | 8 < count()", T1),
    ("(count() + 1) > 9", T1),
    ('(count() > 8) && { name = "load cart" }', T1),
    ('{ .http.request.method = "POST" } | count() > 2 | { kind = server }',
     {"a1", "a4", "a7", "a9", "b1", "b4", "b7"}),
    (
        '({ kind = server } | count() > 2) && { name = "INSERT orders" }',
        {"a1", "a4", "a5", "a7", "a9", "b1", "b4", "b5", "b7"},
    ),
    ("{ status = error } | by(resource.service.name) | count() > 2", {"a4", "a6", "a8"}),
    ("{ } | by(span:kind) | count() = 1", {"a2", "b2", "c1", "c2", "c3", "d1"}),
    ("{ kind = server } | by(resource.service.name) | coalesce() | count() > 3",
     {"a1", "a4", "a7", "a9"}),
    ("{ status = error } | select(span.http.route, resource.service.name)", ERRORS),
    ("{ .http.response.status_code = 200 } | select(resource.service.name)",
     {"b1", "b6", "b7", "c1", "d1"}),
]

# (query, column of the problem, what the message says)
MALFORMED = [
    ("{ .a = }", 8, "expected a field"),
    ("{ .a = 1", 9, "expected '}'"),
    (".a = 1", 1, "expected '{' or '('"),
    ("", 1, "found end of query"),
    ("   ", 4, "found end of query"),
    ("{ status = 1 }", 10, "cannot apply = to status and int"),
    ('{ status = "error" }', 10, "status and string"),
    ('{ kind = "server" }', 8, "kind and string"),
    ('{ duration > "1s" }', 12, "duration and string"),
    ("{ name > 5 }", 8, "string and int"),
    ("{ 1 }", 1, "must be a condition"),
    ('{ "true" }', 1, "must be a condition"),
    ("{ .a + }", 8, "expected a field"),
    ("{ 2 <> 3 }", 6, "expected a field"),
    ("{ + }", 3, "expected a field"),
    ("wharblgarbl", 1, "expected '{' or '('"),
    ('{ foo = "bar" }', 3, "unknown identifier 'foo'"),
    ("{ span. = 1 }", 8, "expected an attribute name"),
    ('{ .a = "unterminated }', 8, "unterminated string"),
    ('{ .a =~ "(" }', 9, "invalid regular expression"),
    ("{ .a =~ .b }", 6, "needs a string literal"),
    ("{ .a = 1 } >>", 14, "expected '{' or '('"),
    ("{ .a = 1 } &&", 14, "expected '{' or '('"),
    ("{ .a = 1 } | count()", 21, "expected a comparison"),
    ('{ } | count() > "x"', 17, "expected an aggregate (count, avg, min, max, sum) or a number"),
    ("{ } | count() >", 16, "expected an aggregate"),
    ("{ } | avg() > 1", 11, "expected a field to avg()"),
    ("{ } | count(.a) > 1", 13, "count() takes no argument"),
    ("{ } | sum(name) > 1", 7, "sum() needs a number, not a string"),
    ("{ } | by()", 10, "expected a field"),
    ("{ } | by(1)", 7, "by() needs an attribute"),
    ("{ span:foo = 1 }", 3, "unknown intrinsic span:foo"),
    ('{ trace:name = "x" }', 3, "unknown intrinsic trace:name"),
    ("{ duration > 10x }", 16, "invalid duration unit 'x'"),
    ("{ .a > nil }", 8, "nil can only be compared with = or !="),
    ("{ nil }", 3, "nil can only be compared"),
    ("{ status = nil }", 10, "an intrinsic is never nil"),
    ("{ .a = 1 }}", 11, "expected '|', a spanset operator or the end"),
    ("({ .a = 1 }", 12, "expected ')' or '|'"),
    ("{ !1 }", 3, "! needs a condition, not an int"),
    ('{ -"a" = 1 }', 3, "- needs a number, not a string"),
    ("{ true && 1 }", 8, "cannot apply && to bool and int"),
    ('{ .a = "\\q" }', 9, "invalid escape sequence"),
    ('{ span."unterminated = 1 }', 8, "unterminated quoted attribute name"),
    ("{ } | select(1)", 14, "select() takes attributes and intrinsics only"),
    ("{ } | 1 > 2", 7, "needs an aggregate"),
    ("{ .a = 1 } { .b = 2 }", 12, "expected '|', a spanset operator"),
    ("{ .a = 1 } # note", 12, "unexpected character '#'"),
    ("{ .a = ok ok }", 11, "expected '}' or an operator"),
    ("{ .a = 1 } | ", 14, "expected '{' or '('"),
    ("{ .a = 1 } > > { }", 14, "expected '{' or '('"),
]

UNSUPPORTED = [
    ("{ } | rate()", 7, "rate()"),
    ("{ } | count_over_time() by (resource.service.name)", 7, "count_over_time()"),
    ("{ } | quantile_over_time(duration, .99)", 7, "quantile_over_time()"),
    ("{ } | histogram_over_time(duration)", 7, "histogram_over_time()"),
    ("{ } | avg_over_time(duration)", 7, "avg_over_time()"),
    ("{ } | compare({ status = error })", 7, "compare()"),
    ("{ .a = 1 } with (most_recent=true)", 12, "query hints"),
    ('{ parent.http.method = "GET" }', 3, "parent. attribute scope"),
    ("{ nestedSetLeft > 0 }", 3, "nestedSetLeft"),
    ("{ parent = nil }", 3, "parent intrinsic"),
]


@pytest.fixture(scope="module")
def records():
    return shop_records()


@pytest.fixture(scope="module")
def store(records):
    store = TraceStore()
    store.extend(records)
    return store


def labels(spans):
    return {s.span_id.lstrip("0") for s in spans}


def test_the_tables_are_big_enough():
    assert len(VALID) >= 60
    assert len(MALFORMED) + len(UNSUPPORTED) >= 40
    assert len({q for q, _ in VALID}) == len(VALID)


@pytest.mark.parametrize("query, expected", VALID, ids=[q for q, _ in VALID])
def test_query_on_records(records, query, expected):
    found = TraceQL(query).spans(records)
    assert labels(found) == expected
    assert len(found) == len(expected)  # no span twice
    assert [s.start_time for s in found] == sorted(s.start_time for s in found)


@pytest.mark.parametrize("query, expected", VALID, ids=[q for q, _ in VALID])
def test_query_on_store_uses_the_same_rules(store, query, expected):
    found = store.traceql(query)
    assert labels(found) == expected
    assert [s.start_time for s in found] == sorted(s.start_time for s in found)


@pytest.mark.parametrize("query, column, message", MALFORMED, ids=[q for q, _, _ in MALFORMED])
def test_malformed_query_names_the_column_and_what_was_expected(query, column, message):
    with pytest.raises(TraceQLError) as info:
        TraceQL(query)
    error = info.value
    assert isinstance(error, ValueError)
    assert not isinstance(error, TraceQLUnsupported)
    assert message in error.summary
    assert error.column == column, str(error)
    assert error.summary.startswith(f"invalid TraceQL at column {column}: ")
    _check_caret(str(error), error)


@pytest.mark.parametrize("query, column, what", UNSUPPORTED, ids=[q for q, _, _ in UNSUPPORTED])
def test_valid_traceql_outside_the_subset_says_not_supported(query, column, what):
    with pytest.raises(TraceQLUnsupported) as info:
        TraceQL(query)
    error = info.value
    assert isinstance(error, ValueError)
    assert what in error.summary
    assert "not supported" in error.summary
    assert error.column == column
    _check_caret(str(error), error)


def _check_caret(text, error):
    lines = text.split("\n")
    assert len(lines) == 3
    assert "\n" not in error.summary
    query_line, caret_line = lines[1], lines[2]
    assert caret_line.rstrip().endswith("^")
    assert len(caret_line.rstrip()) - 2 == error.column  # two spaces of indent
    shown = error.query.split("\n")[error.line - 1]
    assert query_line == "  " + shown


def test_a_multi_line_query_error_gives_line_and_column():
    with pytest.raises(TraceQLError) as info:
        TraceQL('{\n  .a = 1 &&\n  status = 7\n}')
    assert info.value.line == 3
    assert info.value.column == 10
    assert info.value.summary.startswith("invalid TraceQL at line 3, column 10:")


def test_a_compiled_query_is_reusable_across_stores_and_record_lists(records):
    query = compile_traceql('{ resource.service.name = "frontend" } >> { status = error }')
    assert compile_traceql(query) is query
    first = TraceStore()
    first.extend(records[:10])
    second = TraceStore()
    second.extend(records)
    whole = labels(query.spans(records))
    assert whole == ERRORS - {"a1"}
    assert labels(query.search(second)) == whole
    assert labels(second.traceql(query)) == whole
    assert labels(query.search(first)) <= whole
    assert query.text.startswith("{ resource")
    assert "TraceQL(" in repr(query)


def test_spans_of_one_trace_is_the_trace_level_evaluation(records):
    t1 = [r for r in records if r.trace_id == trace_id("T1")]
    query = TraceQL("{ status = error } !< { status = error }")
    assert labels(query.spans(t1)) == {"a7", "a9"}
    assert labels(TraceQL("{ } | count() = 9").spans(t1)) == T1
    assert TraceQL("{ } | count() = 7").spans(t1) == []


def test_store_follows_new_spans_and_eviction(records):
    store = TraceStore(max_spans=5)
    query = TraceQL('{ span.http.route = "/payments" }')
    store.extend(records[:3])
    first = [r for r in records[:3] if r.attributes.get("http.route") == "/payments"]
    assert store.traceql(query) == sorted(first, key=lambda r: r.start_time)
    store.extend(records[3:])
    held = list(store)
    assert store.traceql(query) == sorted(
        (r for r in held if r.attributes.get("http.route") == "/payments"),
        key=lambda r: r.start_time,
    )


def test_index_candidates_include_array_attributes(store):
    # The store's attribute index keys an array whole; an item must still match.
    assert labels(store.traceql('{ span.payment.tags = "priority" && kind = server }')) == {"c1"}


def test_bad_arguments_are_value_errors(records):
    with pytest.raises(ValueError, match="expected a string"):
        TraceQL(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected a SpanRecord"):
        TraceQL("{ }").spans(["not a record"])  # type: ignore[list-item]
    with pytest.raises(TraceQLError):
        TraceStore().traceql("{ .a = }")


# -- the command line ------------------------------------------------------------


@pytest.fixture
def artifact(tmp_path, records):
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(dumps_line(record_to_dict(r)) + "\n" for r in records))
    return path


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "pytest_tracestore", *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_cli_query_traceql_prints_the_matching_spans(artifact):
    query = '{ resource.service.name = "orders" } > { resource.service.name = "payments" }'
    run = _cli("query", artifact, "--traceql", query, "--json")
    assert run.returncode == 0, run.stderr
    found = [json.loads(line) for line in run.stdout.splitlines()]
    assert {s["span_id"].lstrip("0") for s in found} == {"a7", "a9", "b7"}
    table = _cli("query", artifact, "--traceql", "{ status = error } !< { status = error }")
    assert table.returncode == 0
    assert len(table.stdout.splitlines()) == 2
    assert all("POST /payments" in line for line in table.stdout.splitlines())


def test_cli_traceql_combines_with_the_other_filters(artifact):
    run = _cli("query", artifact, "--traceql", "{ status = error }", "--kind", "server", "--json")
    assert run.returncode == 0
    assert len(run.stdout.splitlines()) == 4  # a1, a4, a7, a9


def test_cli_traceql_nothing_found_exits_1(artifact):
    run = _cli("query", artifact, "--traceql", '{ name = "nope" }')
    assert run.returncode == 1
    assert run.stdout == ""
    assert "no span matches" in run.stderr


@pytest.mark.parametrize(
    "query, message",
    [
        ("{ .a = }", "invalid TraceQL at column 8: expected a field"),
        ("{ } | rate()", "unsupported TraceQL at column 7: the metrics function rate()"),
    ],
)
def test_cli_bad_traceql_exits_2_with_one_line(artifact, query, message):
    run = _cli("query", artifact, "--traceql", query)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


# -- the fixture, as a test uses it ---------------------------------------------------


def test_trace_store_fixture_answers_traceql(pytester):
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        tracer = trace.get_tracer("shop")

        def checkout(fail):
            with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER):
                with tracer.start_as_current_span("charge") as span:
                    span.set_attribute("payment.amount", 42)
                    if fail:
                        span.set_status(trace.Status(trace.StatusCode.ERROR, "declined"))

        def test_declined(trace_store):
            checkout(fail=True)
            checkout(fail=False)
            found = trace_store.traceql('{ kind = server } > { status = error }')
            assert [s.name for s in found] == ["charge"]
            assert len(trace_store.traceql("{ span.payment.amount = 42 }")) == 2
            assert trace_store.traceql("{ } | count() > 2") == []

        def test_bad_query(trace_store):
            with pytest.raises(ValueError, match="column 3"):
                trace_store.traceql("{ foo }")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)


def test_array_entries_follow_the_store_as_it_changes():
    store = TraceStore()
    query = TraceQL('{ span.tags = "x" }')

    def tagged(n, tags):
        return SpanRecord(trace_id=0x99, span_id=n, name=f"s{n}", start_time=n, end_time=n + 1,
                          attributes={"tags": tags})

    store.add(tagged(1, ["x", "y"]))
    assert [s.name for s in store.traceql(query)] == ["s1"]
    store.add(tagged(2, ["y", "x"]))
    store.add(tagged(3, "x"))
    assert [s.name for s in store.traceql(query)] == ["s1", "s2", "s3"]
    store.clear()
    store.add(tagged(4, ["z"]))
    store.add(tagged(5, ["x"]))
    store.add(tagged(6, "y"))
    assert [s.name for s in store.traceql(query)] == ["s5"]


@pytest.mark.parametrize(
    "query",
    ["(" * 2000 + "{ }" + ")" * 2000, "{ " + " && ".join(["true"] * 3000) + " }", "{ " + "!" * 3000 + "true }"],
    ids=["parentheses", "and-chain", "negations"],
)
def test_a_query_nested_past_the_parsers_depth_is_a_traceql_error(query):
    with pytest.raises(TraceQLError, match="nested too deeply"):
        compile_traceql(query)
