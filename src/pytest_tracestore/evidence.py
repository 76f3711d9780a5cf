"""A failed test's evidence: its spans in a file of its own, named after its node id."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

from .base import file_mode

if TYPE_CHECKING:
    from .record import SpanRecord
    from .redact import RedactionPolicy

__all__ = ["safe_file_name", "write_failed_file"]


def safe_file_name(nodeid: str) -> str:
    """A file name for a test's node id: safe on every file system, unique per id."""
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("._")[:120]
    return f"{stem}-{digest}.jsonl"


def write_failed_file(
    folder: Path, nodeid: str, records: Iterable[SpanRecord], redaction: Optional[RedactionPolicy]
) -> Path:
    """Write ``records`` to the failed-dir file of ``nodeid`` (replacing it); ``OSError`` if it cannot be."""
    from .serialize import encode_line, record_line

    path = folder / safe_file_name(nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, file_mode())
    with open(fd, "wb") as out:
        if hasattr(os, "fchmod"):  # a file from an earlier run keeps its mode otherwise
            os.fchmod(fd, file_mode())
        out.writelines(encode_line(record_line(record, redaction)) for record in records)
    return path
