"""The bounded buffers and the atomic output the command line streams with."""

from __future__ import annotations

import random

import pytest
from conftest import make_record

from pytest_tracestore.stream import Earliest, TraceWindow, atomic_output


def test_earliest_keeps_the_first_items_by_key_ties_in_order_given():
    rng = random.Random(1)
    for _ in range(300):
        keys = [rng.randint(0, 5) for _ in range(rng.randint(0, 40))]
        limit = rng.choice([None, 1, 2, 5, 100])
        kept = Earliest(limit)
        for i, key in enumerate(keys):
            kept.add(key, (key, i))
        expected = sorted((key, i) for i, key in enumerate(keys))
        assert kept.items() == (expected[:limit] if limit else expected)
        assert len(kept) == len(kept.items()) <= (limit or len(keys))


def _span(trace, n):
    return make_record(trace_id=f"{trace:032x}", span_id=f"{n + 1:016x}", name=f"{trace}-{n}")


def test_trace_window_pushes_out_the_oldest_traces_and_never_a_kept_one():
    window = TraceWindow(3)
    assert window.add(_span(1, 0)) == [] and window.add(_span(2, 1)) == []
    window.keep(f"{2:032x}")
    assert window.add(_span(1, 2)) == [] and window.add(_span(3, 3)) == []
    out = window.add(_span(4, 4))  # four open spans: trace 1, the oldest, leaves whole
    assert [(t[-1], [s.name for s in spans]) for t, spans in out] == [("1", ["1-0", "1-2"])]
    assert window.add(_span(5, 5)) == []
    assert window.add(_span(2, 6)) == []  # kept: never counted, never pushed out
    assert [s.name for s in window.kept[f"{2:032x}"]] == ["2-1", "2-6"]
    assert [t[-1] for t, _ in window.drain()] == ["3", "4", "5"]
    assert window.drain() == []


def test_atomic_output_replaces_whole_or_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(path) as handle:
            handle.write(b"half")
            raise RuntimeError("stopped")
    assert path.read_bytes() == b"old\n" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    with atomic_output(path) as handle:
        handle.write(b"new\n")
    assert path.read_bytes() == b"new\n" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
