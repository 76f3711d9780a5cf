"""The file-backed span processor: one JSON line per finished span, plus an in-memory store."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Deque, Optional, Tuple, Union

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .record import SpanRecord
from .redact import RedactionPolicy
from .serialize import SpanConverter, encode_line, record_line
from .store import DEFAULT_MAX_BYTES, TraceStore, TraceStoreWarning, check_limit

__all__ = ["FileBasedSpanProcessor", "FORMATS", "RecordTransform"]

#: Called with each finished span's record; returns it, a changed copy, or
#: ``None`` to drop the span.
RecordTransform = Callable[[SpanRecord], Optional[SpanRecord]]

_DEFAULT_REDACTION = object()

#: The artifact formats: our JSON Lines, and OTLP JSON Lines (one span per line).
FORMATS = ("jsonl", "otlp")

# The file may grow past max_spans by this much (or by max_spans, if larger)
# before it is rewritten, so pruning costs O(1) per span amortised.
_MIN_SLACK = 256


class FileBasedSpanProcessor(SpanProcessor):
    """An OpenTelemetry ``SpanProcessor`` that keeps every finished span.

    ``on_end`` appends the span as one JSON line to ``path`` and adds it to
    :attr:`store`.  Each line is handed to the operating system before
    ``on_end`` returns, so a process killed with SIGKILL keeps every span that
    had ended; ``fsync=True`` also survives a power loss, at a large cost.

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
    ) -> None:
        check_limit("max_spans", max_spans)
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
        self.store = TraceStore(max_spans=max_spans, max_bytes=max_bytes)
        self._converter = SpanConverter(redaction)
        self._lock = threading.Lock()
        self._subscribers: Tuple[TraceStore, ...] = ()
        # The byte length of each line in the file, oldest first: pruning
        # then knows where the kept lines start without reading the rest.
        self._sizes: Deque[int] = deque()
        # False once a write has failed halfway: the file may hold a torn
        # line, and only reading it tells where lines start.
        self._sizes_exact = True
        # A write failed after writing part of a line: the next line starts
        # with a newline, so it does not join the torn one.
        self._torn = False
        self._prune_at = max_spans + max(max_spans, _MIN_SLACK)
        self._warned: set[str] = set()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: Optional[int] = self._open(truncate=True)

    def _open(self, truncate: bool) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if truncate:
            flags |= os.O_TRUNC
        return os.open(self.path, flags, 0o644)

    def _warn_once(self, what: str, exc: BaseException) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        warnings.warn(
            f"pytest-tracestore: could not {what} {self.path}: {exc}; "
            "spans stay queryable in memory",
            TraceStoreWarning,
            stacklevel=3,
        )

    # -- subscribers ----------------------------------------------------

    def subscribe(self, store: TraceStore) -> None:
        """Also add every span that ends from now on to ``store``."""
        with self._lock:
            self._subscribers = self._subscribers + (store,)

    def unsubscribe(self, store: TraceStore) -> None:
        """Stop adding spans to ``store``."""
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not store)

    # -- SpanProcessor --------------------------------------------------

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Nothing to do: spans are recorded when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Write the span's line and add its record to the store and subscribers."""
        if self._closed:
            return
        try:
            record, line = self._converter.convert(span)
        except Exception as exc:  # never raise into the application
            self._warn_once("convert a span for", exc)
            return
        changed = False
        if self.transform is not None:
            result = self._transformed(record)
            if result is None:
                return
            record, changed = result, result is not record
        if self._otlp is not None or changed:
            try:
                line = self.line_for(record)
            except Exception as exc:
                self._warn_once("convert a span for", exc)
                return
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate in a str attribute becomes a \u escape: exact, and valid UTF-8.
            data = encode_line(line)
        self._append(record, data)

    def add_record(self, record: SpanRecord) -> None:
        """Record a span built elsewhere (say, received over OTLP) like an ended SDK span.

        Its line goes to the file, and the record to :attr:`store` and every
        subscriber.
        """
        if not isinstance(record, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {record!r}")
        if self._closed:
            return
        if self.transform is not None:
            result = self._transformed(record)
            if result is None:
                return
            record = result
        self._append(record, encode_line(self.line_for(record)))

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

    def _append(self, record: SpanRecord, data: bytes) -> None:
        if not record._size:  # type: ignore[attr-defined]
            # Built elsewhere: its line is the memory estimate's measure, and
            # we have just encoded it.
            object.__setattr__(record, "_size", len(data))
        with self._lock:
            if self._fd is not None:
                try:
                    if self._torn:
                        data = b"\n" + data
                    # One write(2) takes the whole line in the common case.
                    written = os.write(self._fd, data)
                    if written < len(data):
                        self._write_rest(data, written)
                    self._torn = False
                    self._sizes.append(len(data))
                    if self.fsync:
                        os.fsync(self._fd)
                    if len(self._sizes) >= self._prune_at:
                        self._prune()
                except OSError as exc:
                    self._warn_once("write spans to", exc)
            self.store.add(record)
            for subscriber in self._subscribers:
                subscriber.add(record)

    def _write_rest(self, data: bytes, written: int) -> None:
        """Finish a line that one write(2) did not take whole."""
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
        else:
            with open(self.path, "rb") as handle:
                data = handle.read()
            # A torn last line gets its newline here, so the next span starts
            # a line of its own; a reader skips the torn one with a warning.
            lines = [line for line in data.split(b"\n") if line][-self.max_spans :]
            kept = b"".join(line + b"\n" for line in lines)
            new_sizes = deque(len(line) + 1 for line in lines)
        try:
            self._replace(kept)
        except BaseException:
            # The file may or may not have been replaced: read it next time.
            self._sizes_exact = False
            raise
        self._sizes = new_sizes
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
        """Every ended span is already written; with ``fsync`` it is also synced."""
        with self._lock:
            if self._fd is not None and self.fsync:
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._warn_once("sync", exc)
                    return False
        return True

    def shutdown(self) -> None:
        """Trim the file to the newest ``max_spans`` spans and close it.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fd is None:
                return
            try:
                if len(self._sizes) > self.max_spans or not self._sizes_exact:
                    self._prune()
            except OSError as exc:
                self._warn_once("trim", exc)
            finally:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    # -- introspection --------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has run."""
        return self._closed

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
