"""Corrupt lines reported through ``on_corrupt`` instead of warnings."""

from __future__ import annotations

import sys
import warnings

import pytest
from conftest import make_record

from pytest_tracestore.parse import parse_records, read_records
from pytest_tracestore.serialize import record_line


def _file(tmp_path, bad_lines):
    good = make_record(span_id=1, name="op")
    path = tmp_path / "t.jsonl"
    path.write_text(record_line(good) + "".join(f"{{oops {i}\n" for i in range(bad_lines)))
    return path, good


def test_on_corrupt_gets_the_messages_and_no_warning_is_issued(tmp_path):
    path, good = _file(tmp_path, 2)
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = list(read_records(path, on_corrupt=notes.append))
    assert records == [good]
    assert [note.split(": skipped")[0] for note in notes] == [f"{path}:2", f"{path}:3"]
    assert all("corrupt line" in note for note in notes)


def test_on_corrupt_names_the_first_lines_then_counts(tmp_path):
    path, _ = _file(tmp_path, 30)
    notes = []
    list(read_records(path, on_corrupt=notes.append))
    assert len(notes) == 21
    assert notes[-1] == f"{path}: skipped 30 corrupt lines or spans in all"


def test_without_on_corrupt_the_same_messages_are_warnings(tmp_path):
    path, _ = _file(tmp_path, 2)
    notes = []
    list(read_records(path, on_corrupt=notes.append))
    with pytest.warns(Warning) as caught:
        list(read_records(path))
    assert [str(w.message) for w in caught] == notes


def test_the_consumer_keeps_its_own_warning_filters_between_records(tmp_path):
    # The reader must not hold a warnings context open while the records are
    # handed out: code run between two records sees the caller's filters.
    path, _ = _file(tmp_path, 1)
    path.write_text(path.read_text() * 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in read_records(path, on_corrupt=lambda note: None):
            warnings.warn("from the consumer", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["from the consumer", "from the consumer"]


def test_on_corrupt_that_is_not_callable_is_a_value_error():
    with pytest.raises(ValueError, match="invalid on_corrupt 5"):
        list(parse_records([], "x", on_corrupt=5))  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [["summary"], ["failures"], ["query", "--name", "op"]])
def test_cli_prints_each_skipped_line_once_as_a_warning(tmp_path, command):
    import subprocess

    path, _ = _file(tmp_path, 2)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "pytest_tracestore", *command, str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert [line.split(": skipped")[0] for line in warned] == [
        f"pytest-tracestore: warning: {path}:2", f"pytest-tracestore: warning: {path}:3",
    ]
    assert "Traceback" not in result.stderr
