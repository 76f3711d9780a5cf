"""Black-box: --trace-store-test-spans, a session span and a span per test; TRACEPARENT."""

from __future__ import annotations

import json
from typing import Any

import pytest

XDIST = pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])

INCOMING_TRACE = "0af7651916cd43dd8448eb211c80319c"
INCOMING_SPAN = "b7ad6b7169203331"

SUITE = '''
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("app")


@pytest.fixture
def database():
    with tracer.start_as_current_span("db connect"):
        pass
    yield
    with tracer.start_as_current_span("db close"):
        pass


def test_passes(database):
    with tracer.start_as_current_span("checkout"):
        with tracer.start_as_current_span("charge"):
            pass


class TestCart:
    def test_fails(self):
        assert 1 == 2, "cart is empty"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(strict=True)
def test_strict_xpass():
    pass
'''


def spans_of(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    lines = (pytester.path / "run.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in spans}


def session_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if s["name"] == "pytest session"]


@XDIST
def test_each_test_gets_a_span_that_the_apps_spans_nest_under(pytester, xdist_args):
    pytester.makepyfile(test_shop=SUITE)
    result = pytester.runpytest_subprocess(
        "--trace-store-test-spans", "--trace-store-path", "run.jsonl", *xdist_args
    )
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines(["tracestore: test spans on: a 'pytest session' span as a new trace*"])
    spans = by_name(spans_of(pytester))
    source = (pytester.path / "test_shop.py").read_text().splitlines()
    line = source.index("def test_passes(database):") + 1
    passed = spans["test_shop.py::test_passes"]
    assert passed["attributes"] == {
        "test.case.name": "test_shop.py::test_passes",
        "test.suite.name": "test_shop.py",
        "test.case.result.status": "pass",
        "pytest.outcome": "passed",
        "code.filepath": str(pytester.path / "test_shop.py"),
        "code.function": "test_passes",
        "code.lineno": line,
    }
    assert passed["status"] == "UNSET" and passed["kind"] == "INTERNAL"
    failed = spans["test_shop.py::TestCart::test_fails"]
    assert failed["attributes"]["test.suite.name"] == "test_shop.py::TestCart"
    assert failed["attributes"]["test.case.result.status"] == "fail"
    assert failed["attributes"]["pytest.outcome"] == "failed"
    assert failed["status"] == "ERROR"
    assert failed["status_description"].startswith("call: AssertionError: cart is empty")
    assert [e["name"] for e in failed["events"]] == ["exception"]
    skipped = spans["test_shop.py::test_skipped"]["attributes"]
    assert (skipped["test.case.result.status"], skipped["pytest.outcome"]) == ("pass", "skipped")
    xpass = spans["test_shop.py::test_strict_xpass"]
    assert xpass["status"] == "ERROR"
    assert xpass["attributes"]["test.case.result.status"] == "fail"
    # Every test's span begins a trace of its own, linked to its process's session span.
    sessions = {s["span_id"]: s for s in session_spans(spans_of(pytester))}
    tests = [span for name, span in spans.items() if name.startswith("test_shop.py::")]
    for span in tests:
        assert span["parent_span_id"] is None, span["name"]
        (link,) = span["links"]
        assert link["span_id"] in sessions and link["trace_id"] == sessions[link["span_id"]]["trace_id"]
    assert len({span["trace_id"] for span in tests}) == len(tests)
    # The app's spans, in setup, call and teardown, are the test's children.
    for name in ("db connect", "checkout", "db close"):
        assert spans[name]["parent_span_id"] == passed["span_id"], name
        assert spans[name]["trace_id"] == passed["trace_id"]
    assert spans["charge"]["parent_span_id"] == spans["checkout"]["span_id"]


ENV_SUITE = '''
import os

from opentelemetry import trace

# Read when the module is imported, outside any test.
AT_IMPORT = os.environ.get("TRACEPARENT")


def test_traceparent_names_the_test_span():
    current = trace.get_current_span().get_span_context()
    assert current.is_valid
    expected = f"00-{current.trace_id:032x}-{current.span_id:016x}-{current.trace_flags:02x}"
    assert os.environ["TRACEPARENT"] == expected
    assert "TRACESTATE" not in os.environ  # no state was given


def test_each_test_has_its_own():
    assert os.environ["TRACEPARENT"] != AT_IMPORT
'''

ENV_CONFTEST = '''
import os

import pytest

BEFORE = os.environ.get("TRACEPARENT")
RAN = []


def pytest_runtest_call(item):
    RAN.append(item.nodeid)  # in the process that runs it, not an xdist controller


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    # After every test, before the plugin ends the session span.
    if not RAN:
        return
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    with open(f"env-{worker}.json", "w") as out:
        json = __import__("json")
        json.dump({"before": BEFORE, "after": os.environ.get("TRACEPARENT")}, out)
'''


@XDIST
@pytest.mark.parametrize("how", ["flag", "ini"])
def test_traceparent_is_set_while_a_test_runs_and_put_back_after(pytester, xdist_args, how):
    pytester.makeconftest(ENV_CONFTEST)
    pytester.makepyfile(test_env=ENV_SUITE)
    if how == "ini":
        pytester.makeini("[pytest]\ntrace_store_test_spans = true\n")
        args = []
    else:
        args = ["--trace-store-test-spans"]
    result = pytester.runpytest_subprocess(*args, "--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=2)
    states = [json.loads(p.read_text()) for p in sorted(pytester.path.glob("env-*.json"))]
    assert states and all(s["before"] == s["after"] for s in states)
    sessions = session_spans(spans_of(pytester))
    if xdist_args:
        # A worker starts with the controller's session span in its environment.
        (root,) = [s for s in sessions if s["parent_span_id"] is None]
        assert {s["before"][:-3] for s in states} == {f"00-{root['trace_id']}-{root['span_id']}"}
    else:
        assert states == [{"before": None, "after": None}]


OFF_SUITE = '''
import os

from opentelemetry import trace

tracer = trace.get_tracer("app")


def test_nothing_of_ours():
    assert "TRACEPARENT" not in os.environ and "TRACESTATE" not in os.environ
    assert not trace.get_current_span().get_span_context().is_valid
    with tracer.start_as_current_span("checkout"):
        pass
'''


@pytest.mark.parametrize(
    "xdist_args, ini",
    [([], ""), (["-n", "2"], ""), ([], "[pytest]\ntrace_store_test_spans = false\n")],
    ids=["plain", "n2", "ini-false"],
)
def test_off_by_default_nothing_changes(pytester, xdist_args, ini):
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_off=OFF_SUITE)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=1)
    assert "test spans on" not in result.stdout.str()
    (span,) = spans_of(pytester)
    assert span["name"] == "checkout" and span["parent_span_id"] is None


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_a_bad_ini_value_is_a_usage_error(pytester, value):
    pytester.makeini(f"[pytest]\ntrace_store_test_spans = {value}\n")
    pytester.makepyfile(test_off=OFF_SUITE)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*trace_store_test_spans (ini): expected true or false, got '{value}'*"])
    assert "Traceback" not in result.stderr.str()


