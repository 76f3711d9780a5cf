"""SIGTERM during a run: the run ends as on Ctrl-C, so its artifact is trimmed and merged."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Callable, Optional, Union

import pytest

__all__ = ["TermSignal"]


class TermSignal:
    """SIGTERM ends the run as Ctrl-C does, so the artifact is trimmed and merged.

    Installed for the run's life, in the main thread only (where Python runs
    signal handlers); a handler installed before is called instead, and put
    back at the end.  A second SIGTERM acts as it would have without us.
    """

    def __init__(self) -> None:
        self._previous: Union[Callable[[int, Optional[FrameType]], Any], int, None] = None
        self._installed = False

    def install(self) -> None:
        term = getattr(signal, "SIGTERM", None)
        if term is None or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(term)
        # Ignored, or set outside Python: whoever did so meant it.
        if previous is None or previous == signal.SIG_IGN:
            return
        self._previous = previous
        signal.signal(term, self._handle)
        self._installed = True

    def restore(self) -> None:
        if not self._installed:
            return
        self._installed = False
        if signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        previous = self._previous
        self.restore()
        if callable(previous):
            previous(signum, frame)
            return
        pytest.exit("pytest-tracestore: received SIGTERM", returncode=pytest.ExitCode.INTERRUPTED)
