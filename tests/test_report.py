"""Black-box tests of what failing tests get: report sections, helper messages,
fail-on-error, JUnit XML properties, failed-dir files, redaction and hooks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

SHOP = """
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

tracer = trace.get_tracer("shop", "1.0")


class Declined(Exception):
    pass


def checkout(user, card):
    with tracer.start_as_current_span(
        "POST /checkout", kind=SpanKind.SERVER,
        attributes={"user.id": user, "http.request.header.authorization": "Bearer s3cr3t"},
    ):
        with tracer.start_as_current_span("inventory.reserve"):
            pass
        with tracer.start_as_current_span(
            "payments.charge", kind=SpanKind.CLIENT, attributes={"payment.card_suffix": card[-4:]}
        ):
            if card.endswith("2"):
                raise Declined(f"card ending {card[-4:]} declined")
"""


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# Sections, fail-on-error and JUnit properties are built in the process that
# runs the test; under pytest-xdist they must reach the controller's output.
XDIST = pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])


@XDIST
def test_failing_test_gets_a_captured_traces_section_and_passing_test_none(pytester, xdist_args):
    pytester.makepyfile(
        test_shop=SHOP
        + """
def test_declined():
    checkout("bob", "0000000000000002")

def test_paid(trace_store_processor):
    checkout("alice", "0000000000000001")
    # No plugin implements pytest_tracestore_record: the hot path has no transform.
    assert trace_store_processor.transform is None
"""
    )
    result = pytester.runpytest_subprocess("-rA", "--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=1, failed=1)
    # "*Declined": older SDKs (1.20) record the exception type without its module.
    result.stdout.fnmatch_lines(
        [
            "*_ test_declined _*",
            "*- Captured traces call -*",
            "trace * (3 spans, 2 ERROR)",
            "  *+0ns POST /checkout [[]SERVER[]] *ERROR ✗ *Declined: card ending 0002 declined "
            "{user.id=bob, http.request.header.authorization=[[]REDACTED[]]}",
            "  *+*s ├── inventory.reserve *UNSET",
            "  *+*s └── payments.charge [[]CLIENT[]] *ERROR ✗ *Declined: card ending 0002 declined "
            "{payment.card_suffix=0002}",
            "  pytest-tracestore show run.jsonl *",
        ]
    )
    # -rA shows the passing test's other sections, but no trace section by default.
    assert result.stdout.str().count("Captured traces") == 1


def test_report_all_shows_passing_tests_traces_with_ra(pytester):
    pytester.makepyfile(test_shop=SHOP + "\ndef test_paid():\n    checkout('alice', '1')\n")
    pytester.makeini("[pytest]\ntrace_store_report = all\n")
    result = pytester.runpytest_subprocess("-rA", "--trace-store-path", "run.jsonl")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*_ test_paid _*", "*- Captured traces call -*", "trace * (3 spans)", "  *+0ns POST /checkout *"]
    )
    # "none" on the command line beats the ini key.
    result = pytester.runpytest_subprocess("-rA", "--trace-store-report", "none")
    assert "Captured traces" not in result.stdout.str()


def test_helper_messages_name_what_was_found_and_hide_the_plugin_frames(pytester):
    pytester.makepyfile(
        test_shop=SHOP
        + """
def test_no_failures(trace_store):
    with pytest.raises(Declined):
        checkout("bob", "0000000000000002")
    trace_store.assert_no_failures()

def test_one_span(trace_store):
    checkout("alice", "0000000000000001")
    trace_store.span(name="payments.charge", attributes={"payment.card_suffix": "0002"})

def test_list_diff(trace_store):
    checkout("alice", "0000000000000001")
    assert trace_store.spans(kind="CLIENT") == trace_store.spans(kind="SERVER")
"""
    )
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            ">       trace_store.assert_no_failures()",
            "E       AssertionError: 2 ERROR spans:",
            "E         POST /checkout  (trace *, span *)",
            "E             *Declined: card ending 0002 declined",
            "E         POST /checkout > payments.charge  (trace *, span *)",
            "E             *Declined: card ending 0002 declined",
            ">       trace_store.span(*",
            "E       AssertionError: expected exactly one span matching name='payments.charge', "
            "attributes={'payment.card_suffix': '0002'}; found none among 3 spans.",
            "E       Nearest misses:",
            "E         <SpanRecord 'payments.charge' UNSET *>: payment.card_suffix='0001'",
            "E         At index 0 diff: <SpanRecord 'payments.charge' UNSET * span=*> "
            "!= <SpanRecord 'POST /checkout' UNSET * span=*>",
        ]
    )
    # __tracebackhide__: the traceback stops at the user's line.
    assert "store.py" not in result.stdout.str()


@XDIST
def test_fail_on_error_option_and_function_marker_override(pytester, xdist_args):
    pytester.makepyfile(
        test_shop=SHOP
        + """
