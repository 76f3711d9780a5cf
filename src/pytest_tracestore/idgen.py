"""Deterministic span and trace ids, for output that must not change between runs."""

from __future__ import annotations

import hashlib
import threading

from opentelemetry.sdk.trace.id_generator import IdGenerator

__all__ = ["IncrementalIdGenerator"]


class IncrementalIdGenerator(IdGenerator):
    """Trace ids and span ids counting up from 1, each on its own.

    Give it to the SDK's provider (``TracerProvider(id_generator=...)``) and
    call :meth:`reset` with the test's node id at the start of each test, so
    the same test gives the same ids whatever ran before it::

        IDS = IncrementalIdGenerator()
        trace.set_tracer_provider(TracerProvider(id_generator=IDS))

        @pytest.fixture(autouse=True)
        def _same_ids_per_test(request):
            IDS.reset(request.node.nodeid)

    With a ``scope``, ids carry a number derived from it in their high bits:
    two tests never share an id, so their spans stay apart in the run's
    store, the artifact and a ``merge`` of artifacts.

    Ids then depend on the order spans start, so code that starts spans from
    several threads at once still gets ids in whatever order they came.
    :meth:`TraceStore.snapshot` needs none of this: it replaces ids itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0
        self._trace_base = 0
        self._span_base = 0

    def reset(self, scope: str | None = None) -> None:
        """Count from 1 again; with ``scope`` (a test's node id), in ids of that scope's own."""
        if scope is not None and not isinstance(scope, str):
            raise ValueError(f"invalid scope {scope!r}: expected a string such as a node id")
        salt = 0 if scope is None else int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big")
        with self._lock:
            self._trace = 0
            self._span = 0
            # Trace ids have 128 bits and span ids 64: the scope takes the high half.
            self._trace_base = salt << 64
            self._span_base = (salt >> 32) << 32

    def generate_trace_id(self) -> int:
        """The next trace id: 1, 2, 3, ... (above the scope's base)."""
        with self._lock:
            self._trace += 1
            return self._trace_base | self._trace

    def generate_span_id(self) -> int:
        """The next span id: 1, 2, 3, ... (above the scope's base)."""
        with self._lock:
            self._span += 1
            return self._span_base | self._span
