"""Which test owns a span: the rule in-process, and black-box through pytest runs."""

from __future__ import annotations

import io
import json
import pickle
import time

import pytest
from conftest import make_record
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from pytest_tracestore import ScopedTraceStore, SpanRecord, TraceStore
from pytest_tracestore.attribution import Attribution, fixture_owner
from pytest_tracestore.cli import main
from pytest_tracestore.codecs import codec_for
from pytest_tracestore.parse import LineDecoder, Shared, record_from_dict
from pytest_tracestore.processor import FileBasedSpanProcessor

# -- the rule, in-process ------------------------------------------------------


@pytest.fixture
def recording(tmp_path):
    """A private provider whose processor records with an Attribution."""
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", max_spans=1000)
    attribution = Attribution(max_traces=8, max_open=8)
    processor.attribution = attribution
    provider = TracerProvider()
    provider.add_span_processor(processor)
    yield provider.get_tracer("t"), attribution, processor
    processor.shutdown()


def _owners(processor):
    return {r.name: r.test for r in processor.store}


def test_a_span_belongs_to_the_test_where_its_trace_began(recording):
    tracer, attribution, processor = recording
    with attribution.scope("t.py::test_one"):
        root = tracer.start_span("root")
        context = trace_api.set_span_in_context(root)
        late = tracer.start_span("late.child", context=context)
        with tracer.start_as_current_span("own"):
            pass
    with attribution.scope("t.py::test_two"):
        # Started and ended in test_two, but its trace began in test_one.
        tracer.start_span("child.in.two", context=context).end()
        late.end()
        root.end()
        with tracer.start_as_current_span("two.own"):
            pass
    tracer.start_span("outside").end()
    assert _owners(processor) == {
        "own": "t.py::test_one",
        "child.in.two": "t.py::test_one",
        "late.child": "t.py::test_one",
        "root": "t.py::test_one",
        "two.own": "t.py::test_two",
        "outside": None,
    }


def test_a_remote_parent_joins_the_test_that_started_its_trace_else_the_current_one(recording):
    tracer, attribution, processor = recording
    with attribution.scope("t.py::test_one"):
        root = tracer.start_span("root")
        root.end()
    known = root.get_span_context()
    unknown = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with attribution.scope("t.py::test_two"):
        for name, parent in (("server.known", known), ("server.unknown", unknown)):
            remote = SpanContext(parent.trace_id, parent.span_id, is_remote=True, trace_flags=TraceFlags(1))
            ctx = trace_api.set_span_in_context(NonRecordingSpan(remote))
            tracer.start_span(name, context=ctx).end()
    owners = _owners(processor)
    assert owners["server.known"] == "t.py::test_one"
    assert owners["server.unknown"] == "t.py::test_two"


def test_a_received_span_follows_its_trace_else_its_start_time():
    attribution = Attribution()
    with attribution.scope("t.py::test_one") as one:
        pass
    inside = (one.start + one.end) // 2
    mine = SpanRecord(trace_id=5, span_id=1, name="a", start_time=inside, end_time=inside + 1)
    assert attribution.claim(mine).test == "t.py::test_one"
    # The rest of that trace follows, whenever it started.
    later = SpanRecord(trace_id=5, span_id=2, name="b", start_time=1, end_time=2)
    assert attribution.claim(later).test == "t.py::test_one"
    before = SpanRecord(trace_id=6, span_id=3, name="c", start_time=1, end_time=2)
    assert attribution.claim(before).test is None
    owned = SpanRecord(trace_id=7, span_id=4, name="d", test="t.py::other")
    assert attribution.claim(owned) is owned


def test_still_open_spans_are_listed_and_forgotten_when_they_end(recording):
    tracer, attribution, processor = recording
    with attribution.scope("t.py::test_one") as scope:
        left = tracer.start_span("left.open")
        tracer.start_span("closed").end()
        assert [s.name for s in scope.still_open()] == ["left.open"]
    left.end()
    assert scope.still_open() == []


