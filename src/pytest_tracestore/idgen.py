"""Deterministic span and trace ids, for output that must not change between runs."""

from __future__ import annotations

import threading

from opentelemetry.sdk.trace.id_generator import IdGenerator

__all__ = ["IncrementalIdGenerator"]


class IncrementalIdGenerator(IdGenerator):
    """Trace ids and span ids counting up from 1, each on its own.

    Give it to the SDK's provider (``TracerProvider(id_generator=...)``) and
    call :meth:`reset` at the start of each test, so the same test gives the
    same ids whatever ran before it::

        IDS = IncrementalIdGenerator()
        trace.set_tracer_provider(TracerProvider(id_generator=IDS))

        @pytest.fixture(autouse=True)
        def _same_ids_per_test():
            IDS.reset()

    Ids then depend on the order spans start, so code that starts spans from
    several threads at once still gets ids in whatever order they came.
    :meth:`TraceStore.snapshot` needs none of this: it replaces ids itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0

    def reset(self) -> None:
        """Count from 1 again."""
        with self._lock:
            self._trace = 0
            self._span = 0

    def generate_trace_id(self) -> int:
        """The next trace id: 1, 2, 3, ..."""
        with self._lock:
            self._trace += 1
            return self._trace

    def generate_span_id(self) -> int:
        """The next span id: 1, 2, 3, ..."""
        with self._lock:
            self._span += 1
            return self._span
