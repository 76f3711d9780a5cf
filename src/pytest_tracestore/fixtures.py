"""The plugin's fixtures: the test's store, the run's store and processor, the OTLP endpoint.

Each one starts the run's recording if nothing has before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .session import TraceStorePlugin, plugin_key

if TYPE_CHECKING:
    from .processor import FileBasedSpanProcessor
    from .store import ScopedTraceStore, TraceStore

__all__ = [
    "trace_store_fixture",
    "trace_store_otlp_endpoint_fixture",
    "trace_store_processor_fixture",
    "trace_store_session_fixture",
]


def _plugin(config: pytest.Config) -> TraceStorePlugin:
    try:
        return config.stash[plugin_key]
    except KeyError:
        raise pytest.UsageError("pytest-tracestore is not configured in this run") from None


@pytest.fixture(name="trace_store")
def trace_store_fixture(request: pytest.FixtureRequest) -> ScopedTraceStore:
    """The spans this test owns, as they end during it (setup through teardown, any thread).

    A span belongs to the test in which its trace began (see the README's
    "Which test owns a span").  Query it with ``get_trace``, ``recent_failures``, ``filter_by_error_type``,
    ``filter_by_attribute`` and ``query_spans``.  ``trace_store.session`` is
    the whole run's store.
    """
    plugin = _plugin(request.config)
    processor = plugin.processor  # recording starts here if nothing needed it before
    run = plugin._running
    if run is not None and run.item is request.node and run.view is not None:
        return run.view
    # A test run without the plugin's protocol hook (another plugin's runner):
    # a view of its own, from now to the end of the test.
    from .store import ScopedTraceStore

    view = ScopedTraceStore(processor.store)
    processor.subscribe(view)
    request.addfinalizer(lambda: processor.unsubscribe(view))
    return view


@pytest.fixture(name="trace_store_session", scope="session")
def trace_store_session_fixture(request: pytest.FixtureRequest) -> TraceStore:
    """The whole run's span store, FIFO-capped like the run's artifact file."""
    return _plugin(request.config).processor.store


@pytest.fixture(name="trace_store_processor", scope="session")
def trace_store_processor_fixture(request: pytest.FixtureRequest) -> FileBasedSpanProcessor:
    """The run's span processor, for apps that build their own TracerProvider.

    ``provider.add_span_processor(trace_store_processor)`` sends that
    provider's spans to the run's artifact and the ``trace_store`` fixture.
    """
    return _plugin(request.config).processor


@pytest.fixture(name="trace_store_otlp_endpoint", scope="session")
def trace_store_otlp_endpoint_fixture(request: pytest.FixtureRequest) -> str:
    """Base URL of an OTLP/HTTP receiver whose spans join this run's store.

    For example ``http://127.0.0.1:PORT``: give it to a service under test as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``<url>/v1/traces`` as
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``).  Its spans reach ``trace_store``,
    ``trace_store_session`` and the artifact like in-process ones; wait for
    them with ``trace_store.wait_for(name=...)``.  Started on first use, on
    loopback only, and stopped at the end of the session.
    """
    return _plugin(request.config).otlp_receiver().url
