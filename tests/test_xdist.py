"""Black-box tests of the pytest-xdist hand-over: one merged artifact, one header and summary."""

from __future__ import annotations

import json

import pytest

# Each test makes five spans, checks that its fixture sees exactly those, and
# notes their end times so the test below knows which spans are the newest.
EIGHT_TESTS = """
import os
import pytest
from opentelemetry import trace
tracer = trace.get_tracer("demo")

@pytest.mark.parametrize("n", range(8))
def test_spans(trace_store, n):
    for i in range(5):
        with tracer.start_as_current_span(f"t{n}.s{i}"):
            pass
    mine = trace_store.spans()
    assert [s.name for s in mine] == [f"t{n}.s{i}" for i in range(5)]
    with open("ends.txt", "a") as out:
        out.write("".join(f"{s.end_time} {s.name}\\n" for s in mine))
"""


@pytest.mark.parametrize(
    "xdist_args",
    [[], ["-n", "0"], ["-n", "2"], ["-p", "no:xdist"]],
    ids=["plain", "n0", "n2", "no-xdist"],
)
def test_one_merged_fifo_capped_artifact_and_one_header_and_summary(pytester, xdist_args):
    pytester.makepyfile(EIGHT_TESTS)
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "out/run.jsonl", "--trace-store-max-spans", "30", *xdist_args
    )
    result.assert_outcomes(passed=8)

    artifact = pytester.path / "out" / "run.jsonl"
    written = [json.loads(line) for line in artifact.read_text(encoding="utf-8").splitlines()]
    ends = sorted(
        (int(end), name)
        for end, name in (
            line.split() for line in (pytester.path / "ends.txt").read_text().splitlines()
        )
    )
    assert len(ends) == 40
    # The newest 30 spans of the whole run, by end time, in end-time order.
    assert [(x["end_time_unix_nano"], x["name"]) for x in written] == ends[-30:]
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["run.jsonl"]

    header = f"tracestore: joining every TracerProvider; * spans -> {artifact} (max 30)*"
    summary = f"tracestore: 40 spans recorded, the oldest 10 dropped by the FIFO cap; 30 in {artifact}"
    result.stdout.fnmatch_lines([header, summary])
    assert result.stdout.str().count("tracestore: ") == 2


@pytest.mark.parametrize("batch_size", [None, "1"])
def test_a_dead_worker_keeps_the_spans_it_wrote(pytester, batch_size):
    pytester.makepyfile(
        """
        import os
        import pytest
        from opentelemetry import trace
        tracer = trace.get_tracer("demo")

        @pytest.fixture
        def prepared():
            with tracer.start_as_current_span("in-setup"):
                pass

        def test_dies(prepared, trace_store_processor):
            with tracer.start_as_current_span("before-death"):
                pass
            # Die halfway through writing a line, as a killed process can.
            with open(trace_store_processor.path, "ab") as out:
                out.write(b'{"trace_id": "0af7')
            os._exit(1)

        def test_lives():
            with tracer.start_as_current_span("survivor"):
                pass
        """
    )
    args = ["--trace-store-path", "run.jsonl", "-n", "2"]
    if batch_size:
        args += ["--trace-store-batch-size", batch_size]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    artifact = pytester.path / "run.jsonl"
    names = sorted(json.loads(x)["name"] for x in artifact.read_text().splitlines())
    # Every span is written as it ends, whatever the batch size.
    written = ["before-death", "in-setup"]
    assert names == sorted(written + ["survivor"])
    result.stdout.fnmatch_lines(
        [
            "*xdist worker gw* ended without reporting its spans; "
            f"merged the {len(written)} found in its file*",
        ]
    )
    result.stdout.fnmatch_lines([f"*gw*.jsonl:{len(written) + 1}: skipped a corrupt line*"])
    assert sorted(p.name for p in pytester.path.iterdir() if "run.jsonl" in p.name) == ["run.jsonl"]


