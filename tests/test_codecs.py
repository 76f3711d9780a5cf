"""The line formats: one codec class each, looked up by name, detected from a line."""

from __future__ import annotations

import json
import re

import pytest
from conftest import make_record

from pytest_tracestore import RedactionPolicy
from pytest_tracestore.codecs import JsonlCodec, LineCodec, OtlpCodec, codec_for, detect_codec


@pytest.mark.parametrize("name, cls", [("jsonl", JsonlCodec), ("otlp", OtlpCodec)])
def test_each_format_round_trips_a_record_and_reads_its_end_time(name, cls):
    codec = codec_for(name)
    assert type(codec) is cls and isinstance(codec, LineCodec) and codec.name == name
    record = make_record(name="op", attributes={"token": "s3cr3t", "n": 1}, end_time=10**18 + 7)
    line = codec.encode(record)
    assert line.endswith("\n") and line.count("\n") == 1
    assert codec.decode(line) == [record]
    assert codec.decode(line.encode()) == [record]
    assert codec.end_time(line) == 10**18 + 7
    assert detect_codec(json.loads(line)).name == name
    assert cls.matches(json.loads(line))
    # Redaction goes through the policy, in the line only.
    hidden = codec.decode(codec.encode(record, RedactionPolicy()))[0]
    assert hidden.attributes["token"] == "[REDACTED]" and record.attributes["token"] == "s3cr3t"


def test_the_native_format_is_the_converters_own_line():
    assert JsonlCodec.native and not OtlpCodec.native


@pytest.mark.parametrize("bad", ["xml", "", None, ["jsonl"]])
def test_an_unknown_format_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=re.escape(f"invalid format {bad!r}: expected one of jsonl, otlp")):
        codec_for(bad)


@pytest.mark.parametrize("codec", [JsonlCodec(), OtlpCodec()], ids=["jsonl", "otlp"])
@pytest.mark.parametrize("line", ['{"trace_id": ', "[1, 2]", '{"name": "x"}'])
def test_a_line_that_is_not_a_span_raises_value_error(codec, line):
    with pytest.raises(ValueError):
        codec.decode(line)
    with pytest.raises(ValueError):
        codec.end_time(line)
