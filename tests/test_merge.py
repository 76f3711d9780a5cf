from __future__ import annotations

import json

import pytest

from pytest_tracestore.merge import write_merged
from pytest_tracestore.store import read_records


def test_write_merged_orders_by_end_time_and_keeps_the_newest(tmp_path, record_factory):
    a = [record_factory(start_time=10, end_time=t) for t in (20, 50, 90)]
    b = [record_factory(start_time=10, end_time=t) for t in (30, 40, 80)]
    path = tmp_path / "run.jsonl"
    path.write_text("stale\n")
    assert write_merged(path, a + b, max_spans=4) == 4
    ends = [json.loads(line)["end_time_unix_nano"] for line in path.read_text().splitlines()]
    assert ends == [40, 50, 80, 90]
    assert list(read_records(path)) == [b[1], a[1], b[2], a[2]]
    assert [p.name for p in tmp_path.iterdir()] == ["run.jsonl"]


def test_write_merged_keeps_lone_surrogates_valid(tmp_path, record_factory):
    record = record_factory(attributes={"odd": "\ud800"})
    path = tmp_path / "run.jsonl"
    write_merged(path, [record], max_spans=10)
    path.read_bytes().decode("ascii")
    assert list(read_records(path)) == [record]


def test_write_merged_rejects_a_bad_cap(tmp_path):
    with pytest.raises(ValueError, match="invalid max_spans 0"):
        write_merged(tmp_path / "x.jsonl", [], max_spans=0)
