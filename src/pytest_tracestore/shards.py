"""Merging the artifacts of several CI jobs (shards of one suite) into one file.

Each input is read once, as a stream.  Its spans go, as finished output
lines with their end times, into sorted runs of bounded size: a run that
outgrows :data:`RUN_BYTES` is sorted and written to a temporary file, and
the next span starts a new run (or extends the last one, while the input
stays in end-time order, as artifacts are).  A k-way heap merge of the runs
then gives every span in end-time order, whatever order each input was in,
holding one line per run.  Spans with the trace id and span id of one
already written are dropped; with ``max_spans`` only the newest are kept.
The output replaces its path whole, or not at all.

This module imports no pytest.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Callable, Deque, List, Optional, Set, Tuple, Union

from .base import check_limit
from .otlp_text import OtlpTextEncoder
from .parse import is_traces_data
from .record import SpanRecord
from .serialize import dumps_line, encode_line, record_to_dict
from .stream import atomic_output

__all__ = ["FORMATS", "MergeResult", "RUN_BYTES", "merge_lines", "merge_records", "sniff_format"]

#: The output formats: our JSON Lines, or OTLP JSON Lines (one span per line).
FORMATS = ("jsonl", "otlp")

#: How many bytes of output lines a run holds in memory before it is written out.
RUN_BYTES = 32 * 1024 * 1024

# How much of a file sniff_format reads at most, and of one line.
_SNIFF_BYTES = 64 * 1024 * 1024
_SNIFF_LINE = 1024 * 1024

# (end time, order read, span key, output line): the order read keeps spans
# that ended in the same nanosecond in the order of the inputs.
_Item = Tuple[int, int, int, bytes]


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_records` wrote."""

    #: Spans written to the output.
    written: int
    #: Spans dropped because one with the same trace id and span id came first.
    duplicates: int
    #: Spans dropped, oldest first, to stay within ``max_spans``.
    dropped: int


def sniff_format(path: Union[str, os.PathLike[str]]) -> Optional[str]:
    """``"otlp"`` or ``"jsonl"``: the format of the first line of ``path`` that parses.

    ``None`` if no line does.  Reads a bounded part of the file: a corrupt
    or endless one gives ``None``.
    """
    read = 0
    with open(path, "rb") as handle:
        while read < _SNIFF_BYTES:
            line = handle.readline(_SNIFF_LINE)
            if not line:
                return None
            read += len(line)
            if not line.endswith(b"\n") and len(line) == _SNIFF_LINE:
                while line and not line.endswith(b"\n") and read < _SNIFF_BYTES:
                    line = handle.readline(_SNIFF_LINE)  # too long for a first line: skip it
                    read += len(line)
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(data, dict):
                return "otlp" if is_traces_data(data) else "jsonl"
    return None


def _encoder(form: str) -> Callable[[SpanRecord], bytes]:
    if form == "otlp":
        encode = OtlpTextEncoder().line
        return lambda record: encode_line(encode(record))
    if form == "jsonl":
        return lambda record: encode_line(dumps_line(record_to_dict(record)))
    raise ValueError(f"invalid format {form!r}: expected one of {', '.join(FORMATS)}")


