"""A line holding a huge string is written in pieces: the same bytes, one append, the string's bytes once."""

from __future__ import annotations

import errno
import json
import os
import tracemalloc

import pytest
from conftest import make_record
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_tracestore import FileBasedSpanProcessor, SpanEvent, SpanLink, pieces
from pytest_tracestore import artifact as artifact_module
from pytest_tracestore.artifact import ArtifactFile, FileState
from pytest_tracestore.codecs import codec_for
from pytest_tracestore.redact import RedactionPolicy
from pytest_tracestore.serialize import encode_line

MIB = 1024 * 1024

_text = st.text(st.characters(), max_size=12) | st.sampled_from(
    ['a"b\\c', "\n\t\x00\x1f", "\ud800 lone", "é€𝄞😀", "https://u:p@h/?access_token=s3cret&q=1"]
)
_value = _text | st.integers() | st.tuples(_text, _text) | st.tuples(st.integers(), _text)
_attributes = st.dictionaries(
    st.sampled_from(["a", "b", "url.full", "password", "test.case.name"]), _value, max_size=4
)


@st.composite
def _records(draw):
    return make_record(
        name=draw(_text),
        status="ERROR",
        status_description=draw(st.none() | _text),
        attributes=draw(_attributes),
        events=[SpanEvent(draw(_text), 1, draw(_attributes)) for _ in range(draw(st.integers(0, 2)))],
        links=[SpanLink(7, 8, draw(_attributes)) for _ in range(draw(st.integers(0, 1)))],
        resource=draw(st.dictionaries(st.sampled_from(["service.name", "r"]), _text, max_size=2)),
        test=draw(st.none() | st.just("t.py::test_a")),
    )


def _written(line) -> bytes:
    return encode_line(line) if isinstance(line, str) else b"".join(line)


@settings(max_examples=300, deadline=None)
@given(record=_records(), format=st.sampled_from(["jsonl", "otlp"]), redact=st.booleans())
@example(  # a span's own text (in its resource, never cut) holding a stand-in
    record=make_record(name="n", attributes={"a": "xxxxx"}, resource={"r": pieces._STAND_IN % 0}),
    format="jsonl", redact=False,
)
def test_a_line_in_pieces_is_the_bytes_of_the_whole_line(record, format, redact):
    codec = codec_for(format)
    policy = RedactionPolicy() if redact else None
    with pytest.MonkeyPatch.context() as patch:
        # Small limits, so that the drawn strings count as huge and are cut in several chunks.
        patch.setattr(pieces, "HUGE", 4)
        patch.setattr(pieces, "_CHUNK", 3)
        line = codec.file_line(record, policy)
    assert _written(line) == encode_line(codec.encode(record, policy))


def test_only_a_record_with_a_huge_string_is_cut():
    codec = codec_for("jsonl")
    small = make_record(attributes={"a": "x" * (pieces.HUGE - 1)})
    assert isinstance(codec.file_line(small), str)
    for huge in (
        make_record(name="n" * pieces.HUGE),
        make_record(attributes={"a": ("s", "x" * pieces.HUGE)}),
        make_record(events=[SpanEvent("e", 1, {"a": "x" * pieces.HUGE})]),
        make_record(links=[SpanLink(1, 2, {"a": "x" * pieces.HUGE})]),
    ):
        line = codec.file_line(huge)
        assert isinstance(line, tuple)
        assert b"".join(line) == codec.encode(huge).encode()
    # A lone surrogate has no UTF-8: the line is made whole, as any other.
    odd = make_record(attributes={"a": "x" * pieces.HUGE + "\ud800"})
    assert isinstance(codec.file_line(odd), str)


def test_writing_a_huge_value_holds_its_bytes_once(tmp_path):
    value = "x" * (8 * MIB)
    record = make_record(attributes={"blob": value})
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        processor.add_record(record)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    processor.shutdown()
    # The line's text and bytes beside the value would be twice as much again.
    assert peak < 1.5 * len(value), f"{peak / len(value):.2f}x the value"
    (line,) = (tmp_path / "spans.jsonl").read_bytes().splitlines()
    assert json.loads(line)["attributes"]["blob"] == value


# -- the file takes pieces ------------------------------------------------