def test_merge_survives_a_provider_shut_down_early_and_line_separators(pytester):
    # A conftest that shuts the provider down at session end closes our
    # processor with it; U+2028 stays raw inside a JSON string and must not
    # split a span's line on its way to the controller.
    pytester.makeconftest(
        """
        from opentelemetry import trace

        def pytest_sessionfinish(session):
            trace.get_tracer_provider().shutdown()
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        @pytest.mark.parametrize("n", range(2))
        def test_span(n):
            with trace.get_tracer("demo").start_as_current_span(f"a\\u2028b{n}"):
                pass
        """
    )
    # install: the provider shut down is the plugin's own, set as the global one.
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "out/run.jsonl", "-n", "2", "--trace-store-provider", "install"
    )
    result.assert_outcomes(passed=2)
    artifact = pytester.path / "out" / "run.jsonl"
    names = sorted(json.loads(x)["name"] for x in artifact.read_text(encoding="utf-8").split("\n") if x)
    assert names == ["a\u2028b0", "a\u2028b1"]
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["run.jsonl"]
    result.stdout.fnmatch_lines([f"tracestore: 2 spans recorded; 2 in {artifact}"])
    assert "skipped a corrupt line" not in result.stdout.str()


CONTROLLER_CONFTEST = """
import os
import sys
from opentelemetry import trace

def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput") and os.environ.get("SPAN_IN_CONTROLLER"):
        with trace.get_tracer("demo").start_as_current_span("in the controller"):
            pass

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        # After the merge: dropped, as by any closed processor, not recorded
        # into a file nobody merges.
        with trace.get_tracer("demo").start_as_current_span("after the end"):
            pass
        loaded = sorted(m for m in sys.modules if m.startswith("pytest_tracestore."))
        with open("controller-modules.txt", "w") as out:
            out.write("\\n".join(loaded))
"""


@pytest.mark.parametrize("span_in_controller", [False, True], ids=["none", "one"])
def test_the_controller_loads_the_recording_code_only_for_a_span_of_its_own(
    pytester, monkeypatch, span_in_controller
):
    # The controller runs no tests: unless a span ends there, its start-up
    # skips the processor, the store and the converter.  One that does end
    # there is recorded and merged like a worker's.
    if span_in_controller:
        monkeypatch.setenv("SPAN_IN_CONTROLLER", "1")
    pytester.makeconftest(CONTROLLER_CONFTEST)
    pytester.makepyfile(EIGHT_TESTS)
    result = pytester.runpytest_subprocess("--trace-store-path", "out/run.jsonl", "-n", "2")
    result.assert_outcomes(passed=8)
    loaded = set((pytester.path / "controller-modules.txt").read_text().split())
    recording = {f"pytest_tracestore.{m}" for m in ("processor", "store", "serialize", "record")}
    assert "pytest_tracestore.merge" in loaded
    if span_in_controller:
        assert recording <= loaded
    else:
        assert not recording & loaded, sorted(loaded)

    artifact = pytester.path / "out" / "run.jsonl"
    names = [json.loads(x)["name"] for x in artifact.read_text(encoding="utf-8").splitlines()]
    assert ("in the controller" in names) is span_in_controller
    assert "after the end" not in names
    assert len(names) == 40 + span_in_controller
    result.stdout.fnmatch_lines([f"tracestore: {len(names)} spans recorded; {len(names)} in {artifact}"])
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["run.jsonl"]


def test_the_configure_hook_gets_a_real_processor_in_the_controller_too(pytester):
    pytester.makeconftest(
        """
        from pytest_tracestore import FileBasedSpanProcessor

        where = []

        def pytest_configure(config):  # runs before the plugin's, which is trylast
            where.append(getattr(config, "workerinput", {}).get("workerid", "controller"))

        def pytest_tracestore_configure(provider, processor):
            with open(f"configured-{where[0]}.txt", "w") as out:
                out.write(f"{type(processor).__name__} {isinstance(processor, FileBasedSpanProcessor)}")
        """
    )
    pytester.makepyfile(EIGHT_TESTS)
    result = pytester.runpytest_subprocess("--trace-store-path", "out/run.jsonl", "-n", "2")
    result.assert_outcomes(passed=8)
    seen = {p.name: p.read_text() for p in pytester.path.glob("configured-*.txt")}
    assert seen == {
        f"configured-{name}.txt": "FileBasedSpanProcessor True"
        for name in ("controller", "gw0", "gw1")
    }