@XDIST
def test_an_incoming_traceparent_parents_the_session_span_and_workers_hang_below(
    pytester, monkeypatch, xdist_args
):
    monkeypatch.setenv("TRACEPARENT", f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-01")
    monkeypatch.setenv("TRACESTATE", "ci=build-7")
    pytester.makepyfile(test_shop=SUITE)
    result = pytester.runpytest_subprocess(
        "--trace-store-test-spans", "--trace-store-path", "run.jsonl", *xdist_args
    )
    result.stdout.fnmatch_lines(["*a 'pytest session' span under the incoming TRACEPARENT*"])
    spans = spans_of(pytester)
    sessions = session_spans(spans)
    (root,) = [s for s in sessions if s["parent_span_id"] == INCOMING_SPAN]
    assert root["trace_id"] == INCOMING_TRACE
    assert root["status"] == "ERROR"  # two tests failed
    assert root["attributes"]["test.suite.run.status"] == "failure"
    assert root["attributes"]["pytest.exitstatus"] == 1
    workers = [s for s in sessions if s is not root]
    if xdist_args:
        # Each worker's session span hangs from the controller's.
        assert sorted(s["attributes"]["pytest.xdist.worker"] for s in workers) == ["gw0", "gw1"]
        assert all(s["parent_span_id"] == root["span_id"] for s in workers)
    else:
        assert workers == []
    # The session is in the CI job's trace, and each test's trace links to
    # its process's session span.
    assert {s["trace_id"] for s in sessions} == {INCOMING_TRACE}
    assert {s.get("trace_state") for s in sessions} == {"ci=build-7"}
    tests = [s for s in spans if s["name"].startswith("test_shop.py::")]
    assert len(tests) == 4
    assert all(s["links"][0]["span_id"] in {x["span_id"] for x in sessions} for s in tests)


def test_an_unsampled_incoming_traceparent_still_records_the_run(pytester, monkeypatch):
    monkeypatch.setenv("TRACEPARENT", f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-00")
    pytester.makepyfile(test_shop=SUITE)
    pytester.runpytest_subprocess("--trace-store-test-spans", "--trace-store-path", "run.jsonl")
    spans = by_name(spans_of(pytester))
    assert spans["pytest session"]["parent_span_id"] == INCOMING_SPAN
    assert {"checkout", "charge", "test_shop.py::test_passes"} <= spans.keys()
    assert spans["pytest session"]["trace_id"] == INCOMING_TRACE
    assert spans["checkout"]["trace_id"] == spans["test_shop.py::test_passes"]["trace_id"]


def test_a_malformed_incoming_traceparent_is_a_warning(pytester, monkeypatch):
    monkeypatch.setenv("TRACEPARENT", "not-a-traceparent")
    pytester.makepyfile(test_off="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--trace-store-test-spans", "--trace-store-path", "run.jsonl"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*TraceStoreWarning: pytest-tracestore: TRACEPARENT='not-a-traceparent' is not a W3C traceparent*"]
    )
    (session,) = session_spans(spans_of(pytester))
    assert session["parent_span_id"] is None


CHILD = '''
import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

carrier = {"traceparent": os.environ["TRACEPARENT"], "tracestate": os.environ.get("TRACESTATE", "")}
parent = TraceContextTextMapPropagator().extract(carrier)
provider = TracerProvider(resource=Resource.create({"service.name": "worker-job"}))
# Each span is exported as it ends, children before their parent: a wait
# that returned on the first span would miss the rest.
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("job")
with tracer.start_as_current_span("job", context=parent):
    for step in range(3):
        with tracer.start_as_current_span(f"step {step}"):
            pass
provider.shutdown()
'''

CHILD_TEST = '''
import os
import subprocess
import sys

import pytest
from opentelemetry import trace

CHILD = os.path.join(os.path.dirname(__file__), "child.py")


@pytest.mark.parametrize("run", range(20))
def test_a_subprocess_joins_the_tests_trace(run, trace_store, trace_store_otlp_endpoint):
    test_span = trace.get_current_span().get_span_context()
    trace_id = format(test_span.trace_id, "032x")
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=trace_store_otlp_endpoint)
    child = subprocess.Popen([sys.executable, CHILD], env=env)
    try:
        whole = trace_store.wait_for_trace(trace_id, timeout=60)
    finally:
        assert child.wait(timeout=60) == 0
    assert sorted(s.name for s in whole) == ["job", "step 0", "step 1", "step 2"]
    job = whole.span(name="job")
    assert job.parent_span_id == format(test_span.span_id, "016x")
    assert job.resource["service.name"] == "worker-job"
    assert [s.name for s in whole.children(job)] == ["step 0", "step 1", "step 2"]
'''


@XDIST
def test_a_subprocess_reading_traceparent_lands_in_the_tests_trace_20_times(pytester, xdist_args):
    pytester.makepyfile(child=CHILD, test_child=CHILD_TEST)
    result = pytester.runpytest_subprocess(
        "--trace-store-test-spans", "--trace-store-path", "run.jsonl",
        "--trace-store-max-spans", "1000", *xdist_args,
    )
    result.assert_outcomes(passed=20)
    spans = spans_of(pytester)
    tests = {s["span_id"]: s["name"] for s in spans if s["name"].startswith("test_child.py::")}
    jobs = [s for s in spans if s["name"] == "job"]
    assert len(jobs) == 20
    # Each job hangs from its own test's span: one job per test.
    assert sorted(tests[j["parent_span_id"]] for j in jobs) == sorted(tests.values())


MESSAGES_SUITE = '''
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

tracer = trace.get_tracer("app")


def test_wait_for_trace_names_the_missing_parent(trace_store):
    test_span = trace.get_current_span().get_span_context()
    elsewhere = SpanContext(test_span.trace_id, 0xDEAD, is_remote=True, trace_flags=TraceFlags(1))
    orphan = tracer.start_span("orphan", context=trace.set_span_in_context(NonRecordingSpan(elsewhere)))
    orphan.end()
    with tracer.start_as_current_span("fine"):
        pass  # a child of the test's span, which is open: not missing
    trace_store.wait_for_trace(test_span.trace_id, timeout=0.2)


def test_wait_for_lists_the_nearest_misses(trace_store):
    with tracer.start_as_current_span("GET /items", kind=trace.SpanKind.CLIENT):
        pass
    trace_store.wait_for(timeout=0.2, name="GET /items", kind="SERVER")
'''


@XDIST
def test_wait_messages_say_what_is_missing(pytester, xdist_args):
    pytester.makepyfile(test_messages=MESSAGES_SUITE)
    result = pytester.runpytest_subprocess("--trace-store-test-spans", *xdist_args)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random([
        "E * is not whole after 0.2 s: 2 spans arrived; "
        "missing parent spans: 000000000000dead (parent of 'orphan')",
        "E * no span matching name='GET /items', kind='SERVER' arrived within 0.2 s; *",
        "E * Nearest misses:",
        "E * <SpanRecord 'GET /items' *>: kind is CLIENT",
    ])
    assert "store.py" not in result.stdout.str()  # the helpers hide their own frames


@XDIST
def test_spans_are_owned_by_their_tests_and_the_test_span_is_not_still_open(pytester, xdist_args):
    # Each span belongs to the test it started in, and a test's own span,
    # open until its teardown is over, is never reported as left open.
    pytester.makepyfile(
        '''
        from opentelemetry import trace

        tracer = trace.get_tracer("app")

        def test_one(trace_store):
            with tracer.start_as_current_span("one"):
                pass
            assert [s.name for s in trace_store.spans()] == ["one"]

        def test_two(trace_store):
            tracer.start_span("left.open")
            with tracer.start_as_current_span("two"):
                pass
            assert [s.name for s in trace_store.spans()] == ["two"]
        '''
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-test-spans", "--trace-store-path", "run.jsonl", "-rA", *xdist_args
    )
    assert result.ret == 0, result.stdout.str()
    owners = {s["name"]: s.get("test") for s in spans_of(pytester)}
    assert owners["one"] == "test_spans_are_owned_by_their_tests_and_the_test_span_is_not_still_open.py::test_one"
    assert owners["two"].endswith("::test_two")
    assert owners["pytest session"] is None
    sections = [line for line in result.stdout.lines if "(still open)" in line]
    assert len(sections) == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*left.open trace=*"])
    assert not any("::test_one trace=" in line or "::test_two trace=" in line for line in result.stdout.lines)
