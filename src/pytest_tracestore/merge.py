"""Merging the spans of parallel test processes into one artifact file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from operator import attrgetter
from pathlib import Path
from typing import Callable, Union

from .record import SpanRecord
from .serialize import encode_line, record_line
from .store import check_limit

__all__ = ["write_merged"]


def write_merged(
    path: Union[str, os.PathLike[str]],
    records: Iterable[SpanRecord],
    max_spans: int,
    line_for: Callable[[SpanRecord], str] = record_line,
) -> int:
    """Write the newest ``max_spans`` records to ``path``, ordered by end time.

    ``line_for`` gives a record's line (the run processor's, so the merged
    file keeps the run's format).

    The file is replaced atomically (a temporary file and ``os.replace``), so
    a reader never sees half a merge.  Returns how many records were written.
    """
    check_limit("max_spans", max_spans)
    # sorted() is stable: spans that ended in the same nanosecond keep the
    # order their processes recorded them in.
    kept = sorted(records, key=attrgetter("end_time"))[-max_spans:]
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(encode_line(line_for(r)) for r in kept)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(kept)
