"""The plugin's entry point: its hook specifications, options, start-up and fixtures.

pytest imports this module (and what it imports) in every process at
start-up, so it stays small and imports little: ``registration`` holds the
options, ``startup`` builds the run's :class:`~pytest_tracestore.session.TraceStorePlugin`
(which holds every other hook), ``fixtures`` the fixtures.  The recording
code, the OpenTelemetry SDK and the API load only once something needs them.
"""

from __future__ import annotations

import pytest

from . import hooks
from .fixtures import (
    trace_store_fixture,
    trace_store_otlp_endpoint_fixture,
    trace_store_processor_fixture,
    trace_store_session_fixture,
)
from .registration import add_options
from .startup import configure

__all__ = [
    "trace_store_fixture",
    "trace_store_otlp_endpoint_fixture",
    "trace_store_processor_fixture",
    "trace_store_session_fixture",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # trylast: a plugin or conftest that sets its own TracerProvider in its
    # pytest_configure has done so by now, and we join it instead of racing.
    configure(config)
