"""A hand-built shop: four traces across the frontend, orders and payments services.

T1  a1 POST /checkout (frontend, server, error "payment failed")      0-900ms
    ├─ a2 load cart (frontend, internal)                               10-60
    └─ a3 POST /orders (frontend, client, error)                      100-880
       └─ a4 POST /orders (orders, server, error)                     110-870
          ├─ a5 INSERT orders (orders, client)                        120-150
          ├─ a6 POST /payments (orders, client, error, retry 1)       200-500
          │  └─ a7 POST /payments (payments, server, declined)        210-490
          └─ a8 POST /payments (orders, client, error, retry 2)       520-860
             └─ a9 POST /payments (payments, server, declined)        530-850
T2  b1 POST /checkout (frontend, server, ok)                           0-400
    ├─ b2 load cart                                                    5-25
    └─ b3 POST /orders (frontend, client)                             30-390
       └─ b4 POST /orders (orders, server)                            35-385
          ├─ b5 INSERT orders (orders, client)                        40-60
          └─ b6 POST /payments (orders, client, retry 1)              70-300
             └─ b7 POST /payments (payments, server, ok, linked to a9) 75-295
T3  c1 POST /payments (payments, server; its parent ff never arrived)  0-2500
    ├─ c2 fraud check (payments, internal, ok)                        10-2400
    └─ c3 notify (payments, producer, event "enqueued")             2410-2450
T4  d1 GET /health (frontend, server)                                  0-2
"""

from __future__ import annotations

from typing import Any, Dict, List

from pytest_tracestore import Scope, SpanEvent, SpanLink, SpanRecord

MS = 1_000_000
TRACES = {"T1": 0x11, "T2": 0x22, "T3": 0x33, "T4": 0x44}
BASE = {"T1": 1000, "T2": 2000, "T3": 3000, "T4": 4000}  # seconds
RESOURCES = {
    "frontend": {"service.name": "frontend", "deployment.environment": "production"},
    "orders": {"service.name": "orders", "deployment.environment": "production"},
    "payments": {
        "service.name": "payments",
        "deployment.environment": "production",
        "service.version": "2.1.0",
    },
}
SCOPES = {
    "frontend": Scope("flask", "3.0.0"),
    "orders": Scope("requests", "2.31.0"),
    "payments": Scope("grpc", "1.60.0", attributes={"language": "python"}),
}
INSERT = 'INSERT INTO orders VALUES ("$1")'
POST = {"http.request.method": "POST"}


def trace_id(label: str) -> str:
    return f"{TRACES[label]:032x}"


def span_id(label: str) -> str:
    return f"{int(label, 16):016x}"


def _declined(at_ms: int, trace: str) -> SpanEvent:
    return SpanEvent(
        "exception",
        BASE[trace] * 10**9 + at_ms * MS,
        {"exception.type": "shop.payments.Declined", "exception.message": "card declined"},
    )


