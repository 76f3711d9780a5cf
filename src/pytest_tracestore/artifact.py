"""The artifact file: appends span lines, knows where each one is, trims it to the cap.

:class:`ArtifactFile` owns the descriptor, each line's size and end time, the
lines that could not be written yet, and the trims.  What it knows of the
file is one :class:`FileState`, changed only through :data:`TRANSITIONS`.
It imports no pytest and raises no ``OSError``: a failure is handed to the
``warn`` callback once, and the spans' lines wait in memory for the disk.
"""

from __future__ import annotations

import enum
import os
import stat
import tempfile
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Callable, Deque, Dict, List, Optional, Tuple, Union

from .codecs import LineCodec
from .pieces import FileLine
from .serialize import encode_line

__all__ = ["ArtifactFile", "FileState", "FileEvent", "TRANSITIONS", "MIN_SLACK"]

# The file may grow past its cap by this much (or by the cap, if larger)
# before it is rewritten, so trimming costs O(1) per span amortised: a
# rewrite copies the cap's lines, once per slack spans.
MIN_SLACK = 4096

#: One line's bytes as written: whole, or in pieces that one writev(2) appends.
Data = Union[bytes, Tuple[bytes, ...]]

try:
    _IOV_MAX = max(os.sysconf("SC_IOV_MAX"), 16)
except (AttributeError, OSError, ValueError):  # no sysconf (Windows), or no such name
    _IOV_MAX = 16


class FileState(enum.Enum):
    """What the processor knows of its file's lines."""

    #: Every line is whole and was written here: its size and end time are known.
    EXACT = "exact"
    #: A write stopped inside a line: the file ends mid-line, and the next
    #: write must start with a newline so that its line stands alone.
    TORN = "torn"
    #: The file ends on a line boundary, but holds lines whose sizes are not
    #: known (a torn line since closed, another process's lines): only
    #: reading the file tells where its lines are.
    UNKNOWN = "unknown"


class FileEvent(enum.Enum):
    """What can happen to the file."""

    WROTE = "a whole line was written"
    TORE = "a write stopped inside a line"
    FAILED = "a write wrote nothing"
    FOREIGN = "the file's size is not the sum of the lines known"
    TRIMMED = "the file was rewritten from lines whose sizes are known"


_S, _E = FileState, FileEvent
#: The next state for each state and event.
TRANSITIONS: Dict[Tuple[FileState, FileEvent], FileState] = {
    (_S.EXACT, _E.WROTE): _S.EXACT,
    (_S.EXACT, _E.TORE): _S.TORN,
    (_S.EXACT, _E.FAILED): _S.EXACT,
    (_S.EXACT, _E.FOREIGN): _S.UNKNOWN,
    (_S.EXACT, _E.TRIMMED): _S.EXACT,
    # The write began with the newline that closes the torn line.
    (_S.TORN, _E.WROTE): _S.UNKNOWN,
    (_S.TORN, _E.TORE): _S.TORN,
    (_S.TORN, _E.FAILED): _S.TORN,
    # Another writer may have closed the torn line, or not: a newline too
    # many makes a blank line, which readers skip; one too few joins lines.
    (_S.TORN, _E.FOREIGN): _S.TORN,
    (_S.TORN, _E.TRIMMED): _S.EXACT,
    (_S.UNKNOWN, _E.WROTE): _S.UNKNOWN,
    (_S.UNKNOWN, _E.TORE): _S.TORN,
    (_S.UNKNOWN, _E.FAILED): _S.UNKNOWN,
    (_S.UNKNOWN, _E.FOREIGN): _S.UNKNOWN,
    (_S.UNKNOWN, _E.TRIMMED): _S.EXACT,
}
del _S, _E

#: Called with a key (one warning per key) and the message.
Warn = Callable[[str, str], None]


class _Torn(Exception):
    """A write stopped inside a line after ``written`` bytes."""

    def __init__(self, written: int, cause: OSError) -> None:
        super().__init__(str(cause))
        self.written = written
        self.cause = cause


