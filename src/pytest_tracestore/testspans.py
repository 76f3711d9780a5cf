"""A span for the session and one per test, when asked: the run's own place in its traces.

Off by default, since it changes the shape of the users' traces.  When on,
the session span starts at session start (its parent is an incoming
``TRACEPARENT``) and each test's span covers its setup, call and teardown:
the current context carries it, so the app's spans nest under it, and
``TRACEPARENT`` / ``TRACESTATE`` in ``os.environ`` name it, so a process
started by the test joins its trace.  The attributes follow OpenTelemetry's
``test.*`` and ``code.*`` semantic conventions.

Each test's span begins a trace of its own, with a link to the session
span, rather than being the session span's child: a test is then one trace
(what its report section, the trace page and ``show`` open, and the trace
that decides which test owns a span), and a long run is not one trace of
every span it made.

A pytest-xdist controller makes a session span too and leaves it in its
environment for the session, so each worker, which it starts with that
environment, makes its own session span under it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Optional

import pytest

from .base import OPEN_SPANS_KEY, TraceStoreWarning
from .options import test_spans_wanted

# OpenTelemetry is imported where it is used: a run without test spans reads
# the option here and nothing more.
if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

__all__ = ["SESSION_SPAN_NAME", "TestSpans", "read_test_spans"]

SESSION_SPAN_NAME = "pytest session"
_TRACER = "pytest_tracestore"
_ENV = ("TRACEPARENT", "TRACESTATE")
# A failing phase's message, cut to this length in the span's status.
_DESCRIPTION_MAX = 200


def read_test_spans(config: pytest.Config, *, controller: bool) -> Optional[TestSpans]:
    """The run's :class:`TestSpans` when the flag or ini key asks for them, else ``None``.

    A bad ini value is a usage error naming it.
    """
    if not test_spans_wanted(config):
        return None
    parent, problem = _incoming_context()
    if problem is not None:
        # Shown in the warnings summary, as a configuration warning.
        config.issue_config_time_warning(TraceStoreWarning(problem), stacklevel=2)
    return TestSpans(controller=controller, parent=parent)


def _carrier(ctx: Context) -> dict[str, str]:
    """The W3C trace-context headers of ``ctx``'s span, as environment variables."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    headers: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(headers, context=ctx)
    return {name: headers[name.lower()] for name in _ENV if headers.get(name.lower())}


def _incoming_context() -> tuple[Optional[Context], Optional[str]]:
    """The context an incoming ``TRACEPARENT`` names (``None`` without one), and what is wrong."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = os.environ.get("TRACEPARENT")
    if not parent:
        return None, None
    headers = {"traceparent": parent, "tracestate": os.environ.get("TRACESTATE", "")}
    ctx = TraceContextTextMapPropagator().extract(headers)
    incoming = trace.get_current_span(ctx).get_span_context()
    if not incoming.is_valid:
        return None, (
            f"pytest-tracestore: TRACEPARENT={parent!r} is not a W3C traceparent; "
            "the session span starts a trace of its own"
        )
    # Taken as sampled: the SDK's default sampler follows the parent, and an
    # unsampled one would leave the whole run unrecorded.
    sampled = trace.SpanContext(
        incoming.trace_id,
        incoming.span_id,
        is_remote=True,
        trace_flags=trace.TraceFlags(incoming.trace_flags | trace.TraceFlags.SAMPLED),
        trace_state=incoming.trace_state,
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(sampled)), None


class _Environment:
    """``TRACEPARENT`` and ``TRACESTATE`` set to a span's, and put back as they were."""

    __slots__ = ("_saved",)

    def __init__(self, ctx: Context) -> None:
        self._saved = {name: os.environ.get(name) for name in _ENV}
        values = _carrier(ctx)
        for name in _ENV:
            # A TRACESTATE left from the parent's trace would not be this span's.
            if name in values:
                os.environ[name] = values[name]
            else:
                os.environ.pop(name, None)

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ids(span: Span) -> tuple[str, str]:
    span_context = span.get_span_context()
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def _item_attributes(item: pytest.Item) -> dict[str, Any]:
    nodeid = item.nodeid
    path, lineno, _ = item.location
    attributes: dict[str, Any] = {
        "test.case.name": nodeid,
        "test.suite.name": nodeid.rsplit("::", 1)[0] if "::" in nodeid else path,
        "code.filepath": str(item.path),
        "code.function": getattr(item, "originalname", None) or item.name,
    }
    if lineno is not None:
        attributes["code.lineno"] = lineno + 1  # pytest counts lines from 0
    return attributes


def _outcome(report: pytest.TestReport) -> str:
    """pytest's word for one phase's report: passed, failed, error, skipped, xfailed, xpassed."""
    xfail = hasattr(report, "wasxfail")
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "xpassed" if xfail else "passed"