def test_swallows_error():
    with pytest.raises(Declined):
        checkout("bob", "0000000000000002")

@pytest.mark.trace_store(fail_on_error=False)
def test_expected_error():
    with pytest.raises(Declined):
        checkout("bob", "0000000000000002")

def test_clean():
    checkout("alice", "0000000000000001")

@pytest.mark.trace_store(fail_on_eror=True)
def test_misspelt_marker():
    pass
"""
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-fail-on-error", *xdist_args
    )
    result.assert_outcomes(passed=3, errors=2)
    # Two checks, each from the top: under xdist the errors may come in either order.
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_swallows_error _*",
            "tracestore: fail_on_error: this test's spans include 2 ERROR spans:",
            "  POST /checkout  (trace *, span *)",
            "      *Declined: card ending 0002 declined",
            "  POST /checkout > payments.charge  (trace *, span *)",
            "      *Declined: card ending 0002 declined",
            "*- Captured traces teardown -*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_misspelt_marker _*",
            "@pytest.mark.trace_store: expected fail_on_error=True or False, got args=(), "
            "kwargs={'fail_on_eror': True}",
        ]
    )
    assert "During handling of the above exception" not in result.stdout.str()


def test_fail_on_error_ini_key_module_marker_and_strict_markers(pytester):
    body = """
def test_swallows_error():
    with pytest.raises(Declined):
        checkout("bob", "0000000000000002")
"""
    pytester.makepyfile(
        test_marked=SHOP + "\npytestmark = pytest.mark.trace_store(fail_on_error=False)\n" + body,
        test_plain=SHOP + body,
    )
    pytester.makeini("[pytest]\ntrace_store_fail_on_error = true\n")
    result = pytester.runpytest_subprocess("--strict-markers", "--trace-store-path", "run.jsonl")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["ERROR test_plain.py::test_swallows_error - Failed: tracestore: fail_on_error*"])


@XDIST
def test_failed_test_evidence_junitxml_failed_dir_and_redaction(pytester, xdist_args):
    pytester.makepyfile(
        test_shop=SHOP
        + """
def test_declined(trace_store):
    with pytest.raises(Declined):
        checkout("bob", "0000000000000002")
    # The in-memory store keeps the secret for assertions.
    assert trace_store.span(kind="SERVER").attributes["http.request.header.authorization"] == "Bearer s3cr3t"
    assert False, "make it fail"

@pytest.mark.parametrize("card", ["1/1"])
def test_paid(card, trace_store):
    checkout("alice", card)