class _Runs:
    """Sorted runs of output lines: the last in memory, the others in temporary files."""

    def __init__(self, folder: str, run_bytes: int) -> None:
        self._folder = folder
        self._run_bytes = run_bytes
        self._buffer: List[_Item] = []
        self._held = 0
        self._files: List[str] = []
        self._last_end: Optional[int] = None  # the latest end time in the last file
        self._seq = 0

    def add(self, end: int, key: int, line: bytes) -> None:
        self._seq += 1
        self._buffer.append((end, self._seq, key, line))
        self._held += len(line) + 100  # the line, and the tuple and ints beside it
        if self._held > self._run_bytes:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort()
        # An input in end-time order extends the last file instead of starting one.
        if self._files and self._last_end is not None and self._buffer[0][0] >= self._last_end:
            path, mode = self._files[-1], "ab"
        else:
            fd, path = tempfile.mkstemp(prefix="run.", dir=self._folder)
            os.close(fd)
            self._files.append(path)
            mode = "wb"
        try:
            with open(path, mode) as handle:
                for end, seq, key, line in self._buffer:
                    handle.write(b"%d %d %x %s\n" % (end, seq, key, line))
        except OSError as exc:  # a full temporary folder: say which file
            raise OSError(exc.errno, exc.strerror, path) from None
        self._last_end = self._buffer[-1][0]
        self._buffer = []
        self._held = 0

    def merged(self) -> Iterator[_Item]:
        """Every item added, by end time (ties in the order added)."""
        self._buffer.sort()
        handles = [open(path, "rb") for path in self._files]
        try:
            yield from heapq.merge(*(map(_item, h) for h in handles), iter(self._buffer))
        finally:
            for handle in handles:
                handle.close()


def _item(raw: bytes) -> _Item:
    end, seq, key, line = raw.rstrip(b"\n").split(b" ", 3)
    return int(end), int(seq), int(key, 16), line


def merge_records(
    sources: Iterable[Iterable[SpanRecord]],
    output: Union[str, os.PathLike[str]],
    form: str,
    *,
    max_spans: Optional[int] = None,
    run_bytes: Optional[int] = None,
) -> MergeResult:
    """Write the spans of every source to ``output`` in format ``form``, by end time.

    ``sources`` are read one after the other (each once); spans that ended in
    the same nanosecond keep the order they were read in.  Of spans with the
    same trace id and span id the first is kept.  ``max_spans`` keeps only the
    newest.  A run holds ``run_bytes`` (default :data:`RUN_BYTES`) of lines
    in memory.  ``output`` is replaced atomically, with the mode the umask
    gives; on any error it is left as it was.  Invalid ``form`` or
    ``max_spans`` raise ``ValueError`` naming the value.
    """
    return merge_lines(
        (((record, None) for record in source) for source in sources),
        output, form, max_spans=max_spans, run_bytes=run_bytes,
    )


def merge_lines(
    sources: Iterable[Iterable[Tuple[SpanRecord, Optional[bytes]]]],
    output: Union[str, os.PathLike[str]],
    form: str,
    *,
    max_spans: Optional[int] = None,
    run_bytes: Optional[int] = None,
) -> MergeResult:
    """:func:`merge_records` of (record, line) pairs, as ``parse.read_records_and_lines`` gives.

    A line is the record's line in our own format, as read: into a ``jsonl``
    output it is written as it is, not encoded again (the records read back
    are the same).  A pair without a line has its record encoded.
    """
    encode = _encoder(form)
    keep_lines = form == "jsonl"
    if max_spans is not None:
        check_limit("max_spans", max_spans)
    with tempfile.TemporaryDirectory(prefix="pytest-tracestore-merge.") as folder:
        runs = _Runs(folder, RUN_BYTES if run_bytes is None else run_bytes)
        add = runs.add
        for source in sources:
            for record, line in source:
                # The span's key is its trace id and span id as one number:
                # exact, and smaller than a pair of strings.
                if line is None or not keep_lines:
                    line = encode(record)
                add(record.end_time, int(record.trace_id + record.span_id, 16), line)
        with atomic_output(output) as handle:
            return _write(runs.merged(), handle, max_spans)


def _write(items: Iterator[_Item], handle: IO[bytes], max_spans: Optional[int]) -> MergeResult:
    seen: Set[int] = set()
    duplicates = written = 0
    newest: Optional[Deque[bytes]] = None if max_spans is None else deque(maxlen=max_spans)
    for _, _, key, line in items:
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        written += 1
        if newest is not None:
            newest.append(line)
        else:
            handle.write(line + b"\n")
    dropped = 0
    if newest is not None:
        dropped = written - len(newest)
        written = len(newest)
        handle.writelines(line + b"\n" for line in newest)
    return MergeResult(written=written, duplicates=duplicates, dropped=dropped)

