"""The "Captured traces" section: errors first, alike traces collapsed, offsets, the show line.

Unit tests on hand-built records, then black-box runs with and without
pytest-xdist and with pytest's colour on and off.
"""

from __future__ import annotations

import re

import pytest
from conftest import exception_event, make_record

from pytest_tracestore import TraceStore
from pytest_tracestore.base import display_path
from pytest_tracestore.keyattrs import KEY_ATTRIBUTES, key_attributes, ordered_keys
from pytest_tracestore.section import (
    SectionOptions,
    render_section,
    show_command,
    trace_shape,
)

MS = 1_000_000
OPTIONS = SectionOptions(artifact="artifacts/spans.jsonl")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ok_trace(trace_id, name="GET /health", start=0):
    """A request with one query below it, both fine."""
    return [
        make_record(trace_id=trace_id, span_id=1, name=name, kind="SERVER",
                    start_time=start, end_time=start + 3 * MS, status="OK"),
        make_record(trace_id=trace_id, span_id=2, parent_span_id=1, name="db.query",
                    start_time=start + MS, end_time=start + 2 * MS),
    ]


def failed_trace(trace_id, start=0, message="card declined"):
    """POST /checkout > payments.charge, the charge failed 5ms into the request."""
    return [
        make_record(trace_id=trace_id, span_id=1, name="POST /checkout", kind="SERVER",
                    start_time=start, end_time=start + 20 * MS),
        make_record(trace_id=trace_id, span_id=2, parent_span_id=1, name="payments.charge",
                    kind="CLIENT", status="ERROR", start_time=start + 5 * MS,
                    end_time=start + 12300 * 1000,
                    events=[exception_event("shop.Declined", message)]),
    ]


def _trace_ids(text):
    return [line.split()[1] for line in text.splitlines() if line.startswith("trace ")]


def test_an_error_trace_after_40_ok_ones_is_shown_first_and_the_cut_drops_ok_traces():
    records = [r for i in range(40) for r in ok_trace(i + 1, name=f"GET /page/{i}", start=i * MS)]
    records += failed_trace(0xBAD, start=100 * MS)
    lines = render_section(records, OPTIONS).splitlines()
    assert len(lines) <= 80
    assert lines[0] == f"trace {0xBAD:032x} (2 spans, 1 ERROR)"
    assert "payments.charge" in lines[2] and "ERROR ✗ shop.Declined: card declined" in lines[2]
    # 4 lines a trace: the error's, then 18 OK traces fit in the 79 lines before the note.
    assert len(_trace_ids("\n".join(lines))) == 19
    assert lines[-1] == (
        "… 22 OK traces (44 spans) not shown; trace_store and the trace file hold them all"
    )


def test_the_error_trace_is_kept_even_when_ok_traces_started_earlier_and_nothing_is_cut():
    records = ok_trace(1, start=0) + failed_trace(2, start=50 * MS)
    assert _trace_ids(render_section(records, OPTIONS)) == [f"{2:032x}", f"{1:032x}"]


def test_an_error_trace_longer_than_the_section_keeps_its_error_and_its_ancestors():
    root = make_record(trace_id=9, span_id=1, name="batch", start_time=0, end_time=500 * MS)
    steps = [
        make_record(trace_id=9, span_id=10 + i, parent_span_id=1, name=f"step {i}",
                    start_time=(i + 1) * MS, end_time=(i + 1) * MS + 10)
        for i in range(200)
    ]
    fail = make_record(trace_id=9, span_id=999, parent_span_id=1, name="step last",
                       status="ERROR", start_time=300 * MS, end_time=301 * MS,
                       events=[exception_event("ValueError", "bad row")])
    text = render_section([root, *steps, fail], OPTIONS)
    lines = text.splitlines()
    assert len(lines) <= 80
    assert lines[0] == f"trace {9:032x} (202 spans, 1 ERROR)"
    assert lines[1].endswith("batch 500.0ms UNSET")
    assert lines[2].endswith("└── step last 1.0ms ERROR ✗ ValueError: bad row")
    assert "  +300.0ms └── step last" in lines[2]
    assert lines[3] == "  … 200 more spans of this trace not shown"
    assert lines[4] == f"  pytest-tracestore show artifacts/spans.jsonl {9:032x}"


def test_an_ok_trace_longer_than_the_section_shows_its_first_spans():
    root = make_record(trace_id=5, span_id=1, name="batch", start_time=0, end_time=500 * MS)
    steps = [
        make_record(trace_id=5, span_id=10 + i, parent_span_id=1, name=f"step {i}",
                    start_time=(i + 1) * MS, end_time=(i + 1) * MS + 10)
        for i in range(100)
    ]
    lines = render_section([root, *steps], OPTIONS).splitlines()
    assert len(lines) <= 80
    assert "step 0 " in lines[2] and "step 74 " in lines[-3]
    assert lines[-2] == "  … 25 more spans of this trace not shown"
    assert lines[-1].startswith("  pytest-tracestore show ")


