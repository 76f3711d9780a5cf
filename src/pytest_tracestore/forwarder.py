"""The span processor the plugin adds to each provider it joins: a forwarder to the run's processor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

if TYPE_CHECKING:
    from .processor import FileBasedSpanProcessor

__all__ = ["Forwarder"]


class Forwarder(SpanProcessor):
    """What the plugin adds to a provider: hands each span to the run's processor.

    A provider shut down mid-run (a FastAPI lifespan, a fixture's teardown)
    shuts its processors down; this one tells the plugin and goes on
    forwarding, since an SDK provider still ends spans after its shutdown,
    and the run's processor closes when the run ends.
    """

    def __init__(self, target: FileBasedSpanProcessor, on_shutdown: Callable[[], None]) -> None:
        # The target's own method, as an attribute: the provider calls it
        # directly, at no cost per span.
        self.on_end = target.on_end  # type: ignore[method-assign]
        self.on_start = target.on_start  # type: ignore[method-assign]
        self._target = target
        self._on_shutdown = on_shutdown

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:  # replaced in __init__
        self._target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:  # replaced in __init__
        self._target.on_end(span)

    def shutdown(self) -> None:
        self._on_shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._target.force_flush(timeout_millis)
