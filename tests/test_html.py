"""The trace page: its data, the ``html`` command, ``--trace-store-html`` and the pytest-html extra.

What the page does in a browser is in ``test_html_browser.py``.
"""

from __future__ import annotations

import io
import json

import pytest
from conftest import exception_event, make_record
from html_page import page_data, page_spans, pytest_html_tests, srcdoc_pages

from pytest_tracestore import html as tracepage
from pytest_tracestore.cli import main
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.serialize import record_line

MS = 1_000_000
T0 = 1_764_201_600_000_000_000


def _render(records, **kwargs) -> str:
    return tracepage.render_page(tracepage.page_data(records, **kwargs))


# -- the page's data ------------------------------------------------------


def test_names_and_values_cannot_end_the_script_element_or_break_its_json():
    hostile = "</script><script>alert(1)</script><!--"
    record = make_record(name=hostile, attributes={"note": "a & b \u2028 c \u2029 >", "raw": "\ud800"})
    page = _render([record])

    assert hostile not in page
    assert page.count("</script>") == 2  # the data's element and the script's, nothing else
    assert "\u2028" not in page and "\u2029" not in page
    page.encode("utf-8")  # a lone surrogate is escaped, not written
    (span,) = page_spans(page_data(page)).values()
    assert span["name"] == hostile
    strings = page_data(page)["strings"]
    attrs = dict(zip((strings[k] for k in span["attributes"][::2]), span["attributes"][1::2]))
    assert attrs == {"note": "a & b \u2028 c \u2029 >", "raw": "\ud800"}


def test_values_json_cannot_hold_as_numbers_become_text():
    record = make_record(attributes={"nan": float("nan"), "inf": float("-inf"), "big": 2**60,
                                     "small": 7, "list": [1, 2.5, "x"], "flag": True})
    data = tracepage.page_data([record])
    (span,) = page_spans(data).values()
    attrs = dict(zip((data["strings"][k] for k in span["attributes"][::2]), span["attributes"][1::2]))
    assert attrs == {"nan": "nan", "inf": "-inf", "big": str(2**60), "small": 7,
                     "list": [1, 2.5, "x"], "flag": True}


def test_spans_come_in_tree_order_with_depths_and_orphans_and_loops_as_roots():
    trace = "ab" * 16
    records = [
        make_record(trace_id=trace, span_id="01" * 8, name="root", start_time=T0, end_time=T0 + 10 * MS),
        make_record(trace_id=trace, span_id="03" * 8, parent_span_id="01" * 8, name="second",
                    start_time=T0 + 5 * MS, end_time=T0 + 6 * MS),
        make_record(trace_id=trace, span_id="02" * 8, parent_span_id="01" * 8, name="first",
                    start_time=T0 + 1 * MS, end_time=T0 + 2 * MS),
        make_record(trace_id=trace, span_id="04" * 8, parent_span_id="02" * 8, name="under-first",
                    start_time=T0 + 1 * MS, end_time=T0 + 2 * MS),
        make_record(trace_id=trace, span_id="05" * 8, parent_span_id="ee" * 8, name="orphan",
                    start_time=T0 + 3 * MS, end_time=T0 + 4 * MS),
        make_record(trace_id=trace, span_id="06" * 8, parent_span_id="07" * 8, name="loop-a",
                    start_time=T0 + 7 * MS, end_time=T0 + 8 * MS),
        make_record(trace_id=trace, span_id="07" * 8, parent_span_id="06" * 8, name="loop-b",
                    start_time=T0 + 8 * MS, end_time=T0 + 9 * MS),
    ]
    data = tracepage.page_data(records)
    (trace_data,) = data["traces"]
    rows = [dict(zip(data["fields"], row)) for row in trace_data["spans"]]
    names = [data["strings"][r["name"]] for r in rows]
    assert names == ["root", "first", "under-first", "second", "orphan", "loop-a", "loop-b"]
    assert [r["depth"] for r in rows] == [0, 1, 2, 1, 0, 0, 1]
    assert [r["parent"] for r in rows] == [-1, 0, 1, 0, -1, -1, 5]
    assert [r["start"] for r in rows][:4] == [0, 1 * MS, 1 * MS, 5 * MS]
    assert trace_data["duration"] == 10 * MS
    assert data["strings"][trace_data["root"]] == "root"


