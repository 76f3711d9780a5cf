"""A merge into our format writes the input lines as they were, without encoding them again."""

from __future__ import annotations

import io
import json
import random

import pytest
from conftest import make_record

from pytest_tracestore import TraceStore
from pytest_tracestore.cli import main
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.parse import read_records, read_records_and_lines
from pytest_tracestore.serialize import dumps_line, record_to_dict
from pytest_tracestore.shards import merge_lines, merge_records

T0 = 1_764_201_600_000_000_000


def _spans(first, count, rng):
    return [
        make_record(trace_id=f"{i // 3 + 1:032x}", span_id=f"{i + 1:016x}", name=f"s{i}",
                    start_time=T0 + i * 10, end_time=T0 + i * 10 + rng.randint(0, 40),
                    attributes={"n": i, "tags": ["a", f"t{i % 3}"], "x": i / 3})
        for i in range(first, first + count)
    ]


def _line(record, how):
    data = record_to_dict(record)
    if how == "spaced":
        return json.dumps(data, indent=None)
    if how == "upper":
        data = dict(data, trace_id=data["trace_id"].upper())
    if how == "ids as ints":
        data = dict(data, span_id=int(data["span_id"], 16))
    return dumps_line(data)


def _write(path, records, rng, corrupt=0, otlp=False):
    lines = []
    for record in records:
        if otlp:
            lines.append(record_to_otlp_line(record))
        else:
            lines.append(_line(record, rng.choice(["plain", "plain", "spaced", "upper", "ids as ints"])))
    for _ in range(corrupt):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(['{"trace_id": 1', "[]", '{"name":"x"}', "\x00"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_lines_are_written_byte_for_byte_in_end_time_order(tmp_path):
    rng = random.Random(3)
    a = _write(tmp_path / "a.jsonl", _spans(0, 40, rng), rng)
    b = _write(tmp_path / "b.jsonl", _spans(40, 40, rng), rng)
    given = set(a.read_bytes().splitlines()) | set(b.read_bytes().splitlines())
    out = tmp_path / "out.jsonl"
    result = merge_lines([read_records_and_lines(a), read_records_and_lines(b)], out, "jsonl")
    written = out.read_bytes().splitlines()
    assert result.written == len(written) == 80
    assert set(written) == given
    ends = [r.end_time for r in read_records(out)]
    assert ends == sorted(ends)


@pytest.mark.parametrize("max_spans", [None, 7])
@pytest.mark.parametrize("seed", range(6))
def test_passing_lines_through_gives_the_records_encoding_gives(tmp_path, seed, max_spans):
    rng = random.Random(seed)
    records = _spans(0, 60, rng)
    # Shards overlap (the same span in two jobs' files) and one is OTLP.
    a = _write(tmp_path / "a.jsonl", records[:30], rng, corrupt=2)
    b = _write(tmp_path / "b.otlp.jsonl", records[20:45], rng, corrupt=1, otlp=True)
    c = _write(tmp_path / "c.jsonl", records[40:] + records[:5], rng, corrupt=2)
    paths = [a, b, c]
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    with pytest.warns(Warning) as fast_warnings:
        fast_result = merge_lines([read_records_and_lines(p) for p in paths], fast, "jsonl", max_spans=max_spans)
    with pytest.warns(Warning) as slow_warnings:
        slow_result = merge_records([read_records(p) for p in paths], slow, "jsonl", max_spans=max_spans)
    assert fast_result == slow_result
    assert fast_result.duplicates == 20  # 80 spans given, 60 distinct
    assert list(TraceStore.load(fast)) == list(TraceStore.load(slow))
    assert [str(w.message) for w in fast_warnings] == [str(w.message) for w in slow_warnings]


def test_otlp_output_encodes_every_record(tmp_path):
    rng = random.Random(1)
    records = _spans(0, 10, rng)
    a = _write(tmp_path / "a.jsonl", records, rng)
    out = tmp_path / "out.otlp.jsonl"
    merge_lines([read_records_and_lines(a)], out, "otlp")
    lines = out.read_text().splitlines()
    assert all("resourceSpans" in json.loads(line) for line in lines)
    assert sorted(TraceStore.load(out), key=lambda r: r.span_id) == sorted(records, key=lambda r: r.span_id)


def test_cli_merge_of_our_format_keeps_each_line_and_drops_duplicates(tmp_path):
    rng = random.Random(5)
    records = _spans(0, 20, rng)
    a = _write(tmp_path / "a.jsonl", records[:12], rng)
    b = _write(tmp_path / "b.jsonl", records[8:], rng)
    out = tmp_path / "out.jsonl"
    err = io.StringIO()
    assert main(["merge", str(a), str(b), "-o", str(out)], out=io.StringIO(), err=err) == 0
    assert "20 written, 4 duplicates removed" in err.getvalue()
    assert set(out.read_bytes().splitlines()) <= set(a.read_bytes().splitlines()) | set(b.read_bytes().splitlines())
    assert sorted(r.span_id for r in TraceStore.load(out)) == sorted(r.span_id for r in records)
