"""The one place that uses OpenTelemetry's private parts: span fields, provider set-up.

The SDK hands every processor a plain ``ReadableSpan`` whose public
properties are Python calls that copy (a proxy, a tuple) on each access,
once per span on the recording path; the fields behind them hold the same
values without the copies.  Those fields are no API: :class:`FieldReader` uses them only after a
start-up check that they give the same record as the public properties on a
span using every field, and falls back to the public properties for good
when the check fails or a read raises.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

__all__ = [
    "Fields",
    "FieldReader",
    "ProviderWatch",
    "attribute_dict",
    "global_provider",
    "public_fields",
    "private_fields",
    "sample_span",
    "tracer_of",
]

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


class _CheckProvider(TracerProvider):
    """The provider of :func:`sample_span`, which :class:`ProviderWatch` never joins."""


def sample_span() -> ReadableSpan:
    """An ended SDK span using every field the converter reads, as processors receive it."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
    from opentelemetry.trace.span import TraceState

    class Catch(SpanProcessor):
        span: Any = None

        def on_end(self, span: ReadableSpan) -> None:
            self.span = span

    catch = Catch()
    provider = _CheckProvider(resource=Resource({"service.name": "check"}), shutdown_on_exit=False)
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


class ProviderWatch:
    """Hears of every SDK ``TracerProvider`` made and every global provider set.

    Three places of OpenTelemetry are wrapped while installed, and put back by
    :meth:`uninstall`: ``TracerProvider.__init__`` (``on_new`` gets each
    provider once it is built, subclasses' too), ``TracerProvider.add_span_processor``
    (``skip(provider, processor)`` may refuse a processor the provider already
    forwards to), and the API's ``_set_tracer_provider``, which the public
    ``set_tracer_provider`` looks up at each call (``on_set`` gets the provider
    once it is global).  With ``fallback``, the API's proxy tracers use
    ``fallback()``'s tracers while no global provider is set, and follow the
    global one as soon as it is: the global slot stays free for the app.

    A wrapper installed over ours by someone else stays in place; ours then
    passes calls straight through.
    """

    def __init__(
        self,
        on_new: Callable[[Any], object],
        on_set: Callable[[Any], object],
        skip: Callable[[Any, Any], bool],
        fallback: Optional[Callable[[], Any]] = None,
    ) -> None:
        self._on_new = on_new
        self._on_set = on_set
        self._skip = skip
        self._fallback = fallback
        self._active = False
        self._undo: list[Callable[[], None]] = []
        self._tracers: Any = None
        #: Whether the proxy tracers use the fallback while no global provider is set.
        self.falls_back = fallback is not None and self.fallback_possible()

    @staticmethod
    def fallback_possible() -> bool:
        """Whether this API's proxy tracers can be pointed at a fallback provider."""
        from opentelemetry import trace

        prop = trace.ProxyTracer.__dict__.get("_tracer")
        return isinstance(prop, property) and hasattr(trace, "_TRACER_PROVIDER")

    def install(self) -> None:
        """Wrap the SDK's and the API's entry points; calls ``on_*`` from now on."""
        from opentelemetry import trace

        self._active = True
        self._wrap(TracerProvider, "__init__", self._init_wrapper)
        self._wrap(TracerProvider, "add_span_processor", self._add_wrapper)
        if hasattr(trace, "_set_tracer_provider"):
            self._wrap(trace, "_set_tracer_provider", self._set_wrapper)
        if self.falls_back:
            import weakref

            self._tracers = weakref.WeakKeyDictionary()
            self._wrap(trace.ProxyTracer, "_tracer", self._tracer_property)

    def uninstall(self) -> None:
        """Put back what :meth:`install` wrapped."""
        self._active = False
        while self._undo:
            self._undo.pop()()

    def _wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        wrapper = make(original)
        setattr(owner, name, wrapper)

        def undo() -> None:
            current = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            if current is wrapper:
                setattr(owner, name, original)

        self._undo.append(undo)

    def _init_wrapper(self, original: Callable[..., None]) -> Callable[..., None]:
        watch = self

        def __init__(provider: Any, *args: Any, **kwargs: Any) -> None:
            original(provider, *args, **kwargs)
            if watch._active and type(provider) is not _CheckProvider:
                watch._on_new(provider)

        return __init__

    def _add_wrapper(self, original: Callable[..., None]) -> Callable[..., None]:
        watch = self

        def add_span_processor(provider: Any, span_processor: Any) -> None:
            if watch._active and watch._skip(provider, span_processor):
                return
            original(provider, span_processor)

        return add_span_processor

    def _set_wrapper(self, original: Callable[..., None]) -> Callable[..., None]:
        from opentelemetry import trace

        watch = self

        def _set_tracer_provider(tracer_provider: Any, log: bool) -> None:
            original(tracer_provider, log)
            if watch._active and trace._TRACER_PROVIDER is tracer_provider:
                watch._on_set(tracer_provider)

        return _set_tracer_provider

    def _tracer_property(self, original: property) -> property:
        from opentelemetry import trace

        watch = self
        real = original.fget
        assert real is not None

        def _tracer(proxy: Any) -> Any:
            if not watch._active or proxy._real_tracer or trace._TRACER_PROVIDER:
                return real(proxy)
            tracer = watch._tracers.get(proxy)
            if tracer is None:
                assert watch._fallback is not None
                tracer = watch._tracers[proxy] = tracer_of(
                    watch._fallback(),
                    proxy._instrumenting_module_name,
                    proxy._instrumenting_library_version,
                    proxy._schema_url,
                    getattr(proxy, "_attributes", None),
                )
            return tracer

        return property(_tracer)


def span_processors(provider: Any) -> tuple[Any, ...]:
    """The span processors an SDK ``TracerProvider`` holds; ``()`` for another kind of provider."""
    # Private: the SDK lists a provider's processors nowhere public.
    active = getattr(provider, "_active_span_processor", None)
    held = getattr(active, "_span_processors", ())
    return tuple(held) if isinstance(held, tuple) else ()


def tracer_of(provider: Any, name: str, version: Any, schema_url: Any, attributes: Any) -> Any:
    """``provider.get_tracer(...)``, with scope attributes only where the SDK takes them."""
    if attributes is None:
        return provider.get_tracer(name, version, schema_url)
    try:
        return provider.get_tracer(name, version, schema_url, attributes=attributes)
    except TypeError:  # SDK before 1.23: scopes have no attributes
        return provider.get_tracer(name, version, schema_url)


def global_provider() -> Any:
    """The provider set as global, or ``None`` (no import of the SDK)."""
    from opentelemetry import trace

    current = trace.get_tracer_provider()
    return None if isinstance(current, trace.ProxyTracerProvider) else current