def test_traces_are_grouped_by_test_errors_first_then_by_start_time():
    def trace(n, test, error=False, start=0):
        record = make_record(trace_id=n, span_id=n, start_time=T0 + start, end_time=T0 + start + MS,
                             status="ERROR" if error else "UNSET",
                             events=[exception_event("shop.Declined")] if error else [],
                             resource={"service.name": f"svc-{n}"})
        return record.replace(test=test) if test else record

    records = [
        trace(1, "t.py::test_a", start=1),
        trace(2, "t.py::test_b", start=2),
        trace(3, None, start=0),
        trace(4, "t.py::test_b", error=True, start=5),
        trace(5, "t.py::test_a", start=0),
    ]
    data = tracepage.page_data(records)
    order = [int(t["id"], 16) for t in data["traces"]]
    assert order == [4, 3, 5, 1, 2]
    groups = [(g["test"], [order[i] for i in g["traces"]]) for g in data["groups"]]
    assert groups == [("t.py::test_b", [4, 2]), (None, [3]), ("t.py::test_a", [5, 1])]
    first = data["traces"][0]
    assert (first["errors"], first["error_type"]) == (1, "Declined")
    assert [data["strings"][s] for s in first["services"]] == ["svc-4"]


def test_a_test_known_from_elsewhere_names_spans_without_one():
    plain = make_record(trace_id=9, span_id=9)
    tested = make_record(trace_id=8, span_id=8).replace(test="t.py::own")
    known = {(plain.trace_id, plain.span_id): "t.py::known", (tested.trace_id, tested.span_id): "t.py::other"}
    assert tracepage.test_of(plain) is None
    assert tracepage.test_of(plain, known) == "t.py::known"
    assert tracepage.test_of(tested, known) == "t.py::own"


def test_a_span_given_twice_is_shown_once():
    record = make_record()
    assert tracepage.span_count(tracepage.page_data([record, record])) == (1, 1)


def test_the_page_asks_for_nothing_from_the_network():
    page = _render([make_record(name="x")])
    assert "default-src 'none'" in page
    for marker in ("http://", "https://", "//cdn", "@import", "url("):
        assert marker not in page.lower()


# -- the html command -----------------------------------------------------


def _shop():
    root = make_record(trace_id="aa" * 16, span_id="01" * 8, name="POST /checkout", kind="SERVER",
                       start_time=T0, end_time=T0 + 50 * MS, resource={"service.name": "shop"})
    charge = make_record(trace_id="aa" * 16, span_id="02" * 8, parent_span_id="01" * 8,
                         name="payments.charge", status="ERROR", start_time=T0 + 10 * MS,
                         end_time=T0 + 40 * MS, resource={"service.name": "payments"},
                         events=[exception_event("shop.Declined", "card declined")])
    other = make_record(trace_id="cc" * 16, span_id="03" * 8, name="GET /items",
                        start_time=T0 + 60 * MS, end_time=T0 + 61 * MS, resource={"service.name": "shop"})
    return [root, charge, other]


def test_html_command_reads_both_formats_and_joins_the_files(tmp_path):
    records = _shop()
    ours = tmp_path / "spans.jsonl"
    ours.write_text("".join(record_line(r) for r in records[:2]), encoding="utf-8")
    otlp = tmp_path / "spans.otlp.jsonl"
    # The OTLP file repeats a span of the first: the page shows it once.
    otlp.write_text("".join(record_to_otlp_line(r) + "\n" for r in records[1:]), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    status = main(["html", str(ours), str(otlp), "-o", str(tmp_path / "page.html")], out, err)

    assert status == 0, err.getvalue()
    assert err.getvalue() == f"pytest-tracestore: wrote 3 spans in 2 traces to {tmp_path / 'page.html'}\n"
    data = page_data(tmp_path / "page.html")
    spans = page_spans(data)
    assert {s["name"] for s in spans.values()} == {"POST /checkout", "payments.charge", "GET /items"}
    assert spans["02" * 8]["status"] == "ERROR" and spans["02" * 8]["error_type"] == "Declined"
    assert data["title"] == "spans.jsonl, spans.otlp.jsonl"
    assert [g["test"] for g in data["groups"]] == [None]


def test_html_command_to_stdout_with_a_title(tmp_path, capsysbinary):
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(record_line(r) for r in _shop()), encoding="utf-8")
    assert main(["html", str(path), "-o", "-", "--title", "CI <run> 7"]) == 0
    page = capsysbinary.readouterr().out.decode("utf-8")
    assert "<title>CI &lt;run&gt; 7</title>" in page
    assert page_data(page)["title"] == "CI <run> 7"


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["missing.jsonl"], "no such file: {d}/missing.jsonl"),
        ("", ["empty.jsonl"], "{d}/empty.jsonl holds no spans"),
        ("garbage\n", ["empty.jsonl"], "{d}/empty.jsonl holds no readable spans"),
    ],
)
def test_html_command_bad_inputs_exit_2_with_one_line(tmp_path, setup, args, message):
    if setup is not None:
        (tmp_path / "empty.jsonl").write_text(setup, encoding="utf-8")
    err = io.StringIO()
    status = main(["html", *(str(tmp_path / a) for a in args), "-o", str(tmp_path / "p.html")], io.StringIO(), err)
    assert status == 2
    assert err.getvalue().splitlines()[-1] == "pytest-tracestore: error: " + message.format(d=tmp_path)
    assert not (tmp_path / "p.html").exists()