def test_identical_traces_collapse_into_one_with_a_count():
    records = [r for i in range(40) for r in ok_trace(i + 1, start=i * 10 * MS)]
    records += failed_trace(100, start=0, message="card 1 declined")
    records += failed_trace(101, start=MS, message="card 2 declined")
    text = render_section(records, OPTIONS)
    assert text.count("trace ") == 2
    assert f"trace {100:032x} (2 spans, 1 ERROR) ×2 like this" in text
    assert f"trace {1:032x} (2 spans) ×40 like this" in text
    # The first of each shape stands for the others.
    assert "card 1 declined" in text and "card 2 declined" not in text


def test_traces_differing_in_a_status_or_a_name_do_not_collapse():
    fine = ok_trace(1)
    failing = [*ok_trace(2)[:1], make_record(**{**_fields(ok_trace(2)[1]), "status": "ERROR"})]
    renamed = ok_trace(3, name="GET /ready")
    assert len({trace_shape(fine), trace_shape(failing), trace_shape(renamed)}) == 3
    assert trace_shape(fine) == trace_shape(ok_trace(4, start=7 * MS))
    assert "like this" not in render_section(fine + failing + renamed, OPTIONS)


def _fields(record):
    return {
        "trace_id": record.trace_id, "span_id": record.span_id,
        "parent_span_id": record.parent_span_id, "name": record.name, "kind": record.kind,
        "status": record.status, "start_time": record.start_time, "end_time": record.end_time,
    }


def test_key_attributes_come_first_and_survive_the_cut_to_six():
    attributes = {f"app.k{i}": i for i in range(8)}
    attributes.update({"db.statement": "SELECT 1", "http.route": "/cart", "error.type": "Timeout"})
    record = make_record(trace_id=3, span_id=1, name="GET /cart", start_time=0, end_time=MS,
                         attributes=attributes)
    (line,) = render_section([record], OPTIONS).splitlines()[1:2]
    assert line.endswith(
        "{http.route=/cart, db.statement='SELECT 1', error.type=Timeout, app.k0=0, app.k1=1, "
        "app.k2=2, +5 more}"
    )


def test_the_key_attribute_rule():
    attributes = {"user.id": 1, "http.status_code": 500, "http.request.method": "GET",
                  "http.route": "/x", "exception.message": "boom"}
    assert key_attributes(attributes) == [
        "http.route", "http.request.method", "http.status_code", "exception.message"
    ]
    assert ordered_keys(["b", "db.system", "a", "rpc.method"]) == ["db.system", "rpc.method", "b", "a"]
    for key in ("http.route", "http.request.method", "http.method", "http.response.status_code",
                "http.status_code", "url.full", "db.system", "db.statement", "db.query.text",
                "rpc.method", "messaging.destination.name", "error.type", "exception.type",
                "exception.message"):
        assert key in KEY_ATTRIBUTES


def test_each_line_starts_with_its_offset_from_the_trace_start():
    records = failed_trace(7, start=1_000 * MS) + [
        make_record(trace_id=7, span_id=3, parent_span_id=1, name="late", start_time=1_015 * MS,
                    end_time=1_016 * MS)
    ]
    lines = render_section(records, OPTIONS).splitlines()
    assert lines[1:4] == [
        "     +0ns POST /checkout [SERVER] 20.0ms UNSET",
        "   +5.0ms ├── payments.charge [CLIENT] 7.3ms ERROR ✗ shop.Declined: card declined",
        "  +15.0ms └── late 1.0ms UNSET",
    ]


def test_each_trace_ends_with_a_show_line_and_the_html_page_when_there_is_one():
    options = SectionOptions(artifact="my runs/spans.jsonl", html_page="report/traces.html")
    lines = render_section(failed_trace(0xA) + ok_trace(0xB), options).splitlines()
    assert lines[3:5] == [
        f"  pytest-tracestore show 'my runs/spans.jsonl' {0xA:032x}",
        "  page: report/traces.html",
    ]
    assert lines[-2:] == [
        f"  pytest-tracestore show 'my runs/spans.jsonl' {0xB:032x}",
        "  page: report/traces.html",
    ]
    assert "page:" not in render_section(failed_trace(0xA), OPTIONS)


def test_the_artifact_path_is_relative_inside_the_invocation_folder(tmp_path):
    assert display_path(tmp_path / "a" / "spans.jsonl", tmp_path) == "a/spans.jsonl"
    outside = tmp_path.parent / "elsewhere.jsonl"
    assert display_path(outside, tmp_path) == str(outside)
    assert show_command("spans.jsonl", "ab" * 16) == f"pytest-tracestore show spans.jsonl {'ab' * 16}"