class _TestSpan:
    """One test's span and what its phases reported."""

    __slots__ = ("item", "span", "outcome", "failure")

    def __init__(self, item: pytest.Item, span: Span) -> None:
        self.item = item
        self.span = span
        self.outcome = "passed"
        #: The first failing phase's message, for the span's status.
        self.failure: Optional[str] = None

    def report(self, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
        if self.failure is not None:  # the first failure is the test's outcome
            return
        outcome = _outcome(report)
        if not report.failed:
            # A passing teardown does not undo a skip or an xpass.
            if outcome != "passed":
                self.outcome = outcome
            return
        self.outcome = outcome
        excinfo = call.excinfo
        if excinfo is not None:
            self.span.record_exception(excinfo.value, escaped=True)
            text = f"{excinfo.typename}: {excinfo.value}"
        else:  # a strict xfail that passed: no exception, only pytest's words
            text = str(report.longrepr)
        self.failure = f"{report.when}: {text}"[:_DESCRIPTION_MAX]

    def end(self) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self.span
        failed = self.failure is not None
        span.set_attribute("test.case.result.status", "fail" if failed else "pass")
        span.set_attribute("pytest.outcome", self.outcome)
        if failed:
            span.set_status(Status(StatusCode.ERROR, self.failure))
        span.end()


class TestSpans:
    """The session's span and the running test's, with the context and environment they set.

    One per run, made by the plugin when asked for; its methods are called
    from the plugin's hooks.
    """

    # Not a test class, whatever pytest's collection of this package's own tests thinks.
    __test__ = False

    def __init__(self, *, controller: bool = False, parent: Optional[Context] = None) -> None:
        #: Whether this is a pytest-xdist controller, which hands its span to the workers.
        self.controller = controller
        #: The incoming trace the session span joins, if any.
        self.parent = parent
        self._tracer: Any = None
        self._session: Optional[Span] = None
        self._session_context: Optional[Context] = None
        self._session_env: Optional[_Environment] = None
        self._running: Optional[_TestSpan] = None

    def start_session(self, session: pytest.Session) -> None:
        """Start the session span, under an incoming ``TRACEPARENT`` if there is one."""
        if self._session is not None:
            return
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        from . import __version__

        # The global provider: the one the plugin joined or installed.
        self._tracer = trace.get_tracer(_TRACER, __version__)
        config = session.config
        attributes: dict[str, Any] = {"test.suite.name": config.rootpath.name}
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            attributes["pytest.xdist.worker"] = str(workerinput.get("workerid", ""))
        span = self._tracer.start_span(
            SESSION_SPAN_NAME, context=self.parent, attributes=attributes
        )
        self._session = span
        self._session_context = otel_context.set_value(
            OPEN_SPANS_KEY, frozenset([_ids(span)]), trace.set_span_in_context(span)
        )
        if self.controller:
            self._session_env = _Environment(self._session_context)

    def header(self) -> str:
        """The report header's line: what the run's traces look like."""
        where = "under the incoming TRACEPARENT" if self.parent is not None else "as a new trace"
        return (
            f"tracestore: test spans on: a {SESSION_SPAN_NAME!r} span {where}, a span per "
            "test, TRACEPARENT set while each test runs"
        )

    def end_session(self, exitstatus: int) -> None:
        """End the session span with the run's exit status; the environment is put back."""
        from opentelemetry.trace import Status, StatusCode

        span, self._session = self._session, None
        if span is None:
            return
        if self._session_env is not None:
            self._session_env.restore()
            self._session_env = None
        failed = exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        span.set_attribute("test.suite.run.status", "failure" if failed else "success")
        span.set_attribute("pytest.exitstatus", int(exitstatus))
        if failed:
            span.set_status(Status(StatusCode.ERROR, f"pytest exit status {exitstatus}"))
        span.end()

    @contextmanager
    def around(self, item: pytest.Item) -> Iterator[None]:
        """The test's span over setup, call and teardown: current, and in ``TRACEPARENT``."""
        if self._session_context is None or self._tracer is None:
            yield
            return
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        session = trace.get_current_span(self._session_context).get_span_context()
        span = self._tracer.start_span(
            item.nodeid,
            context=otel_context.Context(),  # a root: the test's own trace
            links=[trace.Link(session)],
            attributes=_item_attributes(item),
        )
        running = _TestSpan(item, span)
        outer, self._running = self._running, running
        ctx = otel_context.set_value(
            OPEN_SPANS_KEY, frozenset({_ids(span)}), trace.set_span_in_context(span)
        )
        token = otel_context.attach(ctx)
        environment = _Environment(ctx)
        try:
            yield
        finally:
            environment.restore()
            otel_context.detach(token)
            self._running = outer
            running.end()

    def own_span_id(self, item: pytest.Item) -> Optional[str]:
        """The span id of ``item``'s own span while it runs: open until its teardown is over."""
        running = self._running
        if running is None or running.item is not item:
            return None
        return _ids(running.span)[1]

    def report(self, item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
        """Note one phase's report on the running test's span."""
        running = self._running
        if running is not None and running.item is item:
            running.report(report, call)
