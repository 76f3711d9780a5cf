"""Reading one OTLP export request body a batch of spans at a time, in bounded memory.

An ``ExportTraceServiceRequest`` nests spans three levels deep
(``resourceSpans[].scopeSpans[].spans[]``).  Decoding the whole body into one
dict tree costs several times its size, so these readers walk the outer
levels themselves and decode the spans a batch at a time: each batch comes
out as a small ``TracesData`` dict (its resource, its scope and at most
``batch`` spans) that :func:`~pytest_tracestore.otlp.records_from_traces_data`
turns into records, which the caller hands on before the next batch is read.

Problems with the body as a whole raise :class:`ValueError` naming them.
This module imports no pytest.
"""

from __future__ import annotations

import json
import re
from array import array
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

__all__ = ["Batch", "json_batches", "protobuf_batches", "DEFAULT_BATCH"]

#: Spans per batch: large enough that resource and scope are read once for
#: many spans, small enough that a batch's dicts are a sliver of the body.
DEFAULT_BATCH = 256

#: A ``TracesData`` dict with one resource, one scope and its spans, and how many spans.
Batch = Tuple[Dict[str, Any], int]

_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _batch(resource: Any, scope_spans: Dict[str, Any], spans: List[Any]) -> Batch:
    level = dict(scope_spans, spans=spans)
    data = {"resourceSpans": [{"resource": resource, "scopeSpans": [level]}]}
    return data, len(spans)


# -- JSON ---------------------------------------------------------------


