"""Black-box tests: each runs pytest in a subprocess (the global provider is set once per process)."""

from __future__ import annotations

import json

import pytest

SPANS_TEST = """
from opentelemetry import trace
tracer = trace.get_tracer("demo")

def test_spans(trace_store):
    for i in range({count}):
        with tracer.start_as_current_span(f"s{{i}}"):
            pass
    assert len(trace_store) == {count}
"""


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_start_up_loads_only_what_recording_needs(pytester):
    # Every test process (each xdist worker too) loads the plugin: the query
    # and merge code load on first use, and pytest_tracestore.Query still works.
    pytester.makepyfile(
        """
        import sys

        from opentelemetry import trace

        def test_modules(trace_store_processor):
            # Recording spans (converting, writing, storing) loads nothing more.
            with trace.get_tracer("t").start_as_current_span("op", attributes={"k": 1}):
                pass
            trace_store_processor.drain()
            assert trace_store_processor.store.added == 1
            loaded = sorted(m for m in sys.modules if m.startswith("pytest_tracestore"))
            assert "pytest_tracestore.query" not in loaded, loaded
            assert "pytest_tracestore.merge" not in loaded, loaded
            assert "pytest_tracestore.receiver" not in loaded, loaded
            assert "pytest_tracestore.controller" not in loaded, loaded  # xdist's controller only
            assert "pytest_tracestore.parse" not in loaded, loaded  # reading files back
            import pytest_tracestore
            from pytest_tracestore.query import Query
            assert pytest_tracestore.Query is Query
            assert "Query" in vars(pytest_tracestore)  # looked up once, then kept

        def test_queries_load_it(trace_store):
            assert trace_store.spans(name="none") == []
            assert "pytest_tracestore.query" in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_default_artifact_header_and_summary(pytester):
    pytester.makepyfile(SPANS_TEST.format(count=3))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    artifact = pytester.path / ".pytest_cache" / "d" / "tracestore" / "spans.jsonl"
    result.stdout.fnmatch_lines(
        [
            f"tracestore: joining every TracerProvider; a session one serves the global tracer API until the app sets its own; spans -> {artifact} (max 1000)",
            f"tracestore: 3 spans recorded; 3 in {artifact}",
        ]
    )
    assert [x["name"] for x in lines(artifact)] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("source", ["flag", "ini"])
def test_path_option(pytester, source):
    pytester.makepyfile(SPANS_TEST.format(count=2))
    if source == "flag":
        args = ["--trace-store-path", "out/run.jsonl"]
    else:
        pytester.makeini("[pytest]\ntrace_store_path = out/run.jsonl\n")
        args = []
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    artifact = pytester.path / "out" / "run.jsonl"
    assert len(lines(artifact)) == 2
    result.stdout.fnmatch_lines([f"*spans -> {artifact} *"])


def test_ini_path_is_relative_to_the_ini_file(pytester):
    pytester.makepyfile(**{"sub/test_x.py": SPANS_TEST.format(count=1)})
    pytester.makeini("[pytest]\ntrace_store_path = traces/run.jsonl\n")
    result = pytester.runpytest_subprocess("sub")
    result.assert_outcomes(passed=1)
    assert len(lines(pytester.path / "traces" / "run.jsonl")) == 1


@pytest.mark.parametrize("source", ["flag", "ini"])
def test_max_spans_option_caps_the_file_fifo(pytester, source):
    pytester.makepyfile(SPANS_TEST.format(count=700))
    if source == "flag":
        args = ["--trace-store-max-spans", "5"]
    else:
        pytester.makeini("[pytest]\ntrace_store_max_spans = 5\n")
        args = []
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *args)
    result.assert_outcomes(passed=1)
    assert [x["name"] for x in lines(pytester.path / "run.jsonl")] == [f"s{i}" for i in range(695, 700)]
    result.stdout.fnmatch_lines(["*700 spans recorded, the oldest 695 dropped by the FIFO cap; 5 in*"])


@pytest.mark.parametrize("source", ["flag", "ini"])
def test_format_option_writes_otlp_json_lines(pytester, source):
    pytester.makepyfile(SPANS_TEST.format(count=2))
    if source == "flag":
        args = ["--trace-store-format", "otlp"]
    else:
        pytester.makeini("[pytest]\ntrace_store_format = otlp\n")
        args = []
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*spans -> * (max 1000, otlp)"])
    names = [
        span["name"]
        for line in lines(pytester.path / "run.jsonl")
        for span in line["resourceSpans"][0]["scopeSpans"][0]["spans"]
    ]
    assert names == ["s0", "s1"]


@pytest.mark.parametrize(
    "args, ini, message",
    [
        (["--trace-store-max-spans", "0"], "", "*--trace-store-max-spans: must be at least 1, got 0*"),
        (["--trace-store-max-spans", "lots"], "", "*--trace-store-max-spans: expected a whole number of spans, got 'lots'*"),
        ([], "trace_store_max_spans = -3", "*trace_store_max_spans (ini): must be at least 1, got -3*"),
        (["--trace-store-batch-size", "0"], "", "*--trace-store-batch-size: must be at least 1, got 0*"),
        ([], "trace_store_batch_size = some", "*trace_store_batch_size (ini): expected a whole number of spans, got 'some'*"),
        (["--trace-store-path", "blocker/run.jsonl"], "", "*--trace-store-path: cannot create the folder *blocker*"),
        (["--trace-store-path", "."], "", "*--trace-store-path: * is a folder; give a file path*"),
        ([], "trace_store_format = xml", "*trace_store_format (ini): expected one of jsonl, otlp, got 'xml'*"),
        (["--trace-store-report", "sometimes"], "", "*--trace-store-report: expected one of failed, all, none, got 'sometimes'*"),
        (["--trace-store-failed-dir", "blocker"], "", "*--trace-store-failed-dir: *blocker is a file; give a folder*"),
        ([], "trace_store_redact =\n    none\n    *card*", "*trace_store_redact (ini): *'none' must stand alone*"),
        ([], "trace_store_fail_on_error = maybe", "*trace_store_fail_on_error (ini): expected true or false, got 'maybe'*"),
    ],
)
def test_bad_options_are_usage_errors(pytester, args, ini, message):
    pytester.makepyfile("def test_x(): pass")
    pytester.path.joinpath("blocker").write_text("a file, not a folder", encoding="utf-8")
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_file_is_emptied_at_each_run(pytester):
    pytester.makepyfile(SPANS_TEST.format(count=2))
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    assert len(lines(pytester.path / "run.jsonl")) == 2


def test_trace_store_sees_only_its_own_test_from_setup_to_teardown_and_threads(pytester):
    pytester.makepyfile(
        """
        import threading
        import pytest
        from opentelemetry import trace
        tracer = trace.get_tracer("demo")

        @pytest.fixture
        def service():
            with tracer.start_as_current_span("setup"):
                pass
            yield
            with tracer.start_as_current_span("teardown"):
                pass

        def test_first(service, trace_store):
            with tracer.start_as_current_span("first"):
                pass
            t = threading.Thread(target=lambda: tracer.start_span("from-thread").end())
            t.start(); t.join()
            assert [s.name for s in trace_store.spans()] == ["setup", "first", "from-thread"]

        def test_second(trace_store):
            assert len(trace_store) == 0
            # The previous test's teardown span ended inside that test.
            names = [s.name for s in trace_store.session.spans()]
            assert names == ["setup", "first", "from-thread", "teardown"]
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=2)


