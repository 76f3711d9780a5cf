"""OTLP/JSON text written straight from records, without the dicts in between.

:mod:`.otlp` builds a ``TracesData`` as nested dicts (a handful per
attribute) for ``json`` to encode; this module writes the same text from
templates: each attribute key's prefix and each resource's and scope's text
is made once and reused, and values of the common types (strings, booleans,
64-bit integers, finite floats and arrays of them) are written in place.
Any other value goes through the general encoder, so the text is always what
``dumps_line(records_to_traces_data(records))`` gives (a test compares them).
This module imports no pytest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from json.encoder import encode_basestring as _encode_str  # what dumps_line escapes with
from typing import Any, Callable, Dict, List, Optional, Tuple

from .otlp import (
    _INT64_MAX,
    _INT64_MIN,
    _KIND_NUMBER,
    _STATUS_NUMBER,
    TEST_ATTRIBUTE,
    _any_value,
    _scope_spans,
    group_spans,
)
from .record import FrozenAttributes, Scope, SpanRecord
from .serialize import _CACHE_LIMIT, dumps_line

__all__ = ["OtlpTextEncoder"]

_Frame = Tuple[str, str]


def _value_text(value: Any) -> str:
    """The OTLP ``AnyValue`` of one attribute value, as compact JSON."""
    kind = type(value)
    if kind is str:
        return '{"stringValue":' + _encode_str(value) + "}"
    if kind is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return '{"intValue":"%d"}' % value
    elif kind is float:
        if math.isfinite(value):
            return '{"doubleValue":' + float.__repr__(value) + "}"
    elif kind is tuple:
        return '{"arrayValue":{"values":[' + ",".join(map(_value_text, value)) + "]}}"
    return dumps_line(_any_value(value))


class OtlpTextEncoder:
    """Writes records as OTLP/JSON text: one span, a one-span line, or a whole ``TracesData``.

    Holds caches of what repeats across the spans of a file (key prefixes,
    resource and scope text), each bounded; one encoder serves one stream
    of records.
    """

    def __init__(self) -> None:
        # id(keys) -> (keys, the text before each value, whether the test key is among them).
        self._prefixes: Dict[int, Tuple[Tuple[str, ...], Tuple[str, ...], bool]] = {}
        # The last test's object and its KeyValue text.
        self._last_test: Tuple[Any, str] = (None, "")
        # id(resource) -> (resource, its text); id(scope) -> (scope, head, tail).
        # Holding the objects keeps their ids unique.
        self._resources: Dict[int, Tuple[Any, str]] = {}
        self._scopes: Dict[int, Tuple[Any, str, str]] = {}

    # -- the parts of a span ----------------------------------------------

    def _prefixes_of(self, keys: Tuple[str, ...]) -> Tuple[Tuple[str, ...], bool]:
        """The text before each value of ``keys``, and whether ``keys`` holds :data:`TEST_ATTRIBUTE`."""
        # Keyed by id(): records read from one file share their key tuples.
        entry = self._prefixes.get(id(keys))
        if entry is None or entry[0] is not keys:
            prefixes = tuple('{"key":' + _encode_str(key) + ',"value":' for key in keys)
            entry = (keys, prefixes, TEST_ATTRIBUTE in keys)
            if len(self._prefixes) < _CACHE_LIMIT:
                self._prefixes[id(keys)] = entry
        return entry[1], entry[2]

    def _attributes(self, keys: Tuple[str, ...], values: Tuple[Any, ...]) -> str:
        """The JSON array of ``KeyValue`` objects for attribute ``keys`` and ``values``."""
        if not keys:
            return "[]"
        prefixes = self._prefixes_of(keys)[0]
        return "[" + "},".join(map(str.__add__, prefixes, map(_value_text, values))) + "}]"

    def _with_test(self, keys: Tuple[str, ...], values: Tuple[Any, ...], test: str) -> str:
        """The span's attributes with its test as ``test.case.name`` last, as :mod:`.otlp` puts it."""
        last = self._test_text(test)
        if not keys:
            return "[" + last
        prefixes, has_test = self._prefixes_of(keys)
        if has_test:
            kept = [i for i, key in enumerate(keys) if key != TEST_ATTRIBUTE]
            own = self._attributes(tuple(keys[i] for i in kept), tuple(values[i] for i in kept))
            return "[" + last if own == "[]" else own[:-1] + "," + last
        return "[" + "},".join(map(str.__add__, prefixes, map(_value_text, values))) + "}," + last

    def _test_text(self, test: str) -> str:
        """The ``test.case.name`` ``KeyValue`` and the closing bracket: the same for a test's spans in a row."""
        if test is not self._last_test[0]:
            text = '{"key":"' + TEST_ATTRIBUTE + '","value":{"stringValue":' + _encode_str(test) + "}}]"
            self._last_test = (test, text)
        return self._last_test[1]

    def _mapping(self, attributes: FrozenAttributes) -> str:
        return self._attributes(attributes._keys, attributes._values)

    def span(self, record: SpanRecord) -> str:
        """The OTLP ``Span`` object of one record, as compact JSON."""
        parts = ['{"traceId":"', record.trace_id, '","spanId":"', record.span_id, '"']
        if record.trace_state:
            parts += (',"traceState":', _encode_str(record.trace_state))
        if record.parent_span_id is not None:
            parts += (',"parentSpanId":"', record.parent_span_id, '"')
        parts += (
            ',"name":', _encode_str(record.name),
            ',"kind":%d,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"'
            % (_KIND_NUMBER[record.kind], record.start_time, record.end_time),
        )
        keys = record._attribute_keys
        test = record.test
        if test is not None:
            parts += (',"attributes":', self._with_test(keys, record._attribute_values, test))
        elif keys:
            parts += (',"attributes":', self._attributes(keys, record._attribute_values))
        if record.events:
            parts.append(',"events":[')
            parts.append(",".join([
                '{"timeUnixNano":"%d","name":%s,"attributes":%s}'
                % (event.timestamp, _encode_str(event.name), self._mapping(event.attributes))
                for event in record.events
            ]))
            parts.append("]")
        if record.links:
            parts.append(',"links":[')
            parts.append(",".join([
                '{"traceId":"%s","spanId":"%s","attributes":%s}'
                % (link.trace_id, link.span_id, self._mapping(link.attributes))
                for link in record.links
            ]))
            parts.append("]")
        if record.status_description is not None:
            parts += (',"status":{"message":', _encode_str(record.status_description), ",")
        else:
            parts.append(',"status":{')
        parts.append('"code":%d}}' % _STATUS_NUMBER[record.status])
        return "".join(parts)

    # -- what frames the spans --------------------------------------------

    def _resource(self, resource: FrozenAttributes) -> str:
        """``"resource":{...}``, the member of a ``ResourceSpans`` before its scopes."""
        entry = self._resources.get(id(resource))
        if entry is None or entry[0] is not resource:
            inner = '{"attributes":' + self._mapping(resource) + "}" if resource else "{}"
            entry = (resource, '"resource":' + inner)
            if len(self._resources) < _CACHE_LIMIT:
                self._resources[id(resource)] = entry
        return entry[1]

    def _scope(self, scope: Optional[Scope]) -> _Frame:
        """The text of a ``ScopeSpans`` before and after its spans."""
        entry = self._scopes.get(id(scope))
        if entry is None or entry[0] is not scope:
            whole = dumps_line(_scope_spans(scope, []))
            cut = whole.index('"spans":[]') + len('"spans":[')
            entry = (scope, whole[:cut], whole[cut:])
            if len(self._scopes) < _CACHE_LIMIT:
                self._scopes[id(scope)] = entry
        return entry[1], entry[2]

    def line(self, record: SpanRecord) -> str:
        """A ``TracesData`` holding ``record`` alone, as compact JSON (no newline)."""
        head, tail = self._scope(record.scope)
        return (
            '{"resourceSpans":[{' + self._resource(record.resource) + ',"scopeSpans":['
            + head + self.span(record) + tail + "]}]}"
        )

    def traces_data(self, records: Iterable[SpanRecord]) -> str:
        """``records`` as one ``TracesData``, grouped as ``records_to_traces_data`` groups them."""
        resources = group_spans(records, self.span)
        return '{"resourceSpans":[' + ",".join(map(self._resource_spans, resources)) + "]}"

    def _resource_spans(self, group: Tuple[Any, List[Tuple[Any, List[str]]]]) -> str:
        resource, scopes = group
        scope_text: Callable[[Optional[Scope]], _Frame] = self._scope
        inner = ",".join(
            head + ",".join(spans) + tail for (head, tail), spans in ((scope_text(s), t) for s, t in scopes)
        )
        return "{" + self._resource(resource) + ',"scopeSpans":[' + inner + "]}"