class _Cursor:
    """A position in a JSON text; decodes one value at a time with the C scanner."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._decode = json.JSONDecoder().raw_decode

    def peek(self) -> str:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.text[self.pos : self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = self.text[self.pos : self.pos + 20] or "the end of the body"
            raise ValueError(f"malformed JSON body: expected {char!r} at {self.pos}, found {found!r}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        try:
            found, self.pos = self._decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed JSON body: {exc}") from None
        return found

    def _items(self, opening: str, closing: str, keyed: bool) -> Iterator[str]:
        # Yields before each member's value (after its key, for an object):
        # the caller reads the value, then the loop reads the separator.
        self.expect(opening)
        if self.peek() == closing:
            self.pos += 1
            return
        while True:
            key = ""
            if keyed:
                if self.peek() != '"':
                    self.expect('"')
                key = self.value()
                self.expect(":")
            yield key
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect(closing)
            return

    def members(self) -> Iterator[str]:
        """Yield each key of the object here; the caller reads each value."""
        return self._items("{", "}", keyed=True)

    def elements(self, where: str) -> Iterator[str]:
        """Yield before each element of the array here (``null`` is none)."""
        if self.peek() == "n":
            if self.value() is not None:
                raise ValueError(f"{where} must be an array")
            return iter(())
        if self.peek() != "[":
            raise ValueError(f"{where} must be an array, got {type(self.value()).__name__}")
        return self._items("[", "]", keyed=False)

    def is_object(self) -> bool:
        return self.peek() == "{"


def json_batches(text: str, batch: int = DEFAULT_BATCH) -> Iterator[Batch]:
    """Yield the spans of one OTLP/JSON request body as batches.

    Raises :class:`ValueError` for a body that is not JSON, too deeply nested,
    or not an ``ExportTraceServiceRequest`` object.
    """
    return _last_batch_alone(_json_body(_Cursor(text), batch))


def _json_body(cursor: _Cursor, batch: int) -> Iterator[Batch]:
    try:
        yield from _json_request(cursor, batch)
    except RecursionError:
        raise ValueError("malformed JSON body: nested too deeply") from None


_Item = TypeVar("_Item")


def _last_batch_alone(batches: Iterator[_Item]) -> Iterator[_Item]:
    """``batches``, each handed on once the next has been read.

    The last one comes after the reader has finished, and so after the body
    it read (held by nothing else) is gone: a request of one huge span does
    not hold the body and the span's line at once.  Batches read before a
    problem with the body are handed on before the ``ValueError``.
    """
    pending: Optional[_Item] = None
    try:
        for item in batches:
            if pending is not None:
                yield pending
            pending = item
    except ValueError:
        if pending is not None:
            yield pending
        raise
    del batches
    if pending is not None:
        yield pending


def _json_request(cursor: _Cursor, batch: int) -> Iterator[Batch]:
    if not cursor.is_object():
        found = cursor.value()
        raise ValueError(f"expected an ExportTraceServiceRequest object, got {type(found).__name__}")
    keys = []
    for key in cursor.members():
        keys.append(key)
        if key in ("resourceSpans", "resource_spans"):
            for _ in cursor.elements("resourceSpans"):
                yield from _json_resource_spans(cursor, batch)
        else:
            cursor.value()
    if cursor.peek():
        raise ValueError(f"malformed JSON body: extra data at {cursor.pos}")
    if keys and not {"resourceSpans", "resource_spans"} & set(keys):
        shown = ", ".join(repr(k) for k in keys[:5])
        raise ValueError(
            f"expected an OTLP TracesData object with 'resourceSpans', got an object with keys {shown}"
        )


def _json_resource_spans(cursor: _Cursor, batch: int) -> Iterator[Batch]:
    if not cursor.is_object():
        cursor.value()
        raise ValueError("resourceSpans[] must be an object")
    resource: Any = None
    later: List[int] = []  # scopeSpans met before the resource: read again once it is known
    for key in cursor.members():
        if key in ("scopeSpans", "scope_spans", "instrumentationLibrarySpans"):
            for _ in cursor.elements("scopeSpans"):
                if resource is None:
                    later.append(cursor.pos)
                    cursor.value()
                else:
                    yield from _json_scope_spans(cursor, resource, batch)
        elif key == "resource":
            resource = cursor.value()
            if resource is None:
                resource = {}
        else:
            cursor.value()
    if later:
        end = cursor.pos
        for pos in later:
            cursor.pos = pos
            yield from _json_scope_spans(cursor, resource or {}, batch)
        cursor.pos = end


def _json_scope_spans(cursor: _Cursor, resource: Any, batch: int) -> Iterator[Batch]:
    if not cursor.is_object():
        cursor.value()
        raise ValueError("scopeSpans[] must be an object")
    # The scope's schemaUrl may follow its spans (protobuf's JSON writes fields
    # in number order), so spans are first only located, then read in batches
    # once the whole level is known.
    level: Dict[str, Any] = {}
    starts: List[int] = []
    for key in cursor.members():
        if key == "spans":
            for _ in cursor.elements("spans"):
                starts.append(cursor.pos)
                cursor.value()
        else:
            level[key] = cursor.value()
    end = cursor.pos
    for first in range(0, len(starts), batch):
        spans = []
        for pos in starts[first : first + batch]:
            cursor.pos = pos
            spans.append(cursor.value())
        yield _batch(resource, level, spans)
    cursor.pos = end


# -- protobuf -----------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(data: memoryview, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("malformed protobuf body: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("malformed protobuf body: varint too long")


def _fields(data: memoryview) -> Iterator[Tuple[int, int, int]]:
    """Yield (field number, start, end) of each field of one message; start and end
    (offsets in ``data``) are those of a length-delimited field's bytes, else -1."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("malformed protobuf body: a field runs past the end")
            yield number, pos, pos + size
            pos += size
            continue
        if wire == _VARINT:
            _, pos = _varint(data, pos)
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
        else:
            raise ValueError(f"malformed protobuf body: wire type {wire}")
        if pos > len(data):
            raise ValueError("malformed protobuf body: a field runs past the end")
        yield number, -1, -1