def test_html_command_unwritable_output_exits_2(tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(record_line(r) for r in _shop()), encoding="utf-8")
    err = io.StringIO()
    target = tmp_path / "no" / "such" / "page.html"
    assert main(["html", str(path), "-o", str(target)], io.StringIO(), err) == 2
    assert err.getvalue().startswith(f"pytest-tracestore: error: cannot write {target}: ")


# -- in the run -----------------------------------------------------------

# The failing test's spans end first: a cap of 3 spans drops them from the
# artifact, and the page must still hold them.
SUITE = """
import pytest
from opentelemetry import trace
tracer = trace.get_tracer("shop")

def test_declined():
    with tracer.start_as_current_span("POST /checkout"):
        with tracer.start_as_current_span("payments.charge", attributes={"card": "0002"}):
            raise ValueError("card declined")

@pytest.mark.parametrize("n", range(4))
def test_items(n):
    with tracer.start_as_current_span(f"GET /items/{n}"):
        pass
"""


def _artifact_ids(path):
    return {json.loads(line)["span_id"] for line in path.read_text(encoding="utf-8").splitlines()}


# loadfile: one worker runs the file in order, so the passing tests' spans end after the failing one's.
@pytest.mark.parametrize("xdist_args", [[], ["-n", "2", "--dist", "loadfile"]], ids=["plain", "n2"])
@pytest.mark.parametrize("how", ["flag", "ini"])
def test_run_page_holds_the_artifact_and_every_failed_tests_spans(pytester, xdist_args, how):
    pytester.makepyfile(SUITE)
    if how == "flag":
        args = ["--trace-store-html", "out/page.html"]
    else:
        pytester.makeini("[pytest]\ntrace_store_html = out/page.html\n")
        args = []
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "out/spans.jsonl", "--trace-store-max-spans", "3",
        *args, *xdist_args,
    )
    result.assert_outcomes(passed=4, failed=1)

    page = pytester.path / "out" / "page.html"
    spans = page_spans(page_data(page))
    artifact = _artifact_ids(pytester.path / "out" / "spans.jsonl")
    assert len(artifact) == 3
    failed = {sid for sid, s in spans.items() if s["name"] in ("POST /checkout", "payments.charge")}
    assert len(failed) == 2 and not failed & artifact  # the cap dropped them from the file
    assert set(spans) == artifact | failed
    assert {spans[sid]["test"] for sid in failed} == {"test_run_page_holds_the_artifact_and_every_failed_tests_spans.py::test_declined"}
    result.stdout.fnmatch_lines([f"tracestore: trace page (5 spans in 4 traces) -> {page}"])


def test_no_page_and_no_line_without_the_option(pytester):
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("--trace-store-path", "out/spans.jsonl")
    result.assert_outcomes(passed=4, failed=1)
    assert "trace page" not in result.stdout.str()
    assert sorted(p.name for p in (pytester.path / "out").iterdir()) == ["spans.jsonl"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trace-store-html", "folder"], "--trace-store-html: {d}/folder is a folder; give a file path"),
        (["--trace-store-html", "blocker/page.html"], "--trace-store-html: cannot create the folder {d}/blocker: *"),
        (["--trace-store-html", "spans.jsonl", "--trace-store-path", "spans.jsonl"],
         "--trace-store-html: {d}/spans.jsonl is the trace file itself; give another path"),
    ],
)
def test_a_bad_page_path_is_a_usage_error_naming_the_option(pytester, args, message):
    (pytester.path / "folder").mkdir()
    (pytester.path / "blocker").write_text("a file, not a folder")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: " + message.format(d=pytester.path)])
    assert "Traceback" not in result.stderr.str()