class ArtifactFile:
    """An append-only file of span lines, kept to the newest ``max_lines``.

    The file is truncated when opened.  :meth:`append` hands each line to the
    operating system at once (``O_APPEND``, one ``write(2)``), so a process
    killed without warning keeps every line appended; a line the disk did
    not take waits in memory and goes first once it does, at the latest at
    :meth:`close`.  A symlink at ``path`` is followed once, here: trims
    rewrite its target and leave the link.  Trims keep the file's mode.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        max_lines: int,
        codec: LineCodec,
        warn: Warn,
        *,
        fsync: bool = False,
    ) -> None:
        self.path = Path(path)
        self.target = Path(os.path.realpath(self.path)) if os.path.islink(self.path) else self.path
        self.max_lines = max_lines
        self.codec = codec
        self.fsync = fsync
        self._warn_to = warn
        self._warned: set[str] = set()
        self.state = FileState.EXACT
        #: False in a forked child: the file is its parent's, to append to only.
        self.owner = True
        # Each line's size in bytes and its span's end time, oldest first: a
        # trim then knows where the kept lines start without reading the rest,
        # and a merge orders lines without parsing them.
        self._sizes: Deque[int] = deque()
        self._ends: Deque[int] = deque()
        # The bytes the file holds, as far as this object knows.
        self._size = 0
        # Lines the disk did not take, oldest first, with their end times.
        self._pending: Deque[Tuple[Data, int]] = deque()
        self._slack = max(max_lines, MIN_SLACK)
        self._trim_at = max_lines + self._slack
        self._backoff = self._slack
        self._interrupted_write_landed = False
        _check_regular(self.target, self.path)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._fd: Optional[int] = _open(self.target, truncate=True)

    # -- state ------------------------------------------------------------

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._warn_to(key, message)

    def _on(self, event: FileEvent) -> None:
        self.state = TRANSITIONS[(self.state, event)]

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._fd is None

    @property
    def lines(self) -> int:
        """How many lines the file holds (an estimate unless the state is ``EXACT``)."""
        return len(self._sizes)

    @property
    def unwritten(self) -> int:
        """How many appended lines are not in the file: the disk did not take them yet."""
        return len(self._pending)

    def line_sizes(self) -> Optional[List[int]]:
        """Each line's size in bytes, newline included, oldest first; ``None`` unless ``EXACT``."""
        return list(self._sizes) if self._exact() else None

    def line_end_times(self) -> Optional[List[int]]:
        """Each line's span end time, oldest first; ``None`` unless ``EXACT``."""
        return list(self._ends) if self._exact() else None

    def _exact(self) -> bool:
        """Whether the state is ``EXACT``, after checking that no other process appended."""
        if self.state is FileState.EXACT and self._fd is not None:
            try:
                if os.fstat(self._fd).st_size != self._size:
                    self._on(FileEvent.FOREIGN)
            except OSError:
                pass
        return self.state is FileState.EXACT

    # -- appending --------------------------------------------------------

    def append(self, line: FileLine, end_time: int) -> None:
        """Append one line (newline included) for a span that ended at ``end_time``.

        ``line`` is its text, or its UTF-8 in pieces (:mod:`.pieces`), written
        as one ``writev(2)``: one append either way.  A line the disk does not
        take waits, in order, for the next append or :meth:`flush`.
        Interrupted (``KeyboardInterrupt``), the line is in the file or
        waiting, never both, never neither.
        """
        data: Data
        if isinstance(line, str):
            try:
                data = line.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate in a str attribute becomes a \u escape.
                data = encode_line(line)
        else:
            data = line
        if self._fd is None:
            return
        if not self.owner:
            self._follow_parents_file()
        if self._pending and not self.flush():
            self._wait(data, end_time)
            return
        try:
            written = self._write(data, end_time)
        except BaseException:
            if not self._interrupted_write_landed:
                self._wait(data, end_time)
            raise
        if not written:
            self._wait(data, end_time)
        elif len(self._sizes) >= self._trim_at and self.owner:
            self.trim()

    def _wait(self, data: Data, end_time: int) -> None:
        pending = self._pending
        pending.append((data, end_time))
        # Past the cap, the oldest would be trimmed away once written anyway.
        while len(pending) > self.max_lines:
            pending.popleft()

    def flush(self) -> bool:
        """Write the lines waiting for the disk, oldest first; whether none is left."""
        pending = self._pending
        while pending and self._fd is not None:
            data, end_time = pending[0]
            try:
                written = self._write(data, end_time)
            except BaseException:
                if self._interrupted_write_landed:
                    pending.popleft()
                raise
            if not written:
                return False
            pending.popleft()
        return not pending

    def _write(self, data: Data, end_time: int) -> bool:
        """Write one line; whether it is in the file whole (else it must be written again).

        Interrupted, it sets ``_interrupted_write_landed`` before raising.
        """
        fd = self._fd
        assert fd is not None
        state = self.state
        if isinstance(data, bytes):
            if state is FileState.TORN:
                data = b"\n" + data
            length = len(data)
        else:
            if state is FileState.TORN:
                data = (b"\n",) + data
            length = _length(data)
        size, lines = self._size, len(self._sizes)
        try:
            written = os.write(fd, data) if isinstance(data, bytes) else _write_pieces(fd, data)
            if written < length:
                _write_rest(fd, data, written)
            # Noted inline, not through _on(): this runs once per span.
            self._size = size + length
            self._sizes.append(length)
            self._ends.append(end_time)
            if state is not FileState.EXACT:
                self._on(FileEvent.WROTE)
        except _Torn as torn:
            self._size += torn.written
            self._on(FileEvent.TORE)
            self._warn("write", _write_message(self.path, torn.cause))
            return False
        except OSError as exc:
            self._on(FileEvent.FAILED)
            self._warn("write", _write_message(self.path, exc))
            return False
        except BaseException:
            # KeyboardInterrupt and the like: the file's size tells whether
            # the line got in, and the bookkeeping follows it.
            self._interrupted_write_landed = self._reconcile((size, lines, state), length, end_time)
            raise
        if self.fsync:
            # Apart from the write: the line is in the file, and a failed sync
            # must not queue it to be written again.
            try:
                os.fsync(fd)
            except OSError as exc:
                self._warn("sync", f"pytest-tracestore: could not sync {self.path}: {exc}")
        return True

    def _wrote(self, size: int, end_time: int) -> None:
        self._size += size
        self._sizes.append(size)
        self._ends.append(end_time)
        self._on(FileEvent.WROTE)

    def _reconcile(self, before: Tuple[int, int, FileState], size: int, end_time: int) -> bool:
        """After an interrupted write: whether the line is in the file, the bookkeeping set to match."""
        known, lines, state = before
        self._size = known
        while len(self._sizes) > lines:
            self._sizes.pop()
        while len(self._ends) > lines:
            self._ends.pop()
        self.state = state
        assert self._fd is not None
        actual = os.fstat(self._fd).st_size
        if actual == known + size:
            self._wrote(size, end_time)
            return True
        if actual == known:
            return False
        if known < actual < known + size:
            self._size = actual
            self._on(FileEvent.TORE)
            return False
        self._size = actual
        self._on(FileEvent.FOREIGN)
        return actual >= known + size

    # -- trimming ---------------------------------------------------------

    def trim(self) -> bool:
        """Rewrite the file to its newest ``max_lines`` lines, atomically; whether it worked.

        A trim that fails is reported once and tried again only after the
        file has grown by twice as many lines as last time, so a read-only
        folder costs linear time, not a rewrite attempt per span.
        """
        if self._fd is None or not self.owner:
            return False
        try:
            self._trim()
        except OSError as exc:
            self._trim_at = len(self._sizes) + self._backoff
            self._backoff *= 2
            self._warn(
                "trim",
                f"pytest-tracestore: could not trim {self.path} to its newest "
                f"{self.max_lines} spans: {exc}; the file keeps every span until a "
                "trim succeeds",
            )
            return False
        self._trim_at = self.max_lines + self._slack
        self._backoff = self._slack
        return True

    def _trim(self) -> None:
        assert self._fd is not None
        if self.state is FileState.EXACT and os.fstat(self._fd).st_size != self._size:
            # Lines this object did not write (a forked child's): read them.
            self._on(FileEvent.FOREIGN)
        if self.state is FileState.EXACT:
            kept, sizes, ends = self._kept_by_size()
        else:
            kept, sizes, ends = self._kept_by_reading()
        self._replace(kept, sizes, ends)

    def _kept_by_size(self) -> Tuple[bytes, Deque[int], Deque[int]]:
        drop = max(len(self._sizes) - self.max_lines, 0)
        with open(self.target, "rb") as handle:
            handle.seek(sum(islice(self._sizes, drop)))
            kept = handle.read()
        return kept, deque(islice(self._sizes, drop, None)), deque(islice(self._ends, drop, None))

    def _kept_by_reading(self) -> Tuple[bytes, Deque[int], Deque[int]]:
        """The newest lines that decode, read from the file; torn lines are left out."""
        with open(self.target, "rb") as handle:
            data = handle.read()
        lines: List[bytes] = []
        ends: List[int] = []
        for line in reversed(data.split(b"\n")):
            if len(lines) == self.max_lines:
                break
            if not line.strip():
                continue
            try:
                ends.append(self.codec.end_time(line))
            except (ValueError, TypeError, RecursionError):
                continue  # a torn line: its span was written again whole
            lines.append(line + b"\n")
        lines.reverse()
        ends.reverse()
        return b"".join(lines), deque(map(len, lines)), deque(ends)

    def _replace(self, kept: bytes, sizes: Deque[int], ends: Deque[int]) -> None:
        """Make ``kept`` (lines of ``sizes`` and ``ends``) the target's whole content,
        atomically, and append to it from now on."""
        assert self._fd is not None
        mode = stat.S_IMODE(os.fstat(self._fd).st_mode) & ~stat.S_IWOTH
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", dir=self.target.parent)
        new_fd: Optional[int] = None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(kept)
                if hasattr(os, "fchmod"):
                    os.fchmod(out.fileno(), mode)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            # Opened before the rename, so that appending never lacks a descriptor.
            new_fd = _open(Path(tmp), truncate=False)
            if os.name == "nt":  # Windows cannot replace a file that is open
                os.close(self._fd)
                self._fd = None
            os.replace(tmp, self.target)
        except BaseException:
            # The rename happened or not: the new file's identity tells.
            if new_fd is not None and _same_file(new_fd, self.target):
                self._adopt(new_fd, len(kept), sizes, ends)
                raise
            if new_fd is not None:
                os.close(new_fd)
            if os.path.exists(tmp):
                os.unlink(tmp)
            if self._fd is None:
                self._fd = _open(self.target, truncate=False)
            raise
        self._adopt(new_fd, len(kept), sizes, ends)

    def _adopt(self, fd: int, size: int, sizes: Deque[int], ends: Deque[int]) -> None:
        """Take the trimmed file, replaced already, as the one to append to."""
        old, self._fd = self._fd, fd
        self._sizes, self._ends, self._size = sizes, ends, size
        self._on(FileEvent.TRIMMED)
        if old is not None:
            os.close(old)

    # -- the end ----------------------------------------------------------

    def close(self) -> None:
        """Write the waiting lines, trim to exactly ``max_lines`` and close.  Idempotent."""
        if self._fd is None:
            return
        try:
            self.flush()
            if self.owner and self._needs_final_trim():
                self.trim()
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)

    def _needs_final_trim(self) -> bool:
        if len(self._sizes) > self.max_lines or self.state is not FileState.EXACT:
            return True
        assert self._fd is not None
        try:
            return os.fstat(self._fd).st_size != self._size
        except OSError:
            return False

    def sync(self) -> None:
        """``fsync`` the file; ``OSError`` if it fails."""
        if self._fd is not None:
            os.fsync(self._fd)

    def after_fork_in_child(self) -> None:
        """In a forked child: append its own lines only, never trim, drop the parent's waiting lines."""
        self.owner = False
        self._pending.clear()

    def _follow_parents_file(self) -> None:
        """In a forked child: append to the file now at the path, which a parent's trim replaces.

        The child writes through the descriptor it inherited; once the parent
        has trimmed, that is a file no longer at the path, and lines written
        there would be lost.  The child never trims, so what it knows of
        line sizes is dropped rather than grown without bound.
        """
        assert self._fd is not None
        try:
            mine, current = os.fstat(self._fd), os.stat(self.path)
        except OSError:
            return
        if (mine.st_dev, mine.st_ino) != (current.st_dev, current.st_ino):
            os.close(self._fd)
            self._fd = None
            self._fd = _open(self.path, truncate=False)
        if len(self._sizes) > self.max_lines:
            self._sizes.clear()
            self._ends.clear()


