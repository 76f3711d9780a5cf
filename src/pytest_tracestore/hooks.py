"""Hook specifications of pytest-tracestore, added through ``pytest_addhooks``.

Implement them in a ``conftest.py`` or a plugin, like any pytest hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import pluggy

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from .processor import FileBasedSpanProcessor
    from .record import SpanRecord

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_tracestore_record(record: SpanRecord) -> Optional[SpanRecord]:
    """Transform or drop each finished span before it is stored and written.

    Return ``record`` unchanged, a changed copy (build one with
    ``SpanRecord(...)``; the trace file's line is then written from the copy)
    or ``None`` to drop the span from the stores and the file.  With several
    implementations, each receives what the previous one returned, in
    pluggy's call order; the first ``None`` drops the span.

    It runs when the processor writes its queue of ended spans: in the thread
    whose span filled the batch, or in whichever reads a store, often
    pytest's own at the end of a test phase.  It runs under the processor's
    lock, so keep it quick; it may read a store (which then holds the spans
    of earlier batches) or end spans of its own (they join the same drain).
    When no plugin implements it, it costs nothing.  An implementation that
    raises keeps the span as it was and is reported once as a
    ``TraceStoreWarning``.
    """


@hookspec(historic=True)
def pytest_tracestore_configure(
    provider: Optional[TracerProvider], processor: FileBasedSpanProcessor
) -> None:
    """Called once the run's span processor is attached to a provider.

    ``provider`` is the provider the plugin joined or installed (with
    ``trace_store_provider = auto`` and no global provider set, the session
    provider that serves the global tracer API until the app sets its own),
    or ``None`` when there is none.  Add your own
    span processors or exporters to it here.  The hook is historic: a
    ``conftest.py`` loaded later, during collection, is called too.

    The run's recording starts for it: an implementation in a plugin or
    conftest known at ``pytest_configure`` is called then, one in a conftest
    found later when that conftest registers.  In a pytest-xdist controller,
    which runs no tests, the processor is made only once some plugin
    implements this hook (the provider holds a stand-in that makes it when a
    span first ends there).
    """
