"""Merging the artifact files of parallel test processes into one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from .base import check_limit

__all__ = ["TimedLines", "timed_lines", "timed_text", "write_newest"]


class TimedLines:
    """Lines to merge, each with the end time of its span.

    Two parallel lists rather than a list of pairs: a merge handles every span
    of a run, and a pair per line is one more object per span for the garbage
    collector to track, in the controller's process at the very end of a run.
    Iterating gives ``(end time, line)`` pairs.
    """

    __slots__ = ("ends", "lines")

    def __init__(self, ends: Optional[List[int]] = None, lines: Optional[List[bytes]] = None) -> None:
        #: The end time of each line's span, in nanoseconds.
        self.ends: List[int] = [] if ends is None else ends
        #: Each line, without its newline.
        self.lines: List[bytes] = [] if lines is None else lines

    def extend(self, other: TimedLines) -> None:
        """Append the lines of ``other``, in order."""
        self.ends.extend(other.ends)
        self.lines.extend(other.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self) -> Iterator[Tuple[int, bytes]]:
        return zip(self.ends, self.lines)

    def __repr__(self) -> str:
        return f"<TimedLines: {len(self.lines)} lines>"


def timed_lines(
    name: str, lines: Iterable[Union[str, bytes]], *, whole: bool = False
) -> TimedLines:
    """The span lines of one artifact, in either format, each with its end time.

    ``lines`` are ``str`` or ``bytes``; each line is kept as ``bytes``, without
    its newline, otherwise as it was: the process that recorded it has written
    (and redacted) it already, and only its end time is read.  A torn or
    corrupt line is skipped with a
    :class:`~pytest_tracestore.TraceStoreWarning` naming ``name`` and the line.

    ``whole=True`` vouches that the lines are in our own format and were all
    written whole, as a processor that never saw a write fail reports: the
    end time is then read from its key without parsing the whole line.
    """
    from .codecs import JsonlCodec, OtlpCodec
    from .parse import CorruptLines

    corrupt = CorruptLines(name)
    # Either format, line by line: a file of merged shards may mix them.
    jsonl, otlp = JsonlCodec(), OtlpCodec()
    out = TimedLines()
    ends, kept = out.ends, out.lines
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        end_at = _end_of(raw) if whole else None
        try:
            if end_at is None:
                parsed = json.loads(raw)
                end_at = (otlp if otlp.matches(parsed) else jsonl).end_time_of(parsed)
            # A lone surrogate cannot be encoded: a UnicodeEncodeError, a ValueError.
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
        except (ValueError, TypeError, RecursionError) as exc:
            corrupt.skip(lineno, exc)
            continue
        ends.append(end_at)
        kept.append(data[:-1] if data.endswith(b"\n") else data)
    corrupt.done()
    return out


def timed_text(
    name: str,
    text: Union[str, bytes],
    *,
    whole: bool = False,
    ends: Optional[str] = None,
    sizes: Optional[str] = None,
) -> TimedLines:
    """:func:`timed_lines` of a whole file's text (``str`` or UTF-8 ``bytes``).

    ``ends`` is the end time of each line's span, as decimal integers
    separated by spaces, from the process that wrote the file
    (:meth:`~pytest_tracestore.FileBasedSpanProcessor.line_end_times`): with
    them no line is read at all.  ``sizes``, each line's size in bytes with
    its newline (:meth:`~pytest_tracestore.FileBasedSpanProcessor.line_sizes`),
    also spares looking for the newlines.  If they do not match the lines one
    to one, the lines are read as :func:`timed_lines` reads them.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if ends is not None and sizes is not None:
        cut = _cut(data, sizes)
        if cut is not None:
            times = ends.split()
            if len(times) == len(cut):
                try:
                    return TimedLines(list(map(int, times)), cut)
                except ValueError:
                    pass
    # Not splitlines(): U+2028 and friends stay raw inside JSON strings.
    lines = data.split(b"\n")
    if ends is not None:
        if lines and not lines[-1]:
            lines.pop()
        times = ends.split()
        if len(times) == len(lines) and all(lines):
            try:
                return TimedLines(list(map(int, times)), lines)
            except ValueError:
                pass
    return timed_lines(name, lines, whole=whole)


def _cut(data: bytes, sizes: str) -> Optional[List[bytes]]:
    """``data``'s lines (without newlines) of the given sizes; ``None`` unless they fit exactly."""
    try:
        lengths = list(map(int, sizes.split()))
    except ValueError:
        return None
    # Each line holds a span and its newline: a shorter one (a blank line, a
    # size that makes no sense) leaves the lines to the slow path.
    if lengths and min(lengths) < 2:
        return None
    bounds = list(accumulate(lengths, initial=0))
    if bounds[-1] != len(data) or not all(data[end - 1] == 10 for end in bounds[1:]):
        return None
    return [data[start : end - 1] for start, end in zip(bounds, bounds[1:])]


def write_newest(
    path: Union[str, os.PathLike[str]], timed: TimedLines, max_spans: int
) -> int:
    """Write the newest ``max_spans`` of ``timed`` (from :func:`timed_lines`) to ``path``.

    They are ordered by end time; lines that ended in the same nanosecond keep
    the order they were given in.  The file is replaced atomically (a
    temporary file and ``os.replace``), so a reader never sees half a merge.
    A symlink at ``path`` stays one: the file it names is replaced.  Anything
    else there that is not a regular file (a folder, a device, a FIFO) is a
    ``ValueError``.  The new file gets the mode the user's umask gives (never
    writable by all).  Returns how many lines were written.
    """
    check_limit("max_spans", max_spans)
    from .base import file_mode

    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if target.exists() and not target.is_file():
        raise ValueError(f"invalid path {str(path)!r}: not a regular file")
    # Positions sorted by end time (a stable sort): no pair per line.
    order = sorted(range(len(timed.ends)), key=timed.ends.__getitem__)[-max_spans:]
    data = b"\n".join(map(timed.lines.__getitem__, order))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as out:
            if order:
                out.write(data + b"\n")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(order)


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
