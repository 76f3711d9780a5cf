"""Immutable records of finished spans.

A :class:`SpanRecord` holds everything the OpenTelemetry SDK recorded for one
span, in plain Python values, so it can be compared, hashed, written to JSON
and read back without the SDK.  The classes use ``__slots__`` and share what
spans have in common (attribute key sets, resources, scopes): a test run may
hold a hundred thousand of them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Tuple, Union

__all__ = [
    "AttributeValue",
    "FrozenAttributes",
    "Scope",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "STATUSES",
    "KINDS",
    "normalize_trace_id",
    "normalize_span_id",
]

AttributeValue = Union[str, bool, int, float, Tuple[Any, ...]]

#: The three span status codes, as OpenTelemetry names them.
STATUSES = ("UNSET", "OK", "ERROR")
#: The five span kinds, as OpenTelemetry names them.
KINDS = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")

_HEX = re.compile(r"[0-9a-fA-F]+")


def _parse_id(value: object, digits: int, what: str) -> str:
    if isinstance(value, bool):
        raise ValueError(f"invalid {what} {value!r}: expected an int or a hex string")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text[:2] in ("0x", "0X"):
            text = text[2:]
        if not text or len(text) > digits or not _HEX.fullmatch(text):
            raise ValueError(
                f"invalid {what} {value!r}: expected up to {digits} hex digits"
            )
        number = int(text, 16)
    else:
        raise ValueError(
            f"invalid {what} {value!r}: expected an int or a hex string, "
            f"got {type(value).__name__}"
        )
    if not 0 < number < 1 << (4 * digits):
        raise ValueError(
            f"invalid {what} {value!r}: must be non-zero and fit in {4 * digits} bits"
        )
    return format(number, f"0{digits}x")


def normalize_trace_id(value: object) -> str:
    """Return ``value`` as 32 lowercase hex digits.

    Accepts the SDK's integer form or a hex string (any case, an optional
    ``0x`` prefix, leading zeros optional).  Raises :class:`ValueError` naming
    the value when it is not a valid, non-zero 128-bit id.
    """
    return _parse_id(value, 32, "trace id")


def normalize_span_id(value: object) -> str:
    """Return ``value`` as 16 lowercase hex digits; see :func:`normalize_trace_id`."""
    return _parse_id(value, 16, "span id")


_LOWER_HEX = "0123456789abcdef"


def hex_id(value: Any, digits: int) -> str:
    """``value`` if it already is ``digits`` lowercase hex digits, not all zero; else normalised.

    Raises :class:`ValueError` naming the value when it is not an id.
    """
    if (
        type(value) is str
        and len(value) == digits
        and not value.strip(_LOWER_HEX)
        and value.strip("0")
    ):
        return value
    return normalize_trace_id(value) if digits == 32 else normalize_span_id(value)


def freeze_value(value: Any) -> Any:
    """Return an attribute value in its hashable, stored form.

    Lists become tuples.  A mapping (which no SDK attribute holds, but a
    hand-written or foreign trace file may) becomes its compact JSON text, as
    OTLP key-value lists do.
    """
    if isinstance(value, (list, tuple)):
        return tuple(freeze_value(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return value


_YEAR_NS = 366 * 24 * 3600 * 10**9


def format_duration(ns: int) -> str:
    """A duration in the unit that reads best: ``850ns``, ``12.5us``, ``3.4ms``, ``2.05s``, ``3m05.0s``.

    A duration of more than a year (only a file with impossible timestamps
    holds one) is shown as raw nanoseconds.
    """
    if ns < 1_000 or ns > _YEAR_NS:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f}us"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    if ns < 60_000_000_000:
        return f"{ns / 1e9:.2f}s"
    minutes, seconds = divmod(ns / 1e9, 60)
    return f"{int(minutes)}m{seconds:04.1f}s"


def error_type_name(error_type: object) -> str:
    """Return the name the SDK records for an exception class, or a string as is.

    The SDK writes ``module.qualname``, except for builtins, which get the
    bare name.  Raises ``ValueError`` naming anything else.
    """
    if isinstance(error_type, str):
        if not error_type.strip():
            raise ValueError(f"invalid error type {error_type!r}: empty")
        return error_type.strip()
    if isinstance(error_type, type) and issubclass(error_type, BaseException):
        module = error_type.__module__
        qualname = error_type.__qualname__
        return f"{module}.{qualname}" if module and module != "builtins" else qualname
    raise ValueError(
        f"invalid error type {error_type!r}: expected a string or an exception class"
    )


def error_type_matches(wanted: str, recorded: str) -> bool:
    """Whether a recorded error type matches the wanted one.

    A short name matches a qualified one (``"Declined"`` matches
    ``"shop.payments.Declined"``), and so does any dotted suffix.
    """
    return recorded == wanted or recorded.endswith("." + wanted)


def short_error_type(name: str) -> str:
    return name.rpartition(".")[2]



class FrozenAttributes(Mapping[str, Any]):
    """A read-only mapping of attribute keys to values.

    Keys and values are kept as two tuples.  Spans from one instrumentation
    point repeat the same key set, so the key tuple is shared between records
    and a record pays only for its values: about a third of a ``dict``.
    Sequence values are tuples; they compare equal to lists of the same items.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        keys: list[str] = []
        values: list[Any] = []
        for key, value in pairs:
            if not isinstance(key, str):
                raise ValueError(f"attribute key {key!r} is not a string")
            if key in keys:
                values[keys.index(key)] = freeze_value(value)
            else:
                keys.append(key)
                values.append(freeze_value(value))
        self._keys: tuple[str, ...] = tuple(keys)
        self._values: tuple[Any, ...] = tuple(values)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._keys:
            return self._values[self._keys.index(key)]
        return default

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(other) != len(self._keys):
            return False
        if isinstance(other, FrozenAttributes) and other._keys == self._keys:
            return all(map(_same_value, self._values, other._values))
        missing = object()
        return all(
            _same_value(value, other.get(key, missing))
            for key, value in zip(self._keys, self._values)
        )

    def __hash__(self) -> int:
        return hash(frozenset(zip(self._keys, self._values)))

    def __repr__(self) -> str:
        return repr(dict(zip(self._keys, self._values)))

    def to_dict(self) -> dict[str, Any]:
        """Return a plain ``dict`` copy, with sequences as lists (as in JSON)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in zip(self._keys, self._values)
        }


def index_key(value: Any) -> Any:
    """A hashable key for an attribute value, equal where attribute equality holds.

    Keeps ``True`` apart from ``1``, as attribute equality does, and lets NaN
    find itself.
    """
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, float) and value != value:
        return (float, "nan")
    if isinstance(value, (tuple, list)):
        return (tuple, tuple(index_key(v) for v in value))
    return value


def _same_value(a: Any, b: Any) -> bool:
    # Lists and tuples of the same items are equal (JSON gives lists back);
    # ``True == 1`` in Python, but an attribute ``retry=True`` is not ``retry=1``;
    # NaN never equals itself, yet a record must equal its own round trip.
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (
            isinstance(a, (tuple, list))
            and isinstance(b, (tuple, list))
            and len(a) == len(b)
            and all(map(_same_value, a, b))
        )
    if isinstance(a, bool) is not isinstance(b, bool):
        return False
    if a == b:
        return True
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


EMPTY_ATTRIBUTES = FrozenAttributes()


class Scope:
    """The instrumentation scope (library) that created a span."""

    __slots__ = ("name", "version", "schema_url", "attributes")

    name: str
    version: Optional[str]
    schema_url: Optional[str]
    attributes: FrozenAttributes

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "version", version or None)
        object.__setattr__(self, "schema_url", schema_url or None)
        object.__setattr__(
            self,
            "attributes",
            attributes if isinstance(attributes, FrozenAttributes)
            else FrozenAttributes(attributes or {}),
        )

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.version, self.schema_url, self.attributes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Scope):
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.version))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle's default would restore the slots through __setattr__.
        return (Scope, (self.name, self.version, self.schema_url, self.attributes))

    def __repr__(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"Scope({self.name!r}{version})"


class SpanEvent:
    """An event recorded on a span, such as an ``exception`` event."""

    __slots__ = ("name", "timestamp", "attributes")

    name: str
    timestamp: int
    attributes: FrozenAttributes

    def __init__(
        self, name: str, timestamp: int, attributes: Mapping[str, Any] | None = None
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "timestamp", int(timestamp))
        object.__setattr__(
            self,
            "attributes",
            attributes if isinstance(attributes, FrozenAttributes)
            else FrozenAttributes(attributes or {}),
        )

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpanEvent):
            return (self.name, self.timestamp) == (other.name, other.timestamp) and (
                self.attributes == other.attributes
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.timestamp))

    def __reduce__(self) -> tuple[Any, ...]:
        return (SpanEvent, (self.name, self.timestamp, self.attributes))

    def __repr__(self) -> str:
        return f"SpanEvent({self.name!r}, {self.attributes!r})"


class SpanLink:
    """A link from a span to another span context."""

    __slots__ = ("trace_id", "span_id", "attributes")

    trace_id: str
    span_id: str
    attributes: FrozenAttributes

    def __init__(
        self, trace_id: int | str, span_id: int | str, attributes: Mapping[str, Any] | None = None
    ) -> None:
        object.__setattr__(self, "trace_id", normalize_trace_id(trace_id))
        object.__setattr__(self, "span_id", normalize_span_id(span_id))
        object.__setattr__(
            self,
            "attributes",
            attributes if isinstance(attributes, FrozenAttributes)
            else FrozenAttributes(attributes or {}),
        )

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpanLink):
            return (self.trace_id, self.span_id, self.attributes) == (
                other.trace_id,
                other.span_id,
                other.attributes,
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.trace_id, self.span_id))

    def __reduce__(self) -> tuple[Any, ...]:
        return (SpanLink, (self.trace_id, self.span_id, self.attributes))

    def __repr__(self) -> str:
        return f"SpanLink(trace_id={self.trace_id!r}, span_id={self.span_id!r})"


# A record's memory is estimated from its JSON line's length.  Measured with
# benchmarks/bench_processor.py (tracemalloc, index entries included), a
# record costs about 300 bytes plus half its line: the line repeats the
# resource and scope, which records share.
_BYTES_PER_RECORD = 300


def estimated_bytes(line_length: int) -> int:
    """The memory a record whose JSON line is ``line_length`` long is estimated to hold."""
    return _BYTES_PER_RECORD + line_length // 2


_RECORD_FIELDS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "status",
    "status_description",
    "start_time",
    "end_time",
    "attributes",
    "events",
    "links",
    "resource",
    "scope",
    "trace_state",
    "test",
)


# The span's attributes are kept as their key and value tuples, and
# ``attributes`` makes the mapping when asked: a mapping object per record
# would be one more object per span for the garbage collector to track,
# across every span a run keeps, where the value tuple (of strings, numbers
# and tuples of them) is one it stops tracking.
# ``test`` is kept in ``_test``, which a record built without it leaves
# unset (``None`` through the property): the readers that fill the slots in
# place need not know of it.
_RECORD_SLOTS = tuple(f for f in _RECORD_FIELDS if f not in ("attributes", "test")) + (
    "_attribute_keys",
    "_attribute_values",
    "_size",
    "_test",
)


class SpanRecord:
    """An immutable record of one finished span.

    Times are integers in nanoseconds since the Unix epoch, as the SDK keeps
    them.  Ids are lowercase hex strings.  Records compare equal by value and
    are hashable.  Build one by hand with keywords (ids may be ints or hex
    strings); the processor builds them from SDK spans.

    ``test`` is the node id of the test that owns the span (see the README's
    "Which test owns a span"), ``None`` for a span made outside any test.
    """

    __slots__ = _RECORD_SLOTS

    trace_id: str
    span_id: str
    parent_span_id: Optional[str]
    name: str
    kind: str
    status: str
    status_description: Optional[str]
    start_time: int
    end_time: int
    _attribute_keys: Tuple[str, ...]
    _attribute_values: Tuple[Any, ...]
    _test: str
    events: Tuple[SpanEvent, ...]
    links: Tuple[SpanLink, ...]
    resource: FrozenAttributes
    scope: Optional[Scope]
    trace_state: str

    def __init__(
        self,
        *,
        trace_id: int | str,
        span_id: int | str,
        name: str,
        parent_span_id: int | str | None = None,
        kind: str = "INTERNAL",
        status: str = "UNSET",
        status_description: str | None = None,
        start_time: int = 0,
        end_time: int | None = None,
        attributes: Mapping[str, Any] | None = None,
        events: Iterable[SpanEvent] = (),
        links: Iterable[SpanLink] = (),
        resource: Mapping[str, Any] | None = None,
        scope: Scope | None = None,
        trace_state: str = "",
        test: str | None = None,
    ) -> None:
        kind_name = normalize_kind(kind)
        status_name = normalize_status(status)
        if not isinstance(name, str):
            raise ValueError(f"invalid span name {name!r}: expected a string")
        start = int(start_time)
        end = start if end_time is None else int(end_time)
        if end < start:
            raise ValueError(f"invalid end_time {end_time!r}: before start_time {start_time!r}")
        if test is not None and not isinstance(test, str):
            raise ValueError(f"invalid test {test!r}: expected a node id string or None")
        set_ = object.__setattr__
        set_(self, "trace_id", normalize_trace_id(trace_id))
        set_(self, "span_id", normalize_span_id(span_id))
        set_(
            self,
            "parent_span_id",
            None if parent_span_id in (None, "", 0) else normalize_span_id(parent_span_id),
        )
        set_(self, "name", name)
        set_(self, "kind", kind_name)
        set_(self, "status", status_name)
        set_(self, "status_description", status_description or None)
        set_(self, "start_time", start)
        set_(self, "end_time", end)
        frozen = _frozen(attributes)
        set_(self, "_attribute_keys", frozen._keys)
        set_(self, "_attribute_values", frozen._values)
        events = tuple(events)
        links = tuple(links)
        for item, cls in [(e, SpanEvent) for e in events] + [(lk, SpanLink) for lk in links]:
            if not isinstance(item, cls):
                raise ValueError(f"invalid {cls.__name__} {item!r}")
        set_(self, "events", events)
        set_(self, "links", links)
        set_(self, "resource", _frozen(resource))
        set_(self, "scope", scope)
        set_(self, "trace_state", trace_state or "")
        set_(self, "_size", 0)
        if test is not None:
            set_(self, "_test", test)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("SpanRecord is immutable")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("SpanRecord is immutable")

    @property
    def attributes(self) -> FrozenAttributes:
        """The span's attributes: an immutable mapping, equal (not identical) on each access."""
        keys = self._attribute_keys
        if not keys:
            return EMPTY_ATTRIBUTES
        # make_attributes(), inlined.
        made: Any = _new(FrozenAttributes)
        made._keys = keys
        made._values = self._attribute_values
        return made  # type: ignore[no-any-return]

    @property
    def test(self) -> Optional[str]:
        """The node id of the test that owns the span, or ``None`` (made outside any test)."""
        try:
            return self._test
        except AttributeError:
            return None

    def replace(self, **changes: Any) -> SpanRecord:
        """A copy of the record with the given fields changed (``test="..."``, ``name=...``).

        The copy is checked as a new record is; an unknown field is a
        ``ValueError`` naming it.
        """
        unknown = sorted(set(changes) - set(_RECORD_FIELDS))
        if unknown:
            raise ValueError(f"invalid SpanRecord field {unknown[0]!r}")
        fields = dict(zip(_RECORD_FIELDS, self._key()))
        fields.update(changes)
        return SpanRecord(**fields)

    def _owned_by(self, test: Optional[str]) -> SpanRecord:
        """A copy owned by ``test``, unchecked: for a record already checked, on the recording path."""
        fields = dict(zip(_RECORD_FIELDS, self._key()))
        fields["test"] = test
        return make_record(**fields, _size=self._size)  # type: ignore[attr-defined]

    # -- derived values -------------------------------------------------

    @property
    def duration_ns(self) -> int:
        """The span's duration in nanoseconds."""
        return self.end_time - self.start_time

    @property
    def duration(self) -> float:
        """The span's duration in seconds (``inf`` if too long for a float, as only corrupt files hold)."""
        try:
            return (self.end_time - self.start_time) / 1e9
        except OverflowError:
            return math.inf if self.end_time > self.start_time else -math.inf

    @property
    def is_error(self) -> bool:
        """Whether the span's status is ``ERROR``."""
        return self.status == "ERROR"

    @property
    def is_root(self) -> bool:
        """Whether the span has no parent."""
        return self.parent_span_id is None

    @property
    def error_type(self) -> str | None:
        """The span's error type, or ``None``.

        This is the ``error.type`` attribute when set, else the
        ``exception.type`` of the first ``exception`` event.
        """
        types = self.error_types()
        return types[0] if types else None

    def error_types(self) -> tuple[str, ...]:
        """Every error type the span carries: ``error.type`` and each exception event's type."""
        found: list[str] = []
        keys = self._attribute_keys
        if "error.type" in keys:
            value = self._attribute_values[keys.index("error.type")]
            if isinstance(value, str) and value:
                found.append(value)
        for event in self.events:
            if event.name == "exception":
                etype = event.attributes.get("exception.type")
                if isinstance(etype, str) and etype and etype not in found:
                    found.append(etype)
        return tuple(found)

    @property
    def exception_message(self) -> str | None:
        """The ``exception.message`` of the first ``exception`` event, or ``None``."""
        for event in self.events:
            if event.name == "exception":
                message = event.attributes.get("exception.message")
                if message is not None:
                    return str(message)
        return None

    # -- value semantics ------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _RECORD_FIELDS)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpanRecord):
            return self is other or self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.trace_id, self.span_id, self.start_time, self.end_time))

    def __repr__(self) -> str:
        # Short enough that pytest's list diff shows whole records side by side.
        error = f" {self.error_type}" if self.status == "ERROR" and self.error_type else ""
        return (
            f"<SpanRecord {self.name!r} {self.status}{error} "
            f"{format_duration(self.end_time - self.start_time)} "
            f"trace={self.trace_id[:8]} span={self.span_id[:8]}>"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_record, self._key())

    # -- time relations -------------------------------------------------

    def _other(self, other: object) -> SpanRecord:
        if not isinstance(other, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {other!r}")
        return other

    def before(self, other: SpanRecord) -> bool:
        """Whether this span ended before (or as) ``other`` started."""
        return self.end_time <= self._other(other).start_time

    def after(self, other: SpanRecord) -> bool:
        """Whether this span started after (or as) ``other`` ended."""
        return self.start_time >= self._other(other).end_time

    def overlaps(self, other: SpanRecord) -> bool:
        """Whether the two spans ran at the same time for a while (touching ends do not count)."""
        other = self._other(other)
        return self.start_time < other.end_time and other.start_time < self.end_time

    def contains(self, other: SpanRecord) -> bool:
        """Whether ``other`` started and ended within this span's interval (ends included)."""
        other = self._other(other)
        return self.start_time <= other.start_time and other.end_time <= self.end_time


def _frozen(attributes: Mapping[str, Any] | None) -> FrozenAttributes:
    if attributes is None:
        return EMPTY_ATTRIBUTES
    if isinstance(attributes, FrozenAttributes):
        return attributes
    return FrozenAttributes(attributes)


def normalize_status(status: object) -> str:
    """Return ``status`` as ``"UNSET"``, ``"OK"`` or ``"ERROR"``.

    Accepts any case and the SDK's ``StatusCode`` enum; raises ``ValueError``
    naming the value otherwise.
    """
    name = getattr(status, "name", status)
    if isinstance(name, str) and name.upper() in STATUSES:
        return name.upper()
    raise ValueError(f"invalid status {status!r}: expected one of {', '.join(STATUSES)}")


def normalize_kind(kind: object) -> str:
    """Return ``kind`` as one of :data:`KINDS`; raises ``ValueError`` naming the value."""
    name = getattr(kind, "name", kind)
    if isinstance(name, str) and name.upper() in KINDS:
        return name.upper()
    raise ValueError(f"invalid span kind {kind!r}: expected one of {', '.join(KINDS)}")


def _rebuild_record(*values: Any) -> SpanRecord:
    return make_record(**dict(zip(_RECORD_FIELDS, values)), _size=0)


# Unchecked constructors for trusted values (the SDK has validated them),
# taking the slots in declaration order.  ``make_record`` takes the fields of
# ``SpanRecord`` then the record's estimated memory (see estimated_bytes).
#
# SpanRecord, SpanEvent and SpanLink forbid attribute assignment.  A maker
# fills a twin class with the same slots and no such guard (plain slot stores,
# the interpreter's fastest path), then switches the instance's class: about
# a tenth of the cost of one ``object.__setattr__`` per field, which matters
# on the span-end path.  Written out rather than generated: generating them
# at import cost every test process more than all their calls in a run.
_new = object.__new__


class _EventTwin:
    __slots__ = SpanEvent.__slots__


class _LinkTwin:
    __slots__ = SpanLink.__slots__


class _RecordTwin:
    __slots__ = SpanRecord.__slots__


def make_attributes(keys: tuple[str, ...], values: tuple[Any, ...]) -> FrozenAttributes:
    """A ``FrozenAttributes`` of keys and values already frozen and unique."""
    # FrozenAttributes guards nothing: its slots are filled in place.
    self: Any = _new(FrozenAttributes)
    self._keys = keys
    self._values = values
    return self  # type: ignore[no-any-return]


def make_event(name: str, timestamp: int, attributes: FrozenAttributes) -> SpanEvent:
    """A ``SpanEvent`` of trusted values."""
    self: Any = _new(_EventTwin)
    self.name = name
    self.timestamp = timestamp
    self.attributes = attributes
    self.__class__ = SpanEvent
    return self  # type: ignore[no-any-return]


def make_link(trace_id: str, span_id: str, attributes: FrozenAttributes) -> SpanLink:
    """A ``SpanLink`` of trusted values (ids already lowercase hex)."""
    self: Any = _new(_LinkTwin)
    self.trace_id = trace_id
    self.span_id = span_id
    self.attributes = attributes
    self.__class__ = SpanLink
    return self  # type: ignore[no-any-return]


def make_record(
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    kind: str,
    status: str,
    status_description: str | None,
    start_time: int,
    end_time: int,
    attributes: FrozenAttributes,
    events: tuple[SpanEvent, ...],
    links: tuple[SpanLink, ...],
    resource: FrozenAttributes,
    scope: Scope | None,
    trace_state: str,
    _size: int,
    test: str | None = None,
) -> SpanRecord:
    """A ``SpanRecord`` of trusted, normalised values."""
    self: Any = _new(_RecordTwin)
    self.trace_id = trace_id
    self.span_id = span_id
    self.parent_span_id = parent_span_id
    self.name = name
    self.kind = kind
    self.status = status
    self.status_description = status_description
    self.start_time = start_time
    self.end_time = end_time
    self._attribute_keys = attributes._keys
    self._attribute_values = attributes._values
    self.events = events
    self.links = links
    self.resource = resource
    self.scope = scope
    self.trace_state = trace_state
    self._size = _size
    if test is not None:
        self._test = test
    self.__class__ = SpanRecord
    return self  # type: ignore[no-any-return]
