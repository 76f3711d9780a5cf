from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import sysconfig

import pytest
from conftest import exception_event, make_record
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from pytest_tracestore import Scope, TraceStore
from pytest_tracestore.cli import main
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.serialize import dumps_line, record_to_dict

MS = 1_000_000
T0 = 1_764_201_600_000_000_000  # 2025-11-27 00:00:00 UTC
SHOP = {"service.name": "shop"}
SCOPE = Scope("demo.shop", "1.0")
TRACE_OK = "aa" * 16
TRACE_BAD = "bb" * 16


def _records():
    """Two traces: one fine, one whose payment failed below a failed request."""
    ok_root = make_record(trace_id=TRACE_OK, span_id="01" * 8, name="GET /items", kind="SERVER",
                          start_time=T0, end_time=T0 + 3 * MS, resource=SHOP, scope=SCOPE,
                          attributes={"http.route": "/items", "http.status_code": 200})
    root = make_record(trace_id=TRACE_BAD, span_id="02" * 8, name="POST /checkout", kind="SERVER",
                       status="OK",
                       start_time=T0 + 10 * MS, end_time=T0 + 60 * MS, resource=SHOP, scope=SCOPE,
                       attributes={"http.route": "/checkout", "user.id": "bob", "http.status_code": 402})
    sibling = make_record(trace_id=TRACE_BAD, span_id="03" * 8, parent_span_id="02" * 8,
                          name="inventory.reserve", start_time=T0 + 11 * MS, end_time=T0 + 12 * MS,
                          resource=SHOP, scope=SCOPE, attributes={"db.system": "sqlite"})
    charge = make_record(trace_id=TRACE_BAD, span_id="04" * 8, parent_span_id="02" * 8,
                         name="payments.charge", kind="CLIENT", status="ERROR",
                         start_time=T0 + 20 * MS, end_time=T0 + 50 * MS, resource={"service.name": "payments"},
                         scope=SCOPE, attributes={"payment.amount": 9.5},
                         events=[exception_event("shop.payments.Declined", "card declined")])
    below = make_record(trace_id=TRACE_BAD, span_id="05" * 8, parent_span_id="04" * 8,
                        name="card.check", start_time=T0 + 21 * MS, end_time=T0 + 22 * MS,
                        resource={"service.name": "payments"}, scope=SCOPE)
    return [ok_root, sibling, below, charge, root]  # end order, as in a real file


@pytest.fixture(params=["jsonl", "otlp"])
def artifact(request, tmp_path):
    path = tmp_path / f"spans-{request.param}.jsonl"
    encode = record_to_otlp_line if request.param == "otlp" else (lambda r: dumps_line(record_to_dict(r)))
    path.write_text("".join(encode(r) + "\n" for r in _records()), encoding="utf-8")
    return path


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_summary_counts_errors_slowest_and_services(artifact):
    code, out, err = run("summary", artifact)
    assert code == 0 and err == ""
    assert "5 spans in 2 traces, 1 with status ERROR" in out
    assert "from 2025-11-27 00:00:00.000Z to 2025-11-27 00:00:00.060Z (60.0ms)" in out
    lines = out.splitlines()
    services = lines[lines.index("services") + 1: lines.index("services") + 3]
    assert services == ["  3  shop", "  2  payments"]
    assert lines[lines.index("errors by error type") + 1] == "  1  shop.payments.Declined"
    slowest = lines[lines.index("slowest spans") + 1:]
    assert slowest[0] == f"  50.0ms  OK     POST /checkout     {TRACE_BAD}"
    assert slowest[1] == f"  30.0ms  ERROR  payments.charge    {TRACE_BAD}"
    assert slowest[2] == f"   3.0ms  UNSET  GET /items         {TRACE_OK}"


