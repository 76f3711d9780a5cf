"""Conversion between SDK spans, :class:`SpanRecord` and JSON lines.

This is the per-span hot path of the processor, so it works on the SDK's
values directly and keeps small identity caches for what spans share: a
resource and an instrumentation scope are the same objects for every span of
a tracer, and spans from one call site repeat one attribute key set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Callable

from ._sdk import FieldReader, attribute_dict, sample_span
from .record import (
    _BYTES_PER_RECORD,
    EMPTY_ATTRIBUTES,
    KINDS,
    STATUSES,
    FrozenAttributes,
    Scope,
    SpanEvent,
    SpanRecord,
    _EventTwin,
    _RecordTwin,
    freeze_value,
    make_attributes,
    make_link,
)
from .redact import RedactionPlan, RedactionPolicy

__all__ = [
    "SpanConverter",
    "dumps_line",
    "encode_line",
    "record_line",
    "record_to_dict",
]

_new_instance = object.__new__
_NO_MATCH = object()

# Enough for any real suite; past it the caches stop growing (they are only
# an optimisation, so the cost of a miss is speed, never correctness).
_CACHE_LIMIT = 4096

_encode_strict = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
).encode

try:
    # The C encoder object, built once: JSONEncoder.encode builds a new one
    # per call, which costs as much as encoding a small span's attributes.
    from _json import encode_basestring as _encode_str
    from _json import make_encoder as _make_encoder

    _c_encode: Any = _make_encoder(
        None, None, _encode_str, None, ":", ",", False, False, False  # type: ignore[arg-type]
    )
except ImportError:  # pragma: no cover - interpreters without the C accelerator
    _c_encode = None
    _encode_str = json.encoder.py_encode_basestring


def _finite(value: Any) -> Any:
    # JSON has no NaN or Infinity; strings keep the line valid for jq and
    # other strict readers, as OTLP/JSON does for doubles.
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def dumps_line(obj: Any) -> str:
    """Encode a value as compact JSON (no newline), always valid JSON."""
    try:
        if _c_encode is not None:
            return "".join(_c_encode(obj, 0))
        return _encode_strict(obj)
    except ValueError:
        return _encode_strict(_finite(obj))


def encode_line(text: str) -> bytes:
    """Return JSON text as UTF-8; a lone surrogate (not encodable) becomes a ``\\u`` escape."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        end = "\n" if text.endswith("\n") else ""
        return (json.dumps(json.loads(text), separators=(",", ":")) + end).encode("ascii")


def record_line(record: SpanRecord, redaction: RedactionPolicy | None = None) -> str:
    """Return a record's artifact line (with its newline), secret values redacted."""
    if redaction:
        record = redaction.redact_record(record)
    return dumps_line(record_to_dict(record)) + "\n"


def _attrs_dict(attrs: FrozenAttributes) -> dict[str, Any]:
    return dict(zip(attrs._keys, attrs._values))


def _scope_dict(scope: Scope | None) -> dict[str, Any] | None:
    if scope is None:
        return None
    out: dict[str, Any] = {"name": scope.name, "version": scope.version}
    if scope.schema_url:
        out["schema_url"] = scope.schema_url
    if scope.attributes:
        out["attributes"] = _attrs_dict(scope.attributes)
    return out


def record_to_dict(record: SpanRecord) -> dict[str, Any]:
    """Return the JSON-ready dict of a record, in the artifact's key order."""
    out: dict[str, Any] = {
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "parent_span_id": record.parent_span_id,
        "name": record.name,
        "kind": record.kind,
        "status": record.status,
        "status_description": record.status_description,
        "start_time_unix_nano": record.start_time,
        "end_time_unix_nano": record.end_time,
        "duration_ns": record.end_time - record.start_time,
        "attributes": _attrs_dict(record.attributes),
        "events": [
            {"name": e.name, "time_unix_nano": e.timestamp, "attributes": _attrs_dict(e.attributes)}
            for e in record.events
        ],
        "links": [
            {"trace_id": lk.trace_id, "span_id": lk.span_id, "attributes": _attrs_dict(lk.attributes)}
            for lk in record.links
        ],
    }
    if record.trace_state:
        out["trace_state"] = record.trace_state
    # Before the resource and scope, which end every line alike: the reader
    # shares that tail between lines.
    if record.test is not None:
        out["test"] = record.test
    out["resource"] = _attrs_dict(record.resource)
    out["scope"] = _scope_dict(record.scope)
    return out


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field {field!r} must be a string, got {value!r}")
    return value


