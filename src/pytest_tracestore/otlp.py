"""The OTLP/JSON codec: span records to and from OpenTelemetry's ``TracesData``.

The OpenTelemetry file exporter writes JSON Lines, each line one ``TracesData``
object in the OTLP/JSON mapping: hex ids, lowerCamelCase keys, enums as
integers, 64-bit integers as decimal strings, attributes as
``{"key": ..., "value": {"stringValue": ...}}``, spans nested as
``resourceSpans -> scopeSpans -> spans``.  Jaeger UI, ``otel-tui`` and the
Collector's ``otlpjsonfile`` receiver read that format.

Encoding follows the spec mapping exactly.  Decoding also accepts protobuf's
canonical JSON, as ``google.protobuf.json_format.MessageToDict`` writes it for
a ``TracesData`` or an ``ExportTraceServiceRequest`` (base64 ids, enum names
such as ``"SPAN_KIND_SERVER"``, omitted defaults), and snake_case keys.

Our records round-trip without loss, with one exception: an integer attribute
outside the signed 64-bit range (which OTLP cannot carry) is written as its
decimal string.  This module imports no pytest.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar, Union

from . import fastjson
from .base import is_traces_data
from .record import (
    EMPTY_ATTRIBUTES,
    KINDS,
    STATUSES,
    FrozenAttributes,
    Scope,
    SpanEvent,
    SpanLink,
    SpanRecord,
    estimated_bytes,
    hex_id,
    make_attributes,
    make_event,
    make_link,
    make_record,
    normalize_span_id,
    normalize_trace_id,
)
from .serialize import _CACHE_LIMIT, _Interner, _mapping, _string, dumps_line
from .serialize import _int as _integer

if TYPE_CHECKING:
    from .parse import Shared

__all__ = [
    "records_to_traces_data",
    "records_from_traces_data",
    "record_to_otlp_line",
    "OtlpLineEncoder",
    "records_from_otlp_line",
    "is_traces_data",
]

# OTLP enum numbers: SpanKind 0 is UNSPECIFIED, read as INTERNAL.
_KIND_NUMBER = {name: number for number, name in enumerate(KINDS, 1)}
_KIND_NAME = {number: name for name, number in _KIND_NUMBER.items()}
_KIND_NAME[0] = "INTERNAL"
_STATUS_NUMBER = {name: number for number, name in enumerate(STATUSES)}
_STATUS_NAME = {number: name for name, number in _STATUS_NUMBER.items()}

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


# -- encoding -----------------------------------------------------------


_T = TypeVar("_T")

def _any_value(value: Any) -> Dict[str, Any]:
    # bool before int: True is an int in Python, but a boolValue in OTLP.
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        # Proto3 JSON spells the non-finite doubles as strings.
        return {
            "doubleValue": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        }
    if isinstance(value, (tuple, list)):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _key_values(value)}}
    if isinstance(value, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None:
        return {}
    raise ValueError(f"cannot encode attribute value {value!r} ({type(value).__name__}) as OTLP")


def _key_values(attributes: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return [{"key": key, "value": _any_value(value)} for key, value in attributes.items()]


#: The semantic-convention attribute that carries a span's test in OTLP.
TEST_ATTRIBUTE = "test.case.name"


def _attribute_list(record: SpanRecord) -> List[Dict[str, Any]]:
    """The span's attributes as OTLP key-values, its test (if any) as ``test.case.name`` last."""
    test = record.test
    if test is None:
        return _key_values(record.attributes)
    own = [kv for kv in _key_values(record.attributes) if kv["key"] != TEST_ATTRIBUTE]
    return own + [{"key": TEST_ATTRIBUTE, "value": {"stringValue": test}}]