def test_failures_draws_each_failed_trace_with_its_context(artifact):
    code, out, err = run("failures", artifact)
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == "1 failed span in 1 trace"
    assert lines[2].startswith(f"trace {TRACE_BAD}  2025-11-27 00:00:00.010Z  50.0ms  4 spans, 1 error")
    assert TRACE_OK not in out
    assert lines[3:6] == [
        "POST /checkout       server    50.0ms  OK     http.route=/checkout http.status_code=402",
        "└── payments.charge  client    30.0ms  ERROR  ! shop.payments.Declined: card declined",
        "    └── card.check   internal   1.0ms  UNSET",
    ]
    # The healthy sibling is left out, and the reader is told how to see it.
    assert "inventory.reserve" not in out
    assert f"… 1 more span: pytest-tracestore show {artifact} {TRACE_BAD}" in out


def test_failures_exits_0_when_nothing_failed(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(dumps_line(record_to_dict(_records()[0])) + "\n", encoding="utf-8")
    assert run("failures", path) == (0, f"no failed spans in {path} (1 span)\n", "")


def test_show_draws_the_trace_and_accepts_a_prefix(artifact):
    code, out, err = run("show", artifact, TRACE_BAD[:8])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"trace {TRACE_BAD}  2025-11-27 00:00:00.010Z  50.0ms  4 spans, 1 error")
    assert lines[0].endswith("[payments, shop]")
    assert [line[:21].rstrip() for line in lines[1:]] == [
        "POST /checkout",
        "├── inventory.reserve",
        "└── payments.charge",
        "    └── card.check",
    ]
    assert "user.id" not in out  # not a key attribute
    code, out, _ = run("show", artifact, TRACE_BAD, "--all-attributes")
    assert "user.id=bob" in out


def test_show_unknown_and_malformed_trace_ids(artifact):
    code, out, err = run("show", artifact, "cc" * 16)
    assert (code, out) == (1, "")
    assert err == f"pytest-tracestore: no trace {'cc' * 16} in {artifact} (2 traces)\n"
    code, out, err = run("show", artifact, "xyz")
    assert code == 2
    assert err == "pytest-tracestore: error: invalid trace id 'xyz': expected up to 32 hex digits\n"


@pytest.mark.parametrize(
    "filters, names",
    [
        (["--name", "card.check"], ["card.check"]),
        (["--name-regex", "^P"], ["POST /checkout"]),
        (["--attr", "http.status_code=402"], ["POST /checkout"]),  # typed: int 402
        (["--attr", "http.route=/checkout", "--attr", "user.id=bob"], ["POST /checkout"]),
        (["--status", "error"], ["payments.charge"]),
        (["--status", "ok"], ["POST /checkout"]),
        (["--error-type", "Declined"], ["payments.charge"]),
        (["--min-duration", "25ms"], ["POST /checkout", "payments.charge"]),
        (["--kind", "client"], ["payments.charge"]),
        (["--since", "30ms"], ["POST /checkout", "payments.charge"]),  # back from the last span
        (["--until", "2025-11-27T00:00:00.005Z"], ["GET /items"]),
        (["--trace-id", TRACE_OK[:4]], ["GET /items"]),
        (["--since", str((T0 + 55 * MS) / 1e9)], ["POST /checkout"]),  # epoch seconds
        (["--name-regex", ".", "--limit", "2"], ["GET /items", "POST /checkout"]),
    ],
)
def test_query_filters(artifact, filters, names):
    code, out, err = run("query", artifact, *filters)
    assert (code, err) == (0, "")
    assert [re.split(r"\s{2,}", line)[4] for line in out.splitlines()] == names


