"""Reading an artifact as one stream, holding only what a command's output needs.

The command line reads files of millions of spans, so nothing here keeps
every record: :class:`Earliest` keeps the first spans by start time,
:class:`TraceWindow` keeps the spans of the traces seen last, grouped by
trace, and :class:`Progress` tells a person at a terminal that a long read
is still going.  :func:`atomic_output` writes a file that appears whole or
not at all.  This module imports no pytest.
"""

from __future__ import annotations

import heapq
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Dict, Generic, List, Optional, Tuple, TypeVar, Union

from .record import SpanRecord

__all__ = ["Earliest", "Progress", "TraceWindow", "atomic_output", "umask_mode"]

T = TypeVar("T")

#: How many spans the windows of ``failures`` and ``export`` hold by default.
#: Spans of one trace end close together in an artifact (a trace lives
#: inside one test), so a window of this size sees nearly every trace whole,
#: at a few tens of megabytes.
DEFAULT_WINDOW = 20_000


class Earliest(Generic[T]):
    """The first ``limit`` items by key (all of them without a limit), in key order.

    Ties keep the order the items were given in.  Holds at most ``limit``
    items at a time: a bounded heap whose top is the latest kept.
    """

    def __init__(self, limit: Optional[int] = None) -> None:
        self.limit = limit
        self.seen = 0
        self._heap: List[Tuple[int, int, T]] = []  # (-key, -seq, item): a max-heap

    def add(self, key: int, item: T) -> None:
        """Offer ``item`` under ``key``."""
        self.seen += 1
        heap = self._heap
        if self.limit is None or len(heap) < self.limit:
            heapq.heappush(heap, (-key, -self.seen, item))
        elif -key > heap[0][0]:  # at an equal key the one kept came first
            heapq.heapreplace(heap, (-key, -self.seen, item))

    def items(self) -> List[T]:
        """The kept items, earliest key first."""
        return [item for _, _, item in sorted(self._heap, reverse=True)]

    def __len__(self) -> int:
        return len(self._heap)


class TraceWindow:
    """Spans grouped by trace, for the traces seen last, up to ``limit`` spans in all.

    :meth:`add` returns the traces pushed out to stay within the limit,
    oldest first (by their first span in the window): a trace pushed out may
    come back with later spans, as a new group.  ``keep`` marks traces that
    are never pushed out (``failures`` keeps the traces it will show).
    ``limit`` defaults to :data:`DEFAULT_WINDOW`.
    """

    def __init__(self, limit: Optional[int] = None) -> None:
        self.limit = DEFAULT_WINDOW if limit is None else limit
        self._open: Dict[str, List[SpanRecord]] = {}
        self._held = 0
        self.kept: Dict[str, List[SpanRecord]] = {}

    def add(self, record: SpanRecord) -> List[Tuple[str, List[SpanRecord]]]:
        """Add one span; return the ``(trace id, spans)`` groups pushed out."""
        kept = self.kept.get(record.trace_id)
        if kept is not None:
            kept.append(record)
            return []
        self._open.setdefault(record.trace_id, []).append(record)
        self._held += 1
        out = []
        while self._held > self.limit:
            trace_id = next(iter(self._open))
            spans = self._open.pop(trace_id)
            self._held -= len(spans)
            out.append((trace_id, spans))
        return out

    def keep(self, trace_id: str) -> None:
        """Never push out ``trace_id``: its spans so far and later ones stay in :attr:`kept`."""
        if trace_id not in self.kept:
            spans = self._open.pop(trace_id, [])
            self._held -= len(spans)
            self.kept[trace_id] = spans

    def drain(self) -> List[Tuple[str, List[SpanRecord]]]:
        """Every group still open, oldest first; the window is empty afterwards."""
        out = list(self._open.items())
        self._open.clear()
        self._held = 0
        return out


class Progress:
    """A one-line "still reading" note on a terminal's stderr, after the first second.

    Nothing is written unless ``stream`` is a terminal, nor for a read that
    takes less than a second.  :meth:`done` clears the line.
    """

    #: Spans between two looks at the clock: looking costs more than a span.
    EVERY = 4096

    def __init__(
        self, stream: IO[str], what: str, clock: Optional[Callable[[], float]] = None
    ) -> None:
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._stream = stream
        self._what = what
        self._clock = clock or time.monotonic
        self._start = self._clock()
        self._shown = False
        self._next_show = self._start + 1.0

    def wrap(self, records: Iterable[T]) -> Iterator[T]:
        """Yield ``records``, updating the note as they go."""
        if not self.enabled:
            yield from records
            return
        count = 0
        for record in records:
            count += 1
            if not count % self.EVERY:
                self.update(count)
            yield record

    def update(self, count: int) -> None:
        """Show ``count`` spans read, if a second has gone by since the start (or the last note)."""
        now = self._clock()
        if not self.enabled or now < self._next_show:
            return
        self._next_show = now + 0.25
        self._shown = True
        self._stream.write(f"\r{self._what}: {count:,} spans, {now - self._start:.0f}s\033[K")
        self._stream.flush()

    def done(self) -> None:
        """Clear the note, if one was shown."""
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False


def umask_mode() -> int:
    """The mode a new file gets from the process's umask (``0o666`` less the umask)."""
    # The umask can only be read by setting it; a command line is single-threaded.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_output(path: Union[str, os.PathLike[str]]) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` when the block ends without an exception.

    The data goes to a temporary file beside ``path``, which gets the mode
    the umask gives a new file and then replaces ``path`` at once: a reader
    never sees half a file, and a failure leaves no partial ``path``.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