def _open(path: Path, truncate: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    if truncate:
        flags |= os.O_TRUNC
    # A new file takes its mode from the umask, less write for others.
    fd = os.open(path, flags, 0o664)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"invalid path {str(path)!r}: not a regular file")
    return fd


def _check_regular(target: Path, path: Path) -> None:
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise ValueError(f"invalid path {str(path)!r}: it exists and is not a regular file")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _length(pieces: Tuple[bytes, ...]) -> int:
    return sum(map(len, pieces))


def _write_pieces(fd: int, pieces: Tuple[bytes, ...]) -> int:
    """Write a line's pieces with one system call, as one append; how many bytes it took."""
    if hasattr(os, "writev") and len(pieces) <= _IOV_MAX:
        return os.writev(fd, pieces)
    # No writev (Windows), or more pieces than one call takes: joined, it
    # is still one write.
    return os.write(fd, b"".join(pieces))


def _write_rest(fd: int, data: Data, written: int) -> None:
    """Finish writing what one write did not take whole (a signal, a nearly full disk)."""
    views = [memoryview(data)] if isinstance(data, bytes) else [memoryview(p) for p in data]
    total = sum(map(len, views))
    views = _after(views, written)
    while views:
        try:
            if len(views) == 1 or not hasattr(os, "writev"):
                took = os.write(fd, views[0])
            else:
                took = os.writev(fd, views[:_IOV_MAX])
        except OSError as exc:
            raise _Torn(total - sum(map(len, views)), exc) from exc
        views = _after(views, took)


def _after(views: List[memoryview], count: int) -> List[memoryview]:
    """What is left of ``views`` once their first ``count`` bytes are written."""
    while views and count >= len(views[0]):
        count -= len(views[0])
        views = views[1:]
    if views and count:
        views[0] = views[0][count:]
    return views


def _write_message(path: Path, exc: OSError) -> str:
    return (
        f"pytest-tracestore: could not write spans to {path}: {exc}; they stay "
        "queryable in memory and are written once the file takes them"
    )
