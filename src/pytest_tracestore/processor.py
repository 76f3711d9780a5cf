"""The file-backed span processor: one line per finished span, plus an in-memory store."""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Deque, List, Optional, Tuple, Union

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .artifact import ArtifactFile
from .base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BYTES,
    FORMATS,
    TraceStoreWarning,
    check_limit,
)
from .codecs import codec_for
from .pieces import FileLine, line_length
from .record import SpanRecord, estimated_bytes
from .redact import RedactionPolicy
from .serialize import SpanConverter
from .store import TraceStore, batch_bytes

if TYPE_CHECKING:
    from .attribution import Attribution

__all__ = ["FileBasedSpanProcessor", "FORMATS", "RecordTransform", "DEFAULT_BATCH_SIZE"]

#: Called with each finished span's record; returns it, a changed copy, or
#: ``None`` to drop the span.
RecordTransform = Callable[[SpanRecord], Optional[SpanRecord]]

_DEFAULT_REDACTION = object()

class FileBasedSpanProcessor(SpanProcessor):
    """An OpenTelemetry ``SpanProcessor`` that keeps every finished span.

    Each finished span becomes one line in ``path`` and a record in
    :attr:`store`.  ``on_end`` converts the span (through :attr:`transform`,
    if set) and appends its line to the file with one ``write(2)`` before it
    returns, so a process killed without warning (SIGKILL, ``os._exit``, a
    crash in native code) keeps every span that had ended.  ``fsync=True``
    also survives a power loss, at a large cost per span.

    Records reach :attr:`store` and the subscribers ``batch_size`` at a
    time (default 32), since adding them in runs costs less; anything
    that reads the store or a subscriber, :meth:`drain`, :meth:`force_flush`,
    :meth:`shutdown` and a waiting :meth:`TraceStore.wait_for` add the
    waiting records first, so a query never misses a span that has ended.

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
    line is then written from the copy; a copy without a ``test`` keeps the
    span's) or ``None`` to drop the span from store, subscribers and file.

    :attr:`attribution` (``None`` by default; the plugin sets its own)
    decides which test owns each span, from where its trace began: it sees
    every span start, and its answer is the record's ``test`` and the line's.

    The processor never raises into the application: a failure to write or
    trim, or a transform that raises, is reported once as a
    :class:`TraceStoreWarning` by the next read of the store, drain, flush or
    shutdown (never as a span ends), and the spans stay queryable in memory.  A
    line the disk did not take (a full disk) is written once it does, at the
    latest at :meth:`shutdown`; :attr:`spans_unwritten` counts those still
    waiting.
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
        self._codec = codec_for(format)
        self.format = format
        self.path = Path(path)
        self.max_spans = max_spans
        self.fsync = bool(fsync)
        if redaction is _DEFAULT_REDACTION:
            redaction = RedactionPolicy()
        elif redaction is not None and not isinstance(redaction, RedactionPolicy):
            raise ValueError(f"invalid redaction {redaction!r}: expected a RedactionPolicy or None")
        self.redaction: Optional[RedactionPolicy] = redaction
        self.transform: Optional[RecordTransform] = transform
        self._attribution: Optional[Attribution] = None
        #: How many records wait before they are added to the store together.
        self.batch_size = batch_size
        self.store = TraceStore(max_spans=max_spans, max_bytes=max_bytes)
        self.store._source = self
        self._converter = SpanConverter(redaction)
        self._warned: set[str] = set()
        self._unreported: List[str] = []
        # Above zero inside quiet(): _report() leaves the warnings for its end.
        self._quiet = 0
        self._quiet_block = _Quiet(self)
        # Above zero while a transform runs: _report() waits for its end.
        self._transforming = 0
        self._closed = False
        # The concurrency state, all of it.  The lock orders the file's lines
        # with the queue and guards the file's bookkeeping; reentrant, as a
        # transform may read a store (which drains) or end spans of its own.
        self._lock = threading.RLock()
        # Records whose lines are in the file (or waiting for the disk) but
        # which are not in the store yet, oldest first.  Emptied only once
        # the store has them, so a drain elsewhere that finds it non-empty
        # waits for the lock, and with it for the drain under way.
        self._queue: Deque[SpanRecord] = deque()
        # How many wait_for calls wait right now: while any does, each span
        # is stored as it ends, so the waiter wakes.
        self._urgent = 0
        self._subscribers: Tuple[TraceStore, ...] = ()
        self._file = ArtifactFile(self.path, max_spans, self._codec, self._warn, fsync=self.fsync)
        _register_at_fork(self)

    # -- warnings -------------------------------------------------------

    def _warn(self, key: str, message: str) -> None:
        # Only noted here: _report() warns once the lock is released and the
        # span is recorded, so a warnings filter set to "error" costs no span.
        if key not in self._warned:
            self._warned.add(key)
            self._unreported.append(message)

    def _warn_once(self, what: str, exc: BaseException) -> None:
        self._warn(
            what,
            f"pytest-tracestore: could not {what} {self.path}: {exc}; "
            "spans stay queryable in memory",
        )

    def _report(self) -> None:
        """Issue the warnings noted so far, unless inside :meth:`quiet` or a transform.

        Called by reads and flushes, never as a span ends: ending a span is
        the application's code, where a warnings filter set to "error" would
        raise.  A transform that reads a store lands here too: its warning
        would pass for the transform's own failure.
        """
        if self._quiet or self._transforming:
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
            # The waiting records ended before: they are not the subscriber's.
            self._drain_locked()
            self._subscribers = self._subscribers + (store,)
            store._source = self
        self._report()

    def unsubscribe(self, store: TraceStore) -> None:
        """Stop adding spans to ``store``."""
        with self._lock:
            # The waiting records ended while it was subscribed: they are its own.
            self._drain_locked()
            self._subscribers = tuple(s for s in self._subscribers if s is not store)
            if store._source is self:
                store._source = None
        self._report()

    # -- SpanProcessor --------------------------------------------------

    @property
    def attribution(self) -> Optional[Attribution]:
        """Decides which test owns each span (its record's ``test``); ``None``: no test."""
        return self._attribution

    @attribution.setter
    def attribution(self, value: Optional[Attribution]) -> None:
        self._attribution = value
        # The provider calls on_start for every span: give it the
        # attribution's own method, one call fewer per span.
        if value is None:
            self.__dict__.pop("on_start", None)
        else:
            self.on_start = value.on_start  # type: ignore[method-assign]

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Nothing to do without :attr:`attribution`: spans are recorded when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Convert the span, write its line to the file, and queue its record for the store."""
        if self._closed:
            return
        attribution = self._attribution
        try:
            if attribution is None:
                record, line = self._converter.convert(span)
            else:
                record, line = self._converter.convert(span, attribution.owner_of_context)
        except Exception as exc:  # never raise into the application
            self._warn_once("convert a span for", exc)
            return
        if self.transform is None and self._codec.native:
            self._record(record, line)
            return
        finished = self._finish(record, line)
        if finished is not None:
            self._record(*finished)

    def add_record(self, record: SpanRecord) -> None:
        """Record a span built elsewhere (say, received over OTLP) like an ended SDK span.

        Its line goes to the file, and the record to :attr:`store` and every
        subscriber.
        """
        if not isinstance(record, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {record!r}")
        if self._closed:
            return
        if self._attribution is not None:
            record = self._attribution.claim(record)
        if self.transform is not None:
            result = self._transformed(record)
            if result is None:
                return
            record = result
        try:
            line = self._codec.file_line(record, self.redaction)
        except Exception as exc:
            self._warn_once("convert a span for", exc)
            return
        if not record._size:  # type: ignore[attr-defined]
            # Built elsewhere: the memory estimate measures the line just made.
            object.__setattr__(record, "_size", estimated_bytes(line_length(line)))
        self._record(record, line)

    def _record(self, record: SpanRecord, line: FileLine) -> None:
        """Write the line and queue the record, as one step for the lock's other holders."""
        with self._lock:
            if self._closed:
                return
            try:
                self._file.append(line, record.end_time)
            finally:
                # The line is in the file or waiting for the disk, even when
                # interrupted: its record goes with it.
                self._queue.append(record)
            if len(self._queue) >= self.batch_size or self._urgent:
                self._drain_locked()

    def _finish(self, record: SpanRecord, line: str) -> Optional[Tuple[SpanRecord, FileLine]]:
        """A converted span's record and line after the transform and in the file's
        format, or ``None`` if it is dropped."""
        changed = False
        out: FileLine = line
        if self.transform is not None:
            result = self._transformed(record)
            if result is None:
                return None
            record, changed = result, result is not record
        if not self._codec.native or changed:
            try:
                out = self._codec.file_line(record, self.redaction)
            except Exception as exc:
                self._warn_once("convert a span for", exc)
                return None
        if changed and not record._size:  # type: ignore[attr-defined]
            # The memory estimate measures the line just made.
            object.__setattr__(record, "_size", estimated_bytes(line_length(out)))
        return record, out

    def _transformed(self, record: SpanRecord) -> Optional[SpanRecord]:
        """:attr:`transform`'s verdict on ``record``: the record to keep, or ``None``."""
        self._transforming += 1
        try:
            result = self.transform(record)  # type: ignore[misc]
            if result is not None and not isinstance(result, SpanRecord):
                raise TypeError(f"expected a SpanRecord or None, got {result!r}")
            if result is not None and result.test is None and record.test is not None:
                # A record the transform built anew still belongs to the span's test.
                result = result._owned_by(record.test)
            return result
        except Exception as exc:  # keep the span as it was rather than lose it
            self._warn_once("transform a span for", exc)
            return record
        finally:
            self._transforming -= 1

    def line_for(self, record: SpanRecord) -> str:
        """A record's line in the file's format, newline included, secret values redacted."""
        return self._codec.encode(record, self.redaction)

    # -- the store ------------------------------------------------------

    def _wait_started(self) -> None:
        with self._lock:
            self._urgent += 1

    def _wait_ended(self) -> None:
        with self._lock:
            self._urgent -= 1

    def drain(self) -> None:
        """Add every waiting record to the store and the subscribers.

        Reading :attr:`store` or a subscriber drains first, so a query never
        misses a span that has ended; a drain under way in another thread is
        waited for.  The lines are in the file already.
        """
        if self._queue:
            with self._lock:
                self._drain_locked()
        if self._unreported:
            self._report()

    def _drain_locked(self) -> None:
        """Add the queue's records to the store and the subscribers.  Lock held."""
        queue = self._queue
        if not queue:
            return
        records = list(queue)
        try:
            total = batch_bytes(records)
            self.store._add_batch(records, total)
            for subscriber in self._subscribers:
                subscriber._add_batch(records, total)
        finally:
            # Interrupted, the records stay queued unless the store took them:
            # its newest record tells.
            held = self.store._records
            if held and held[-1] is records[-1]:
                queue.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Store the waiting records and write lines the disk did not take; with ``fsync``, sync."""
        done = True
        with self._lock:
            self._drain_locked()
            if not self._file.closed:
                done = self._file.flush()
                if self.fsync:
                    try:
                        self._file.sync()
                    except OSError as exc:
                        self._warn_once("sync", exc)
                        done = False
        self._report()
        return done

    def shutdown(self) -> None:
        """Store the waiting records, write the waiting lines, trim the file to the newest
        ``max_spans`` and close it.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._drain_locked()
            self._closed = True
            self._file.close()
        self._report()

    # -- fork -----------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        # The parent's threads are gone: a lock one of them held stays held.
        self._lock = threading.RLock()
        self._file.after_fork_in_child()

    # -- introspection --------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has run."""
        return self._closed

    @property
    def lines_whole(self) -> bool:
        """Whether every line in the file is known whole and in our own JSON Lines format.

        False in OTLP format, and while a failed write may have left a torn
        line in the file (until a trim rewrites it without).
        """
        with self._lock:
            return self._codec.native and self._file.line_sizes() is not None

    def line_end_times(self) -> Optional[List[int]]:
        """The end time of the span on each line of the file, oldest first.

        ``None`` while only reading the file tells where its lines are (after
        a torn write or another process's lines, until a trim).
        """
        with self._lock:
            return self._file.line_end_times()

    def line_sizes(self) -> Optional[List[int]]:
        """The size in bytes of each line of the file, newline included, oldest first.

        ``None`` when :meth:`line_end_times` is.
        """
        with self._lock:
            return self._file.line_sizes()

    @property
    def spans_in_file(self) -> int:
        """How many span lines the file holds (an estimate while :meth:`line_sizes` is ``None``)."""
        return self._file.lines

    @property
    def spans_unwritten(self) -> int:
        """How many recorded spans have no line in the file: the disk did not take them (yet)."""
        return self._file.unwritten

    def __repr__(self) -> str:
        return (
            f"<FileBasedSpanProcessor {str(self.path)!r} max_spans={self.max_spans} "
            f"format={self.format}>"
        )

    def __getstate__(self) -> Any:
        raise TypeError("FileBasedSpanProcessor cannot be pickled")


def _register_at_fork(processor: FileBasedSpanProcessor) -> None:
    """Keep a forked child off its parent's bookkeeping, and the lock whole across fork.

    Held by a weak reference: the handlers outlive the processor.
    """
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(processor)

    def before() -> None:
        found = ref()
        if found is not None:
            found._lock.acquire()

    def after_in_parent() -> None:
        found = ref()
        if found is not None:
            found._lock.release()

    def after_in_child() -> None:
        found = ref()
        if found is not None:
            found._after_fork_in_child()

    os.register_at_fork(before=before, after_in_parent=after_in_parent, after_in_child=after_in_child)


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
