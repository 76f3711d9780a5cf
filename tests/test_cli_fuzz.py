"""Every command on hostile files: warnings and one-line errors, never a traceback.

Files are built from valid lines of both formats, torn copies of them,
random bytes, and lines whose values have the wrong type or no calendar
date.  Each command runs in process (``cli.main`` with captured streams);
an exception escaping ``main`` fails the test, as does an exit status the
README does not list.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

from conftest import exception_event, make_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tracestore.cli import main
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.serialize import dumps_line, record_to_dict

T0 = 1_764_201_600_000_000_000
TRACE = "ab" * 16

_GOOD = [
    make_record(trace_id=TRACE, span_id="01" * 8, name="root", kind="SERVER", start_time=T0,
                end_time=T0 + 9_000_000, attributes={"http.route": "/x", "n": 3}),
    make_record(trace_id=TRACE, span_id="02" * 8, parent_span_id="01" * 8, name="child",
                status="ERROR", start_time=T0 + 1, end_time=T0 + 5_000_000,
                events=[exception_event("ValueError", "bad")]),
    make_record(trace_id="cd" * 16, span_id="03" * 8, name="other", start_time=T0 + 10,
                end_time=T0 + 20),
]
_VALID = [dumps_line(record_to_dict(r)) for r in _GOOD] + [record_to_otlp_line(r) for r in _GOOD]

_ODD_VALUES = [None, 10**30, -(10**30), 10**400, "x", "", 1.5, True, [], {}, [None], {"a": None},
               "\x1b[2J", "\ud800", 2**63, -1]
_FIELDS = ["trace_id", "span_id", "parent_span_id", "name", "kind", "status", "status_description",
           "start_time_unix_nano", "end_time_unix_nano", "attributes", "events", "links",
           "resource", "scope", "trace_state"]
_OTLP_FIELDS = ["traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
                "endTimeUnixNano", "attributes", "events", "links", "status"]


def _mangle_ours(record, field, value):
    data = record_to_dict(record)
    data[field] = value
    return dumps_line(data)


def _mangle_otlp(record, field, value):
    data = json.loads(record_to_otlp_line(record))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0][field] = value
    return dumps_line(data)


_TIMES = [10**30, -(10**30), 10**400, -(10**400), 2**63, -1, 0, "1" * 40]
_time_line = st.one_of(
    st.builds(_mangle_ours, st.sampled_from(_GOOD),
              st.sampled_from(["start_time_unix_nano", "end_time_unix_nano"]), st.sampled_from(_TIMES)),
    st.builds(_mangle_otlp, st.sampled_from(_GOOD),
              st.sampled_from(["startTimeUnixNano", "endTimeUnixNano"]),
              st.sampled_from(_TIMES).map(str)),
).map(str.encode)

_line = st.one_of(
    _time_line,
    st.sampled_from(_VALID).map(str.encode),
    st.tuples(st.sampled_from(_VALID), st.integers(0, 400)).map(lambda t: t[0][: t[1]].encode()),
    st.binary(max_size=80),
    st.builds(_mangle_ours, st.sampled_from(_GOOD), st.sampled_from(_FIELDS),
              st.sampled_from(_ODD_VALUES)).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.builds(_mangle_otlp, st.sampled_from(_GOOD), st.sampled_from(_OTLP_FIELDS),
              st.sampled_from(_ODD_VALUES)).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"[]", b"null", b"{}", b'{"resourceSpans": null}', b'{"resourceSpans": [1]}',
                     b"[" * 5000, b"\x00" * 100, b'"\\ud800"', b"1e999"]),
)
_file = st.lists(_line, max_size=8).map(lambda lines: b"\n".join(lines) + b"\n")

_COMMANDS = [
    ["summary", "{f}"],
    ["summary", "{f}", "--top", "1"],
    ["failures", "{f}"],
    ["failures", "{f}", "-a"],
    ["show", "{f}", TRACE],
    ["show", "{f}", "c"],
    ["query", "{f}"],
    ["query", "{f}", "--json"],
    ["query", "{f}", "--status", "error", "--limit", "1", "-a"],
    ["query", "{f}", "--since", "5m", "--until", "1ms"],
    ["query", "{f}", "--attr", "n=3", "--trace-id", "ab", "--min-duration", "1ms"],
    ["export", "{f}", "-o", "{d}/out.otlp", "--format", "otlp"],
    ["export", "{f}", "-o", "{d}/out.json", "--format", "jaeger"],
    ["export", "{f}", "-o", "{d}/out.jsonl", "--format", "jsonl"],
    ["merge", "{f}", "{f}", "-o", "{d}/merged.jsonl"],
    ["merge", "{f}", "-o", "{d}/merged.otlp", "--format", "otlp", "--max-spans", "2"],
]
#: The exit statuses the README documents: results, "found failures / nothing", usage error.
_DOCUMENTED = {0, 1, 2}


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content=_file)
def test_every_command_on_corrupt_files_ends_with_a_documented_status(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spans.jsonl"
        path.write_bytes(content)
        for command in _COMMANDS:
            argv = [a.format(f=path, d=folder) for a in command]
            out, err = io.StringIO(), io.StringIO()
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # every warning must reach err as a line, not escape
                code = main(argv, out=out, err=err)
            assert code in _DOCUMENTED, (argv, code, err.getvalue())
            for line in err.getvalue().splitlines():
                assert line.startswith("pytest-tracestore: "), (argv, line)
            if code == 2:
                assert err.getvalue().splitlines()[-1].startswith("pytest-tracestore: error: ")
            if code == 0 and command[0] in ("export", "merge"):
                written = Path(argv[argv.index("-o") + 1])
                assert written.exists() and not list(Path(folder).glob(".*.tmp"))