def _optional_text(value: Any, field: str) -> str | None:
    # A number is taken as its text: the SDK lets get_tracer("lib", 3) through.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"field {field!r} must be a string or null, got {value!r}")


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"field {field!r} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"field {field!r} must be an integer, got {value!r}") from None


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"field {field!r} must be an object, got {value!r}")
    return value


class _Interner:
    """Shares equal attribute key tuples, resources and scopes between records."""

    def __init__(self) -> None:
        self.keysets: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.resources: dict[Any, FrozenAttributes] = {}
        self.scopes: dict[Any, Scope] = {}

    def attrs(self, mapping: Mapping[str, Any]) -> FrozenAttributes:
        if not mapping:
            return EMPTY_ATTRIBUTES
        keys = tuple(mapping)
        for key in keys:
            if not isinstance(key, str):
                raise ValueError(f"attribute key {key!r} is not a string")
        shared = self.keysets.get(keys)
        if shared is None:
            shared = keys
            if len(self.keysets) < _CACHE_LIMIT:
                self.keysets[keys] = keys
        return make_attributes(shared, tuple(freeze_value(mapping[k]) for k in keys))

    def resource(self, mapping: Mapping[str, Any]) -> FrozenAttributes:
        try:
            key = tuple(sorted((k, freeze_value(v)) for k, v in mapping.items()))
            hash(key)
        except TypeError:
            return self.attrs(mapping)
        found = self.resources.get(key)
        if found is None:
            found = self.attrs(mapping)
            if len(self.resources) < _CACHE_LIMIT:
                self.resources[key] = found
        return found

    def scope(self, data: Any) -> Scope | None:
        if data is None:
            return None
        data = _mapping(data, "scope")
        attrs = self.attrs(_mapping(data.get("attributes"), "scope.attributes"))
        # Checked before they make a cache key, which must be hashable.
        name = _string(data.get("name", ""), "scope.name")
        version = _optional_text(data.get("version"), "scope.version")
        schema_url = _optional_text(data.get("schema_url"), "scope.schema_url")
        key = (name, version, schema_url, attrs)
        found = self.scopes.get(key)
        if found is None:
            found = Scope(name, version, schema_url, attrs)
            if len(self.scopes) < _CACHE_LIMIT:
                self.scopes[key] = found
        return found