def test_a_bad_ini_page_path_names_the_ini_key(pytester):
    (pytester.path / "folder").mkdir()
    pytester.makeini("[pytest]\ntrace_store_html = folder\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: trace_store_html (ini): {pytester.path}/folder is a folder; give a file path"])


# -- pytest-html ------------------------------------------------------------


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_pytest_html_gets_each_failed_tests_waterfall(pytester, xdist_args):
    pytest.importorskip("pytest_html")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess(
        "--html", "report.html", "--self-contained-html", "--trace-store-path", "spans.jsonl", *xdist_args
    )
    result.assert_outcomes(passed=4, failed=1)

    tests = pytest_html_tests(pytester.path / "report.html")
    extras = {test: [x for entry in entries for x in entry["extras"]] for test, entries in tests.items()}
    failed = [t for t in extras if t.endswith("::test_declined")]
    assert len(failed) == 1
    assert all(not x for t, x in extras.items() if t not in failed)
    (extra,) = extras[failed[0]]
    assert extra["format_type"] == "html"
    (page,) = srcdoc_pages(extra["content"])
    data = page_data(page)
    assert data["open_first"] is True
    assert [g["test"] for g in data["groups"]] == [failed[0]]
    spans = page_spans(data)
    assert sorted(s["name"] for s in spans.values()) == ["POST /checkout", "payments.charge"]
    assert "default-src 'none'" in page


def test_pytest_html_not_asked_for_gets_nothing(pytester):
    pytester.makepyfile(SUITE)
    pytester.makeconftest(
        """
        import pytest
        @pytest.hookimpl(trylast=True)
        def pytest_runtest_logreport(report):
            assert not getattr(report, "extras", None), report.extras
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "spans.jsonl")
    result.assert_outcomes(passed=4, failed=1)


def test_a_page_that_cannot_be_written_at_the_end_is_a_warning(pytester):
    pytester.makepyfile(
        """
        import os
        from opentelemetry import trace

        def test_takes_the_pages_place():
            with trace.get_tracer("t").start_as_current_span("x"):
                pass
            os.mkdir("page.html")  # checked at start-up, a folder by the end
        """
    )
    result = pytester.runpytest_subprocess("--trace-store-html", "page.html", "--trace-store-path", "spans.jsonl")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*pytest-tracestore: could not write the trace page {pytester.path}/page.html: *"])
    assert "trace page (" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2", "--dist", "loadfile"]], ids=["plain", "n2"])
def test_failed_tests_spans_are_redacted_on_the_page_and_in_the_pytest_html_extra(pytester, xdist_args):
    pytest.importorskip("pytest_html")
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_login():
            with trace.get_tracer("t").start_as_current_span(
                "login", attributes={"db.password": "hunter2", "url.full": "https://bob:pw-77@db.example/"}
            ):
                raise ValueError("no")

        def test_later():
            with trace.get_tracer("t").start_as_current_span("later"):
                pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-html", "page.html", "--trace-store-path", "spans.jsonl", "--html", "report.html",
        "--self-contained-html", "--trace-store-max-spans", "1", *xdist_args,
    )
    result.assert_outcomes(failed=1, passed=1)
    # The cap dropped the login span from the file: the page has it from the failed test's evidence.
    assert "login" not in (pytester.path / "spans.jsonl").read_text(encoding="utf-8")
    page = (pytester.path / "page.html").read_text(encoding="utf-8")
    tests = pytest_html_tests(pytester.path / "report.html")
    (login,) = [entries for test, entries in tests.items() if test.endswith("::test_login")]
    (extra_page,) = srcdoc_pages(login[0]["extras"][0]["content"])
    assert sorted(s["name"] for s in page_spans(page_data(page)).values()) == ["later", "login"]
    for text in (page, extra_page):
        (span,) = [s for s in page_spans(page_data(text)).values() if s["name"] == "login"]
        assert "hunter2" not in text and "pw-77" not in text
        assert "[REDACTED]" in text