def test_existing_sdk_provider_is_reused(pytester):
    pytester.makeconftest(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        EXPORTER = InMemorySpanExporter()
        PROVIDER = TracerProvider()
        PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(PROVIDER)
        """
    )
    pytester.makepyfile(
        """
        from opentelemetry import trace
        import conftest

        def test_both_see_spans(trace_store):
            assert trace.get_tracer_provider() is conftest.PROVIDER
            with trace.get_tracer("app").start_as_current_span("work"):
                pass
            assert [s.name for s in trace_store.spans()] == ["work"]
            assert [s.name for s in conftest.EXPORTER.get_finished_spans()] == ["work"]
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["tracestore: added to the TracerProvider already set; spans -> *"])
    assert [x["name"] for x in lines(pytester.path / "run.jsonl")] == ["work"]


def test_processor_fixture_serves_an_apps_own_provider(pytester):
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry.sdk.trace import TracerProvider

        @pytest.fixture(scope="session")
        def app_provider(trace_store_processor):
            provider = TracerProvider()
            provider.add_span_processor(trace_store_processor)
            return provider

        def test_app(app_provider, trace_store, trace_store_session):
            with app_provider.get_tracer("app").start_as_current_span("private"):
                pass
            assert trace_store.query_spans(name="private")
            assert trace_store_session.query_spans(name="private")
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    assert [x["name"] for x in lines(pytester.path / "run.jsonl")] == ["private"]


def test_spans_from_session_fixture_teardown_reach_the_file(pytester):
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        @pytest.fixture(scope="session")
        def server():
            yield
            with trace.get_tracer("srv").start_as_current_span("server.stop"):
                pass

        def test_x(server):
            pass
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    assert [x["name"] for x in lines(pytester.path / "run.jsonl")] == ["server.stop"]


def test_plugin_can_be_disabled(pytester):
    pytester.makepyfile("def test_x(trace_store): pass")
    result = pytester.runpytest_subprocess("-p", "no:tracestore")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'trace_store' not found*"])
    assert "tracestore:" not in result.stdout.str()


def test_fixtures_are_documented(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("--fixtures")
    # pytest lists fixtures in an order of its own: check each with its docstring.
    result.stdout.fnmatch_lines(["trace_store -- *", "*The spans this test owns, as they end during it*"])
    result.stdout.fnmatch_lines(["trace_store_processor* -- *", "*for apps that build their own TracerProvider*"])


def test_help_does_not_touch_the_artifact(pytester):
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--trace-store-path=PATH*", "*--trace-store-max-spans=N*"])
    assert not (pytester.path / ".pytest_cache" / "d" / "tracestore").exists()
