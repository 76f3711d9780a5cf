"""Black-box tests of the provider policy: the app's providers are joined, never refused."""

from __future__ import annotations

import json

import pytest

from pytest_tracestore.providers import DECISIONS, Decision, Found, Mode, environment_notes, sdk_knows_disabled

XDIST = pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])

REFUSED = "Overriding of current TracerProvider is not allowed"

# The app: its own resource and its own exporter, which must keep working.
APP = """
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()

def make_provider():
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    return provider
"""

# Each test checks the store, the app's exporter and the resource.
CHECKS = """
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
import app

EARLY = trace.get_tracer("early")  # obtained before the app set its provider

@pytest.mark.parametrize("n", range(4))
def test_spans_reach_the_store_and_the_apps_exporter(trace_store, n):
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    with EARLY.start_as_current_span(f"work{n}"):
        pass
    span = trace_store.span(name=f"work{n}")
    assert span.resource["service.name"] == "shop"
    assert f"work{n}" in [s.name for s in app.EXPORTER.get_finished_spans()]
"""


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def output(result):
    return result.stdout.str() + result.stderr.str()


@XDIST
@pytest.mark.parametrize("where", ["conftest", "module", "session_fixture"])
def test_an_apps_global_provider_is_joined_wherever_it_is_set(pytester, xdist_args, where):
    pytester.makepyfile(app=APP)
    setup = {
        "conftest": "import app\nfrom opentelemetry import trace\n"
        "trace.set_tracer_provider(app.make_provider())\n",
        "module": "",
        "session_fixture": "import pytest, app\nfrom opentelemetry import trace\n\n"
        "@pytest.fixture(scope='session', autouse=True)\ndef app_provider():\n"
        "    trace.set_tracer_provider(app.make_provider())\n",
    }[where]
    pytester.makeconftest(setup)
    checks = CHECKS
    if where == "module":  # an app factory run as the test module is imported
        checks = CHECKS.replace("import app\n", "import app\ntrace.set_tracer_provider(app.make_provider())\n", 1)
    pytester.makepyfile(test_app=checks)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", "-p", "no:randomly", *xdist_args)
    result.assert_outcomes(passed=4)
    assert REFUSED not in output(result)
    assert sorted(x["name"] for x in lines(pytester.path / "run.jsonl")) == [f"work{n}" for n in range(4)]
    result.stdout.fnmatch_lines(["tracestore: joined *TracerProvider (service.name=shop)*"])


@XDIST
def test_a_provider_kept_to_the_app_and_passed_to_an_instrumentor_is_recorded(pytester, xdist_args):
    pytester.makepyfile(
        app=APP
        + """
PROVIDER = make_provider()  # never set as global

def instrument(tracer_provider=None):
    # As opentelemetry-instrumentation's instrumentors do with tracer_provider=.
    return trace.get_tracer("instrumented.lib", tracer_provider=tracer_provider)
""",
        test_private="""
        import app
        from opentelemetry import trace

        tracer = app.instrument(tracer_provider=app.PROVIDER)

        def test_a(trace_store):
            with tracer.start_as_current_span("GET /cart"):
                pass
            assert trace_store.span(name="GET /cart").resource["service.name"] == "shop"
            assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

        def test_b(trace_store):
            with tracer.start_as_current_span("GET /pay"):
                pass
            assert [s.name for s in trace_store.spans()] == ["GET /pay"]
        """,
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=2)
    assert sorted(x["name"] for x in lines(pytester.path / "run.jsonl")) == ["GET /cart", "GET /pay"]