"""
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-failed-dir", "failed",
        "--junitxml", "junit.xml", *xdist_args,
    )
    result.assert_outcomes(passed=1, failed=1)
    (failed_file,) = (pytester.path / "failed").iterdir()
    assert failed_file.name.startswith("test_shop.py_test_declined-") and failed_file.suffix == ".jsonl"
    spans = lines(failed_file)
    assert [s["name"] for s in spans] == ["inventory.reserve", "payments.charge", "POST /checkout"]
    assert spans[2]["attributes"]["http.request.header.authorization"] == "[REDACTED]"
    assert spans[1]["events"][0]["attributes"]["exception.message"] == "card ending 0002 declined"
    artifact = lines(pytester.path / "run.jsonl")
    assert {s["attributes"].get("http.request.header.authorization") for s in artifact} == {None, "[REDACTED]"}
    assert "s3cr3t" not in (pytester.path / "run.jsonl").read_text(encoding="utf-8")

    cases = {c.get("name"): c for c in ET.parse(pytester.path / "junit.xml").iter("testcase")}
    properties = [(p.get("name"), p.get("value")) for p in cases["test_declined"].iter("property")]
    assert properties == [
        ("trace_id", spans[0]["trace_id"]),
        ("trace_store_file", str(failed_file)),
    ]
    assert not list(cases["test_paid[1/1]"].iter("property"))


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("default\n    *card_suffix", {"authorization": "[REDACTED]", "card": "[REDACTED]"}),
        ("none", {"authorization": "Bearer s3cr3t", "card": "0002"}),
    ],
)
def test_redaction_list_can_be_extended_or_turned_off(pytester, setting, expected):
    pytester.makepyfile(test_shop=SHOP + "\ndef test_x():\n    checkout('bob', '0000000000000002')\n")
    pytester.makeini(f"[pytest]\ntrace_store_redact =\n    {setting}\n")
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(failed=1)
    by_name = {s["name"]: s["attributes"] for s in lines(pytester.path / "run.jsonl")}
    assert by_name["POST /checkout"]["http.request.header.authorization"] == expected["authorization"]
    assert by_name["payments.charge"]["payment.card_suffix"] == expected["card"]


def test_hooks_transform_records_and_see_the_provider(pytester):
    # In a sub-folder's conftest, registered during collection, after the
    # plugin has configured itself: both hooks must still reach it.
    pytester.makepyfile(
        **{"sub/conftest.py": """
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from pytest_tracestore import SpanRecord

        EXPORTER = InMemorySpanExporter()
        CONFIGURED = []

        def pytest_tracestore_configure(provider, processor):
            CONFIGURED.append(processor)
            provider.add_span_processor(SimpleSpanProcessor(EXPORTER))

        def pytest_tracestore_record(record):
            if record.name == "health":
                return None
            if record.name == "inventory.reserve":
                return SpanRecord(
                    trace_id=record.trace_id, span_id=record.span_id,
                    parent_span_id=record.parent_span_id, name="inventory.reserve",
                    start_time=record.start_time, end_time=record.end_time,
                    attributes={"warehouse": "north"},
                )
            return record
        """,
        "sub/test_shop.py": SHOP
        + """
from sub import conftest

def test_hooks(trace_store, trace_store_processor):
    assert conftest.CONFIGURED == [trace_store_processor]
    with tracer.start_as_current_span("health"):
        pass
    checkout("alice", "1")
    assert [s.name for s in trace_store.spans()] == ["POST /checkout", "inventory.reserve", "payments.charge"]
    assert trace_store.span(name="inventory.reserve").attributes == {"warehouse": "north"}
    # The extra exporter sees every span, dropped or not.
    assert len(conftest.EXPORTER.get_finished_spans()) == 4
""",
        "sub/__init__.py": "",
    }
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    artifact = {s["name"]: s for s in lines(pytester.path / "run.jsonl")}
    assert sorted(artifact) == ["POST /checkout", "inventory.reserve", "payments.charge"]
    assert artifact["inventory.reserve"]["attributes"] == {"warehouse": "north"}


@pytest.mark.parametrize("first_bad", ["more", "bad-in-the-test"])
def test_a_failing_record_hook_under_filterwarnings_error_ends_the_run_cleanly(
    pytester, first_bad
):
    # The bad spans are drained at the end of the call phase, or as the
    # plugin closes: outside any test code.  The hook's warning (issued once)
    # must not become an INTERNALERROR there, nor cost the batch its spans,
    # nor stop the file's trim.
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makeconftest(
        """
        from opentelemetry import trace

        def pytest_tracestore_record(record):
            if record.name.startswith("bad"):
                raise RuntimeError("hook bug")
            return record

        def pytest_sessionfinish(session):
            # Ends before the plugin closes: its drain warns at session end.
            with trace.get_tracer("t").start_as_current_span("bad-at-the-end"):
                pass
        """
    )
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_spans():
            tracer = trace.get_tracer("t")
            for name in ("good", "also-good", "FIRST_BAD"):
                with tracer.start_as_current_span(name):
                    pass
        """.replace("FIRST_BAD", first_bad)
    )
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-max-spans", "3"
    )
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "TraceStoreWarning: pytest-tracestore: could not transform a span" in output
    # The file was trimmed at the end all the same: the newest three.
    names = [s["name"] for s in lines(pytester.path / "run.jsonl")]
    assert names == ["also-good", first_bad, "bad-at-the-end"]
    result.stdout.fnmatch_lines(["*tracestore: 4 spans recorded, the oldest 1 dropped*; 3 in *"])
