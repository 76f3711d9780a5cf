"""An exclusive lock on a file path, held by one process at a time.

A run holds one on its artifact for its whole life, so that two runs never
write the same file.  The lock is the operating system's (``flock`` on
POSIX, ``msvcrt.locking`` on Windows): a process that dies, even by SIGKILL,
releases it, so a lock that is free always means that no live run owns the
path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

__all__ = ["RunLock"]


class RunLock:
    """A non-blocking exclusive lock on the file at ``path``, created if need be.

    :meth:`acquire` returns whether this process now holds it;
    :meth:`release` gives it up and removes the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it; ``OSError`` if the file cannot be made."""
        if self._fd is not None:
            return True
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            if not _try_lock(fd):
                os.close(fd)
                return False
            # The holder removes the file as it releases the lock: a process
            # that opened it just before then holds a lock on a file nobody
            # else will open again, and must start over with the new one.
            if _same_file(fd, self.path):
                self._fd = fd
                return True
            os.close(fd)

    def release(self) -> None:
        """Give the lock up and remove its file.  Does nothing if not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform == "win32":
            # Windows removes no open file: unlock, close, then try.
            _unlock(fd)
            os.close(fd)
            _remove(self.path)
        else:
            # Removed while still locked, so no other process can lock this
            # file after us and believe it owns the path.
            _remove(self.path)
            os.close(fd)

    def __repr__(self) -> str:
        return f"<RunLock {str(self.path)!r} held={self.held}>"


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

    def _same_file(fd: int, path: Path) -> bool:
        # Windows removes no locked file, so the one opened is the one there.
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    def _same_file(fd: int, path: Path) -> bool:
        try:
            there = os.stat(path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