def test_colour_marks_errors_red_and_offsets_dim_only_when_asked():
    records = failed_trace(0xC)
    plain = render_section(records, OPTIONS)
    assert not ANSI.search(plain)
    coloured = render_section(records, SectionOptions(artifact="s.jsonl", color=True))
    assert "\x1b[31;1mERROR ✗ shop.Declined: card declined\x1b[0m" in coloured
    assert "\x1b[31;1m1 ERROR\x1b[0m" in coloured
    assert "\x1b[2m  +0ns\x1b[0m POST /checkout" in coloured
    assert ANSI.sub("", coloured) == plain.replace("artifacts/spans.jsonl", "s.jsonl")


def test_counts_use_the_singular_for_one():
    lonely = make_record(trace_id=1, span_id=1, name="alone", start_time=0, end_time=1)
    assert render_section([lonely], OPTIONS).splitlines()[0] == f"trace {1:032x} (1 span)"
    records = failed_trace(2) + [r for i in range(3) for r in ok_trace(10 + i, name=f"n{i}")]
    text = render_section(records, SectionOptions(artifact="s", max_lines=13))
    assert text.splitlines()[-1].startswith("… 1 OK trace (2 spans) not shown")
    # The fixture's repr, which a failure's report shows above the section.
    store = TraceStore()
    store.extend([lonely])
    assert repr(store) == "<TraceStore 1 span, 1 trace, max_spans=None>"


# -- in a real run ----------------------------------------------------------------

SUITE = """
from opentelemetry import trace

tracer = trace.get_tracer("shop")


def test_health_then_checkout():
    for i in range(40):
        with tracer.start_as_current_span(f"GET /page/{i}"):
            with tracer.start_as_current_span("db.query", attributes={"db.system": "sqlite"}):
                pass
    with tracer.start_as_current_span("POST /checkout", attributes={"user.id": "bob", "http.route": "/checkout"}):
        try:
            with tracer.start_as_current_span("payments.charge"):
                raise RuntimeError("card declined")
        except RuntimeError:
            pass
    assert False, "checkout failed"


def test_same_shape_many_times():
    for _ in range(5):
        with tracer.start_as_current_span("GET /health"):
            pass
    assert False
"""

XDIST = pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])


@pytest.fixture
def no_colour_env(monkeypatch):
    for name in ("PY_COLORS", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@XDIST
def test_a_run_shows_the_error_trace_first_and_cuts_ok_traces(pytester, no_colour_env, xdist_args):
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "out").mkdir()
    result = pytester.runpytest_subprocess("--trace-store-path", "out/run.jsonl", *xdist_args)
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert not ANSI.search(text)
    result.stdout.fnmatch_lines(
        [
            "*- Captured traces call -*",
            "trace * (2 spans, 1 ERROR)",
            "  *+0ns POST /checkout *UNSET {http.route=/checkout, user.id=bob}",
            "  *+*s └── payments.charge *ERROR ✗ RuntimeError: card declined",
            "  pytest-tracestore show out/run.jsonl *",
            "trace * (2 spans)",
            "*",
            "*└── db.query * {db.system=sqlite}",
            "  pytest-tracestore show out/run.jsonl *",
            "… 22 OK traces (44 spans) not shown; trace_store and the trace file hold them all",
        ]
    )
    result.stdout.fnmatch_lines(["trace * (1 span) ×5 like this", "  +0ns GET /health *"])
    # The show line names a trace the artifact holds.
    shown = re.search(r"pytest-tracestore show out/run.jsonl ([0-9a-f]{32})", text).group(1)
    assert shown in (pytester.path / "out" / "run.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "xdist_args, args, env, coloured",
    [
        ([], ["--color=yes"], {}, True),
        (["-n", "2"], ["--color=yes"], {}, True),
        ([], [], {"FORCE_COLOR": "1"}, True),
        ([], [], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        (["-n", "2"], [], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        ([], ["--color=no"], {"FORCE_COLOR": "1"}, False),
    ],
    ids=["color-yes", "color-yes-n2", "force-color", "no-color", "no-color-n2", "color-no"],
)
def test_colour_follows_pytest(pytester, no_colour_env, xdist_args, args, env, coloured):
    for name, value in env.items():
        no_colour_env.setenv(name, value)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *args, *xdist_args)
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert ("\x1b[31;1mERROR ✗ RuntimeError: card declined\x1b[0m" in text) is coloured
    assert bool(re.search(r"\x1b\[2m *\+0ns\x1b\[0m POST /checkout", text)) is coloured
    if not coloured:
        assert "ERROR ✗ RuntimeError: card declined" in ANSI.sub("", text)


@XDIST
def test_workers_colour_sections_as_the_controller_decides(pytester, no_colour_env, xdist_args):
    # The controller's terminal colours (as a terminal would) while the workers'
    # output goes to a pipe: the sections follow the controller.
    pytester.makeconftest(
        """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        config.get_terminal_writer().hasmarkup = True
"""
    )
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    # The summary is coloured too, which assert_outcomes cannot read.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "2 failed" in ANSI.sub("", result.stdout.str())
    assert "\x1b[31;1mERROR ✗ RuntimeError: card declined\x1b[0m" in result.stdout.str()
