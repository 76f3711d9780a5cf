from __future__ import annotations

import json

import pytest

from pytest_tracestore import TraceStoreWarning
from pytest_tracestore.merge import TimedLines, timed_lines, timed_text, write_newest
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.parse import read_records
from pytest_tracestore.serialize import encode_line, record_line


def test_write_newest_orders_by_end_time_and_keeps_the_newest(tmp_path, record_factory):
    a = [record_factory(start_time=10, end_time=t) for t in (20, 50, 90)]
    b = [record_factory(start_time=10, end_time=t) for t in (30, 40, 80)]
    path = tmp_path / "run.jsonl"
    path.write_text("stale\n")
    lines = timed_lines("a", [record_line(r) for r in a])
    lines.extend(timed_lines("b", [record_line(r).encode() for r in b]))
    assert write_newest(path, lines, max_spans=4) == 4
    ends = [json.loads(line)["end_time_unix_nano"] for line in path.read_text().splitlines()]
    assert ends == [40, 50, 80, 90]
    assert list(read_records(path)) == [b[1], a[1], b[2], a[2]]
    assert [p.name for p in tmp_path.iterdir()] == ["run.jsonl"]


def test_lines_are_copied_byte_for_byte(tmp_path, record_factory):
    # Already written and redacted by the worker: the merge must not re-encode
    # (a lone surrogate's escape, the key order, the secret stay as written).
    record = record_factory(attributes={"odd": "\ud800", "token": "[REDACTED]"})
    line = encode_line(record_line(record))  # what the processor writes
    path = tmp_path / "run.jsonl"
    write_newest(path, timed_lines("w", [line.rstrip(b"\n")]), max_spans=10)
    assert path.read_bytes() == line
    assert list(read_records(path)) == [record]


def test_otlp_lines_are_merged_by_their_span_end_time(tmp_path, record_factory):
    late = record_factory(start_time=10, end_time=500)
    early = record_factory(start_time=10, end_time=100)
    path = tmp_path / "run.jsonl"
    lines = timed_lines("w", [record_to_otlp_line(late), record_to_otlp_line(early)])
    assert [end for end, _ in lines] == [500, 100]
    write_newest(path, lines, max_spans=10)
    assert list(read_records(path)) == [early, late]


def test_torn_and_corrupt_lines_are_skipped_with_a_warning(record_factory):
    good = record_line(record_factory(start_time=5, end_time=7))
    with pytest.warns(TraceStoreWarning) as caught:
        lines = timed_lines(
            "gw1", [good, '{"trace_id": "0af7', '{"name": "no end time"}', "[1, 2]", ""]
        )
    assert [end for end, _ in lines] == [7]
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("gw1:2: skipped a corrupt line")
    assert "gw1:3: skipped a corrupt line (missing field 'end_time_unix_nano')" in messages[1]
    assert "gw1:4: skipped a corrupt line (expected a JSON object, got list)" in messages[2]
    assert len(messages) == 3


def test_write_newest_rejects_a_bad_cap(tmp_path):
    with pytest.raises(ValueError, match="invalid max_spans 0"):
        write_newest(tmp_path / "x.jsonl", TimedLines(), max_spans=0)


@pytest.mark.parametrize(
    "name",
    ["plain", 'quoted "end_time_unix_nano":1,', "line\u2028separator", "\ud800 lone surrogate"],
)
def test_whole_lines_read_their_end_time_without_parsing_and_agree(tmp_path, record_factory, name):
    from pytest_tracestore import FileBasedSpanProcessor

    processor = FileBasedSpanProcessor(tmp_path / "w.jsonl", batch_size=1)
    records = [
        record_factory(name=name, start_time=5, end_time=end, attributes={"k": "end_time_unix_nano"})
        for end in (70, 12345678901234567890, 9)
    ]
    for record in records:
        processor.add_record(record)
    processor.shutdown()
    assert processor.lines_whole
    text = (tmp_path / "w.jsonl").read_text(encoding="utf-8")
    fast = timed_lines("w", text.split("\n"), whole=True)
    assert [end for end, _ in fast] == [70, 12345678901234567890, 9]
    assert list(fast) == list(timed_lines("w", text.split("\n")))


def test_whole_lines_without_the_key_fall_back_to_parsing(record_factory):
    otlp = record_to_otlp_line(record_factory(start_time=1, end_time=42))
    with pytest.warns(TraceStoreWarning, match="w:2: skipped a corrupt line"):
        found = timed_lines("w", [otlp, '{"torn'], whole=True)
    assert [end for end, _ in found] == [42]


def test_timed_text_takes_the_writers_end_times_and_reads_lines_only_without_them(record_factory):
    records = [record_factory(start_time=1, end_time=end) for end in (30, 10, 20)]
    text = "".join(record_line(r) for r in records)
    read = list(timed_lines("w", text.split("\n")))
    assert read == [(r.end_time, record_line(r).rstrip("\n").encode()) for r in records]
    # The end times the writer kept are used as given: no line is read.
    given = timed_text("w", text, ends="3 1 2")
    assert list(given) == [(3, read[0][1]), (1, read[1][1]), (2, read[2][1])]
    # Bytes as well as text.
    assert list(timed_text("w", text.encode(), ends="3 1 2")) == list(given)
    # With each line's size too, the lines are cut apart without a search.
    sizes = " ".join(str(len(record_line(r).encode())) for r in records)
    assert list(timed_text("w", text.encode(), ends="3 1 2", sizes=sizes)) == list(given)
    # Sizes that do not fit the text are ignored: the newlines are searched for.
    wrong = ["1 2 3", sizes + " 1", "x", sizes.replace(" ", " 0 ", 1), "-10 " + sizes, "10000 -4 1"]
    for bad in wrong:
        assert list(timed_text("w", text.encode(), ends="3 1 2", sizes=bad)) == list(given)
    shifted = sizes.split()
    shifted[0], shifted[1] = str(int(shifted[0]) - 1), str(int(shifted[1]) + 1)
    assert list(timed_text("w", text.encode(), ends="3 1 2", sizes=" ".join(shifted))) == list(given)
    # Without them, or when they do not match the lines one to one, each line is read.
    assert list(timed_text("w", text)) == read
    assert list(timed_text("w", text.encode())) == read
    assert list(timed_text("w", text, ends="3 1")) == read
    assert list(timed_text("w", text, whole=True, ends="3 x 2")) == read
    assert list(timed_text("w", text + "\n", ends="3 1 2 4")) == read  # a blank line: no match
    assert list(timed_text("w", "", ends="")) == []