@XDIST
def test_the_global_tracer_api_records_until_the_app_sets_its_provider_then_follows_it(pytester, xdist_args):
    pytester.makepyfile(
        app=APP,
        test_follow="""
        from opentelemetry import trace
        import app

        tracer = trace.get_tracer("lib")

        def test_a_before(trace_store):
            with tracer.start_as_current_span("before"):
                pass
            assert trace_store.span(name="before").resource["service.name"] != "shop"

        def test_b_app_sets_its_own(trace_store):
            trace.set_tracer_provider(app.make_provider())
            with tracer.start_as_current_span("after"):
                pass
            assert trace_store.span(name="after").resource["service.name"] == "shop"
            assert [s.name for s in app.EXPORTER.get_finished_spans()] == ["after"]
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--dist", "loadfile", *xdist_args)
    result.assert_outcomes(passed=2)
    assert REFUSED not in output(result)


@XDIST
def test_the_processor_fixture_on_a_joined_provider_records_each_span_once(pytester, xdist_args):
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry.sdk.trace import TracerProvider

        @pytest.fixture
        def provider(trace_store_processor):
            provider = TracerProvider()
            provider.add_span_processor(trace_store_processor)
            return provider

        def test_once(provider, trace_store):
            with provider.get_tracer("app").start_as_current_span("op"):
                pass
            assert len(trace_store.spans(name="op")) == 1
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args).assert_outcomes(passed=1)
    assert [x["name"] for x in lines(pytester.path / "run.jsonl")] == ["op"]


@XDIST
def test_a_provider_given_the_processor_fixture_and_then_set_as_global_records_each_span_once(
    pytester, xdist_args
):
    # Made at conftest import, before the plugin watches providers; given the
    # processor by hand, then set as the global one, which joins it.
    pytester.makeconftest(
        """
        from opentelemetry.sdk.trace import TracerProvider

        PROVIDER = TracerProvider()
        """
    )
    pytester.makepyfile(
        """
        from opentelemetry import trace
        from conftest import PROVIDER

        def test_once(trace_store_processor, trace_store):
            PROVIDER.add_span_processor(trace_store_processor)
            trace.set_tracer_provider(PROVIDER)
            with trace.get_tracer("app").start_as_current_span("op"):
                pass
            assert len(trace_store.spans(name="op")) == 1
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args).assert_outcomes(passed=1)
    assert [x["name"] for x in lines(pytester.path / "run.jsonl")] == ["op"]


