"""Merging the artifact files of parallel test processes into one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from .serialize import _int, is_traces_data
from .store import CorruptLines, check_limit

__all__ = ["timed_lines", "timed_text", "write_newest"]

TimedLine = Tuple[int, bytes]


def timed_lines(
    name: str, lines: Iterable[Union[str, bytes]], *, whole: bool = False
) -> List[TimedLine]:
    """``(end time, line)`` for each span line of one artifact, in either format.

    ``lines`` are ``str`` or ``bytes``; each line comes back as ``bytes``
    ending with a newline, otherwise as it was: the process that recorded it
    has written (and redacted) it already, and only its end time is read.  A
    torn or corrupt line is skipped with a
    :class:`~pytest_tracestore.TraceStoreWarning` naming ``name`` and the line.

    ``whole=True`` vouches that the lines are in our own format and were all
    written whole, as a processor that never saw a write fail reports: the
    end time is then read from its key without parsing the whole line.
    """
    corrupt = CorruptLines(name)
    out: List[TimedLine] = []
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if whole:
            end_at = _end_of(raw)
            if end_at is not None:
                data = raw.encode("utf-8") if isinstance(raw, str) else raw
                out.append((end_at, data if data.endswith(b"\n") else data + b"\n"))
                continue
        try:
            end = _end_time(json.loads(raw))
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
        except (ValueError, TypeError, RecursionError) as exc:
            corrupt.skip(lineno, exc)
            continue
        out.append((end, data if data.endswith(b"\n") else data + b"\n"))
    corrupt.done()
    return out


def timed_text(
    name: str, text: str, *, whole: bool = False, ends: Optional[str] = None
) -> List[TimedLine]:
    """:func:`timed_lines` of a whole file's text.

    ``ends`` is the end time of each line's span, as decimal integers
    separated by spaces, from the process that wrote the file
    (:meth:`~pytest_tracestore.FileBasedSpanProcessor.line_end_times`): with
    them no line is read at all.  If they do not match the lines one to one,
    the lines are read as :func:`timed_lines` reads them.
    """
    if ends is not None:
        lines = text.encode("utf-8").split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        times = ends.split()
        if len(times) == len(lines) and all(lines):
            try:
                return list(zip(map(int, times), [line + b"\n" for line in lines]))
            except ValueError:
                pass
    # Not splitlines(): U+2028 and friends stay raw inside JSON strings.
    return timed_lines(name, text.split("\n"), whole=whole)


def write_newest(
    path: Union[str, os.PathLike[str]], lines: Iterable[TimedLine], max_spans: int
) -> int:
    """Write the newest ``max_spans`` of ``lines`` (from :func:`timed_lines`) to ``path``.

    They are ordered by end time; lines that ended in the same nanosecond keep
    the order they were given in.  The file is replaced atomically (a
    temporary file and ``os.replace``), so a reader never sees half a merge.
    Returns how many lines were written.
    """
    check_limit("max_spans", max_spans)
    kept = sorted(lines, key=lambda item: item[0])[-max_spans:]
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(line for _, line in kept)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(kept)


_END_KEY = '"end_time_unix_nano":'


def _end_of(raw: Union[str, bytes]) -> Optional[int]:
    """The end time written in one of our lines, or ``None`` if it is not where we write it."""
    # Our lines are compact JSON, and every quote inside a string is escaped,
    # so the first match is the key itself.
    key: Any = _END_KEY if isinstance(raw, str) else _END_KEY.encode()
    at = raw.find(key)
    if at < 0:
        return None
    start = at + len(key)
    comma: Any = "," if isinstance(raw, str) else b","
    try:
        return int(raw[start : raw.find(comma, start)])
    except ValueError:
        return None


def _end_time(data: Any) -> int:
    """The end time of one line's span (the latest, should an OTLP line hold several)."""
    if is_traces_data(data):
        from .otlp import records_from_traces_data

        records = records_from_traces_data(data)
        if not records:
            raise ValueError("no span in the line")
        return max(r.end_time for r in records)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "end_time_unix_nano" not in data:
        raise ValueError("missing field 'end_time_unix_nano'")
    return _int(data["end_time_unix_nano"], "end_time_unix_nano")