def _span_dict(record: SpanRecord) -> Dict[str, Any]:
    span: Dict[str, Any] = {
        "traceId": record.trace_id,
        "spanId": record.span_id,
    }
    if record.trace_state:
        span["traceState"] = record.trace_state
    if record.parent_span_id is not None:
        span["parentSpanId"] = record.parent_span_id
    span["name"] = record.name
    span["kind"] = _KIND_NUMBER[record.kind]
    span["startTimeUnixNano"] = str(record.start_time)
    span["endTimeUnixNano"] = str(record.end_time)
    if record.attributes or record.test is not None:
        span["attributes"] = _attribute_list(record)
    if record.events:
        span["events"] = [
            {
                "timeUnixNano": str(event.timestamp),
                "name": event.name,
                "attributes": _key_values(event.attributes),
            }
            for event in record.events
        ]
    if record.links:
        span["links"] = [
            {
                "traceId": link.trace_id,
                "spanId": link.span_id,
                "attributes": _key_values(link.attributes),
            }
            for link in record.links
        ]
    status: Dict[str, Any] = {}
    if record.status_description is not None:
        status["message"] = record.status_description
    status["code"] = _STATUS_NUMBER[record.status]
    span["status"] = status
    return span


def _scope_spans(scope: Optional[Scope], spans: List[Dict[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if scope is not None:
        scope_dict: Dict[str, Any] = {"name": scope.name}
        if scope.version is not None:
            scope_dict["version"] = scope.version
        if scope.attributes:
            scope_dict["attributes"] = _key_values(scope.attributes)
        out["scope"] = scope_dict
    out["spans"] = spans
    if scope is not None and scope.schema_url:
        # OTLP keeps the schema URL beside the scope, not inside it.
        out["schemaUrl"] = scope.schema_url
    return out


def _find_group(groups: List[Tuple[Any, Any]], index: Dict[Any, int], key: Any) -> int:
    """Return the position of ``key`` in ``groups``, appending a new group if absent.

    Keys are hashed when they can be (interned resources and scopes repeat);
    an unhashable key (a mapping-valued attribute) falls back to equality.
    """
    try:
        found = index.get(key)
        hashable = True
    except TypeError:
        hashable = False
        found = next((i for i, (k, _) in enumerate(groups) if k == key), None)
    if found is None:
        found = len(groups)
        groups.append((key, []))
        if hashable:
            index[key] = found
    return found


def group_spans(records: Iterable[SpanRecord], encode: Callable[[SpanRecord], _T]) -> List[Tuple[Any, Any]]:
    """``[(resource, [(scope, [encode(record), ...]), ...]), ...]``, as ``TracesData`` groups spans.

    Each group in the order its first span comes; spans keep their order
    within a group.  A record that is not a :class:`SpanRecord` is a
    :class:`ValueError`.
    """
    resources: List[Tuple[Any, Any]] = []
    resource_index: Dict[Any, int] = {}
    scope_indexes: List[Dict[Any, int]] = []
    # The spans of one trace mostly share one resource and scope object:
    # the previous span's group is taken without hashing them again.
    last: Tuple[Any, Any, Any] = (None, None, None)
    for record in records:
        if not isinstance(record, SpanRecord):
            raise ValueError(f"expected a SpanRecord, got {record!r}")
        resource, scope = record.resource, record.scope
        if resource is last[0] and scope is last[1]:
            group = last[2]
        else:
            r = _find_group(resources, resource_index, resource)
            if r == len(scope_indexes):
                scope_indexes.append({})
            scopes = resources[r][1]
            group = scopes[_find_group(scopes, scope_indexes[r], scope)][1]
            last = (resource, scope, group)
        group.append(encode(record))
    return resources


def records_to_traces_data(records: Iterable[SpanRecord]) -> Dict[str, Any]:
    """Return one OTLP/JSON ``TracesData`` dict holding ``records``.

    Spans are grouped per resource and then per instrumentation scope, each
    group in the order its first span comes; spans keep their order within a
    group.  The result is ready for ``json.dumps``.
    """
    resource_spans = []
    for resource, scopes in group_spans(records, _span_dict):
        resource_dict: Dict[str, Any] = {}
        if resource:
            resource_dict["attributes"] = _key_values(resource)
        resource_spans.append(
            {
                "resource": resource_dict,
                "scopeSpans": [_scope_spans(scope, spans) for scope, spans in scopes],
            }
        )
    return {"resourceSpans": resource_spans}


class OtlpLineEncoder:
    """Encodes records one per line, as OTLP JSON Lines, reusing each resource's and scope's text.

    Spans of one run share a handful of resources and scopes (interned, so
    identical objects); their JSON is built once and only the span is
    encoded per call.  This is what ``FileBasedSpanProcessor(format="otlp")``
    runs for every span.
    """

    def __init__(self) -> None:
        # (id(resource), id(scope)) -> (resource, scope, head, tail); holding
        # the objects keeps their ids unique.
        self._frames: Dict[Tuple[int, int], Tuple[Any, Any, str, str]] = {}

    def encode(self, record: SpanRecord) -> str:
        """Return the line (compact JSON, no trailing newline) of one ``TracesData``."""
        resource, scope = record.resource, record.scope
        frame = self._frames.get((id(resource), id(scope)))
        if frame is None or frame[0] is not resource or frame[1] is not scope:
            frame = (resource, scope) + _frame(resource, scope)
            if len(self._frames) < _CACHE_LIMIT:
                self._frames[(id(resource), id(scope))] = frame
        return frame[2] + dumps_line(_span_dict(record)) + frame[3]


def _frame(resource: FrozenAttributes, scope: Optional[Scope]) -> Tuple[str, str]:
    """The text of a one-span ``TracesData`` before and after the span."""
    head = dumps_line({"resource": {"attributes": _key_values(resource)} if resource else {}})
    scope_spans = _scope_spans(scope, [])
    scope_head = dumps_line({k: v for k, v in scope_spans.items() if k == "scope"})
    scope_tail = dumps_line({k: v for k, v in scope_spans.items() if k == "schemaUrl"})
    return (
        '{"resourceSpans":['
        + head[:-1]
        + ',"scopeSpans":['
        + (scope_head[:-1] + "," if len(scope_head) > 2 else "{")
        + '"spans":[',
        "]" + ("," + scope_tail[1:] if len(scope_tail) > 2 else "}") + "]}]}",
    )


def record_to_otlp_line(record: SpanRecord) -> str:
    """Return one span as an OTLP JSON Lines line: a ``TracesData`` with that span alone.

    The text is compact JSON without the trailing newline.  To encode many
    spans, reuse an :class:`OtlpLineEncoder`.
    """
    return OtlpLineEncoder().encode(record)


# -- decoding -----------------------------------------------------------


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(value: Any, where: str) -> List[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} must be an array, got {value!r}")
    return value


def _mappings(value: Any, where: str) -> List[Mapping[str, Any]]:
    # ``[null]`` is an array holding no object: an error, as any non-object is.
    items = _list(value, where)
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must hold objects, got {item!r}")
    return items


def _id(value: Any, digits: int, where: str) -> Optional[str]:
    """Read a hex id (OTLP/JSON) or a base64 one (protobuf JSON); ``None`` if empty."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    if len(value) != digits:
        # Hex ids have exactly ``digits`` characters; base64 of the same bytes
        # is shorter (24 or 12 characters), so the length tells them apart.
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) * 2 != digits:
            raise ValueError(
                f"invalid {where} {value!r}: expected {digits} hex digits "
                f"or base64 of {digits // 2} bytes"
            )
        value = raw.hex()
    if not value.strip("0"):
        # All-zero ids mean "no parent" in OTLP; they are invalid elsewhere.
        return None
    try:
        return normalize_trace_id(value) if digits == 32 else normalize_span_id(value)
    except ValueError:
        raise ValueError(f"invalid {where} {value!r}: expected {digits} hex digits") from None


def _required_id(value: Any, digits: int, where: str) -> str:
    found = _id(value, digits, where)
    if found is None:
        raise ValueError(f"missing or all-zero {where}: {value!r}")
    return found


def _int(value: Any, where: str) -> int:
    # OTLP writes 64-bit integers as decimal strings, protobuf omits zeros.
    return 0 if value is None else _integer(value, where)


def _enum(value: Any, names: Mapping[int, str], prefix: str, where: str) -> str:
    if value is None:
        return names[0]
    if isinstance(value, int) and not isinstance(value, bool) and value in names:
        return names[value]
    if isinstance(value, str):
        name = value.upper()
        if name.startswith(prefix):
            name = name[len(prefix) :]
        if name == "UNSPECIFIED":
            return names[0]
        if name in names.values():
            return name
    raise ValueError(f"invalid {where} {value!r}")


def _double(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            # Covers proto3's "NaN", "Infinity" and "-Infinity" as well.
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{where} must be a number, got {value!r}")


def _value(data: Any, where: str) -> Any:
    data = _mapping(data, where)
    if not data:
        return None
    if len(data) != 1:
        raise ValueError(f"{where} must hold exactly one value, got keys {sorted(data)}")
    ((kind, value),) = data.items()
    if kind in ("stringValue", "string_value"):
        if not isinstance(value, str):
            raise ValueError(f"{where}.stringValue must be a string, got {value!r}")
        return value
    if kind in ("boolValue", "bool_value"):
        if not isinstance(value, bool):
            raise ValueError(f"{where}.boolValue must be true or false, got {value!r}")
        return value
    if kind in ("intValue", "int_value"):
        return _int(value, f"{where}.intValue")
    if kind in ("doubleValue", "double_value"):
        return _double(value, f"{where}.doubleValue")
    if kind in ("arrayValue", "array_value"):
        values = _list(
            _mapping(value, f"{where}.arrayValue").get("values"), f"{where}.arrayValue.values"
        )
        return tuple(_value(v, f"{where}.arrayValue.values") for v in values)
    # A span attribute holds a string, a bool, a number or a sequence of them
    # (the SDK allows no more), so the two richer OTLP kinds become text: a
    # key-value list its compact JSON, bytes their base64, as OTLP/JSON writes them.
    if kind in ("kvlistValue", "kvlist_value"):
        pairs = _mapping(value, f"{where}.kvlistValue").get("values")
        return dumps_line(_attributes(pairs, f"{where}.kvlistValue.values"))
    if kind in ("bytesValue", "bytes_value"):
        try:
            return base64.b64encode(base64.b64decode(value, validate=True)).decode("ascii")
        except (binascii.Error, ValueError, TypeError):
            raise ValueError(f"{where}.bytesValue must be base64, got {value!r}") from None
    raise ValueError(f"{where} has an unknown value type {kind!r}")


def _attributes(data: Any, where: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for item in _list(data, where):
        item = _mapping(item, where)
        key = item.get("key")
        if not isinstance(key, str):
            raise ValueError(f"{where}: attribute key must be a string, got {key!r}")
        out[key] = _value(item.get("value"), f"{where}[{key!r}]")
    return out


def _scope(data: Mapping[str, Any], intern: _Interner) -> Optional[Scope]:
    scope = data.get("scope")
    schema_url = _get(data, "schemaUrl", "schema_url") or None
    if scope is None and schema_url is None:
        return None
    scope = _mapping(scope, "scope")
    return intern.scope(
        {
            "name": scope.get("name") or "",
            "version": scope.get("version") or None,
            "schema_url": schema_url,
            "attributes": _attributes(scope.get("attributes"), "scope.attributes"),
        }
    )


def _span(
    data: Any, resource: FrozenAttributes, scope: Optional[Scope], intern: _Interner
) -> SpanRecord:
    data = _mapping(data, "span")
    trace_id = _required_id(_get(data, "traceId", "trace_id"), 32, "traceId")
    span_id = _required_id(_get(data, "spanId", "span_id"), 16, "spanId")
    parent = _id(_get(data, "parentSpanId", "parent_span_id"), 16, "parentSpanId")
    name = data.get("name") or ""
    if not isinstance(name, str):
        raise ValueError(f"span name must be a string, got {name!r}")
    start = _int(_get(data, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    end = _int(_get(data, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano")
    status = _mapping(data.get("status"), "status")
    status_name = _enum(status.get("code"), _STATUS_NAME, "STATUS_CODE_", "status code")
    message = status.get("message") or None
    if message is not None and not isinstance(message, str):
        raise ValueError(f"status message must be a string, got {message!r}")
    events = tuple(
        SpanEvent(
            _string(e.get("name") or "", "events.name"),
            _int(_get(e, "timeUnixNano", "time_unix_nano"), "event timeUnixNano"),
            intern.attrs(_attributes(e.get("attributes"), "event attributes")),
        )
        for e in _mappings(data.get("events"), "events")
    )
    links = tuple(
        SpanLink(
            _required_id(_get(lk, "traceId", "trace_id"), 32, "link traceId"),
            _required_id(_get(lk, "spanId", "span_id"), 16, "link spanId"),
            intern.attrs(_attributes(lk.get("attributes"), "link attributes")),
        )
        for lk in _mappings(data.get("links"), "links")
    )
    trace_state = _get(data, "traceState", "trace_state") or ""
    if not isinstance(trace_state, str):
        raise ValueError(f"traceState must be a string, got {trace_state!r}")
    attributes = _attributes(data.get("attributes"), "attributes")
    test = attributes.get(TEST_ATTRIBUTE)
    if isinstance(test, str):
        del attributes[TEST_ATTRIBUTE]
    else:
        test = None
    return make_record(
        trace_id,
        span_id,
        parent,
        name,
        _enum(data.get("kind"), _KIND_NAME, "SPAN_KIND_", "span kind"),
        status_name,
        message,
        start,
        end,
        intern.attrs(attributes),
        events,
        links,
        resource,
        scope,
        trace_state,
        0,
        test,
    )


def records_from_traces_data(
    data: Mapping[str, Any],
    *,
    interner: Optional[_Interner] = None,
    on_error: Optional[Callable[[ValueError], None]] = None,
) -> List[SpanRecord]:
    """Return the span records of one ``TracesData`` (or ``ExportTraceServiceRequest``) dict.

    Accepts the OTLP/JSON mapping and protobuf's canonical JSON alike (see the
    module docstring).  Raises :class:`ValueError` naming the problem when the
    input is not a valid trace payload.  ``interner`` shares equal resources,
    scopes and attribute key sets between calls (one per file being read).

    With ``on_error``, a span (or a resource's or scope's spans) that cannot
    be read is passed over: ``on_error`` gets the :class:`ValueError` naming
    the problem, and the other spans are returned.
    """
    if not is_traces_data(data):
        raise ValueError(
            f"expected an OTLP TracesData object with 'resourceSpans', got {_preview(data)}"
        )
    intern = interner or _Interner()
    records: List[SpanRecord] = []
    try:
        for resource, scope, spans in _groups(data, intern, on_error):
            for span in spans:
                _add_span(records, span, resource, scope, intern, on_error)
    except RecursionError:
        raise ValueError("attribute values nested too deeply") from None
    return records


def _add_span(
    records: List[SpanRecord],
    span: Any,
    resource: FrozenAttributes,
    scope: Optional[Scope],
    intern: _Interner,
    on_error: Optional[Callable[[ValueError], None]],
) -> None:
    if on_error is None:
        records.append(_span(span, resource, scope, intern))
        return
    try:
        records.append(_span(span, resource, scope, intern))
    except RecursionError:
        on_error(ValueError("attribute values nested too deeply"))
    except ValueError as exc:
        on_error(exc)


_Group = Tuple[FrozenAttributes, Optional[Scope], List[Any]]


def _groups(
    data: Mapping[str, Any],
    intern: _Interner,
    on_error: Optional[Callable[[ValueError], None]] = None,
) -> Iterator[_Group]:
    """Each scope's resource, scope and list of raw spans, in the payload's order."""
    for resource_spans in _list(_get(data, "resourceSpans", "resource_spans"), "resourceSpans"):
        try:
            resource_spans = _mapping(resource_spans, "resourceSpans[]")
            resource_data = _mapping(resource_spans.get("resource"), "resource")
            attrs = _attributes(resource_data.get("attributes"), "resource.attributes")
            resource = intern.resource(attrs) if attrs else EMPTY_ATTRIBUTES
            scope_list = _get(resource_spans, "scopeSpans", "scope_spans")
            if scope_list is None:
                # OTLP before 0.19 named the level instrumentationLibrarySpans.
                scope_list = resource_spans.get("instrumentationLibrarySpans")
            scope_items = _list(scope_list, "scopeSpans")
        except ValueError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        for scope_spans in scope_items:
            try:
                scope_spans = _mapping(scope_spans, "scopeSpans[]")
                if "scope" not in scope_spans and "instrumentationLibrary" in scope_spans:
                    scope_spans = dict(scope_spans, scope=scope_spans["instrumentationLibrary"])
                scope = _scope(scope_spans, intern)
                spans = _list(scope_spans.get("spans"), "spans")
            except ValueError as exc:
                if on_error is None:
                    raise
                on_error(exc)
                continue
            yield resource, scope, spans


def records_from_otlp_line(
    line: Union[str, bytes], *, interner: Optional[_Interner] = None
) -> List[SpanRecord]:
    """Return the records of one OTLP JSON Lines line (one ``TracesData``; may hold many spans).

    Raises :class:`ValueError` naming the problem when the line is not JSON
    or not a trace payload.
    """
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    return records_from_traces_data(data, interner=interner)


# What our writer puts around one span: the resource and scope before it,
# the same text for every span of one tracer, and the closing brackets.
_SPANS_KEY = '"spans":['
_CLOSE = "]}]}]}"
# Stands in for the spans while a line's opening is checked; no opening
# that holds it is taken.
# An integer, as JSON has one way only to write it.
_SENTINEL = 7150931048862719


class OtlpLineDecoder:
    """Decodes OTLP JSON Lines, one line at a time, sharing what lines repeat.

    A line our writer made holds one resource and one scope, the same text
    for every span of a tracer: that opening is decoded once and looked up
    by its text, and only the spans are parsed.  Any other line goes through
    :func:`records_from_traces_data`.  A span that cannot be read is passed
    to ``on_error`` and the line's other spans are kept.
    """

    def __init__(self, shared: Shared) -> None:
        # The reader's shared values, handed in: parse, which owns them,
        # imports this module, not the other way round.
        self.shared = shared
        self.openings: Dict[str, Optional[Tuple[FrozenAttributes, Optional[Scope]]]] = {}
        # The previous line's opening and what it gave: a tracer's spans come
        # in runs, and comparing with one opening costs less than hashing it.
        self.last_opening: Tuple[str, Optional[Tuple[FrozenAttributes, Optional[Scope]]]] = ("", None)
        # Attribute key sets already found free of duplicates and of the test key.
        self.plain_keys: Dict[Tuple[str, ...], Tuple[str, ...]] = {}

    def decode(
        self, raw: Union[str, bytes], on_error: Callable[[ValueError], None]
    ) -> List[SpanRecord]:
        """The records of one line; raises :class:`ValueError` if it is no trace payload at all."""
        text = raw.decode("utf-8", "surrogatepass") if isinstance(raw, bytes) else raw
        try:
            found = self._fast(text.rstrip(), on_error)
        except (ValueError, StopIteration):
            found = None
        if found is not None:
            return found
        return records_from_traces_data(
            json.loads(raw), interner=self.shared.interner, on_error=on_error
        )

    def _fast(
        self, text: str, on_error: Callable[[ValueError], None]
    ) -> Optional[List[SpanRecord]]:
        if not text.endswith(_CLOSE):
            return None
        opening, shared = self.last_opening
        # An opening ends with its first ``"spans":[`` (which cannot overlap
        # itself), so a line starting with it is cut where find would cut it.
        if opening and text.startswith(opening):
            cut = len(opening)
        else:
            cut = text.find(_SPANS_KEY)
            if cut < 0:
                return None
            cut += len(_SPANS_KEY)
            opening = text[:cut]
            if opening in self.openings:
                shared = self.openings[opening]
            else:
                shared = self._learn(opening)
            self.last_opening = (opening, shared)
        if shared is None:
            return None
        # The opening was checked to leave the parser inside the one spans
        # array; the rest must be that array's items and the closing.
        body = text[cut - 1 : len(text) - len(_CLOSE) + 1]
        if fastjson.orjson_loads is not None:
            spans = fastjson.exact_loads(body)
        else:
            spans, end = _scan(body, 0)
            if end != len(body):
                return None
        if type(spans) is not list:
            return None
        resource, scope = shared
        records: List[SpanRecord] = []
        intern = self.shared.interner
        for span in spans:
            try:
                records.append(self._span(span, resource, scope))
            except _SLOW:
                _add_span(records, span, resource, scope, intern, on_error)
        if len(records) == 1:
            # The memory estimate reads our own line's length, which is about
            # 5/8 of an OTLP line's: estimated here, not by encoding the record.
            object.__setattr__(records[0], "_size", estimated_bytes(len(text) * 5 // 8))
        return records

    def _learn(self, opening: str) -> Optional[Tuple[FrozenAttributes, Optional[Scope]]]:
        found: Optional[Tuple[FrozenAttributes, Optional[Scope]]] = None
        sentinel = str(_SENTINEL)
        if sentinel not in opening:
            try:
                data = json.loads(opening + sentinel + _CLOSE)
                groups = list(_groups(data, self.shared.interner)) if is_traces_data(data) else []
            except (ValueError, RecursionError):
                groups = []
            spans = groups[0][2] if len(groups) == 1 else None
            if spans == [_SENTINEL] and type(spans[0]) is int:
                found = groups[0][0], groups[0][1]
        if len(self.openings) < _CACHE_LIMIT:
            self.openings[opening] = found
        return found

    def _span(
        self, data: Any, resource: FrozenAttributes, scope: Optional[Scope]
    ) -> SpanRecord:
        # _span() for the values our writer and the SDK's exporter write;
        # anything else raises, and _span() decides.
        shared = self.shared
        get = data.get
        trace_id = get("traceId")
        last = shared.last_trace
        if trace_id == last[0] and type(trace_id) is str:
            trace_id = last[1]
        elif type(trace_id) is str and len(trace_id) == 32:
            trace_id = shared.trace_id(trace_id)
        else:
            raise _Slow
        span_id = get("spanId")
        if type(span_id) is not str or len(span_id) != 16:
            raise _Slow
        span_id = hex_id(span_id, 16)
        parent = get("parentSpanId")
        if parent is None or parent == "":
            if get("parent_span_id") is not None:
                raise _Slow
            parent = None
        else:
            last = shared.last_parent
            if parent == last[0] and type(parent) is str:
                parent = last[1]
            elif type(parent) is not str or len(parent) != 16:
                raise _Slow
            else:
                parent = shared.parent_id(parent)
        name = get("name") or ""
        start = get("startTimeUnixNano")
        end = get("endTimeUnixNano")
        kind = get("kind")
        status = get("status")
        if (
            type(name) is not str
            or type(start) is not str
            or type(end) is not str
            or type(kind) is not int
            or type(status) is not dict
            or get("traceState") is not None
            or get("trace_state") is not None
        ):
            raise _Slow
        code = status.get("code", 0)
        message = status.get("message") or None
        if type(code) is not int or not (message is None or type(message) is str):
            raise _Slow
        items = get("attributes")
        test = None
        if items and type(items) is list:
            last_item = items[-1]
            if type(last_item) is dict and last_item.get("key") == TEST_ATTRIBUTE:
                value = last_item.get("value")
                if type(value) is not dict or len(value) != 1 or type(value.get("stringValue")) is not str:
                    raise _Slow
                test = value["stringValue"]
                test = shared.last_test if test == shared.last_test else shared.test(test)
                items = items[:-1]
        return make_record(
            trace_id,
            span_id,
            parent,
            shared.texts.get(name) or shared.text(name),
            _KIND_NAME[kind],
            _STATUS_NAME[code],
            message,
            int(start),
            int(end),
            self._attrs(items),
            self._events(get("events")),
            self._links(get("links")),
            resource,
            scope,
            "",
            0,
            test,
        )

    def _attrs(self, items: Any) -> FrozenAttributes:
        if items is None:
            return EMPTY_ATTRIBUTES
        if type(items) is not list:
            raise _Slow
        if not items:
            return EMPTY_ATTRIBUTES
        keys = []
        values = []
        for item in items:
            key = item["key"]
            value = item["value"]
            if type(key) is not str or type(value) is not dict or len(value) != 1:
                raise _Slow
            ((kind, value),) = value.items()
            if kind == "stringValue" and type(value) is str:
                pass
            elif kind == "intValue" and type(value) is str:
                value = int(value)
            elif kind == "boolValue" and type(value) is bool:
                pass
            elif kind == "doubleValue" and type(value) is float:
                pass
            elif kind == "arrayValue" and type(value) is dict:
                items = _array(value)
                value = tuple(map(self.shared.texts.get, items, items))
            else:
                raise _Slow
            keys.append(key)
            values.append(value)
        key_tuple = tuple(keys)
        found = self.plain_keys.get(key_tuple)
        if found is None:
            found = self._plain_keys(key_tuple)
        return make_attributes(found, self.shared.shared_values(tuple(values)))

    def _plain_keys(self, keys: Tuple[str, ...]) -> Tuple[str, ...]:
        """The shared tuple of ``keys``, checked once; :class:`_Slow` if they repeat or hold the test key."""
        # A test attribute anywhere but last is the general path's to take out.
        if len(set(keys)) != len(keys) or TEST_ATTRIBUTE in keys:
            raise _Slow
        found = self.shared.keysets.get(keys) or self.shared.keys(keys)
        if len(self.plain_keys) < _CACHE_LIMIT:
            self.plain_keys[keys] = found
        return found

    def _events(self, items: Any) -> Tuple[SpanEvent, ...]:
        if items is None:
            return ()
        if type(items) is not list:
            raise _Slow
        events = []
        texts = self.shared.texts
        for item in items:
            name = item.get("name") or ""
            timestamp = item.get("timeUnixNano")
            if type(name) is not str or type(timestamp) is not str:
                raise _Slow
            events.append(
                make_event(
                    texts.get(name) or self.shared.text(name),
                    int(timestamp),
                    self._attrs(item.get("attributes")),
                )
            )
        return tuple(events)

    def _links(self, items: Any) -> Tuple[SpanLink, ...]:
        if items is None:
            return ()
        if type(items) is not list:
            raise _Slow
        links = []
        for item in items:
            trace_id = item.get("traceId")
            span_id = item.get("spanId")
            if type(trace_id) is not str or len(trace_id) != 32 or type(span_id) is not str:
                raise _Slow
            if len(span_id) != 16:
                raise _Slow
            links.append(
                make_link(hex_id(trace_id, 32), hex_id(span_id, 16), self._attrs(item.get("attributes")))
            )
        return tuple(links)


def _array(data: Dict[str, Any]) -> Tuple[Any, ...]:
    # An array of strings is the common case; any other goes through _value().
    items = data.get("values")
    if type(items) is list and len(data) == 1:
        out = []
        for item in items:
            if type(item) is dict and len(item) == 1:
                value = item.get("stringValue")
                if type(value) is str:
                    out.append(value)
                    continue
            break
        else:
            return tuple(out)
    return _value({"arrayValue": data}, "value")  # type: ignore[no-any-return]


class _Slow(Exception):
    """A span the fast path does not take: :func:`_span` decides."""


# Whatever a span of unexpected shape makes the fast path raise.
_SLOW = (_Slow, ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError)

_scan: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _preview(data: Any) -> str:
    if isinstance(data, Mapping):
        keys = ", ".join(repr(k) for k in list(data)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return type(data).__name__