@XDIST
def test_an_opentelemetry_test_utils_testbase_suite_passes_unchanged(pytester, xdist_args):
    pytest.importorskip("opentelemetry.test.test_base")
    pytester.makepyfile(
        """
        from opentelemetry import trace
        from opentelemetry.test.test_base import TestBase

        class TestFirst(TestBase):
            def test_one_span(self):
                with trace.get_tracer("t").start_as_current_span("first"):
                    pass
                spans = self.memory_exporter.get_finished_spans()
                self.assertEqual([s.name for s in spans], ["first"])

            def test_its_own_provider_is_global(self):
                self.assertIs(trace.get_tracer_provider(), self.tracer_provider)

        class TestSecond(TestBase):
            def test_another(self):
                with self.tracer_provider.get_tracer("t").start_as_current_span("second"):
                    pass
                self.assertEqual(len(self.get_finished_spans()), 1)
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=3)
    assert REFUSED not in output(result)
    assert sorted(x["name"] for x in lines(pytester.path / "run.jsonl")) == ["first", "second"]


@XDIST
def test_a_logfire_capfire_suite_passes_unchanged_and_is_recorded(pytester, xdist_args):
    pytest.importorskip("logfire.testing")
    pytester.makepyfile(
        """
        import logfire

        def test_observability(capfire, trace_store):
            with logfire.span("a span!"):
                logfire.info("a log!")
            exported = capfire.exporter.exported_spans_as_dict()
            assert "a span!" in [s["name"] for s in exported]
            assert len(trace_store.spans(name="a span!")) == 1

        def test_again(capfire):
            with logfire.span("second"):
                pass
            assert [s["name"] for s in capfire.exporter.exported_spans_as_dict()] == ["second"]
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", "-p", "no:randomly", *xdist_args)
    result.assert_outcomes(passed=2)
    assert REFUSED not in output(result)


@XDIST
def test_a_capfire_style_suite_with_a_wrapping_global_provider_passes_and_records_each_span_once(
    pytester, xdist_args
):
    # What logfire's capfire does: each test configures a fresh SDK provider
    # with an in-memory exporter behind one global wrapper, set once.
    pytester.makeconftest(
        """
        import pytest
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        class Wrapper(trace.TracerProvider):
            provider = None

            def get_tracer(self, *args, **kwargs):
                return self.provider.get_tracer(*args, **kwargs)

            def add_span_processor(self, processor):
                self.provider.add_span_processor(processor)

        WRAPPER = Wrapper()

        def configure():
            provider = TracerProvider(resource=Resource.create({"service.name": "capfire"}))
            exporter = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            WRAPPER.provider = provider
            if trace.get_tracer_provider() is not WRAPPER:
                trace.set_tracer_provider(WRAPPER)
            return exporter

        @pytest.fixture
        def capfire():
            return configure()
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        @pytest.mark.parametrize("n", range(4))
        def test_spans(capfire, trace_store, n):
            with trace.get_tracer("app").start_as_current_span(f"op{n}"):
                pass
            assert [s.name for s in capfire.get_finished_spans()] == [f"op{n}"]
            assert [s.resource["service.name"] for s in trace_store.spans()] == ["capfire"]
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=4)
    assert REFUSED not in output(result)
    assert sorted(x["name"] for x in lines(pytester.path / "run.jsonl")) == [f"op{n}" for n in range(4)]
    result.stdout.fnmatch_lines(["tracestore: joined *conftest.Wrapper*"])


# -- never silently empty ---------------------------------------------------------

EMPTY_SUITE = """
from opentelemetry import trace

def test_nothing_recorded(trace_store):
    with trace.get_tracer("t").start_as_current_span("work"):
        pass
    trace_store.span(name="work")
"""


@XDIST
@pytest.mark.parametrize(
    "variable, value, words",
    [
        pytest.param(
            "OTEL_SDK_DISABLED", "true", "OTEL_SDK_DISABLED=true turns the OpenTelemetry SDK off",
            marks=pytest.mark.skipif(not sdk_knows_disabled(), reason="this SDK ignores OTEL_SDK_DISABLED"),
        ),
        ("OTEL_TRACES_SAMPLER", "always_off", "OTEL_TRACES_SAMPLER=always_off drops every span"),
    ],
)
def test_an_environment_that_records_nothing_is_told_in_the_header_a_warning_and_the_failure(
    pytester, monkeypatch, xdist_args, variable, value, words
):
    monkeypatch.setenv(variable, value)
    pytester.makepyfile(EMPTY_SUITE)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"tracestore: warning: {words}*",
            "*found none among 0 spans.",
            f"*The run has recorded no span at all: {words}*",
            f"*TraceStoreWarning: pytest-tracestore: {words}*",
        ]
    )
    assert result.stdout.str().count(f"TraceStoreWarning: pytest-tracestore: {words}") == 1


def test_a_ratio_sampler_is_told_as_thinning():
    notes = environment_notes({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"})
    assert notes == [
        "OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.1 records only a share of traces"
    ]
    assert environment_notes({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}) == []
    assert environment_notes({"OTEL_TRACES_SAMPLER": "always_on", "OTEL_SDK_DISABLED": "false"}) == []


def test_a_global_provider_that_cannot_be_joined_is_warned_about(pytester):
    pytester.makeconftest(
        """
        from opentelemetry import trace

        class Vendor(trace.NoOpTracerProvider):
            pass

        trace.set_tracer_provider(Vendor())
        """
    )
    pytester.makepyfile(EMPTY_SUITE)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "tracestore: global provider conftest.Vendor cannot be joined: *",
            "*The run has recorded no span at all: the global provider conftest.Vendor cannot be joined*",
            "*TraceStoreWarning: pytest-tracestore: the global TracerProvider conftest.Vendor has no "
            "add_span_processor method*",
        ]
    )


def test_a_run_that_recorded_spans_elsewhere_gets_no_empty_hint(pytester):
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_a():
            with trace.get_tracer("t").start_as_current_span("other"):
                pass

        def test_b(trace_store):
            trace_store.span(name="missing")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    assert "recorded no span at all" not in result.stdout.str()


# -- the setting ------------------------------------------------------------------

MODES_SUITE = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

def test_modes(trace_store, trace_store_processor):
    with trace.get_tracer("global").start_as_current_span("via-global"):
        pass
    own = TracerProvider()
    with own.get_tracer("own").start_as_current_span("via-own"):
        pass
    fixture = TracerProvider()
    fixture.add_span_processor(trace_store_processor)
    with fixture.get_tracer("fixture").start_as_current_span("via-fixture"):
        pass
    with open("seen.txt", "w") as out:
        out.write(" ".join(s.name for s in trace_store.spans()))
        out.write("\\n" + type(trace.get_tracer_provider()).__name__)
"""


@pytest.mark.parametrize("source", ["flag", "ini"])
@pytest.mark.parametrize(
    "mode, header, seen, global_type",
    [
        ("auto", "joining every TracerProvider; a session one serves the global tracer API*",
         "via-global via-own via-fixture", "ProxyTracerProvider"),
        ("install", "installed a session TracerProvider", "via-global via-fixture", "TracerProvider"),
        ("join", "joining every TracerProvider made or set (trace_store_provider=join; none is set yet)",
         "via-own via-fixture", "ProxyTracerProvider"),
        ("off", "no provider set-up (trace_store_provider=off)*", "via-fixture", "ProxyTracerProvider"),
    ],
)
def test_each_provider_mode(pytester, source, mode, header, seen, global_type):
    pytester.makepyfile(MODES_SUITE)
    if source == "flag":
        args = ["--trace-store-provider", mode.upper()]
    else:
        pytester.makeini(f"[pytest]\ntrace_store_provider = {mode}\n")
        args = []
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"tracestore: {header}; spans -> *"])
    assert (pytester.path / "seen.txt").read_text().splitlines() == [seen, global_type]


