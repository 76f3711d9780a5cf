"""The command's ``failures``: alike failures once with a count, ``--limit``, and plurals."""

from __future__ import annotations

import io

import pytest
from conftest import exception_event, make_record

from pytest_tracestore.cli import main
from pytest_tracestore.section import SectionOptions, render_section
from pytest_tracestore.serialize import dumps_line, record_to_dict

MS = 1_000_000
T0 = 1_764_201_600_000_000_000  # 2025-11-27 00:00:00 UTC


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def write(path, records):
    path.write_text("".join(dumps_line(record_to_dict(r)) + "\n" for r in records), encoding="utf-8")
    return path


def declined(n, message="card declined"):
    """POST /checkout > payments.charge (ERROR), trace n, n ms after T0."""
    start = T0 + n * MS
    return [
        make_record(trace_id=n, span_id=1, name="POST /checkout", kind="SERVER",
                    start_time=start, end_time=start + 10 * MS,
                    attributes={"user.id": f"u{n}", "http.route": "/checkout"}),
        make_record(trace_id=n, span_id=2, parent_span_id=1, name="payments.charge",
                    status="ERROR", start_time=start + MS, end_time=start + 2 * MS,
                    events=[exception_event("shop.Declined", message)]),
    ]


def timed_out(n):
    start = T0 + n * MS
    return [
        make_record(trace_id=n, span_id=1, name="GET /stock", start_time=start, end_time=start + MS,
                    status="ERROR", events=[exception_event("TimeoutError", "no answer")]),
    ]


def tid(n):
    return f"{n:032x}"


@pytest.fixture
def mixed(tmp_path):
    # Three declined charges (each message its own) and one timeout, in start order.
    return write(tmp_path / "spans.jsonl",
                 declined(1, "card 1 declined") + timed_out(2) + declined(3) + declined(4))


def test_alike_failures_are_drawn_once_with_a_count_and_the_other_trace_ids(mixed):
    code, out, err = run("failures", mixed)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "4 failed spans in 4 traces, 2 kinds of failure"
    assert out.count("trace ") == 2
    assert lines[2].startswith(f"trace {tid(1)}  2025-11-27 00:00:00.001Z  10.0ms  2 spans, 1 error")
    assert lines[2].endswith("×3 like this")
    assert lines[3].startswith("POST /checkout") and "http.route=/checkout" in lines[3]
    assert lines[4].startswith("└── payments.charge") and "card 1 declined" in lines[4]
    assert lines[5] == f"also in {tid(3)} {tid(4)}"
    assert lines[7].startswith(f"trace {tid(2)}") and "1 span, 1 error" in lines[7]
    assert "like this" not in lines[7]


def test_a_group_names_at_most_five_other_traces(tmp_path):
    path = write(tmp_path / "many.jsonl", [r for n in range(1, 10) for r in declined(n)])
    code, out, _ = run("failures", path)
    assert out.splitlines()[0] == "9 failed spans in 9 traces, 1 kind of failure"
    assert "×9 like this" in out
    assert f"also in {' '.join(tid(n) for n in range(2, 7))} and 3 more" in out


def test_limit_shows_the_earliest_kinds_of_failure_and_says_what_it_left(mixed):
    code, out, _ = run("failures", mixed, "--limit", "1")
    assert code == 1
    assert "POST /checkout" in out and "GET /stock" not in out
    assert out.splitlines()[-1] == "… 1 more kind of failure (1 trace) not shown (--limit 1)"
    code, every, _ = run("failures", mixed, "--limit", "2")
    assert "GET /stock" in every and "not shown" not in every


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_limit_below_one_is_a_usage_error_naming_it(mixed, value):
    code, out, err = run("failures", mixed, "--limit", value)
    assert (code, out) == (2, "")
    assert err.startswith("pytest-tracestore: error: argument --limit: invalid count")
    assert err.count("\n") == 1


def test_counts_of_one_are_singular_in_every_command(tmp_path):
    path = write(tmp_path / "one.jsonl", timed_out(1)[:1])
    ok = write(tmp_path / "ok.jsonl",
               [make_record(trace_id=5, span_id=1, name="GET /", start_time=T0, end_time=T0 + MS)])
    assert "  1 span in 1 trace, " in run("summary", path)[1]
    assert run("failures", path)[1].splitlines()[0] == "1 failed span in 1 trace"
    assert run("failures", ok)[1] == f"no failed spans in {ok} (1 span)\n"
    assert run("show", ok, "ab")[2] == f"pytest-tracestore: no trace ab in {ok} (1 trace)\n"
    assert run("query", ok, "--name", "nope")[2] == (
        f"pytest-tracestore: no span matches in {ok} (1 span)\n"
    )
    out_path = tmp_path / "out.jsonl"
    assert run("export", ok, "-o", out_path)[2] == (
        f"pytest-tracestore: wrote 1 span in 1 trace to {out_path} (otlp)\n"
    )
    merged = tmp_path / "merged.jsonl"
    assert run("merge", ok, "-o", merged)[2].startswith(
        f"pytest-tracestore: merged 1 span from 1 file into {merged}"
    )


def test_one_hidden_span_is_singular_and_many_plural(tmp_path):
    trace = declined(1) + [
        make_record(trace_id=1, span_id=3, parent_span_id=1, name="inventory.reserve",
                    start_time=T0 + 3 * MS, end_time=T0 + 4 * MS),
    ]
    _, out, _ = run("failures", write(tmp_path / "a.jsonl", trace))
    assert "… 1 more span: pytest-tracestore show " in out
    more = trace + [
        make_record(trace_id=1, span_id=4, parent_span_id=1, name="audit",
                    start_time=T0 + 5 * MS, end_time=T0 + 6 * MS),
    ]
    _, out, _ = run("failures", write(tmp_path / "b.jsonl", more))
    assert "… 2 more spans: pytest-tracestore show " in out


def test_the_command_and_sections_pick_key_attributes_by_one_rule(tmp_path):
    record = make_record(
        trace_id=1, span_id=1, name="SELECT orders", start_time=T0, end_time=T0 + MS,
        status="ERROR", events=[exception_event("TimeoutError", "slow")],
        attributes={"app.shard": 3, "db.statement": "SELECT 1", "error.type": "TimeoutError",
                    "db.system": "postgresql"},
    )
    _, out, _ = run("show", write(tmp_path / "a.jsonl", [record]), tid(1))
    assert "db.system=postgresql db.statement=SELECT 1 error.type=TimeoutError  ! " in out
    assert "app.shard" not in out
    section = render_section([record], SectionOptions(artifact="a.jsonl"))
    assert "{db.system=postgresql, db.statement='SELECT 1', error.type=TimeoutError, app.shard=3}" in section
