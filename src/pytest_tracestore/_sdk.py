"""The one place that reads the OpenTelemetry SDK's private span fields.

The SDK hands every processor a plain ``ReadableSpan`` whose public
properties are Python calls that copy (a proxy, a tuple) on each access,
once per span on the recording path; the fields behind them hold the same
values without the copies.  Those fields are no API: :class:`FieldReader` uses them only after a
start-up check that they give the same record as the public properties on a
span using every field, and falls back to the public properties for good
when the check fails or a read raises.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["Fields", "FieldReader", "attribute_dict", "public_fields", "private_fields", "sample_span"]

#: What the converter reads of a span, in this order: the span context (read
#: by position: trace id 0, span id 1, trace state 4), the parent's span id
#: or None, status code, status description, name, kind, start and end time,
#: attributes, events as ``(name, timestamp, attributes)``, links, resource,
#: instrumentation scope.
Fields = Tuple[Any, ...]


def attribute_dict(raw: Any) -> dict[str, Any]:
    """Attributes (a span's, an event's, a link's) as a plain dict, read in place when possible.

    An ended span's ``BoundedAttributes`` is immutable, so its private dict can
    be read as it is rather than paying a Python-level copy, or even ``len()``,
    per span; any other mapping is copied.
    """
    attrs = getattr(raw, "_dict", None)
    if type(attrs) is not dict:
        attrs = dict(raw) if raw else {}
    return attrs


def public_fields(span: Any) -> Fields:
    """The converter's fields, from the span's public properties (any span type)."""
    parent = span.parent
    status = span.status
    context = span.context
    return (
        (context.trace_id, context.span_id, None, None, context.trace_state),
        None if parent is None else parent.span_id,
        status.status_code,
        status.description,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        span.attributes,
        [(e.name, e.timestamp, e.attributes) for e in span.events],
        tuple(span.links or ()),
        span.resource,
        span.instrumentation_scope,
    )


def private_fields(span: Any) -> Fields:
    """The converter's fields, from a plain ``ReadableSpan``'s private fields."""
    reader = FieldReader()
    reader.fast = True
    return reader.read(span)


class FieldReader:
    """Reads a span's fields: the private ones once checked, else the public ones."""

    def __init__(self) -> None:
        #: Whether plain ``ReadableSpan`` objects are read through their private fields.
        self.fast = False

    def check(self, agree: Callable[[bool], bool]) -> bool:
        """Turn the fast path on if ``agree(fast)`` says both paths give one record.

        ``agree`` converts :func:`sample_span` (a span using every field)
        with the fast path on and off, and compares.
        """
        try:
            self.fast = bool(agree(True))
        except Exception:  # an SDK whose fields moved: the public path it is
            self.fast = False
        return self.fast

    def read(self, span: Any) -> Fields:
        """The converter's fields of ``span``."""
        if self.fast and type(span) is ReadableSpan:
            sdk: Any = span  # its private fields, which type checkers do not know
            try:
                status = sdk._status
                parent = sdk._parent
                # Events and links sit in BoundedLists, whose len() and
                # iteration are Python calls (iteration copies under a lock);
                # their deques are final once the span has ended.
                events = sdk._events._dq
                return (
                    sdk._context,
                    None if parent is None else parent[1],
                    status._status_code,
                    status._description,
                    sdk._name,
                    sdk._kind,
                    sdk._start_time,
                    sdk._end_time,
                    sdk._attributes,
                    [(e._name, e._timestamp, e._attributes) for e in events] if events else (),
                    sdk._links._dq,
                    sdk._resource,
                    sdk._instrumentation_scope,
                )
            except Exception:
                # Fields that moved under a span the check did not see: the
                # public properties still work, so use them from now on.
                self.fast = False
        return public_fields(span)


def sample_span() -> ReadableSpan:
    """An ended SDK span using every field the converter reads, as processors receive it."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
    from opentelemetry.trace.span import TraceState

    class Catch(SpanProcessor):
        span: Any = None

        def on_end(self, span: ReadableSpan) -> None:
            self.span = span

    catch = Catch()
    provider = TracerProvider(resource=Resource({"service.name": "check"}), shutdown_on_exit=False)
    provider.add_span_processor(catch)
    tracer = _tracer(provider)
    state = TraceState([("vendor", "value")])
    parent = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    other = SpanContext(0xEF, 0x12, is_remote=True)
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    span = tracer.start_span(
        "sample",
        context=context,
        kind=SpanKind.CLIENT,
        attributes={"s": "x", "i": 1, "f": 0.5, "b": True, "t": ("a", "b")},
        links=[Link(other, {"why": "retry"})],
        start_time=10,
    )
    span.add_event("event", {"k": "v"}, timestamp=11)
    span.set_status(Status(StatusCode.ERROR, "description"))
    span.end(end_time=12)
    return catch.span  # type: ignore[no-any-return]


def _tracer(provider: Any) -> Any:
    schema = "https://opentelemetry.io/schemas/1.21.0"
    try:
        return provider.get_tracer("check", "1.0", schema, attributes={"scope.k": "v"})
    except TypeError:  # SDK before 1.23: scopes have no attributes
        return provider.get_tracer("check", "1.0", schema)