def test_maps_stay_bounded_over_a_long_run(recording):
    tracer, attribution, _ = recording
    with attribution.scope("t.py::test_leaks") as scope:
        leaked = [tracer.start_span(f"leak{i}") for i in range(50)]
    assert len(attribution._traces) <= 8
    assert len(attribution._spans) <= 8
    assert len(scope.open) <= 8
    for span in leaked:
        span.end()
    assert not attribution._spans


def test_bad_arguments_are_value_errors_naming_them():
    with pytest.raises(ValueError, match="max_traces 0"):
        Attribution(max_traces=0)
    with pytest.raises(ValueError, match="owner 3"):
        with Attribution().scope(3):  # type: ignore[arg-type]
            pass
    with pytest.raises(ValueError, match="invalid test 5"):
        SpanRecord(trace_id=1, span_id=1, name="a", test=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'nmae'"):
        SpanRecord(trace_id=1, span_id=1, name="a").replace(nmae="b")


def test_a_later_scope_is_entered_and_left_by_two_calls():
    attribution = Attribution()
    enter, leave = attribution.later_scope("t.py::fixture:db")
    leave()  # before enter: nothing to leave
    with attribution.scope("t.py::test_last"):
        enter()
        assert attribution.current == "t.py::fixture:db"
        leave()
        leave()
        assert attribution.current == "t.py::test_last"
    assert attribution.current is None


def test_fixture_owner_names_the_scope_and_the_fixture():
    assert fixture_owner("tests/test_a.py", "db") == "tests/test_a.py::fixture:db"
    assert fixture_owner("", "server") == "<session>::fixture:server"


# -- the test field in records and lines -----------------------------------------


OWNED = SpanRecord(
    trace_id=1, span_id=2, name="a", attributes={"x": 1}, resource={"service.name": "shop"},
    test="tests/test_a.py::test_a[1]",
)


@pytest.mark.parametrize("fmt", ["jsonl", "otlp"])
def test_test_field_round_trips_through_both_formats_and_load(tmp_path, fmt):
    codec = codec_for(fmt)
    unowned = OWNED.replace(span_id=3, test=None)
    line = codec.encode(OWNED)
    assert ('"test":"tests/test_a.py::test_a[1]"' in line) is (fmt == "jsonl")
    assert ('"key":"test.case.name"' in line) is (fmt == "otlp")
    assert "test" not in json.loads(codec.encode(unowned)) and "test.case.name" not in codec.encode(unowned)
    path = tmp_path / "spans.jsonl"
    path.write_text((line + codec.encode(unowned)) * 3)
    loaded = list(TraceStore.load(path))
    assert loaded == [OWNED, unowned] * 3
    assert [r.test for r in loaded] == [OWNED.test, None] * 3
    assert "test.case.name" not in loaded[0].attributes


def test_jsonl_fast_path_reads_the_test_field():
    line = codec_for("jsonl").encode(OWNED)
    fast = LineDecoder(Shared())._fast(line, 0)
    assert fast is not None and fast.test == OWNED.test
    assert record_from_dict(json.loads(line)).test == OWNED.test


def test_a_corrupt_test_field_is_skipped_with_a_warning(tmp_path):
    bad = json.loads(codec_for("jsonl").encode(OWNED))
    bad["test"] = 5
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(bad) + "\n" + codec_for("jsonl").encode(OWNED))
    with pytest.warns(Warning, match="test"):
        loaded = list(TraceStore.load(path))
    assert loaded == [OWNED]


def test_records_with_a_test_pickle_and_compare_by_it():
    assert pickle.loads(pickle.dumps(OWNED)) == OWNED
    assert OWNED.replace(test="other") != OWNED
    assert OWNED.replace(test=None).test is None


def test_snapshots_leave_the_test_out():
    store = TraceStore()
    store.add(OWNED)
    other = TraceStore()
    other.add(OWNED.replace(test="elsewhere"))
    assert store.snapshot() == other.snapshot()
    assert "test" not in json.dumps(store.snapshot())


