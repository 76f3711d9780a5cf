"""Span records as Jaeger's ``/api/traces`` JSON, which Jaeger UI opens without a backend.

The shape is ``{"data": [{"traceID", "spans", "processes", "warnings"}]}``,
with times in microseconds, attributes as typed ``tags`` and one process per
distinct resource.  This module imports no pytest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Dict, List

from .record import SpanRecord
from .render import group_by_trace
from .serialize import encode_line

__all__ = ["JaegerWriter", "records_to_jaeger", "trace_to_jaeger"]


def _tag(key: str, value: Any) -> Dict[str, Any]:
    # Jaeger tags have no arrays: they are written as JSON text, as the
    # OpenTelemetry-to-Jaeger translation in the Collector does.
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"key": key, "type": "string", "value": repr(value)}
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": json.dumps(_plain(value), ensure_ascii=False)}


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _tags(attributes: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return [_tag(k, v) for k, v in attributes.items()]


def _span(record: SpanRecord, process_id: str) -> Dict[str, Any]:
    references = []
    if record.parent_span_id is not None:
        references.append(
            {"refType": "CHILD_OF", "traceID": record.trace_id, "spanID": record.parent_span_id}
        )
    for link in record.links:
        references.append(
            {"refType": "FOLLOWS_FROM", "traceID": link.trace_id, "spanID": link.span_id}
        )
    tags = _tags(record.attributes)
    if record.kind != "INTERNAL":
        tags.append(_tag("span.kind", record.kind.lower()))
    if record.status != "UNSET":
        tags.append(_tag("otel.status_code", record.status))
    if record.status_description:
        tags.append(_tag("otel.status_description", record.status_description))
    if record.is_error:
        tags.append(_tag("error", True))
    if record.scope is not None:
        tags.append(_tag("otel.scope.name", record.scope.name))
        if record.scope.version:
            tags.append(_tag("otel.scope.version", record.scope.version))
    if record.trace_state:
        tags.append(_tag("w3c.tracestate", record.trace_state))
    logs = [
        {
            "timestamp": event.timestamp // 1000,
            "fields": [_tag("event", event.name)] + _tags(event.attributes),
        }
        for event in record.events
    ]
    return {
        "traceID": record.trace_id,
        "spanID": record.span_id,
        "operationName": record.name,
        "references": references,
        "startTime": record.start_time // 1000,
        "duration": (record.end_time - record.start_time) // 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": None,
        "flags": 1,
    }


def trace_to_jaeger(trace_id: str, spans: Iterable[SpanRecord]) -> Dict[str, Any]:
    """One trace's entry of the ``data`` list, its spans ordered by start time."""
    processes: Dict[str, Dict[str, Any]] = {}
    keys: List[Any] = []
    out_spans = []
    for record in sorted(spans, key=lambda r: r.start_time):
        resource = record.resource
        try:
            index = keys.index(resource)
        except ValueError:
            index = len(keys)
            keys.append(resource)
            service = resource.get("service.name")
            processes[f"p{index + 1}"] = {
                "serviceName": service if isinstance(service, str) else "unknown_service",
                "tags": _tags({k: v for k, v in resource.items() if k != "service.name"}),
            }
        out_spans.append(_span(record, f"p{index + 1}"))
    return {"traceID": trace_id, "spans": out_spans, "processes": processes, "warnings": None}


def records_to_jaeger(records: Iterable[SpanRecord]) -> Dict[str, Any]:
    """Return the Jaeger ``/api/traces`` response holding ``records``, one entry per trace.

    Traces come in the order their first span appears; each trace's spans are
    ordered by start time.  A resource becomes a process named by its
    ``service.name`` (``unknown_service`` when absent), its other attributes
    as the process's tags.
    """
    data = [trace_to_jaeger(t, spans) for t, spans in group_by_trace(records).items()]
    return {"data": data, **_TAIL}


_TAIL: Dict[str, Any] = {"total": 0, "limit": 0, "offset": 0, "errors": None}


class JaegerWriter:
    """Writes a Jaeger ``/api/traces`` document a trace at a time, never holding it whole.

    Call :meth:`trace` for each group of spans, then :meth:`close`; bytes go
    to ``write``.  A trace given in two groups becomes two entries with the
    same ``traceID``.
    """

    def __init__(self, write: Callable[[bytes], Any]) -> None:
        self._write = write
        self._entries = 0

    def trace(self, trace_id: str, spans: Iterable[SpanRecord]) -> None:
        """Write one entry of the ``data`` list."""
        text = json.dumps(trace_to_jaeger(trace_id, spans), ensure_ascii=False)
        self._write((b'{"data": [' if not self._entries else b", ") + encode_line(text))
        self._entries += 1

    def close(self) -> None:
        """End the document (an empty ``data`` list if no trace was written)."""
        tail = json.dumps(_TAIL)[1:]
        self._write((b'{"data": [' if not self._entries else b"") + b"], " + tail.encode() + b"\n")
