"""The file-backed span processor: one JSON line per finished span, plus an in-memory store."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections import deque
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Deque, Optional, Tuple, Union

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BYTES,
    FORMATS,
    TraceStoreWarning,
    check_limit,
)
from .record import SpanRecord, estimated_bytes
from .redact import RedactionPolicy
from .serialize import SpanConverter, encode_line, record_line
from .store import TraceStore, batch_bytes

__all__ = ["FileBasedSpanProcessor", "FORMATS", "RecordTransform", "DEFAULT_BATCH_SIZE"]

#: Called with each finished span's record; returns it, a changed copy, or
#: ``None`` to drop the span.
RecordTransform = Callable[[SpanRecord], Optional[SpanRecord]]

_DEFAULT_REDACTION = object()

# The file may grow past max_spans by this much (or by max_spans, if larger)
# before it is rewritten, so pruning costs O(1) per span amortised: a rewrite
# copies max_spans lines, once per slack spans.  At the default max_spans, a
# smaller slack made rewrites a tenth of the cost of every span.
_MIN_SLACK = 4096

_end_time = attrgetter("end_time")

# How many times one drain goes back for spans that ended while it ran (ended
# by a transform, say) before leaving them to the next drain.
_MAX_ROUNDS = 8


class FileBasedSpanProcessor(SpanProcessor):
    """An OpenTelemetry ``SpanProcessor`` that keeps every finished span.

    Each finished span becomes one JSON line in ``path`` and a record in
    :attr:`store`.  ``on_end`` converts the span to both and queues them;
    the queue is written and stored in one go when ``batch_size`` spans
    wait, when anything reads :attr:`store` or a subscriber, on
    :meth:`drain`, :meth:`force_flush` and :meth:`shutdown`, and while a
    :meth:`TraceStore.wait_for` waits.  Writing and storing in runs halves
    their cost per span.  :attr:`transform` runs when the queue is written.  The pytest plugin also drains at the end of every test phase,
    so a failed test's spans are in the file before its report is made.
    ``batch_size=1`` hands each line to the operating system before ``on_end``
    returns, so a process killed without warning (SIGKILL, ``os._exit``, a
    crash in native code) keeps every span that had ended; otherwise such a
    kill loses the spans still queued, fewer than ``batch_size``.
    ``fsync=True`` also survives a power loss, at a large cost.

    The file starts empty.  Memory and disk both keep the newest
    ``max_spans`` spans (FIFO); the file is rewritten when it has grown well
    past that, and holds exactly the newest ``max_spans`` after
    :meth:`shutdown`.  ``max_bytes`` is a memory budget for the store.

    ``format="otlp"`` writes each line as an OTLP/JSON ``TracesData`` holding
    that one span (the OpenTelemetry file-exporter format) instead of our own
    JSON object; everything else stays the same.

    ``redaction`` (a :class:`RedactionPolicy`, the default one unless given;
    ``None`` turns it off) replaces secret attribute values with
    ``"[REDACTED]"`` in the file, in either format; the store keeps the real
    values.

    :attr:`transform` (``None`` by default) is called with each record before
    it is stored and written; it returns the record, a changed copy (whose
    line is then written from the copy) or ``None`` to drop the span from
    store, subscribers and file.

    The processor never raises into the application: a failure to write, or a
    transform that raises, is reported once as a :class:`TraceStoreWarning`,
    and the spans stay queryable in memory.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        max_spans: int = 1000,
        *,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        fsync: bool = False,
        format: str = "jsonl",
        redaction: RedactionPolicy | None | Any = _DEFAULT_REDACTION,
        transform: RecordTransform | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        check_limit("max_spans", max_spans)
        check_limit("batch_size", batch_size)
        if format not in FORMATS:
            raise ValueError(f"invalid format {format!r}: expected one of {', '.join(FORMATS)}")
        self.format = format
        self._otlp = None
        if format == "otlp":
            # Loaded only when asked for: most runs never need it.
            from .otlp import OtlpLineEncoder

            self._otlp = OtlpLineEncoder().encode
        self.path = Path(path)
        self.max_spans = max_spans
        self.fsync = bool(fsync)
        if redaction is _DEFAULT_REDACTION:
            redaction = RedactionPolicy()
        elif redaction is not None and not isinstance(redaction, RedactionPolicy):
            raise ValueError(f"invalid redaction {redaction!r}: expected a RedactionPolicy or None")
        self.redaction: Optional[RedactionPolicy] = redaction
        self.transform: Optional[RecordTransform] = transform
        self.batch_size = batch_size
        self.store = TraceStore(max_spans=max_spans, max_bytes=max_bytes)
        self.store._source = self
        self._converter = SpanConverter(redaction)
        # Reentrant: a transform, or a span ending inside one, may read a
        # store while a drain holds the lock (the inner drain then returns).
        self._lock = threading.RLock()
        self._draining = False
        # Ended spans, as (record, line), not yet written or stored.  A
        # deque: appends from any thread and a drain's poplefts never lose a
        # span between them.
        self._queue: Deque[Tuple[SpanRecord, str]] = deque()
        # How many wait_for calls wait right now: while any does, each span
        # is drained as it ends, so the waiter wakes.
        self._urgent = 0
        self._subscribers: Tuple[TraceStore, ...] = ()
        # The byte length of each line in the file, oldest first: pruning
        # then knows where the kept lines start without reading the rest.
        self._sizes: Deque[int] = deque()
        # The end time of each line's span, alongside: a merge of the file
        # with others (pytest-xdist) then reads no line to order them.  None
        # once unknown: lines read back after a torn write have none.
        self._ends: Optional[Deque[int]] = deque()
        # False once a write has failed halfway: the file may hold a torn
        # line, and only reading it tells where lines start.
        self._sizes_exact = True
        # A write failed after writing part of a line: the next line starts
        # with a newline, so it does not join the torn one.
        self._torn = False
        # Stays False once part of a line has been written: the file may
        # hold a torn line from then on, even after a trim.
        self._ever_torn = False
        self._prune_at = max_spans + max(max_spans, _MIN_SLACK)
        self._warned: set[str] = set()
        self._unreported: list[str] = []
        # Above zero inside quiet(): _report() leaves the warnings for its end.
        self._quiet = 0
        self._quiet_block = _Quiet(self)
        # The thread running the drain, while _draining is set.
        self._drainer = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: Optional[int] = self._open(truncate=True)

    def _open(self, truncate: bool) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if truncate:
            flags |= os.O_TRUNC
        return os.open(self.path, flags, 0o644)

    def _warn_once(self, what: str, exc: BaseException) -> None:
        # Only noted here: _report() warns once the lock is released and the
        # batch is stored, so a warnings filter set to "error" cannot cost a
        # batch its spans.
        if what in self._warned:
            return
        self._warned.add(what)
        self._unreported.append(
            f"pytest-tracestore: could not {what} {self.path}: {exc}; "
            "spans stay queryable in memory"
        )

    def _report(self) -> None:
        """Issue the warnings noted under the lock, unless this thread is inside a drain.

        A store read from a transform lands here in mid-batch, with the lock
        held: the drain's own caller reports when the batch is stored.  While
        :meth:`quiet` holds, they wait for its end.
        """
        if self._quiet or (self._draining and self._drainer == threading.get_ident()):
            return
        while self._unreported:
            try:
                message = self._unreported.pop(0)
            except IndexError:  # another thread reported it
                return
            warnings.warn(message, TraceStoreWarning, stacklevel=3)

    def quiet(self) -> "_Quiet":
        """A context manager that holds back this processor's warnings, then issues them.

        For code that runs outside the application's own, such as pytest's
        hooks: there a warnings filter set to "error" would raise out of the
        test runner itself.  The warnings are issued at the end of the block,
        with the filter for :class:`TraceStoreWarning` set to "always".
        """
        return self._quiet_block

    def _report_held(self) -> None:
        """Issue the warnings a quiet block held back, as plain warnings."""
        with warnings.catch_warnings():
            warnings.simplefilter("always", TraceStoreWarning)
            self._report()

    # -- subscribers ----------------------------------------------------

    def subscribe(self, store: TraceStore) -> None:
        """Also add every span that ends from now on to ``store``."""
        with self._lock:
            # The queued spans ended before: they are not the subscriber's.
            self._drain_locked()
            self._subscribers = self._subscribers + (store,)
            store._source = self
        self._report()

    def unsubscribe(self, store: TraceStore) -> None:
        """Stop adding spans to ``store``."""
        with self._lock:
            # The queued spans ended while it was subscribed: they are its own.
            self._drain_locked()
            self._subscribers = tuple(s for s in self._subscribers if s is not store)
            if store._source is self:
                store._source = None
        self._report()

    # -- SpanProcessor --------------------------------------------------

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Nothing to do: spans are recorded when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Convert the span and queue it; write and store the queue once ``batch_size`` spans wait."""
        if self._closed:
            return
        # Converted now rather than when the queue is written: the SDK's span,
        # and all it holds, is freed at once instead of waiting in the queue
        # for the garbage collector to find it there.
        try:
            converted = self._converter.convert(span)
        except Exception as exc:  # never raise into the application
            self._warn_once("convert a span for", exc)
            return
        queue = self._queue
        queue.append(converted)
        if len(queue) >= self.batch_size or self._urgent:
            self.drain()

    def _wait_started(self) -> None:
        with self._lock:
            self._urgent += 1

    def _wait_ended(self) -> None:
        with self._lock:
            self._urgent -= 1

    def drain(self) -> None:
        """Write every queued span to the file and add it to the store and subscribers.

        Reading :attr:`store` or a subscriber drains first, so a query never
        misses a span that has ended.  A drain running in another thread is
        waited for: the spans it has taken off the queue are not stored yet.
        """
        if self._queue or self._draining:
            with self._lock:
                self._drain_locked()
            self._report()

    def _drain_locked(self) -> None:
        """Drain the queue in the order the spans ended.  Call with the lock held."""
        # Set before the first span leaves the queue (under the GIL, in this
        # order), so a drain() elsewhere that finds the queue empty still
        # waits for this one.
        if self._draining:
            return  # reentered from a transform: the running drain goes on
        self._draining = True
        self._drainer = threading.get_ident()
        try:
            # A transform may end spans of its own: take them in this drain
            # too, within reason.
            for _ in range(_MAX_ROUNDS):
                if not self._queue:
                    break
                self._drain_round()
        finally:
            self._draining = False

    def _drain_round(self) -> None:
        """Write and store the spans queued now.  Lock held, ``_draining`` set."""
        queue = self._queue
        records: list[SpanRecord] = []
        lines: list[str] = []
        # With no transform and our own format, the converter's line is the file's.
        finish = None if self.transform is None and self._otlp is None else self._finish
        try:
            # Spans ending in other threads meanwhile wait for the next round.
            for _ in range(len(queue)):
                item = queue.popleft()
                if finish is not None:
                    try:
                        done = finish(*item)
                    except BaseException:
                        # KeyboardInterrupt and the like, from a transform: the
                        # span goes back, for the next drain.
                        queue.appendleft(item)
                        raise
                    if done is None:
                        continue
                    item = done
                records.append(item[0])
                lines.append(item[1])
        finally:
            # The spans taken off the queue so far are kept, whatever broke
            # the loop.
            if records:
                self._write(records, lines)

    def _finish(self, record: SpanRecord, line: str) -> Optional[Tuple[SpanRecord, str]]:
        """A converted span's record and line after the transform and in the file's
        format, or ``None`` if it is dropped."""
        changed = False
        if self.transform is not None:
            result = self._transformed(record)
            if result is None:
                return None
            record, changed = result, result is not record
        if self._otlp is not None or changed:
            try:
                line = self.line_for(record)
            except Exception as exc:
                self._warn_once("convert a span for", exc)
                return None
        if changed and not record._size:  # type: ignore[attr-defined]
            # The memory estimate measures the line just made.
            object.__setattr__(record, "_size", estimated_bytes(len(line)))
        return record, line

    def add_record(self, record: SpanRecord) -> None:
        """Record a span built elsewhere (say, received over OTLP) like an ended SDK span.

        Its line goes to the file, and the record to :attr:`store` and every
        subscriber.
        """
        if not isinstance(record, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {record!r}")
        if self._closed:
            return
        try:
            if self.transform is not None:
                result = self._transformed(record)
                if result is None:
                    return
                record = result
            line = self.line_for(record)
            if not record._size:  # type: ignore[attr-defined]
                # Built elsewhere: the memory estimate measures the line just made.
                object.__setattr__(record, "_size", estimated_bytes(len(line)))
            with self._lock:
                # Spans that ended before this record arrived go first.
                self._drain_locked()
                self._write([record], [line])
        finally:
            self._report()

    def _transformed(self, record: SpanRecord) -> Optional[SpanRecord]:
        """:attr:`transform`'s verdict on ``record``: the record to keep, or ``None``."""
        try:
            result = self.transform(record)  # type: ignore[misc]
            if result is not None and not isinstance(result, SpanRecord):
                raise TypeError(f"expected a SpanRecord or None, got {result!r}")
            return result
        except Exception as exc:  # keep the span as it was rather than lose it
            self._warn_once("transform a span for", exc)
            return record

    def line_for(self, record: SpanRecord) -> str:
        """A record's line in the file's format, newline included, secret values redacted."""
        if self._otlp is not None:
            redaction = self.redaction
            return self._otlp(redaction.redact_record(record) if redaction else record) + "\n"
        return record_line(record, self.redaction)

    def _write(self, records: list[SpanRecord], lines: list[str]) -> None:
        """Append the lines to the file in one write(2), then add the records.  Lock held."""
        if self._fd is not None:
            text = lines[0] if len(lines) == 1 else "".join(lines)
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:
                data = b""
            if len(data) == len(text):
                # All ASCII, the usual case: a line's length is its size in
                # bytes, and the batch was encoded in one call.
                sizes = list(map(len, lines))
            else:
                # Each line on its own: its size in bytes, and a lone
                # surrogate in a str attribute becomes a \u escape (exact,
                # and valid UTF-8).
                encoded = [encode_line(line) for line in lines]
                data = b"".join(encoded)
                sizes = list(map(len, encoded))
            try:
                if self._torn:
                    data = b"\n" + data
                    sizes[0] += 1
                # One write(2) takes the whole batch in the common case.
                written = os.write(self._fd, data)
                if written < len(data):
                    self._write_rest(data, written)
                self._sizes.extend(sizes)
                if self._ends is not None:
                    self._ends.extend(map(_end_time, records))
                self._torn = False
                if self.fsync:
                    os.fsync(self._fd)
                if len(self._sizes) >= self._prune_at:
                    self._prune()
            except OSError as exc:
                self._warn_once("write spans to", exc)
        # Checked and sized once for the store and every subscriber.
        total = batch_bytes(records)
        self.store._add_batch(records, total)
        for subscriber in self._subscribers:
            subscriber._add_batch(records, total)

    def _write_rest(self, data: bytes, written: int) -> None:
        """Finish writing what one write(2) did not take whole."""
        assert self._fd is not None
        # Rare on a regular file (a signal, a nearly full disk).
        view = memoryview(data)[written:]
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            if len(view) < len(data):
                # Part of the line is in the file: the next line must not
                # join it, and only reading the file tells where lines start.
                self._torn = True
                self._ever_torn = True
                self._sizes_exact = False
            raise

    def _prune(self) -> None:
        """Rewrite the file to its newest ``max_spans`` lines, atomically."""
        sizes = self._sizes
        if self._sizes_exact:
            drop = len(sizes) - self.max_spans
            if drop <= 0:
                return
            with open(self.path, "rb") as handle:
                handle.seek(sum(islice(sizes, drop)))
                kept = handle.read()
            new_sizes = deque(islice(sizes, drop, None))
            new_ends = None if self._ends is None else deque(islice(self._ends, drop, None))
        else:
            with open(self.path, "rb") as handle:
                data = handle.read()
            # A torn last line gets its newline here, so the next span starts
            # a line of its own; a reader skips the torn one with a warning.
            lines = [line for line in data.split(b"\n") if line][-self.max_spans :]
            kept = b"".join(line + b"\n" for line in lines)
            new_sizes = deque(len(line) + 1 for line in lines)
            new_ends = None
        try:
            self._replace(kept)
        except BaseException:
            # The file may or may not have been replaced: read it next time.
            self._sizes_exact = False
            raise
        self._sizes = new_sizes
        self._ends = new_ends
        self._sizes_exact = True
        self._torn = False

    def _replace(self, kept: bytes) -> None:
        """Make ``kept`` the file's whole content, atomically, and reopen it for appending."""
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(kept)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            # Windows cannot replace a file that is open: close ours first.
            assert self._fd is not None
            os.close(self._fd)
            self._fd = None
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        finally:
            if self._fd is None:
                self._fd = self._open(truncate=False)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write and store every queued span; with ``fsync``, sync the file too."""
        synced = True
        with self._lock:
            self._drain_locked()
            if self._fd is not None and self.fsync:
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._warn_once("sync", exc)
                    synced = False
        self._report()
        return synced

    def shutdown(self) -> None:
        """Write the queued spans, trim the file to the newest ``max_spans`` and close it.

        Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._drain_locked()
            self._closed = True
            if self._fd is not None:
                try:
                    if len(self._sizes) > self.max_spans or not self._sizes_exact:
                        self._prune()
                except OSError as exc:
                    self._warn_once("trim", exc)
                finally:
                    if self._fd is not None:
                        os.close(self._fd)
                        self._fd = None
        self._report()

    # -- introspection --------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has run."""
        return self._closed

    @property
    def lines_whole(self) -> bool:
        """Whether every line in the file is a whole span in our own JSON Lines format.

        False in OTLP format, and once a write has failed halfway through a line.
        """
        return self._otlp is None and not self._ever_torn

    def line_end_times(self) -> Optional[list[int]]:
        """The end time of the span on each line of the file, oldest first.

        ``None`` once a write has torn a line: from then on only reading the
        file tells where its lines are.
        """
        with self._lock:
            if self._ends is None or not self._sizes_exact:
                return None
            return list(self._ends)

    def line_sizes(self) -> Optional[list[int]]:
        """The size in bytes of each line of the file, newline included, oldest first.

        ``None`` once a write has torn a line, as for :meth:`line_end_times`.
        """
        with self._lock:
            if not self._sizes_exact:
                return None
            return list(self._sizes)

    @property
    def spans_in_file(self) -> int:
        """How many span lines the file holds (an estimate after a failed write, until the next trim)."""
        return len(self._sizes)

    def __repr__(self) -> str:
        return (
            f"<FileBasedSpanProcessor {str(self.path)!r} max_spans={self.max_spans} "
            f"format={self.format}>"
        )

    def __getstate__(self) -> Any:
        raise TypeError("FileBasedSpanProcessor cannot be pickled")


class _Quiet:
    """What :meth:`FileBasedSpanProcessor.quiet` returns.

    A class, not a generator: the plugin wraps every subscription and drain
    of every test in one.
    """

    def __init__(self, processor: FileBasedSpanProcessor) -> None:
        self._processor = processor

    def __enter__(self) -> None:
        self._processor._quiet += 1

    def __exit__(self, *exc: object) -> None:
        # The outermost block's end issues what it held back.
        processor = self._processor
        processor._quiet -= 1
        if processor._unreported and not processor._quiet:
            processor._report_held()
