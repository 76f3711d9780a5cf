"""pytest-tracestore: assert on OpenTelemetry traces in pytest.

The storage and query core (``record``, ``query``, ``store``, ``serialize``,
``processor``, ``merge``, ``otlp``, ``receiver``, ``render``, ``redact``)
imports no pytest; ``plugin`` holds every pytest hook and ``hooks`` the hook
specifications.
"""

from __future__ import annotations

from typing import Any

from .processor import FileBasedSpanProcessor
from .query import Query
from .record import FrozenAttributes, Scope, SpanEvent, SpanLink, SpanRecord
from .redact import DEFAULT_REDACT_PATTERNS, RedactionPolicy
from .store import DEFAULT_MAX_BYTES, ScopedTraceStore, TraceStore, TraceStoreWarning

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # OTLPReceiver pulls in http.server: load it only when someone asks.
    if name == "OTLPReceiver":
        from .receiver import OTLPReceiver

        return OTLPReceiver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_REDACT_PATTERNS",
    "FileBasedSpanProcessor",
    "FrozenAttributes",
    "OTLPReceiver",
    "Query",
    "RedactionPolicy",
    "Scope",
    "ScopedTraceStore",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "TraceStore",
    "TraceStoreWarning",
    "__version__",
]