def _pieces_line(name: str, value: str = "é" * 10) -> tuple:
    record = make_record(name=name, attributes={"blob": value})
    text = codec_for("jsonl").encode(record).encode()
    return (text[:7], text[7:20], text[20:]), record.end_time


def _file(path, seen):
    return ArtifactFile(path, 100, codec_for("jsonl"), lambda key, message: seen.append(message))


def _names(path):
    return [json.loads(line)["name"] for line in path.read_bytes().splitlines() if line.strip()]


def test_pieces_go_out_in_one_writev_as_one_line(tmp_path, monkeypatch):
    calls = []
    real = os.writev
    monkeypatch.setattr(os, "writev", lambda fd, data: calls.append(len(data)) or real(fd, data))
    path = tmp_path / "spans.jsonl"
    artifact = _file(path, [])
    artifact.append(*_pieces_line("a"))
    artifact.append(codec_for("jsonl").encode(make_record(name="b")), 1)
    assert calls == [3]
    assert _names(path) == ["a", "b"]
    assert artifact.line_sizes() == [len(x) for x in path.read_bytes().splitlines(keepends=True)]
    artifact.close()


def test_a_short_writev_is_finished_and_the_line_stays_whole(tmp_path, monkeypatch):
    real = os.writev
    short = [True]

    def writev(fd, data):
        if short.pop() if short else False:
            return os.write(fd, bytes(data[0][:3]))
        return real(fd, data)

    monkeypatch.setattr(os, "writev", writev)
    path = tmp_path / "spans.jsonl"
    artifact = _file(path, [])
    artifact.append(*_pieces_line("a"))
    assert artifact.state is FileState.EXACT
    assert _names(path) == ["a"]
    assert artifact.line_sizes() == [path.stat().st_size]
    artifact.close()


def test_pieces_the_disk_refused_wait_and_go_in_whole(tmp_path, monkeypatch):
    real = os.writev
    full = [True]

    def writev(fd, data):
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "writev", writev)
    path = tmp_path / "spans.jsonl"
    seen: list = []
    artifact = _file(path, seen)
    artifact.append(*_pieces_line("a"))
    assert artifact.unwritten == 1 and path.read_bytes() == b""
    full[0] = False
    assert artifact.flush()
    assert _names(path) == ["a"] and artifact.unwritten == 0
    assert len(seen) == 1 and "could not write spans" in seen[0]
    artifact.close()


def test_pieces_after_a_torn_line_start_on_a_line_of_their_own(tmp_path, monkeypatch):
    real_write = os.write
    disk = ["tear", "full"]  # five bytes of the line, then a full disk, then room again

    def write(fd, data):
        mode = disk.pop(0) if disk else "ok"
        if mode == "tear":
            return real_write(fd, bytes(data[:5]))
        if mode == "full":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    path = tmp_path / "spans.jsonl"
    artifact = _file(path, [])
    artifact.append(codec_for("jsonl").encode(make_record(name="torn")), 1)
    assert artifact.state is FileState.TORN
    artifact._pending.clear()
    line, end_time = _pieces_line("a")
    artifact.append(line, end_time)
    assert path.read_bytes().splitlines()[1:] == [b"".join(line).rstrip(b"\n")]
    artifact.close()
    assert _names(path) == ["a"]


def test_more_pieces_than_one_writev_takes_are_joined_into_one_write(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact_module, "_IOV_MAX", 2)
    monkeypatch.setattr(os, "writev", None)  # must not be called
    path = tmp_path / "spans.jsonl"
    artifact = _file(path, [])
    artifact.append(*_pieces_line("a"))
    assert _names(path) == ["a"]
    artifact.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_huge_lines_from_two_processes_at_once_never_interleave(tmp_path):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=100)
    value = "é" * MIB
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read)
            os.write(write, b"go")
            for number in range(10):
                processor.add_record(make_record(name=f"c{number}", attributes={"blob": value}))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    os.read(read, 2)  # the child is writing: write beside it
    for number in range(10):
        processor.add_record(make_record(name=f"p{number}", attributes={"blob": value}))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = path.read_bytes().splitlines()
    assert all(json.loads(line)["attributes"]["blob"] == value for line in lines)
    assert sorted(json.loads(line)["name"] for line in lines) == sorted(
        [f"c{n}" for n in range(10)] + [f"p{n}" for n in range(10)]
    )
    processor.shutdown()
