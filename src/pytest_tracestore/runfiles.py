"""The files of one run beside its artifact: the lock, the worker folder, what dead runs left.

A run claims its artifact with a :class:`~pytest_tracestore.lock.RunLock`
beside it for its whole life.  A second run that finds the path taken
records to a path of its own beside it (``spans.<pid>.jsonl``) and touches
nothing of the first run's.  Every other file a run makes beside the
artifact carries its process id in its name, so that the next run to claim
the path (the lock being free, the run that made them is gone) knows them
for what a killed run left behind:

* ``.<name>.previous-<pid>``: the previous run's file, moved aside until
  the first test starts, and moved back if none does;
* ``.<name>.xdist-<pid>``: the pytest-xdist workers' folder, merged into
  the artifact at the end; a controller killed before its merge leaves it,
  and the next run salvages its spans into ``<stem>.salvaged-<pid><suffix>``.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pytest

from .base import DEFAULT_MAX_BYTES
from .lock import RunLock
from .options import make_folder

if TYPE_CHECKING:
    from .processor import FileBasedSpanProcessor
    from .redact import RedactionPolicy

__all__ = ["XDIST_FOLDER", "XDIST_REPORT", "RunFiles", "make_processor", "new_processor"]

# Keys of the pytest-xdist hand-over: the controller tells each worker where
# to write (workerinput); each worker reports its spans back (workeroutput).
XDIST_FOLDER = "tracestore_folder"
XDIST_REPORT = "tracestore"


def new_processor(
    path: Path,
    max_spans: int,
    file_format: str,
    redaction: Optional[RedactionPolicy],
    batch_size: int,
) -> FileBasedSpanProcessor:
    """The run's processor writing ``path``, with the plugin's settings."""
    from .processor import FileBasedSpanProcessor

    return FileBasedSpanProcessor(
        path,
        max_spans=max_spans,
        max_bytes=DEFAULT_MAX_BYTES,
        format=file_format,
        redaction=redaction,
        batch_size=batch_size,
    )


def make_processor(
    path: Path,
    where: str,
    max_spans: int,
    file_format: str,
    redaction: Optional[RedactionPolicy],
    batch_size: int,
) -> FileBasedSpanProcessor:
    """:func:`new_processor`, its folder made first; a usage error naming ``where`` if either fails."""
    make_folder(path.parent, where)
    try:
        return new_processor(path, max_spans, file_format, redaction, batch_size)
    except OSError as exc:
        raise pytest.UsageError(
            f"{where}: cannot write {path}: {exc.strerror or exc}"
        ) from None


class RunFiles:
    """Where one run writes, around the artifact path it was asked for.

    :meth:`claim` locks the path (or one of the run's own beside it, see
    :attr:`artifact`) and salvages what killed runs left there.
    """

    def __init__(self, requested: Path, pid: Optional[int] = None) -> None:
        #: The path the options ask for (symlinks already resolved).
        self.requested = requested
        #: The path this run writes: ``requested``, unless another run holds it.
        self.artifact = requested
        self.pid = os.getpid() if pid is None else pid
        #: ``(spans, file)`` for each killed run's worker folder salvaged at the start.
        self.salvaged: list[tuple[int, Path]] = []
        #: Warnings met while salvaging, to be issued where pytest shows them.
        self.notes: list[str] = []
        self._lock: Optional[RunLock] = None
        self._previous: Optional[Path] = None
        # Set by keep_previous(): this run writes the artifact itself (no xdist).
        self._writes = False
        self._had_previous = False

    @property
    def taken(self) -> bool:
        """Whether another run held the requested path, so this one writes its own."""
        return self.artifact != self.requested

    def claim(self) -> None:
        """Lock the artifact for this run's life and salvage what killed runs left beside it.

        ``OSError`` if the lock file cannot be made.
        """
        lock = RunLock(_beside(self.requested, "lock"))
        if not lock.acquire():
            own = self.requested.with_name(
                f"{self.requested.stem}.{self.pid}{self.requested.suffix}"
            )
            lock = RunLock(_beside(own, "lock"))
            if not lock.acquire():  # only a process with our pid could hold it
                raise OSError(f"{own} is locked by another run")
            self.artifact = own
        self._lock = lock
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._restore_previous()
            for folder in self._beside_artifact("xdist-"):
                if folder.is_dir():
                    self._salvage(folder)
        self.notes.extend(str(w.message) for w in caught)

    def worker_folder(self) -> Path:
        """The folder the pytest-xdist workers of this run write their files in."""
        return _beside(self.artifact, f"xdist-{self.pid}")

    def keep_previous(self) -> None:
        """Move the previous run's file aside, until :meth:`test_started` or :meth:`finish`."""
        self._writes = True
        if self.artifact.is_file():
            self._had_previous = True
            self._previous = _beside(self.artifact, f"previous-{self.pid}")
            os.replace(self.artifact, self._previous)

    def test_started(self) -> None:
        """A test starts: from now on the artifact is this run's, the previous file goes."""
        previous, self._previous = self._previous, None
        if previous is not None:
            try:
                os.unlink(previous)
            except OSError:
                pass

    def finish(self, tests_ran: bool) -> None:
        """Put the previous file back if no test ran, and release the lock.  Idempotent."""
        previous, self._previous = self._previous, None
        try:
            if previous is not None:
                os.replace(previous, self.artifact)
            elif not tests_ran and self._writes and not self._had_previous and _empty(self.artifact):
                # Nothing was there and nothing was recorded: leave nothing.
                os.unlink(self.artifact)
        except OSError:
            pass
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _beside_artifact(self, kind: str) -> list[Path]:
        """The files beside the artifact named ``.<name>.<kind><anything>``, sorted."""
        parent = self.artifact.parent
        prefix = f".{self.artifact.name}.{kind}"
        try:
            # A prefix test, not a glob: compiling a pattern costs every run's start.
            names = [name for name in os.listdir(parent) if name.startswith(prefix)]
        except OSError:
            return []
        return sorted(parent / name for name in names)

    def _restore_previous(self) -> None:
        # A run killed before its first test leaves the file it moved aside,
        # the last run's real one: it goes back, the killed run recorded nothing.
        for previous in self._beside_artifact("previous-"):
            try:
                os.replace(previous, self.artifact)
            except OSError:
                pass

    def _salvage(self, folder: Path) -> None:
        """Write the spans of a killed run's worker folder to a file beside the artifact."""
        from .merge import TimedLines, timed_lines, write_newest

        found = TimedLines()
        for file in sorted(folder.glob("*.jsonl")):
            try:
                with open(file, "rb") as handle:
                    found.extend(timed_lines(str(file), handle.readlines()))
            except OSError as exc:
                self.notes.append(f"pytest-tracestore: cannot read {file} to salvage it: {exc}")
        tag = folder.name.rsplit("xdist-", 1)[-1]
        target = self.artifact.with_name(f"{self.artifact.stem}.salvaged-{tag}{self.artifact.suffix}")
        if len(found):
            write_newest(target, found, len(found))
            self.salvaged.append((len(found), target))
            self.notes.append(
                f"pytest-tracestore: an earlier run of {self.artifact} ended before merging "
                f"its xdist workers' files (it was killed); their {len(found)} spans are "
                f"saved in {target}"
            )
        shutil.rmtree(folder, ignore_errors=True)


def _beside(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.{what}")


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False
