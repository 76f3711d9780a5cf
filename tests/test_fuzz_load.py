"""Fuzzing TraceStore.load: corrupt bytes, truncated and mixed-format lines.

Whatever the file holds, loading it gives TraceStoreWarnings only, never an
exception, and every valid line of the file's format is still loaded.
"""

from __future__ import annotations

import warnings

import pytest
from conftest import make_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tracestore import SpanEvent, SpanLink, TraceStore, TraceStoreWarning
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.record import Scope
from pytest_tracestore.serialize import record_line

_VALUES = st.one_of(
    st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.text(max_size=3), max_size=3),
)


@st.composite
def records(draw):
    return make_record(
        attributes=draw(st.dictionaries(st.text(max_size=6), _VALUES, max_size=4)),
        events=[SpanEvent(draw(st.text(max_size=5)), 7, {"k": draw(_VALUES)})]
        if draw(st.integers(0, 3)) else [],
        links=[SpanLink(3, 4)] if draw(st.booleans()) else [],
        resource={"service.name": draw(st.sampled_from(["a", "b"]))},
        scope=draw(st.sampled_from([None, Scope("lib", "1")])),
        status=draw(st.sampled_from(["UNSET", "ERROR"])),
        start_time=draw(st.sampled_from([0, 10**18, 10**30])),
        end_time=10**31,
    )


def _mutate(line: bytes, data) -> bytes:
    how = data.draw(st.sampled_from(["null", "truncate", "flip", "null", "insert", "null", "junk"]))
    if how == "truncate":
        return line[: data.draw(st.integers(0, max(len(line) - 2, 0)))]
    if how == "flip":
        at = data.draw(st.integers(0, len(line) - 2))
        return line[:at] + bytes([data.draw(st.integers(0, 255))]) + line[at + 1 :]
    if how == "insert":
        at = data.draw(st.integers(0, len(line) - 1))
        return line[:at] + data.draw(st.binary(max_size=6)) + line[at:]
    if how == "null":
        # A value of the wrong JSON type in place of one field's value.
        text = line.decode("utf-8", "replace")
        keys = ['"events":[', '"attributes":', '"spans":[', '"value":', '"scope":', '"traceId":',
                '"resource":', '"name":', '"stringValue":', '"links":[', '"trace_id":', '"code":']
        key = data.draw(st.sampled_from([k for k in keys if k in text] or keys))
        wrong = data.draw(st.sampled_from(["null,", "5,", "{},", "[null],", '"x",', "[[]],"]))
        return text.replace(key, key + wrong, 1).encode("utf-8", "surrogatepass")
    return data.draw(st.binary(max_size=40))


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), spans=st.lists(records(), min_size=1, max_size=6))
def test_load_survives_any_file_and_keeps_every_valid_line(tmp_path_factory, data, spans):
    otlp = data.draw(st.booleans(), label="otlp")
    encode = (lambda r: record_to_otlp_line(r) + "\n") if otlp else record_line
    lines = [encode(r).encode("utf-8", "surrogatepass") for r in spans]
    kept = []
    out = []
    # The first line decides the format: keep it valid, then mix the rest.
    for at, (record, line) in enumerate(zip(spans, lines)):
        what = "valid" if at == 0 else data.draw(st.sampled_from(["valid", "corrupt", "other"]))
        if what == "valid":
            out.append(line)
            kept.append((record, line))
        elif what == "other":
            # A line of the other format in the middle of the file.
            other = record_line(record) if otlp else record_to_otlp_line(record) + "\n"
            out.append(other.encode("utf-8", "surrogatepass"))
        else:
            out.append(_mutate(line, data).replace(b"\n", b" ") + b"\n")
    # Either no valid line is over the limit, or some after the first are.
    limit = data.draw(st.sampled_from([1 << 20, len(out[0]) - 1]), label="max_line_bytes")
    path = tmp_path_factory.mktemp("fuzz") / "spans.jsonl"
    path.write_bytes(b"".join(out))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = list(TraceStore.load(path, max_line_bytes=limit))
        for record in loaded:
            # What the CLI and reports read of each record.
            repr(record), record.duration, record.error_types(), record.attributes.to_dict()
    assert all(issubclass(w.category, TraceStoreWarning) for w in caught), [
        f"{w.category.__name__}: {w.message}" for w in caught
    ]
    for record, line in kept:
        if len(line) - 1 <= limit:
            assert record in loaded


_KEYS = ['"events":[', '"attributes":', '"spans":[', '"value":', '"scope":', '"traceId":',
         '"spanId":', '"resource":', '"name":', '"stringValue":', '"links":[', '"trace_id":',
         '"code":', '"status":', '"kind":', '"startTimeUnixNano":', '"start_time_unix_nano":',
         '"arrayValue":', '"values":[', '"scopeSpans":[', '"resourceSpans":[']
_WRONG = ["null,", "5,", "{},", "[null],", '"x",', "[[]],", "true,"]


@pytest.mark.parametrize("wrong", _WRONG)
@pytest.mark.parametrize("otlp", [False, True], ids=["jsonl", "otlp"])
def test_every_field_of_the_wrong_type_gives_warnings_only(tmp_path, otlp, wrong):
    record = make_record(
        attributes={"tags": ["a", "b"], "n": 1},
        events=[SpanEvent("e", 7, {"k": "v"})],
        links=[SpanLink(3, 4, {"k": "v"})],
        resource={"service.name": "a"},
        scope=Scope("lib", "1"),
    )
    good = record_to_otlp_line(record) + "\n" if otlp else record_line(record)
    lines = [good] + [good.replace(key, key + wrong, 1) for key in _KEYS if key in good] + [good]
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = list(TraceStore.load(path))
        for each in loaded:
            repr(each), each.duration, each.error_types(), each.attributes.to_dict()
    assert all(issubclass(w.category, TraceStoreWarning) for w in caught), [
        f"{w.category.__name__}: {w.message}" for w in caught
    ]
    assert loaded[0] == record and loaded[-1] == record