# -- black-box: pytest runs ------------------------------------------------------

XDIST = pytest.mark.parametrize(
    "xdist_args", [[], ["-n", "2", "--dist", "loadfile"]], ids=["plain", "n2"]
)

BACKGROUND = """
import threading
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

tracer = trace.get_tracer("app")
gate = threading.Event()
threads = []

def test_first(trace_store):
    def work():
        with tracer.start_as_current_span("bg.job") as span:
            gate.wait(10)
            span.set_status(Status(StatusCode.ERROR, "late failure"))
    thread = threading.Thread(target=work)
    thread.start()
    threads.append(thread)
    with tracer.start_as_current_span("first.own"):
        pass
    assert [s.name for s in trace_store.spans()] == ["first.own"]

def test_second(trace_store):
    gate.set()
    threads[0].join(10)
    with tracer.start_as_current_span("second.own"):
        pass
    # bg.job ended during this test, but its trace began in test_first.
    assert [s.name for s in trace_store.spans()] == ["second.own"]
"""


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@XDIST
def test_background_span_ending_in_the_next_test_belongs_to_the_first(pytester, xdist_args):
    pytester.makepyfile(test_bg=BACKGROUND)
    result = pytester.runpytest_subprocess(
        "-rA", "--trace-store-path", "run.jsonl", "--trace-store-fail-on-error", *xdist_args
    )
    # With fail-on-error the innocent second test does not error.
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*Captured traces (still open) teardown*",
            "1 span started in this test had not ended when its teardown did*",
            "  bg.job trace=* span=* open for *",
        ]
    )
    owners = {d["name"]: d.get("test") for d in _lines(pytester.path / "run.jsonl")}
    assert owners == {
        "first.own": "test_bg.py::test_first",
        "bg.job": "test_bg.py::test_first",
        "second.own": "test_bg.py::test_second",
    }


