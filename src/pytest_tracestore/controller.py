"""The pytest-xdist controller's side of the plugin, loaded only there.

The controller runs no tests.  It tells each worker where to write, keeps
what each reports as it ends, and merges every worker's spans into the one
artifact at the end of the run.  Its own processor waits for a span to end
in the controller, which seldom happens, before it is made.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Optional

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from .base import TraceStoreWarning, warn_always
from .runfiles import XDIST_FOLDER, XDIST_REPORT, new_processor

if TYPE_CHECKING:
    from .processor import FileBasedSpanProcessor, RecordTransform
    from .redact import RedactionPolicy

__all__ = ["DeferredProcessor", "XdistController", "made"]


class XdistController:
    """The pytest-xdist controller's side: where workers write, what they reported.

    Each worker writes its own file in :attr:`folder` and reports it through
    ``config.workeroutput``; :meth:`merge` builds the one artifact from them.
    The folder is decided here, before any worker starts, so the file of a
    worker that dies without reporting is still found and merged.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # workerid -> the worker's report, None until it reports.
        self.reports: dict[str, Optional[dict[str, Any]]] = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[XDIST_FOLDER] = str(self.folder)
        self.reports.setdefault(str(node.workerinput["workerid"]), None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        report = (getattr(node, "workeroutput", None) or {}).get(XDIST_REPORT)
        if report is not None:
            self.reports[str(node.workerinput["workerid"])] = report

    def merge(
        self, own: Optional[FileBasedSpanProcessor], artifact: Path, max_spans: int
    ) -> tuple[int, int, int]:
        """Merge the controller's and every worker's spans into ``artifact``, newest ``max_spans``.

        ``own`` is the controller's processor, ``None`` if no span ended in
        the controller.  Returns ``(recorded, kept, unwritten)``: how many
        spans the run recorded, how many the artifact holds after the FIFO
        cap, and how many no process could write to its file.  The
        worker files are removed.  Lines are merged as the processes wrote
        them, already in the run's format and redacted.
        """
        # Here, not at the top: only the controller merges, once.
        from .merge import TimedLines, timed_lines, timed_text, write_newest

        found = TimedLines()
        recorded = unwritten = 0
        if own is not None:
            raw = self._file_lines(own.path, "the controller's file")
            found.extend(timed_lines(str(own.path), raw or []))
            recorded = own.store.added
            unwritten = int(getattr(own, "spans_unwritten", 0))
        for report in self.reports.values():
            if report is not None:
                unwritten += int(report.get("unwritten", 0))
        for workerid, report in sorted(self.reports.items()):
            if report is None:
                file = self.folder / f"{workerid}.jsonl"
                what = f"xdist worker {workerid} ended without reporting its spans"
                raw = self._file_lines(file, f"{what}, and its file")
                lines = timed_lines(str(file), raw or [])
                if raw is not None:  # an unreadable file has had its warning
                    warnings.warn(
                        f"pytest-tracestore: {what}; merged the {len(lines)} found in its file",
                        TraceStoreWarning,
                        stacklevel=1,
                    )
                recorded += len(lines)
            elif report["spans"] is not None:
                lines = timed_text(
                    f"xdist worker {workerid}",
                    report["spans"],
                    whole=bool(report.get("whole")),
                    ends=report.get("ends"),
                    sizes=report.get("sizes"),
                )
                recorded += int(report["recorded"])
            else:  # the worker could not read its own file back: try here
                file = Path(report["path"])
                what = f"xdist worker {workerid} could not send its spans, and its file"
                lines = timed_lines(str(file), self._file_lines(file, what) or [])
                recorded += int(report["recorded"])
            found.extend(lines)
        kept = write_newest(artifact, found, max_spans)
        self.discard()
        return recorded, kept, unwritten

    def discard(self) -> None:
        """Remove the workers' folder: merged, or a run that started no test."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _file_lines(file: Path, what: str) -> Optional[list[bytes]]:
        """The lines of a file to merge; ``None``, with a warning, if it cannot be read."""
        try:
            with open(file, "rb") as handle:
                return handle.readlines()
        except OSError as exc:
            warnings.warn(
                f"pytest-tracestore: {what} {file} cannot be read "
                f"({exc.strerror or exc}): its spans are lost",
                TraceStoreWarning,
                stacklevel=1,
            )
            return None


class DeferredProcessor(SpanProcessor):
    """The pytest-xdist controller's processor, made when the first span ends there.

    The controller runs no tests, so in most runs no span ends in it, and it
    never loads the recording code.  Whatever else is asked of it makes the
    processor and is answered by it, so it stands in for one everywhere.
    """

    def __init__(
        self,
        path: Path,
        max_spans: int,
        file_format: str,
        redaction: Optional[RedactionPolicy],
        batch_size: int,
    ) -> None:
        self.path = path
        self.max_spans = max_spans
        self.format = file_format
        self.redaction = redaction
        self.batch_size = batch_size
        self.built: Optional[FileBasedSpanProcessor] = None
        self._transform: Optional[RecordTransform] = None
        self._failed: Optional[OSError] = None
        # Set by shutdown(): a span that ends later (in a conftest's
        # pytest_unconfigure, say) is dropped, as a closed processor drops it,
        # rather than making a processor after the merge.
        self._closed = False
        self._lock = threading.Lock()

    def get(self) -> FileBasedSpanProcessor:
        """The processor, made on first use."""
        built = self.built
        if built is None:
            with self._lock:
                if self.built is None:
                    made = new_processor(
                        self.path, self.max_spans, self.format, self.redaction, self.batch_size
                    )
                    made.transform = self._transform
                    self.built = made
                built = self.built
        return built

    @property
    def transform(self) -> Optional[RecordTransform]:
        return self._transform

    @transform.setter
    def transform(self, value: Optional[RecordTransform]) -> None:
        with self._lock:
            self._transform = value
            if self.built is not None:
                self.built.transform = value

    def on_end(self, span: ReadableSpan) -> None:
        if self._closed:
            return
        try:
            processor = self.get()
        except OSError as exc:
            # Never into the application's code: reported when the run closes.
            self._failed = exc
            return
        processor.on_end(span)

    def quiet(self) -> ContextManager[None]:
        return self.built.quiet() if self.built is not None else contextlib.nullcontext()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        if self.built is not None:
            self.built.shutdown()
        if self._failed is not None:
            warn_always(
                f"pytest-tracestore: could not write {self.path}: {self._failed}; "
                "the spans that ended in the xdist controller are lost"
            )
            self._failed = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if self.built is None else self.built.force_flush(timeout_millis)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def made(processor: FileBasedSpanProcessor) -> Optional[FileBasedSpanProcessor]:
    """``processor``, or what a deferred one has made so far (``None``: nothing)."""
    if isinstance(processor, DeferredProcessor):
        return processor.built
    return processor
