"""pytest-tracestore: assert on OpenTelemetry traces in pytest.

The storage and query core (``record``, ``query``, ``store``, ``serialize``,
``processor``, ``merge``, ``otlp``, ``receiver``, ``render``, ``redact``)
imports no pytest; ``plugin`` holds every pytest hook and ``hooks`` the hook
specifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .processor import FileBasedSpanProcessor
from .record import FrozenAttributes, Scope, SpanEvent, SpanLink, SpanRecord
from .redact import DEFAULT_REDACT_PATTERNS, RedactionPolicy
from .store import DEFAULT_MAX_BYTES, ScopedTraceStore, TraceStore, TraceStoreWarning

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .query import Query
    from .receiver import OTLPReceiver


def __getattr__(name: str) -> Any:
    # Loaded when someone asks, not in every test process at start-up:
    # OTLPReceiver pulls in http.server, and Query is a dataclass, whose
    # creation costs more than the rest of the store.
    value: Any
    if name == "Query":
        from .query import Query as value
    elif name == "OTLPReceiver":
        from .receiver import OTLPReceiver as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups find it without this call
    return value


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