@XDIST
def test_spans_left_open_are_named_in_the_failing_tests_section(pytester, xdist_args):
    pytester.makepyfile(
        test_leak="""
        from opentelemetry import trace
        tracer = trace.get_tracer("app")
        LEAKED = []

        def test_leaks():
            LEAKED.append(tracer.start_span("never.ended"))
            with tracer.start_as_current_span("done"):
                pass
            assert False, "boom"
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Captured traces call*",
            "*done*",
            "*Captured traces (still open) teardown*",
            "  never.ended trace=* span=* open for *",
        ]
    )


@XDIST
def test_wide_fixture_spans_are_the_fixtures_not_the_first_tests(pytester, xdist_args):
    pytester.makeconftest(
        """
        import pytest
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode
        tracer = trace.get_tracer("app")

        @pytest.fixture(scope="session")
        def server():
            with tracer.start_as_current_span("server.start"):
                pass
            yield "up"
            with tracer.start_as_current_span("server.stop") as span:
                span.set_status(Status(StatusCode.ERROR, "unclean shutdown"))
        """
    )
    pytester.makepyfile(
        test_fix="""
        import pytest
        from opentelemetry import trace
        tracer = trace.get_tracer("app")

        @pytest.fixture(scope="module")
        def db():
            with tracer.start_as_current_span("db.connect"):
                pass

        def test_first(server, db, trace_store):
            with tracer.start_as_current_span("first.own"):
                pass
            assert [s.name for s in trace_store.spans()] == ["first.own"]
            owners = {s.name: s.test for s in trace_store.session.spans()}
            assert owners["server.start"] == "<session>::fixture:server"
            assert owners["db.connect"] == "test_fix.py::fixture:db"

        @pytest.mark.parametrize("n", [1, 2])
        def test_later(server, db, trace_store, n):
            assert list(trace_store.spans()) == []
        """
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-fail-on-error", *xdist_args
    )
    # The session fixture's ERROR span in its teardown fails no test.
    result.assert_outcomes(passed=3)
    owners = {d["name"]: d.get("test") for d in _lines(pytester.path / "run.jsonl")}
    assert owners["server.stop"] == owners["server.start"] == "<session>::fixture:server"


@XDIST
@pytest.mark.parametrize("fmt", ["jsonl", "otlp"])
def test_every_line_names_its_test_in_both_formats(pytester, xdist_args, fmt):
    pytester.makepyfile(
        test_two="""
        import pytest
        from opentelemetry import trace
        tracer = trace.get_tracer("app")

        @pytest.mark.parametrize("n", ["a", "b"])
        def test_one(n):
            with tracer.start_as_current_span(f"one.{n}"):
                pass

        def test_two():
            with tracer.start_as_current_span("two"):
                pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-format", fmt, *xdist_args
    )
    result.assert_outcomes(passed=3)
    path = pytester.path / "run.jsonl"
    text = path.read_text()
    assert text.count("test.case.name" if fmt == "otlp" else '"test":') == 3
    loaded = {r.name: r for r in TraceStore.load(path)}
    assert {name: r.test for name, r in loaded.items()} == {
        "one.a": "test_two.py::test_one[a]",
        "one.b": "test_two.py::test_one[b]",
        "two": "test_two.py::test_two",
    }
    assert all("test.case.name" not in r.attributes for r in loaded.values())


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def two_services_run(pytester):
    pytester.makeconftest(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": "shop"})))
        """
    )
    pytester.makepyfile(
        test_cli_run="""
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.trace import Status, StatusCode
        tracer = trace.get_tracer("app")

        def test_pay(trace_store_processor):
            other = TracerProvider(resource=Resource.create({"service.name": "payments"}))
            other.add_span_processor(trace_store_processor)
            with tracer.start_as_current_span("checkout") as span:
                with other.get_tracer("p").start_as_current_span("charge") as charge:
                    charge.set_status(Status(StatusCode.ERROR, "declined"))
                span.set_status(Status(StatusCode.ERROR, "failed"))

        def test_browse():
            with tracer.start_as_current_span("browse") as span:
                span.set_status(Status(StatusCode.ERROR, "404"))
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=2)
    return pytester.path / "run.jsonl"


def test_cli_filters_by_test_and_service_and_groups_failures_by_test(two_services_run):
    path = two_services_run
    code, out, _ = _cli("summary", path, "--test", "test_pay")
    assert code == 0 and "2 spans in 1 trace" in out
    code, out, _ = _cli("summary", path, "--service", "payments")
    assert code == 0 and "1 span in 1 trace" in out
    code, out, _ = _cli("query", path, "--test", "test_cli_run.py::test_browse", "--json")
    assert code == 0 and [json.loads(line)["name"] for line in out.splitlines()] == ["browse"]
    code, out, err = _cli("export", path, "-o", "-", "--format", "jsonl", "--service", "shop", "--test", "pay")
    assert code == 0 and [json.loads(line)["name"] for line in out.splitlines()] == ["checkout"]
    code, out, _ = _cli("failures", path)
    assert code == 1
    pay, browse = out.index("test test_cli_run.py::test_pay"), out.index("test test_cli_run.py::test_browse")
    assert pay < out.index("charge") < browse
    code, out, _ = _cli("failures", path, "--test", "browse")
    assert code == 1 and "charge" not in out and "test test_cli_run.py::test_browse" in out
    code, _, err = _cli("summary", path, "--test", "nothing_like_it")
    assert code == 2 and "no span in" in err and "--test nothing_like_it" in err
    code, _, err = _cli("export", path, "-o", "-", "--service", "")
    assert code == 2 and "--service" in err and "Traceback" not in err


def test_merge_keeps_each_spans_test(two_services_run, tmp_path):
    out = tmp_path / "merged.jsonl"
    assert _cli("merge", two_services_run, "-o", out)[0] == 0
    assert sorted(r.test for r in TraceStore.load(out)) == sorted(
        r.test for r in TraceStore.load(two_services_run)
    )


