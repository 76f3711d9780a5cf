"""pytest-tracestore: assert on OpenTelemetry traces in pytest.

The storage and query core (``base``, ``record``, ``query``, ``store``,
``serialize``, ``parse``, ``codecs``, ``artifact``, ``processor``, ``merge``,
``otlp``, ``receiver``, ``render``, ``redact``, ``trace``, ``tree``,
``matchers``, ``snapshot``) imports no pytest.  ``plugin`` is pytest's
entry point, ``session`` the plugin object holding the pytest hooks,
``recording`` when recording starts (on first need), ``controller`` and
``worker`` the two sides of pytest-xdist, and ``hooks`` the hook
specifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import DEFAULT_MAX_BYTES, DEFAULT_MAX_LINE_BYTES, TraceStoreWarning

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .codecs import LineCodec, codec_for
    from .idgen import IncrementalIdGenerator
    from .matchers import (
        Matcher,
        all_of,
        any_of,
        contains,
        gt,
        gte,
        lt,
        lte,
        not_,
        one_of,
        prefix,
        regex,
        suffix,
    )
    from .processor import FileBasedSpanProcessor
    from .query import Query
    from .receiver import OTLPReceiver
    from .record import FrozenAttributes, Scope, SpanEvent, SpanLink, SpanRecord
    from .redact import (
        DEFAULT_REDACT_PATTERNS,
        SENSITIVE_PARAMETERS,
        VALUE_PATTERNS,
        RedactionPlan,
        RedactionPolicy,
    )
    from .snapshot import DEFAULT_VOLATILE_ATTRIBUTES
    from .store import ScopedTraceStore, TraceStore
    from .trace import Trace
    from .traceql import TraceQL, TraceQLError, TraceQLUnsupported, compile_traceql

# Where each public name lives.  They load when first asked for, not when the
# plugin loads: a pytest-xdist controller records nothing and never needs the
# store or the processor, and pytest reads a plugin's modules at start-up in
# every process, at a cost that grows with their size.
_LAZY = {
    "DEFAULT_VOLATILE_ATTRIBUTES": "snapshot",
    "Matcher": "matchers",
    "Trace": "trace",
    "all_of": "matchers",
    "any_of": "matchers",
    "contains": "matchers",
    "gt": "matchers",
    "gte": "matchers",
    "lt": "matchers",
    "lte": "matchers",
    "not_": "matchers",
    "one_of": "matchers",
    "prefix": "matchers",
    "regex": "matchers",
    "suffix": "matchers",
    "FileBasedSpanProcessor": "processor",
    "FrozenAttributes": "record",
    "LineCodec": "codecs",
    "codec_for": "codecs",
    "IncrementalIdGenerator": "idgen",
    "OTLPReceiver": "receiver",
    "Query": "query",
    "RedactionPolicy": "redact",
    "DEFAULT_REDACT_PATTERNS": "redact",
    "RedactionPlan": "redact",
    "SENSITIVE_PARAMETERS": "redact",
    "VALUE_PATTERNS": "redact",
    "Scope": "record",
    "ScopedTraceStore": "store",
    "SpanEvent": "record",
    "SpanLink": "record",
    "SpanRecord": "record",
    "TraceStore": "store",
    "TraceQL": "traceql",
    "TraceQLError": "traceql",
    "TraceQLUnsupported": "traceql",
    "compile_traceql": "traceql",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups find it without this call
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_REDACT_PATTERNS",
    "DEFAULT_VOLATILE_ATTRIBUTES",
    "FileBasedSpanProcessor",
    "FrozenAttributes",
    "LineCodec",
    "IncrementalIdGenerator",
    "Matcher",
    "OTLPReceiver",
    "Query",
    "RedactionPlan",
    "RedactionPolicy",
    "SENSITIVE_PARAMETERS",
    "Scope",
    "ScopedTraceStore",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "Trace",
    "TraceQL",
    "TraceQLError",
    "TraceQLUnsupported",
    "TraceStore",
    "TraceStoreWarning",
    "VALUE_PATTERNS",
    "__version__",
    "codec_for",
    "all_of",
    "any_of",
    "contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "not_",
    "one_of",
    "prefix",
    "regex",
    "suffix",
    "compile_traceql",
]