class SpanConverter:
    """Turns SDK ``ReadableSpan`` objects into a record and its JSON line.

    ``redaction`` hides secret attribute values in the line only; the record
    keeps them.  One converter belongs to one processor; its caches are
    guarded by the processor's callers being the SDK's span-end path, where a
    race costs at most a duplicate cache entry.
    """

    def __init__(self, redaction: RedactionPolicy | None = None, *, check: bool = True) -> None:
        self._interner = _Interner()
        # An empty policy redacts nothing: skip it entirely on the hot path.
        self._redaction = redaction if redaction else None
        # SDK key tuple -> (the shared key tuple, what the line hides or
        # scans, None for nothing): both decided once per key set, not per span.
        self._keysets: dict[tuple[str, ...], tuple[tuple[str, ...], RedactionPlan | None]] = {}
        # Span names are redacted only when they could hold a URL's secrets.
        self._redact_name = (
            self._redaction.redact_name if self._redaction and self._redaction.values else None
        )
        # id(object) -> (object, converted): holding the object keeps its id unique.
        self._resources: dict[int, tuple[Any, FrozenAttributes, str]] = {}
        self._scopes: dict[int, tuple[Any, Scope | None, str]] = {}
        self._enum_names: dict[int, tuple[Any, str]] = {}
        # (id(resource), id(scope)) -> the converted pair and the line's tail.
        self._shared: dict[tuple[int, int], tuple[Any, ...]] = {}
        # The last span's shared entry, trace id and trace state: spans end
        # in runs from one tracer and one trace, so these hit most of the time.
        # Start with a key no span has (a span's resource may well be None).
        self._last_shared: tuple[Any, ...] = (_NO_MATCH, _NO_MATCH)
        self._last_trace: tuple[Any, str] = (_NO_MATCH, "")
        self._last_state: tuple[Any, str] = (_NO_MATCH, "")
        # (the last test, its "test" member): a test's spans come one after another.
        self._last_test: tuple[Any, str] = (_NO_MATCH, "")
        self._reader = FieldReader()
        self._fields = self._reader.read
        if check:
            self._reader.check(_same_conversion)

    def _fast_path(self, on: bool) -> SpanConverter:
        self._reader.fast = on
        return self

    @property
    def fast(self) -> bool:
        """Whether plain SDK spans are read through their private fields (see ``_sdk``)."""
        return self._reader.fast

    def convert(
        self, span: Any, owner: Callable[[Any], str | None] | None = None
    ) -> tuple[SpanRecord, str]:
        """Return ``(record, line)`` for a finished SDK span; ``line`` ends with a newline.

        ``owner``, if given, is called with the span's context (trace id and
        span id at positions 0 and 1) and names the test that owns the span.
        """
        (
            ctx, parent_int, status_enum, description, name, kind_enum, start, end,
            attrs, events, links, res, scp,
        ) = self._fields(span)
        test = None if owner is None else owner(ctx)
        last = self._last_trace
        if last[0] is ctx[0]:
            trace_id = last[1]
        else:
            trace_id = "%032x" % ctx[0]
            self._last_trace = (ctx[0], trace_id)
        span_id = "%016x" % ctx[1]
        parent_id = None if parent_int is None else "%016x" % parent_int
        names = self._enum_names
        entry = names.get(id(kind_enum))
        kind = entry[1] if entry is not None else self._enum_name(kind_enum, KINDS, "INTERNAL")
        entry = names.get(id(status_enum))
        status = entry[1] if entry is not None else self._enum_name(status_enum, STATUSES, "UNSET")
        description = description or None
        start = start or 0
        end = end or start
        # Redaction touches only the line: the record keeps the real values.
        attr_keys, attr_values, line_attrs = self._pair(attrs)
        events_json, event_tuple = self._events(events) if events else ("[]", ())
        links_json, link_tuple = self._links(links) if links else ("[]", ())
        last = self._last_state
        if last[0] is ctx[4]:
            trace_state = last[1]
        else:
            trace_state = ctx[4].to_header() if ctx[4] else ""
            self._last_state = (ctx[4], trace_state)
        state_json = f'"trace_state":{_encode_str(trace_state)},' if trace_state else ""
        if test is not None:
            last = self._last_test
            if last[0] is not test:
                last = self._last_test = (test, f'"test":{_encode_str(test)},')
            state_json += last[1]
        parent_json = "null" if parent_id is None else f'"{parent_id}"'
        shared = self._last_shared
        if shared[0] is not res or shared[1] is not scp:
            shared = self._shared_for(res, scp)
        redact_name = self._redact_name
        if redact_name is not None and ("@" in name or "=" in name):
            line_name = redact_name(name)
        else:
            line_name = name
        # The fixed part of the line is formatted by hand (ids, enum names and
        # integers need no escaping), in one f-string: joining parts with +
        # would copy the whole line once per part.
        line = (
            f'{{"trace_id":"{trace_id}","span_id":"{span_id}",'
            f'"parent_span_id":{parent_json},'
            f'"name":{_encode_str(line_name)},"kind":"{kind}","status":"{status}",'
            f'"status_description":{"null" if description is None else _encode_str(description)},'
            f'"start_time_unix_nano":{start},"end_time_unix_nano":{end},"duration_ns":{end - start},'
            f'"attributes":{dumps_line(line_attrs) if line_attrs else "{}"},"events":{events_json},'
            f'"links":{links_json},{state_json}{shared[4]}'
        )
        # make_record's work, inlined: this runs once per span.
        record: Any = _new_instance(_RecordTwin)
        record.trace_id = trace_id
        record.span_id = span_id
        record.parent_span_id = parent_id
        record.name = name
        record.kind = kind
        record.status = status
        record.status_description = description
        record.start_time = start
        record.end_time = end
        record._attribute_keys = attr_keys
        record._attribute_values = attr_values
        record.events = event_tuple
        record.links = link_tuple
        record.resource = shared[2]
        record.scope = shared[3]
        record.trace_state = trace_state
        if test is not None:
            record._test = test
        # estimated_bytes(), inlined.
        record._size = _BYTES_PER_RECORD + len(line) // 2
        record.__class__ = SpanRecord
        return record, line

    def _events(self, events: Any) -> tuple[str, tuple[SpanEvent, ...]]:
        """The line's events and the record's, of ``(name, timestamp, attributes)`` triples."""
        texts = []
        records = []
        for name, timestamp, attrs in events:
            keys, values, line = self._pair(attrs)
            # By hand, like the line itself: encoding a list of dicts costs
            # more than the attributes inside them.
            texts.append(
                f'{{"name":{_encode_str(name)},"time_unix_nano":{timestamp},'
                f'"attributes":{dumps_line(line) if line else "{}"}}}'
            )
            # make_event's work, inlined as for the record.
            item: Any = _new_instance(_EventTwin)
            item.name = name
            item.timestamp = timestamp
            item.attributes = make_attributes(keys, values) if keys else EMPTY_ATTRIBUTES
            item.__class__ = SpanEvent
            records.append(item)
        return f"[{','.join(texts)}]", tuple(records)

    def _links(self, links: Any) -> tuple[str, tuple[Any, ...]]:
        """The line's links and the record's, of SDK links."""
        dicts = []
        records = []
        for link in links:
            context = link.context
            trace_id, span_id = "%032x" % context.trace_id, "%016x" % context.span_id
            keys, values, line = self._pair(link.attributes)
            dicts.append({"trace_id": trace_id, "span_id": span_id, "attributes": line})
            frozen = make_attributes(keys, values) if keys else EMPTY_ATTRIBUTES
            records.append(make_link(trace_id, span_id, frozen))
        return dumps_line(dicts), tuple(records)

    def _shared_for(self, res: Any, scp: Any) -> tuple[Any, ...]:
        found = self._shared.get((id(res), id(scp)))
        if found is None or found[0] is not res or found[1] is not scp:
            found = self._shared_entry(res, scp)
        self._last_shared = found
        return found

    def _resource(self, resource: Any) -> tuple[FrozenAttributes, str]:
        entry = self._resources.get(id(resource))
        if entry is None or entry[0] is not resource:
            attrs = dict(resource.attributes) if resource is not None else {}
            frozen = self._interner.resource(attrs)
            shown = self._redaction.redact_resource(frozen) if self._redaction else frozen
            entry = (resource, frozen, dumps_line(_attrs_dict(shown)))
            if len(self._resources) < _CACHE_LIMIT:
                self._resources[id(resource)] = entry
        return entry[1], entry[2]

    def _scope(self, scope: Any) -> tuple[Scope | None, str]:
        entry = self._scopes.get(id(scope))
        if entry is None or entry[0] is not scope:
            if scope is None:
                converted = None
            else:
                converted = self._interner.scope(
                    {
                        "name": scope.name,
                        "version": scope.version,
                        "schema_url": scope.schema_url,
                        "attributes": dict(getattr(scope, "attributes", None) or {}),
                    }
                )
            entry = (scope, converted, dumps_line(_scope_dict(converted)))
            if len(self._scopes) < _CACHE_LIMIT:
                self._scopes[id(scope)] = entry
        return entry[1], entry[2]

    def _shared_entry(self, res: Any, scp: Any) -> tuple[Any, ...]:
        resource, resource_json = self._resource(res)
        scope, scope_json = self._scope(scp)
        entry = (res, scp, resource, scope, f'"resource":{resource_json},"scope":{scope_json}}}\n')
        if len(self._shared) < _CACHE_LIMIT:
            self._shared[(id(res), id(scp))] = entry
        return entry

    def _pair(self, raw: Any) -> tuple[tuple[str, ...], tuple[Any, ...], dict[str, Any]]:
        """The record's attribute keys and values, and the line's attributes
        (secret values hidden), of SDK attributes.

        The SDK's keys are strings and its sequence values tuples already.
        """
        attrs = attribute_dict(raw)
        if not attrs:
            return (), (), attrs
        keys = tuple(attrs)
        entry = self._keysets.get(keys)
        if entry is None:
            entry = self._keyset(keys)
        shared, plan = entry
        return shared, tuple(attrs.values()), attrs if plan is None else plan.apply(attrs)

    def _keyset(self, keys: tuple[str, ...]) -> tuple[tuple[str, ...], RedactionPlan | None]:
        redaction = self._redaction
        entry = (keys, redaction.plan(keys) if redaction is not None else None)
        if len(self._keysets) < _CACHE_LIMIT:
            self._keysets[keys] = entry
        return entry

    def _enum_name(self, member: Any, allowed: tuple[str, ...], default: str) -> str:
        # Keyed by id(): Enum.__hash__ is a Python-level call, too slow per span.
        entry = self._enum_names.get(id(member))
        if entry is None or entry[0] is not member:
            name = getattr(member, "name", None)
            entry = (member, name if name in allowed else default)
            self._enum_names[id(member)] = entry
        return entry[1]


def _same_conversion(fast: bool) -> bool:
    """Whether the sample span converts the same with the fast path on and off (fresh caches each)."""
    span = sample_span()
    first = SpanConverter(check=False)._fast_path(fast).convert(span)
    second = SpanConverter(check=False)._fast_path(False).convert(span)
    return first == second