@XDIST
def test_an_otlp_span_for_a_trace_the_test_started_lands_in_that_test(pytester, xdist_args):
    pytester.makepyfile(
        test_remote="""
        import json, urllib.request
        from opentelemetry import trace
        tracer = trace.get_tracer("app")

        def send(endpoint, trace_id, parent_id, name, start):
            span = {"traceId": trace_id, "spanId": "00000000000000aa", "parentSpanId": parent_id,
                    "name": name, "kind": 2, "startTimeUnixNano": str(start),
                    "endTimeUnixNano": str(start + 1000)}
            body = {"resourceSpans": [{"resource": {"attributes": [
                        {"key": "service.name", "value": {"stringValue": "remote"}}]},
                    "scopeSpans": [{"scope": {"name": "r"}, "spans": [span]}]}]}
            request = urllib.request.Request(endpoint + "/v1/traces", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            assert urllib.request.urlopen(request, timeout=10).status == 200

        def test_calls_remote(trace_store, trace_store_otlp_endpoint):
            with tracer.start_as_current_span("client.call") as span:
                ctx = span.get_span_context()
            # Started "long ago" by the remote clock: only its trace id places it here.
            send(trace_store_otlp_endpoint, format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"),
                 "remote.handler", 1000)
            received = trace_store.wait_for(name="remote.handler", timeout=10)
            assert [s.test for s in received] == ["test_remote.py::test_calls_remote"]

        def test_unrelated(trace_store, trace_store_otlp_endpoint):
            send(trace_store_otlp_endpoint, "0123456789abcdef0123456789abcdef", None, "stray", 1000)
            stray = trace_store.session.wait_for(name="stray", timeout=10)
            assert [s.test for s in stray] == [None]
            assert not trace_store.spans(name="stray")
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=2)


def test_a_scoped_store_for_a_test_keeps_only_that_tests_spans(tmp_path):
    from pytest_tracestore import ScopedTraceStore

    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    view = ScopedTraceStore(processor.store, test="t.py::test_a")
    processor.subscribe(view)
    for n, test in enumerate(["t.py::test_a", "t.py::test_b", None, "t.py::test_a"], 1):
        processor.add_record(SpanRecord(trace_id=n, span_id=n, name=f"s{n}", test=test))
    assert [r.name for r in view] == ["s1", "s4"]
    assert len(processor.store) == 4
    processor.shutdown()


def test_a_selection_refuses_an_empty_value():
    from pytest_tracestore.selection import SpanSelection

    with pytest.raises(ValueError, match="invalid test ''"):
        SpanSelection(test="")
    selection = SpanSelection(test="test_a", service="shop")
    assert selection(OWNED) and not selection(OWNED.replace(resource={"service.name": "other"}))
    assert not selection(OWNED.replace(test=None)) and str(selection) == "--test test_a --service shop"



def test_a_trace_begun_outside_every_test_leaves_each_span_to_the_test_it_started_in(recording):
    # The session span of test spans starts before any test: every test's
    # spans are in its trace, and each belongs to the test it started in.
    tracer, attribution, processor = recording
    with tracer.start_as_current_span("session") as session:
        with attribution.scope("t.py::test_a"):
            with tracer.start_as_current_span("a"):
                pass
        with attribution.scope("t.py::test_b"):
            with tracer.start_as_current_span("b"):
                pass
            trace_id = format(session.get_span_context().trace_id, "032x")
            received = make_record(trace_id=trace_id, span_id=77, start_time=time.time_ns())
            assert attribution.claim(received).test == "t.py::test_b"
    assert _owners(processor) == {"a": "t.py::test_a", "b": "t.py::test_b", "session": None}


@pytest.mark.parametrize("test", ["", 3, b"t.py::x"])
def test_a_scoped_store_for_a_test_that_is_no_node_id_is_a_value_error(test):
    with pytest.raises(ValueError, match=f"invalid test {test!r}"):
        ScopedTraceStore(TraceStore(), test=test)
