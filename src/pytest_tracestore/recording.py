"""When the run's recording is set up: on first need, once, in whichever thread needs it.

A suite that never makes a span should not pay for the recording code, the
OpenTelemetry SDK or the API, all of which are large to import.  So the
plugin starts with nothing but its settings, and :class:`Recording` builds
the processor and joins the providers the first time something needs them:
OpenTelemetry's tracing API or SDK being imported (heard by
:class:`ImportWatch`), or a fixture asking for a store, the processor or
the OTLP receiver.  Every path goes through :meth:`Recording.start`, under
one lock: the set-up runs exactly once, and a thread that needs it while
another runs it waits for it to finish.

Nothing here imports OpenTelemetry or the recording code.
"""

from __future__ import annotations

import enum
import os
import stat
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Generic, Mapping, Optional, Sequence, TypeVar

__all__ = ["ImportWatch", "Recording", "Stage", "TRANSITIONS", "create_empty", "opentelemetry_loaded"]

T = TypeVar("T")

#: The modules whose import means spans may be made from now on.
WATCHED = ("opentelemetry.trace", "opentelemetry.sdk.trace")


class Stage(enum.Enum):
    """Where the run's recording is."""

    #: Nothing has needed it yet: no processor, no provider joined.
    WAITING = "waiting"
    #: Being set up, by the thread holding the lock.
    STARTING = "starting"
    #: Set up: spans are recorded.
    RECORDING = "recording"


#: The stages each stage may move to.  A set-up that fails goes back to
#: waiting, so the next need tries again (and reports again).
TRANSITIONS: Mapping[Stage, frozenset[Stage]] = {
    Stage.WAITING: frozenset({Stage.STARTING}),
    Stage.STARTING: frozenset({Stage.RECORDING, Stage.WAITING}),
    Stage.RECORDING: frozenset(),
}


def opentelemetry_loaded(modules: Optional[Mapping[str, ModuleType]] = None) -> bool:
    """Whether OpenTelemetry's tracing API or SDK has been imported in this process."""
    found = sys.modules if modules is None else modules
    return any(name in found for name in WATCHED)


class Recording(Generic[T]):
    """Runs ``setup`` once, on the first :meth:`start`, and keeps what it returned.

    ``setup`` receives a callback to call with its result as soon as it has
    one: from then on a :meth:`start` re-entered from within the set-up (a
    provider made while joining asks for the processor) gets that result
    instead of waiting for itself.
    """

    def __init__(self, setup: Callable[[Callable[[T], None]], None]) -> None:
        self._setup = setup
        self._lock = threading.RLock()
        self._stage = Stage.WAITING
        self._value: Optional[T] = None
        self._ready = False

    @property
    def stage(self) -> Stage:
        """Where the recording is now."""
        return self._stage

    @property
    def lock(self) -> threading.RLock:
        """The lock the set-up runs under; hold it to act on a stable stage."""
        return self._lock

    @property
    def value(self) -> Optional[T]:
        """What the set-up made, or ``None`` while nothing needed it."""
        return self._value if self._ready else None

    def start(self) -> T:
        """What the set-up made, running it first if nothing has yet."""
        if self._ready:
            return self._value  # type: ignore[return-value]
        with self._lock:
            if self._value is not None:  # ready, or re-entered from the set-up itself
                return self._value
            self._move(Stage.STARTING)
            try:
                self._setup(self._keep)
            except BaseException:
                self._value = None
                self._move(Stage.WAITING)
                raise
            if self._value is None:
                self._move(Stage.WAITING)
                raise RuntimeError("the recording set-up made nothing")
            self._move(Stage.RECORDING)
            self._ready = True
            return self._value

    def _keep(self, value: T) -> None:
        self._value = value

    def _move(self, stage: Stage) -> None:
        if stage not in TRANSITIONS[self._stage]:
            raise RuntimeError(f"recording cannot go from {self._stage.value} to {stage.value}")
        self._stage = stage


class ImportWatch:
    """A ``sys.meta_path`` finder that calls ``on_import`` once tracing can begin.

    That is once ``opentelemetry.trace`` has run, or, when the SDK's
    ``opentelemetry.sdk.trace`` is what imports it, once that has run: the
    set-up imports the SDK, which must not be half made then.  Either way
    it happens before the importing code's next line, so no provider can be
    made or set unseen.  Other imports pass straight through.
    """

    def __init__(self, on_import: Callable[[], object]) -> None:
        self._on_import = on_import

    def install(self) -> None:
        """Hear imports from now on (first in line: nothing finds the modules before us)."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        """Stop hearing imports."""
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[ModuleType] = None
    ) -> Any:
        """The spec another finder gives a watched module, with a loader that tells us when it has run."""
        if fullname not in WATCHED:
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and callable(getattr(loader, "exec_module", None)):
            spec.loader = _Telling(loader, fullname, self._ran)
        return spec

    def _ran(self, name: str) -> None:
        if name == WATCHED[0] and WATCHED[1] in sys.modules:
            return  # the SDK is importing the API: its own end is the moment
        self._on_import()


class _Telling:
    """A module loader that calls ``ran(name)`` once the module has run, and then steps aside."""

    def __init__(self, loader: Any, name: str, ran: Callable[[str], None]) -> None:
        self._loader = loader
        self._name = name
        self._ran = ran

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            # The module keeps its real loader: nothing after sees this one.
            module.__loader__ = self._loader
            spec = getattr(module, "__spec__", None)
            if spec is not None:
                spec.loader = self._loader
        self._ran(self._name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def create_empty(path: Path) -> None:
    """Create ``path`` as an empty regular file (truncating it), as the processor would.

    ``OSError`` if the folder or the file cannot be made; ``ValueError``
    if ``path`` is not a regular file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o664)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"invalid path {str(path)!r}: not a regular file")
    finally:
        os.close(fd)
