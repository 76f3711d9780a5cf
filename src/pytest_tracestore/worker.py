"""The pytest-xdist worker's side: where a worker records, and its report to the controller.

A worker writes in the folder its controller names (``workerinput``) and
sends its spans back over xdist's own channel at the end (``workeroutput``),
so workers on other hosts work too; ``controller`` is the other side.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import pytest

from .runfiles import XDIST_FOLDER, XDIST_REPORT, make_processor, new_processor

if TYPE_CHECKING:
    from .processor import FileBasedSpanProcessor

__all__ = ["JOINED_REPORT", "report_to_controller", "worker_processor"]

#: The workeroutput key under which a worker lists the providers it joined.
JOINED_REPORT = "tracestore_joined"


def worker_processor(
    config: pytest.Config, path: Path, where: str, *settings: Any
) -> tuple[FileBasedSpanProcessor, Optional[Path]]:
    """A worker's processor, and the scratch folder it writes in if it made one."""
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    workerid = str(workerinput["workerid"])
    folder = workerinput.get(XDIST_FOLDER)
    if not folder:
        # Without a folder from the controller, stay apart from the other workers.
        own = path.with_name(f"{path.stem}.{workerid}{path.suffix}")
        return make_processor(own, where, *settings), None
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return new_processor(Path(folder) / f"{workerid}.jsonl", *settings), None
    except OSError:
        # A worker on another host may not reach the controller's folder: its
        # spans travel back over xdist's own channel all the same.
        scratch = Path(tempfile.mkdtemp(prefix="tracestore-"))
        return make_processor(scratch / f"{workerid}.jsonl", where, *settings), scratch


def report_to_controller(
    config: pytest.Config,
    processor: FileBasedSpanProcessor,
    joined: Mapping[str, int],
    scratch: Optional[Path],
) -> None:
    """Put the worker's spans, and what it joined, in its ``workeroutput``."""
    # The spans travel over xdist's own channel, so workers on other hosts
    # work too; the file stays the fallback if this message never arrives.
    try:
        spans: Optional[bytes] = processor.path.read_bytes()
    except OSError:  # the controller reads what it can of the file
        spans = None
    workeroutput: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
    ends = processor.line_end_times()
    sizes = processor.line_sizes()
    workeroutput[XDIST_REPORT] = {
        "path": str(processor.path),
        "recorded": processor.store.added,
        "spans": spans,
        "whole": processor.lines_whole,
        # One string, not a list: execnet encodes each list item in Python.
        "ends": None if ends is None else " ".join(map(str, ends)),
        # With each line's size, the controller cuts the lines apart
        # without looking for newlines.
        "sizes": None if sizes is None else " ".join(map(str, sizes)),
        "unwritten": int(getattr(processor, "spans_unwritten", 0)),
    }
    workeroutput[JOINED_REPORT] = dict(joined)
    if spans is not None and scratch is not None:
        # A folder of this worker's own, which no controller removes.
        shutil.rmtree(scratch, ignore_errors=True)