def test_query_json_prints_one_object_per_line(artifact):
    code, out, _ = run("query", artifact, "--trace-id", TRACE_BAD, "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    by_name = {r.name: r for r in _records()}
    assert rows == [record_to_dict(by_name[row["name"]]) for row in rows]
    assert [r["name"] for r in rows] == [
        "POST /checkout", "inventory.reserve", "payments.charge", "card.check"
    ]


def test_query_without_match_exits_1(artifact):
    code, out, err = run("query", artifact, "--name", "nothing")
    assert (code, out) == (1, "")
    assert err == f"pytest-tracestore: no span matches in {artifact} (5 spans)\n"


def test_export_otlp_reads_back_and_satisfies_protobuf(artifact, tmp_path):
    out_path = tmp_path / "out.otlp.jsonl"
    code, out, err = run("export", artifact, "-o", out_path, "--format", "otlp")
    assert code == 0 and out == ""
    assert err == f"pytest-tracestore: wrote 5 spans in 2 traces to {out_path} (otlp)\n"
    lines = out_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # one TracesData per trace
    for line in lines:
        data = json.loads(line)
        for rs in data["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        ParseDict(data, TracesData())  # raises on anything the OTLP schema rejects
    assert sorted(TraceStore.load(out_path), key=lambda r: r.span_id) == sorted(
        _records(), key=lambda r: r.span_id
    )


def test_export_jaeger_shape(artifact, tmp_path):
    out_path = tmp_path / "jaeger.json"
    assert run("export", artifact, "-o", out_path, "--format", "jaeger")[0] == 0
    data = json.loads(out_path.read_text(encoding="utf-8"))
    traces = {t["traceID"]: t for t in data["data"]}
    bad = traces[TRACE_BAD]
    assert {p["serviceName"] for p in bad["processes"].values()} == {"shop", "payments"}
    spans = {s["operationName"]: s for s in bad["spans"]}
    charge = spans["payments.charge"]
    assert charge["references"] == [{"refType": "CHILD_OF", "traceID": TRACE_BAD, "spanID": "02" * 8}]
    assert charge["startTime"] == (T0 + 20 * MS) // 1000 and charge["duration"] == 30_000
    assert bad["processes"][charge["processID"]]["serviceName"] == "payments"
    tags = {t["key"]: (t["type"], t["value"]) for t in charge["tags"]}
    assert tags["error"] == ("bool", True) and tags["span.kind"] == ("string", "client")
    assert tags["payment.amount"] == ("float64", 9.5)
    assert charge["logs"][0]["fields"][0] == {"key": "event", "type": "string", "value": "exception"}


def test_export_to_stdout_and_back_to_our_format(artifact, tmp_path, capsysbinary):
    assert main(["export", str(artifact), "-o", "-", "--format", "jsonl"]) == 0
    out = capsysbinary.readouterr().out.decode("utf-8").splitlines()
    assert [json.loads(line) for line in out] == [record_to_dict(r) for r in _records()]


def test_bad_inputs_get_one_line_and_exit_2(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    good = tmp_path / "good.jsonl"
    good.write_text(dumps_line(record_to_dict(_records()[0])) + "\n", encoding="utf-8")
    cases = [
        (["summary", tmp_path / "missing.jsonl"], f"no such file: {tmp_path / 'missing.jsonl'}"),
        (["summary", empty], f"{empty} holds no spans"),
        (["summary", tmp_path], f"{tmp_path} is a folder; give a trace file"),
        (["query", empty, "--status", "sideways"], "argument --status: invalid status 'sideways'"),
        (["export", empty], "the following arguments are required: -o/--output"),
        (["query", empty, "--limit", "0"], "argument --limit: invalid count '0'"),
        (["query", good, "--since", "yesterday"], "invalid time 'yesterday': expected an ISO 8601 time"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ]
    for argv, message in cases:
        code, out, err = run(*argv)
        assert code == 2, argv
        assert err.count("\n") == 1 and err.startswith("pytest-tracestore: error: "), err
        assert message in err


def test_corrupt_lines_are_skipped_with_a_one_line_warning(tmp_path):
    path = tmp_path / "torn.jsonl"
    good = [dumps_line(record_to_dict(r)) for r in _records()]
    path.write_text("\n".join(good[:2] + ['{"trace_id": "aa', "[]"] + good[2:]) + "\n", encoding="utf-8")
    code, out, err = run("summary", path)
    assert code == 0 and "5 spans in 2 traces" in out
    warnings = err.splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith(f"pytest-tracestore: warning: {path}:3: skipped a corrupt line (")
    assert warnings[1] == (
        f"pytest-tracestore: warning: {path}:4: skipped a corrupt line (expected a JSON object, got list)"
    )
    only_garbage = tmp_path / "garbage.jsonl"
    only_garbage.write_text("not json\n")
    code, _, err = run("summary", only_garbage)
    assert code == 2 and err.splitlines()[-1] == f"pytest-tracestore: error: {only_garbage} holds no readable spans"


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_a_tty_and_never_with_no_color(artifact, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = _Tty()
    main(["failures", str(artifact)], out=tty, err=io.StringIO())
    assert "\033[31;1mERROR\033[0m" in tty.getvalue()
    assert "\033[" not in run("failures", artifact)[1]  # not a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    tty = _Tty()
    main(["failures", str(artifact)], out=tty, err=io.StringIO())
    assert "\033[" not in tty.getvalue()


def test_module_and_console_script_run_without_pytest(tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(record_to_otlp_line(r) + "\n" for r in _records()), encoding="utf-8")
    code = (
        "import sys, runpy; sys.argv = ['pytest-tracestore', 'failures', sys.argv[1]]\n"
        "try:\n    runpy.run_module('pytest_tracestore', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert 'pytest' not in sys.modules and '_pytest' not in sys.modules, 'pytest imported'\n"
        "    raise\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                            encoding="utf-8")
    assert result.returncode == 1, result.stderr
    assert "└── payments.charge" in result.stdout and result.stderr == ""
    console_script = os.path.join(sysconfig.get_path("scripts"), "pytest-tracestore")
    script = subprocess.run([console_script, "show", str(path), "zz"], capture_output=True, text=True)
    assert script.returncode == 2
    assert script.stderr.strip().splitlines() == [
        "pytest-tracestore: error: invalid trace id 'zz': expected up to 32 hex digits"
    ]


def test_show_keeps_spans_whose_parent_is_missing_or_in_a_cycle(tmp_path):
    trace = "cc" * 16
    records = [
        make_record(trace_id=trace, span_id="0a" * 8, parent_span_id="ff" * 8, name="orphan",
                    start_time=T0, end_time=T0 + MS),
        make_record(trace_id=trace, span_id="0b" * 8, parent_span_id="0c" * 8, name="loop-b",
                    start_time=T0 + MS, end_time=T0 + 2 * MS),
        make_record(trace_id=trace, span_id="0c" * 8, parent_span_id="0b" * 8, name="loop-c",
                    start_time=T0 + 2 * MS, end_time=T0 + 3 * MS),
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(dumps_line(record_to_dict(r)) + "\n" for r in records), encoding="utf-8")
    code, out, _ = run("show", path, trace)
    assert code == 0
    assert [line[:10].rstrip() for line in out.splitlines()[1:]] == ["orphan", "loop-b", "└── loop-c"]
    assert out.splitlines()[1].endswith("(parent not in file)")


def test_control_characters_in_names_are_escaped(tmp_path):
    record = make_record(name="evil\x1b[2J\nname", resource={"service.name": "s\x07"})
    path = tmp_path / "evil.jsonl"
    path.write_text(dumps_line(record_to_dict(record)) + "\n", encoding="utf-8")
    for argv in (["summary", path], ["query", path], ["show", path, record.trace_id]):
        code, out, _ = run(*argv)
        assert code == 0 and "\x1b" not in out and "\x07" not in out
        assert "evil\\x1b[2J\\nname" in out


# -- streaming --------------------------------------------------------------


def _write_jsonl(path, records):
    path.write_text("".join(dumps_line(record_to_dict(r)) + "\n" for r in records), encoding="utf-8")
    return path


def _filler(count, start=T0):
    """Healthy one-span traces, each its own trace, in end order."""
    return [
        make_record(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", name=f"filler-{i}",
                    start_time=start + i * MS, end_time=start + i * MS + 1000)
        for i in range(count)
    ]


def test_failures_shows_a_whole_trace_even_when_its_spans_are_far_apart(tmp_path, monkeypatch):
    # The failed trace's first spans leave the (here tiny) window before its
    # error arrives: the command reads again for that trace alone.
    monkeypatch.setattr("pytest_tracestore.stream.DEFAULT_WINDOW", 3)
    ok_root, sibling, below, charge, root = _records()
    path = _write_jsonl(tmp_path / "spread.jsonl",
                        [sibling, below] + _filler(10) + [ok_root, charge] + _filler(5, T0 + 20 * MS) + [root])
    code, out, err = run("failures", path)
    assert (code, err) == (1, "")
    assert f"trace {TRACE_BAD}  2025-11-27 00:00:00.010Z  50.0ms  4 spans, 1 error" in out
    assert "card.check" in out and "POST /checkout" in out
    assert f"… 1 more span: pytest-tracestore show {path} {TRACE_BAD}" in out


def test_failures_keeps_spans_after_the_error_in_the_window(tmp_path, monkeypatch):
    monkeypatch.setattr("pytest_tracestore.stream.DEFAULT_WINDOW", 2)
    ok_root, sibling, below, charge, root = _records()
    path = _write_jsonl(tmp_path / "late.jsonl", [charge] + _filler(6) + [below, sibling] + _filler(3) + [root])
    code, out, _ = run("failures", path)
    assert code == 1
    assert "4 spans, 1 error" in out and "└── payments.charge" in out


def test_query_limit_keeps_the_earliest_starts_from_anywhere_in_the_file(tmp_path):
    records = _filler(50)
    path = _write_jsonl(tmp_path / "many.jsonl", records[10:] + records[:10])
    code, out, _ = run("query", path, "--limit", "3", "--json")
    assert code == 0
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["filler-0", "filler-1", "filler-2"]


def test_query_relative_since_counts_back_from_the_last_span_in_a_shuffled_file(tmp_path):
    records = _filler(20)  # one span per ms; the last ends at T0 + 19ms + 1us
    path = _write_jsonl(tmp_path / "shuffled.jsonl", records[15:] + records[:15])
    code, out, _ = run("query", path, "--since", "2.5ms", "--json")
    assert code == 0
    assert sorted(json.loads(line)["name"] for line in out.splitlines()) == [
        "filler-17", "filler-18", "filler-19"
    ]


def test_show_with_an_ambiguous_prefix_exits_2(tmp_path):
    path = _write_jsonl(tmp_path / "two.jsonl", _filler(3))
    code, out, err = run("show", path, "0000")
    assert (code, out) == (2, "")
    assert err == (
        "pytest-tracestore: error: trace id prefix '0000' matches 3 or more traces; give more digits\n"
    )


def test_export_groups_spread_traces_in_bounded_pieces_that_read_back_whole(tmp_path, monkeypatch):
    monkeypatch.setattr("pytest_tracestore.stream.DEFAULT_WINDOW", 4)
    ok_root, sibling, below, charge, root = _records()
    records = [sibling, below] + _filler(8) + [ok_root, charge, root]
    path = _write_jsonl(tmp_path / "spread.jsonl", records)
    out_path = tmp_path / "out.otlp.jsonl"
    code, _, err = run("export", path, "-o", out_path, "--format", "otlp")
    assert code == 0
    assert err == f"pytest-tracestore: wrote 13 spans in 10 traces to {out_path} (otlp)\n"
    lines = out_path.read_text(encoding="utf-8").splitlines()
    bad = [line for line in lines if TRACE_BAD in line]
    assert len(bad) == 2  # its first two spans left the window before the rest came
    assert all(sum(1 for _ in json.loads(line)["resourceSpans"]) <= 4 for line in lines)
    assert sorted(TraceStore.load(out_path), key=lambda r: r.span_id) == sorted(records, key=lambda r: r.span_id)
    jaeger = tmp_path / "out.json"
    assert run("export", path, "-o", jaeger, "--format", "jaeger")[0] == 0
    data = json.loads(jaeger.read_text(encoding="utf-8"))["data"]
    assert sum(len(t["spans"]) for t in data) == 13
    assert sorted(s["spanID"] for t in data for s in t["spans"]) == sorted(r.span_id for r in records)


def test_export_leaves_no_file_when_the_input_has_no_spans_or_the_folder_is_read_only(tmp_path):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    out_path = tmp_path / "out.json"
    code, _, err = run("export", garbage, "-o", out_path, "--format", "jaeger")
    assert code == 2 and err.splitlines()[-1] == f"pytest-tracestore: error: {garbage} holds no readable spans"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.jsonl"]
    good = _write_jsonl(tmp_path / "good.jsonl", _filler(2))
    code, _, err = run("export", good, "-o", good / "out.jsonl")  # its folder is a file
    assert code == 2 and err.startswith(f"pytest-tracestore: error: cannot write {good / 'out.jsonl'}: ")
    assert err.count("\n") == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_export_to_a_read_only_folder_exits_2_and_leaves_nothing(tmp_path):
    good = _write_jsonl(tmp_path / "good.jsonl", _filler(2))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = run("export", good, "-o", locked / "out.jsonl")
        assert code == 2
        assert err.startswith(f"pytest-tracestore: error: cannot write {locked / 'out.jsonl'}: ")
        assert err.count("\n") == 1 and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_export_output_gets_its_mode_from_the_umask(tmp_path):
    good = _write_jsonl(tmp_path / "good.jsonl", _filler(2))
    old = os.umask(0o027)
    try:
        assert run("export", good, "-o", tmp_path / "out.jsonl")[0] == 0
    finally:
        os.umask(old)
    assert (tmp_path / "out.jsonl").stat().st_mode & 0o777 == 0o640


def test_timestamps_no_date_can_show_are_printed_as_nanoseconds_with_a_note(tmp_path):
    far = 10**30
    record = make_record(trace_id=TRACE_BAD, span_id="0a" * 8, name="far future", status="ERROR",
                         start_time=far, end_time=far + 5 * MS)
    early = make_record(trace_id=TRACE_BAD, span_id="0b" * 8, name="before year 1",
                        start_time=-(10**20), end_time=-(10**20) + MS)
    path = _write_jsonl(tmp_path / "far.jsonl", [record, early])
    note = ("pytest-tracestore: note: {} outside the range of calendar dates shown as raw "
            "nanoseconds since the Unix epoch\n")
    code, out, err = run("summary", path)
    assert code == 0 and f"from {-(10**20)}ns to {far + 5 * MS}ns" in out
    assert err == note.format("2 timestamps")
    code, out, err = run("query", path, "--name", "far future")
    assert code == 0 and out.startswith(f"{far}ns  5.0ms  ERROR") and err == note.format("1 timestamp")
    code, out, err = run("show", path, TRACE_BAD)
    assert code == 0 and out.startswith(f"trace {TRACE_BAD}  {-(10**20)}ns  ") and "note:" in err
    code, out, err = run("failures", path)
    assert code == 1 and "far future" in out and "note:" in err
    code, out, err = run("query", path, "--since", "1h")
    assert code == 0 and "far future" in out


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.5
        return self.now


def test_progress_is_shown_on_a_terminal_only_for_a_long_read(tmp_path, monkeypatch):
    from pytest_tracestore import stream

    path = _write_jsonl(tmp_path / "big.jsonl", _filler(3 * stream.Progress.EVERY))
    monkeypatch.setattr(stream.time, "monotonic", _Clock())  # each look: half a second later
    tty = _Tty()
    assert main(["summary", str(path)], out=io.StringIO(), err=tty) == 0
    shown = tty.getvalue()
    assert f"\rpytest-tracestore: reading {path}: 8,192 spans, 1s\033[K" in shown
    assert shown.endswith("\r\033[K")  # cleared before anything else is written
    plain = io.StringIO()
    assert main(["summary", str(path)], out=io.StringIO(), err=plain) == 0
    assert plain.getvalue() == ""
    monkeypatch.setattr(stream.time, "monotonic", lambda: 0.0)  # a fast read: nothing shown
    tty = _Tty()
    assert main(["summary", str(path)], out=io.StringIO(), err=tty) == 0
    assert tty.getvalue() == ""
