"""Recording starts on first need: nothing of OpenTelemetry is loaded by a suite that makes no span."""

from __future__ import annotations

import json
import threading

import pytest

from pytest_tracestore.recording import TRANSITIONS, Recording, Stage, opentelemetry_loaded

XDIST = pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])

# Written by the suite's own conftest once the run is over: what the process imported.
MODULES_AT_END = """
import sys
from pathlib import Path

def pytest_unconfigure(config):
    Path("modules.txt").write_text("\\n".join(sorted(sys.modules)))
"""


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the one-time set-up, in-process --------------------------------------------


def test_every_stage_moves_only_where_the_table_says():
    assert TRANSITIONS == {
        Stage.WAITING: {Stage.STARTING},
        Stage.STARTING: {Stage.RECORDING, Stage.WAITING},
        Stage.RECORDING: set(),
    }


def test_the_set_up_runs_once_and_its_result_is_kept():
    calls = []

    def setup(keep):
        calls.append(1)
        keep("processor")

    recording = Recording(setup)
    assert recording.stage is Stage.WAITING and recording.value is None
    assert recording.start() == "processor"
    assert recording.start() == "processor"
    assert recording.stage is Stage.RECORDING and recording.value == "processor"
    assert calls == [1]


def test_a_start_from_within_the_set_up_gets_what_it_kept_so_far():
    seen = []
    recording = None

    def setup(keep):
        keep("processor")
        seen.append((recording.stage, recording.start()))

    recording = Recording(setup)
    recording.start()
    assert seen == [(Stage.STARTING, "processor")]


def test_a_failed_set_up_goes_back_to_waiting_and_the_next_need_tries_again():
    attempts = []

    def setup(keep):
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk full")
        keep("processor")

    recording = Recording(setup)
    with pytest.raises(OSError, match="disk full"):
        recording.start()
    assert recording.stage is Stage.WAITING and recording.value is None
    assert recording.start() == "processor"
    assert len(attempts) == 2


def test_threads_needing_it_at_once_share_one_set_up():
    calls = []
    inside = threading.Event()
    release = threading.Event()

    def setup(keep):
        calls.append(threading.current_thread().name)
        inside.set()
        release.wait(10)
        keep(object())

    recording = Recording(setup)
    results = []
    threads = [threading.Thread(target=lambda: results.append(recording.start())) for _ in range(8)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert len(results) == 8 and len({id(r) for r in results}) == 1


def test_opentelemetry_counts_as_loaded_once_its_tracing_api_or_sdk_is():
    assert not opentelemetry_loaded({})
    assert not opentelemetry_loaded({"opentelemetry": object(), "opentelemetry.context": object()})
    assert opentelemetry_loaded({"opentelemetry.trace": object()})
    assert opentelemetry_loaded({"opentelemetry.sdk.trace": object()})


# -- black-box ------------------------------------------------------------------


def test_a_suite_that_makes_no_span_loads_no_opentelemetry_and_no_recording_code(pytester):
    pytester.makeconftest(MODULES_AT_END)
    pytester.makepyfile(test_plain="def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["tracestore: 0 spans recorded; 0 in *run.jsonl"])
    modules = set((pytester.path / "modules.txt").read_text().split())
    assert "pytest_tracestore.plugin" in modules  # the plugin did run
    assert not {m for m in modules if m.split(".")[0] == "opentelemetry"}
    assert not modules & {
        "pytest_tracestore.processor",
        "pytest_tracestore.store",
        "pytest_tracestore.record",
    }
    # The run's artifact is there all the same, empty.
    assert (pytester.path / "run.jsonl").read_text() == ""


def test_the_header_says_what_was_decided_before_opentelemetry_is_imported(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl")
    result.stdout.fnmatch_lines(["tracestore: joining every TracerProvider; a session one serves*"])
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-provider", "join"
    )
    result.stdout.fnmatch_lines(["tracestore: joining every TracerProvider made or set*"])


@XDIST
def test_a_suite_importing_opentelemetry_only_inside_a_test_records_that_tests_spans(
    pytester, xdist_args
):
    pytester.makepyfile(
        test_late="""
        def test_before():
            pass

        def test_api_late():
            from opentelemetry import trace
            with trace.get_tracer("late").start_as_current_span("api.late"):
                pass

        def test_sdk_late():
            from opentelemetry.sdk.trace import TracerProvider
            provider = TracerProvider()
            with provider.get_tracer("own").start_as_current_span("own.provider"):
                pass

        def test_after(trace_store):
            assert trace_store.spans() == []
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--trace-store-path", "run.jsonl", *xdist_args
    )
    result.assert_outcomes(passed=4)
    owners = {d["name"]: d.get("test") for d in _lines(pytester.path / "run.jsonl")}
    assert owners == {
        "api.late": "test_late.py::test_api_late",
        "own.provider": "test_late.py::test_sdk_late",
    }


def test_the_trace_store_fixture_of_a_test_that_imports_opentelemetry_sees_its_spans(pytester):
    pytester.makepyfile(
        test_late="""
        def test_store_first(trace_store):
            from opentelemetry import trace
            with trace.get_tracer("late").start_as_current_span("mine"):
                pass
            assert [s.name for s in trace_store.spans()] == ["mine"]

        def test_import_first():
            import opentelemetry.sdk.trace
            from opentelemetry import trace
            with trace.get_tracer("late").start_as_current_span("second"):
                pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--trace-store-path", "run.jsonl")
    result.assert_outcomes(passed=2)
    owners = {d["name"]: d.get("test") for d in _lines(pytester.path / "run.jsonl")}
    assert owners == {"mine": "test_late.py::test_store_first", "second": "test_late.py::test_import_first"}


def test_threads_importing_opentelemetry_at_once_each_record_their_span_once(pytester):
    pytester.makepyfile(
        test_threads="""
        import threading

        def test_at_once():
            barrier = threading.Barrier(8)

            def work(n):
                barrier.wait(10)
                from opentelemetry import trace
                with trace.get_tracer("t").start_as_current_span(f"t{n}"):
                    pass

            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl")
    result.assert_outcomes(passed=1)
    lines = _lines(pytester.path / "run.jsonl")
    assert sorted(d["name"] for d in lines) == [f"t{n}" for n in range(8)]
    assert {d.get("test") for d in lines} == {"test_threads.py::test_at_once"}