@pytest.mark.parametrize("source", ["flag", "ini"])
def test_a_bad_provider_mode_is_a_usage_error(pytester, source):
    pytester.makepyfile("def test_x(): pass")
    if source == "flag":
        args, where = ["--trace-store-provider", "always"], "--trace-store-provider"
    else:
        pytester.makeini("[pytest]\ntrace_store_provider = always\n")
        args, where = [], "trace_store_provider (ini)"
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{where}: expected one of auto, install, join, off, got 'always'"])
    assert "Traceback" not in result.stderr.str()


def test_the_decision_table_covers_every_mode_and_provider_found():
    assert set(DECISIONS) == {(m, f) for m in Mode for f in Found}
    assert {DECISIONS[(m, Found.FOREIGN)] for m in Mode if m is not Mode.OFF} == {Decision.UNJOINABLE}
    assert {DECISIONS[(Mode.OFF, f)] for f in Found} == {Decision.OFF}
    assert [DECISIONS[(m, Found.NONE)] for m in Mode] == [
        Decision.FALLBACK, Decision.INSTALLED, Decision.WAITING, Decision.OFF
    ]


def test_lookups_that_find_nothing_in_an_empty_run_name_the_likely_cause(record_factory):
    from pytest_tracestore import ScopedTraceStore, TraceStore

    run = TraceStore()
    run.empty_hint = lambda: "the cause"
    view = ScopedTraceStore(run)
    note = "The run has recorded no span at all: the cause."
    for lookup in (
        lambda: view.span(name="x"),
        lambda: view.wait_for(timeout=0, name="x"),
        lambda: run.span(name="x"),
    ):
        with pytest.raises(AssertionError, match=note):
            lookup()
    with pytest.raises(ValueError, match=note):
        view.assert_tree({"name": "x"})
    run.add(record_factory(name="elsewhere"))
    with pytest.raises(AssertionError) as excinfo:
        view.span(name="x")
    assert "recorded no span at all" not in str(excinfo.value)
    assert "recorded no span at all" not in str(pytest.raises(AssertionError, TraceStore().span, name="x").value)
