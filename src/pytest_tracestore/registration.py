"""The plugin's command-line options and ini keys, registered in one place.

``options`` reads and checks what they hold.
"""

from __future__ import annotations

from typing import Any

import pytest

from .base import DEFAULT_BATCH_SIZE
from .options import DEFAULT_MAX_SPANS

__all__ = ["MARKER_HELP", "add_options"]

MARKER_HELP = (
    "trace_store(fail_on_error=True|False): fail this test (or every test of "
    "the module or class) in teardown when its own spans include an ERROR span; "
    "overrides --trace-store-fail-on-error"
)


def add_options(parser: pytest.Parser) -> None:
    """Register every option and ini key of the plugin."""
    group = parser.getgroup("tracestore", "OpenTelemetry trace assertions (pytest-tracestore)")
    group.addoption(
        "--trace-store-path",
        dest="trace_store_path",
        metavar="PATH",
        default=None,
        help="JSONL file that receives every finished span of the run "
        "(default: .pytest_cache/d/tracestore/spans.jsonl). "
        "Ini: trace_store_path.",
    )
    group.addoption(
        "--trace-store-max-spans",
        dest="trace_store_max_spans",
        metavar="N",
        default=None,
        help=f"keep only the newest N spans in memory and in the file "
        f"(default: {DEFAULT_MAX_SPANS}). Ini: trace_store_max_spans.",
    )
    group.addoption(
        "--trace-store-batch-size",
        dest="trace_store_batch_size",
        metavar="N",
        default=None,
        help=f"add ended spans' records to the in-memory store N at a time (default: "
        f"{DEFAULT_BATCH_SIZE}); each span's line is in the file as it ends, whatever N. "
        "Ini: trace_store_batch_size.",
    )
    group.addoption(
        "--trace-store-format",
        dest="trace_store_format",
        metavar="FORMAT",
        default=None,
        help="format of the span file: jsonl (one span object per line, the default) "
        "or otlp (OTLP JSON Lines, as the OpenTelemetry file exporter writes them). "
        "Ini: trace_store_format.",
    )
    group.addoption(
        "--trace-store-report",
        dest="trace_store_report",
        metavar="WHEN",
        default=None,
        help="add a 'Captured traces' report section to failed tests (failed, the "
        "default), to every test (all; passing ones show with -rA) or to none. "
        "Ini: trace_store_report.",
    )
    group.addoption(
        "--trace-store-fail-on-error",
        dest="trace_store_fail_on_error",
        action="store_true",
        default=None,
        help="fail a test in teardown when its own spans include an ERROR span "
        "(the trace_store marker overrides it per test). Ini: trace_store_fail_on_error.",
    )
    group.addoption(
        "--trace-store-failed-dir",
        dest="trace_store_failed_dir",
        metavar="DIR",
        default=None,
        help="write each failed test's spans, in full, to one JSONL file in DIR. "
        "Ini: trace_store_failed_dir.",
    )
    _add_test_span_options(group, parser)
    _add_html_options(group, parser)
    group.addoption(
        "--trace-store-provider",
        dest="trace_store_provider",
        metavar="MODE",
        default=None,
        help="which TracerProviders record into the store: auto (the default: join every "
        "provider, and record the global tracer API's spans until the app sets its own), "
        "install (set a session provider as the global one), join (join, never set) or off. "
        "Ini: trace_store_provider.",
    )
    parser.addini(
        "trace_store_provider",
        help="which TracerProviders record into the store: auto (default), install, join or off",
        default="",
    )
    parser.addini(
        "trace_store_report",
        help="when to add a 'Captured traces' report section: failed (default), all or none",
        default="",
    )
    parser.addini(
        "trace_store_fail_on_error",
        help="fail a test in teardown when its own spans include an ERROR span (true or false)",
        default="false",
    )
    parser.addini(
        "trace_store_failed_dir",
        help="folder that receives one JSONL file of spans per failed test, "
        "relative to the ini file's folder",
        default="",
    )
    parser.addini(
        "trace_store_redact",
        help="glob patterns over attribute keys whose values are written as "
        "[REDACTED] in trace files; 'default' stands for the built-in list, "
        "'none' alone for no patterns",
        type="linelist",
        default=[],
    )
    parser.addini(
        "trace_store_redact_values",
        help="true (the default) also hides credentials inside URLs and connection "
        "strings (user:pass@, ?access_token=...) in trace files; false turns that off",
        default="true",
    )
    parser.addini(
        "trace_store_path",
        help="JSONL file that receives every finished span of the run, "
        "relative to the ini file's folder",
        default="",
    )
    parser.addini(
        "trace_store_max_spans",
        help=f"keep only the newest N spans (default: {DEFAULT_MAX_SPANS})",
        default=str(DEFAULT_MAX_SPANS),
    )
    parser.addini(
        "trace_store_batch_size",
        help=f"add ended spans' records to the in-memory store N at a time (default: "
        f"{DEFAULT_BATCH_SIZE}); each span's line is in the file as it ends, whatever N",
        default=str(DEFAULT_BATCH_SIZE),
    )
    parser.addini(
        "trace_store_format",
        help="format of the span file: jsonl (default) or otlp (OTLP JSON Lines)",
        default="",
    )


def _add_test_span_options(group: Any, parser: pytest.Parser) -> None:
    """The flag and the ini key, one ``dest``."""
    group.addoption(
        "--trace-store-test-spans",
        dest="trace_store_test_spans",
        action="store_true",
        default=None,
        help="make a span for the session and one per test (setup to teardown) that the "
        "test's own spans nest under, and set TRACEPARENT while each test runs. "
        "Ini: trace_store_test_spans.",
    )
    parser.addini(
        "trace_store_test_spans",
        help="a span for the session and one per test, TRACEPARENT set while each "
        "test runs (true or false)",
        default="false",
    )


def _add_html_options(group: Any, parser: pytest.Parser) -> None:
    """Register ``--trace-store-html`` and its ini key."""
    group.addoption(
        "--trace-store-html",
        dest="trace_store_html",
        metavar="PATH",
        default=None,
        help="write a self-contained HTML page of the run's traces (a waterfall per trace, "
        "failed tests' spans included) to PATH at the end of the run. Ini: trace_store_html.",
    )
    parser.addini(
        "trace_store_html",
        help="self-contained HTML page of the run's traces, relative to the ini file's folder",
        default="",
    )