# label: trace, parent, name, service, kind, status, message, start, end, attributes, extra
_SPANS: List[Any] = [
    ("a1", "T1", None, "POST /checkout", "frontend", "SERVER", "ERROR", "payment failed", 0, 900,
     {**POST, "http.route": "/checkout", "http.response.status_code": 502}, {}),
    ("a2", "T1", "a1", "load cart", "frontend", "INTERNAL", "UNSET", None, 10, 60,
     {"cart.items": 3}, {}),
    ("a3", "T1", "a1", "POST /orders", "frontend", "CLIENT", "ERROR", None, 100, 880,
     {**POST, "http.response.status_code": 502}, {}),
    ("a4", "T1", "a3", "POST /orders", "orders", "SERVER", "ERROR", None, 110, 870,
     {**POST, "http.route": "/orders", "http.response.status_code": 502, "order.id": "o-1001"}, {}),
    ("a5", "T1", "a4", "INSERT orders", "orders", "CLIENT", "UNSET", None, 120, 150,
     {"db.system": "postgresql", "db.statement": INSERT}, {}),
    ("a6", "T1", "a4", "POST /payments", "orders", "CLIENT", "ERROR", None, 200, 500,
     {**POST, "retry.attempt": 1, "http.response.status_code": 402}, {}),
    ("a7", "T1", "a6", "POST /payments", "payments", "SERVER", "ERROR", "card declined", 210, 490,
     {**POST, "http.route": "/payments", "http.response.status_code": 402,
      "payment.amount": 42.5, "payment.method": "card"},
     {"events": [_declined(480, "T1")]}),
    ("a8", "T1", "a4", "POST /payments", "orders", "CLIENT", "ERROR", None, 520, 860,
     {**POST, "retry.attempt": 2, "http.response.status_code": 402}, {}),
    ("a9", "T1", "a8", "POST /payments", "payments", "SERVER", "ERROR", "card declined", 530, 850,
     {**POST, "http.route": "/payments", "http.response.status_code": 402,
      "payment.amount": 42.5, "payment.method": "card"},
     {"events": [_declined(840, "T1")]}),
    ("b1", "T2", None, "POST /checkout", "frontend", "SERVER", "OK", None, 0, 400,
     {**POST, "http.route": "/checkout", "http.response.status_code": 200}, {}),
    ("b2", "T2", "b1", "load cart", "frontend", "INTERNAL", "UNSET", None, 5, 25,
     {"cart.items": 1}, {}),
    ("b3", "T2", "b1", "POST /orders", "frontend", "CLIENT", "UNSET", None, 30, 390,
     {**POST, "http.response.status_code": 201}, {}),
    ("b4", "T2", "b3", "POST /orders", "orders", "SERVER", "UNSET", None, 35, 385,
     {**POST, "http.route": "/orders", "http.response.status_code": 201, "order.id": "o-1002"}, {}),
    ("b5", "T2", "b4", "INSERT orders", "orders", "CLIENT", "UNSET", None, 40, 60,
     {"db.system": "postgresql", "db.statement": INSERT}, {}),
    ("b6", "T2", "b4", "POST /payments", "orders", "CLIENT", "UNSET", None, 70, 300,
     {**POST, "retry.attempt": 1, "http.response.status_code": 200}, {}),
    ("b7", "T2", "b6", "POST /payments", "payments", "SERVER", "OK", None, 75, 295,
     {**POST, "http.route": "/payments", "http.response.status_code": 200,
      "payment.amount": 19.99, "payment.method": "paypal"},
     {"links": [SpanLink(0x11, 0xA9, {"reason": "retry of declined"})]}),
    ("c1", "T3", "ff", "POST /payments", "payments", "SERVER", "UNSET", None, 0, 2500,
     {**POST, "http.route": "/payments", "http.response.status_code": 200,
      "payment.amount": 250, "payment.method": "card", "payment.tags": ["gift", "priority"]}, {}),
    ("c2", "T3", "c1", "fraud check", "payments", "INTERNAL", "OK", None, 10, 2400,
     {"fraud.score": 0.93}, {}),
    ("c3", "T3", "c1", "notify", "payments", "PRODUCER", "UNSET", None, 2410, 2450,
     {"messaging.system": "kafka"},
     {"events": [SpanEvent("enqueued", 3000 * 10**9 + 2420 * MS, {"queue": "emails"})]}),
    ("d1", "T4", None, "GET /health", "frontend", "SERVER", "UNSET", None, 0, 2,
     {"http.request.method": "GET", "http.route": "/health", "http.response.status_code": 200,
      "http.user_agent": "kube-probe/1.29", "check name": "liveness", "synthetic": True}, {}),
]

LABELS = [row[0] for row in _SPANS]


def shop_records() -> List[SpanRecord]:
    """The shop's spans, in the order they ended (children before parents)."""
    records: List[SpanRecord] = []
    for row in _SPANS:
        label, trace, parent, name, service, kind, status, message, start, end, attrs, extra = row
        base = BASE[trace] * 10**9
        records.append(
            SpanRecord(
                trace_id=TRACES[trace],
                span_id=span_id(label),
                parent_span_id=None if parent is None else span_id(parent),
                name=name,
                kind=kind,
                status=status,
                status_description=message,
                start_time=base + start * MS,
                end_time=base + end * MS,
                attributes=attrs,
                resource=RESOURCES[service],
                scope=SCOPES[service],
                **extra,
            )
        )
    records.sort(key=lambda r: r.end_time)
    return records


def label_of(records: List[SpanRecord]) -> Dict[str, str]:
    """Span id to label (``00000000000000a4`` to ``a4``)."""
    return {r.span_id: r.span_id.lstrip("0") for r in records}