class _Protobuf:
    """The generated message classes and ``MessageToDict``, imported on first use."""

    def __init__(self) -> None:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: F401
            ExportTraceServiceRequest,
        )
        from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
        from opentelemetry.proto.resource.v1.resource_pb2 import Resource
        from opentelemetry.proto.trace.v1.trace_pb2 import Span

        self.to_dict: Callable[[Any], Dict[str, Any]] = MessageToDict
        self.error = DecodeError
        self.span, self.scope, self.resource = Span, InstrumentationScope, Resource

    def message(self, cls: Any, parts: List[memoryview], where: str) -> Dict[str, Any]:
        # A singular field sent more than once is merged, as protobuf does.
        message = cls()
        try:
            for part in parts:
                message.MergeFromString(bytes(part))
        except self.error as exc:
            raise ValueError(f"malformed protobuf body: {where}: {exc}") from None
        return self.to_dict(message)

    def spans(self, parts: List[bytes]) -> List[Dict[str, Any]]:
        """The span dicts of ``parts``, which it empties: each part is let go once
        parsed, before its dict is made."""
        parts.reverse()
        dicts = []
        while parts:
            message = self.span()
            try:
                message.MergeFromString(parts.pop())
            except self.error as exc:
                raise ValueError(f"malformed protobuf body: span: {exc}") from None
            dicts.append(self.to_dict(message))
        return dicts


#: What the protobuf walker hands on: a batch's resource and scope level
#: dicts, and its spans' bytes, copied out of the body.
_Plan = Tuple[Dict[str, Any], Dict[str, Any], List[bytes]]


def protobuf_batches(body: bytes, batch: int = DEFAULT_BATCH) -> Iterator[Batch]:
    """Yield the spans of one OTLP/protobuf request body as batches.

    Needs ``opentelemetry-proto`` (``ImportError`` without it).  Raises
    :class:`ValueError` for a body that is not a valid message.
    """
    proto = _Protobuf()
    return _protobuf_decoded(proto, _last_batch_alone(_protobuf_request(proto, memoryview(body), batch)))


def _protobuf_decoded(proto: _Protobuf, plans: Iterator[_Plan]) -> Iterator[Batch]:
    # The spans are parsed here, after the walker: the last batch's once the
    # walker has finished and let the body go, so that a request of one huge
    # span never holds the body, the span's bytes and the parsed span at once.
    for resource, level, parts in plans:
        yield _batch(resource, level, proto.spans(parts))


def _protobuf_request(proto: _Protobuf, view: memoryview, batch: int) -> Iterator[_Plan]:
    for number, start, end in _fields(view):
        if number == 1 and start >= 0:
            yield from _protobuf_resource_spans(proto, view[start:end], batch)


def _protobuf_resource_spans(proto: _Protobuf, data: memoryview, batch: int) -> Iterator[_Plan]:
    resource_parts: List[memoryview] = []
    scope_spans: List[memoryview] = []
    for number, start, end in _fields(data):
        if start >= 0 and number == 1:
            resource_parts.append(data[start:end])
        elif start >= 0 and number == 2:
            scope_spans.append(data[start:end])
    resource = proto.message(proto.resource, resource_parts, "resource")
    for level in scope_spans:
        yield from _protobuf_scope_spans(proto, resource, level, batch)


def _protobuf_scope_spans(
    proto: _Protobuf, resource: Dict[str, Any], data: memoryview, batch: int
) -> Iterator[_Plan]:
    scope_parts: List[memoryview] = []
    # Where each span is, as offsets: a view per span would cost more than
    # the span's own bytes.
    spans = array("q")
    schema_url = ""
    for number, start, end in _fields(data):
        if start < 0:
            continue
        if number == 1:
            scope_parts.append(data[start:end])
        elif number == 2:
            spans.append(start)
            spans.append(end)
        elif number == 3:
            try:
                schema_url = str(data[start:end], "utf-8")
            except UnicodeDecodeError:
                raise ValueError("malformed protobuf body: schema_url is not UTF-8") from None
    level: Dict[str, Any] = {"scope": proto.message(proto.scope, scope_parts, "scope")}
    if schema_url:
        level["schemaUrl"] = schema_url
    for first in range(0, len(spans), 2 * batch):
        bounds = spans[first : first + 2 * batch]
        yield resource, level, [data[bounds[i] : bounds[i + 1]].tobytes() for i in range(0, len(bounds), 2)]
