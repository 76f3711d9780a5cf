"""The OTLP/HTTP receiver, in process: real HTTP on loopback, a processor on a temporary file."""

from __future__ import annotations

import gzip
import json
import socket
import sys
import threading
import urllib.error
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from pytest_tracestore import FileBasedSpanProcessor, OTLPReceiver, TraceStore, TraceStoreWarning

TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"


def otlp_json(name="GET /items", service="inventory", attributes=(), trace_id=TRACE_ID):
    """An ExportTraceServiceRequest in the OTLP/JSON mapping (hex ids, integer enums)."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "inventory.http", "version": "1.2"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": "051581bf3cb55c13",
                                "name": name,
                                "kind": 2,
                                "startTimeUnixNano": "1764201600000000000",
                                "endTimeUnixNano": "1764201600004000000",
                                "attributes": list(attributes),
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def post(url, body, content_type="application/json", headers=None, path="/v1/traces", method="POST"):
    """Return (status, content type, body) of one request."""
    request = urllib.request.Request(
        url + path, data=body, method=method,
        headers={"Content-Type": content_type, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def processor(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl")
    yield processor
    processor.shutdown()


@pytest.fixture
def receiver(processor):
    receiver = OTLPReceiver(processor, max_body_bytes=64 * 1024)
    receiver.start()
    yield receiver
    receiver.stop()


def test_json_request_lands_in_store_subscribers_and_file(receiver, processor):
    view = TraceStore()
    processor.subscribe(view)
    body = json.dumps(otlp_json(attributes=[{"key": "item.count", "value": {"intValue": "3"}}]))
    assert post(receiver.url, body.encode()) == (200, "application/json", b"{}")
    (span,) = processor.store
    assert (span.trace_id, span.name, span.kind, span.status) == (TRACE_ID, "GET /items", "SERVER", "ERROR")
    assert span.resource["service.name"] == "inventory"
    assert span.attributes == {"item.count": 3}
    assert list(view) == [span]
    processor.force_flush()
    assert TraceStore.load(processor.path).spans() == [span]
    assert receiver.received == 1


@pytest.mark.parametrize("compression", list(Compression))
def test_official_protobuf_exporter(receiver, processor, compression):
    exporter = OTLPSpanExporter(endpoint=receiver.url + "/v1/traces", compression=compression)
    provider = TracerProvider(resource=Resource.create({"service.name": "payments"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("payments.api", "3.1")
    with tracer.start_as_current_span("charge", attributes={"amount": 9.5, "tags": ["a", "b"]}) as root:
        with tracer.start_as_current_span("db.query"):
            pass
    provider.shutdown()
    by_name = {r.name: r for r in processor.store}
    assert set(by_name) == {"charge", "db.query"}
    charge = by_name["charge"]
    assert charge.trace_id == format(root.get_span_context().trace_id, "032x")
    assert by_name["db.query"].parent_span_id == charge.span_id
    assert charge.attributes == {"amount": 9.5, "tags": ("a", "b")}
    assert charge.resource["service.name"] == "payments"
    assert (charge.scope.name, charge.scope.version) == ("payments.api", "3.1")


def test_gzip_json_request(receiver, processor):
    body = gzip.compress(json.dumps(otlp_json()).encode())
    status, _, _ = post(receiver.url, body, headers={"Content-Encoding": "gzip"})
    assert status == 200
    assert [r.name for r in processor.store] == ["GET /items"]


def test_chunked_request(receiver, processor):
    body = json.dumps(otlp_json()).encode()
    assert post(receiver.url, body, headers={"Transfer-Encoding": "chunked"})[0] == 200
    assert [r.name for r in processor.store] == ["GET /items"]
    too_big = json.dumps(otlp_json(name="x" * 70 * 1024)).encode()
    status, _, answer = post(receiver.url, too_big, headers={"Transfer-Encoding": "chunked"})
    assert status == 413 and b"over the limit of 65536 bytes" in answer


@pytest.mark.parametrize(
    "body, content_type, headers, message",
    [
        (b"{not json", "application/json", {}, "malformed JSON body"),
        (b"[1, 2]", "application/json", {}, "expected an ExportTraceServiceRequest object, got list"),
        (json.dumps(otlp_json(trace_id="xyz")).encode(), "application/json", {}, "invalid traceId 'xyz'"),
        (b"\xff\xff\xff\xff", "application/x-protobuf", {}, "malformed protobuf body"),
        (b"\x1f\x8b\x08\x00garbage", "application/json", {"Content-Encoding": "gzip"}, "malformed gzip body"),
        (gzip.compress(b"{}")[:-6], "application/json", {"Content-Encoding": "gzip"}, "malformed gzip body"),
    ],
    ids=["json", "not-an-object", "bad-id", "protobuf", "gzip", "truncated-gzip"],
)
@pytest.mark.filterwarnings("ignore:pytest-tracestore. the OTLP receiver refused")
def test_malformed_bodies_get_400_and_the_receiver_keeps_serving(
    receiver, processor, body, content_type, headers, message
):
    status, answer_type, answer = post(receiver.url, body, content_type, headers)
    assert status == 400
    if answer_type == "application/json":
        assert json.loads(answer)["code"] == 3
        assert message in json.loads(answer)["message"]
    else:
        assert answer_type == "application/x-protobuf"
        assert answer.startswith(b"\x08\x03\x12") and message.encode() in answer
    assert len(processor.store) == 0
    assert post(receiver.url, json.dumps(otlp_json()).encode())[0] == 200


def test_oversized_bodies_get_413(receiver, processor):
    big = json.dumps(otlp_json(name="x" * 70 * 1024)).encode()
    status, _, answer = post(receiver.url, big)
    assert status == 413 and b"over the limit of 65536 bytes" in answer
    # Small on the wire, too large once decompressed.
    bomb = gzip.compress(b" " * (65 * 1024) + json.dumps(otlp_json()).encode())
    assert len(bomb) < 1024
    status, _, answer = post(receiver.url, bomb, headers={"Content-Encoding": "gzip"})
    assert status == 413 and b"once decompressed" in answer
    assert len(processor.store) == 0
    assert post(receiver.url, json.dumps(otlp_json()).encode())[0] == 200


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({"content_type": "text/plain"}, 415, "unsupported Content-Type 'text/plain'"),
        ({"headers": {"Content-Encoding": "br"}}, 415, "unsupported Content-Encoding 'br'"),
        ({"path": "/v1/metrics"}, 404, "unknown path '/v1/metrics'"),
        ({"method": "PUT"}, 405, "use POST /v1/traces"),
    ],
)
def test_other_requests_are_refused_with_a_reason(receiver, kwargs, status, message):
    got, _, answer = post(receiver.url, b"{}", **kwargs)
    assert got == status
    assert message in json.loads(answer)["message"]


def test_without_opentelemetry_proto_protobuf_gets_415_and_one_warning(receiver, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.proto.collector.trace.v1.trace_service_pb2", None)
    with pytest.warns(TraceStoreWarning, match=r"pip install 'pytest-tracestore\[otlp\]'") as caught:
        first = post(receiver.url, b"", "application/x-protobuf")
        second = post(receiver.url, b"", "application/x-protobuf")
    assert len(caught) == 1
    for status, content_type, answer in (first, second):
        assert (status, content_type) == (415, "application/x-protobuf")
        assert b"needs the opentelemetry-proto package" in answer


def test_bytes_and_key_value_list_attributes_fit_the_artifact(receiver, processor):
    attributes = [
        {"key": "raw", "value": {"bytesValue": "AAE="}},
        {"key": "map", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "1"}}]}}},
    ]
    assert post(receiver.url, json.dumps(otlp_json(attributes=attributes)).encode())[0] == 200
    (span,) = processor.store
    assert span.attributes == {"raw": "AAE=", "map": '{"a":1}'}
    assert processor.store.filter_by_attribute("map", '{"a":1}') == [span]
    processor.force_flush()
    assert TraceStore.load(processor.path).spans() == [span]


def test_binds_loopback_only_starts_once_and_stop_closes_the_port(processor):
    receiver = OTLPReceiver(processor)
    with pytest.raises(RuntimeError, match="not running"):
        _ = receiver.url
    url = receiver.start()
    assert receiver.start() == url
    host, port = url[len("http://"):].split(":")
    assert host == "127.0.0.1"
    socket.create_connection((host, int(port)), timeout=5).close()
    receiver.stop()
    receiver.stop()
    assert not receiver.running
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=5)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"port": -1}, "invalid port -1"), ({"max_body_bytes": 0}, "invalid max_body_bytes 0")],
)
def test_bad_arguments_raise_value_error(processor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OTLPReceiver(processor, **kwargs)


def test_chunk_size_must_be_hex_digits(receiver, processor):
    # int("-5", 16) is -5, and read(-5) would read to the end of the stream.
    host, port = receiver.url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):  # the receiver closes after an error
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"malformed chunked body: chunk size" in answer
    assert len(processor.store) == 0


class BlockingProcessor:
    """Stands in for the run's processor; add_record waits until released."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.records = []

    def add_record(self, record):
        self.entered.set()
        assert self.release.wait(30)
        self.records.append(record)


def test_stop_waits_for_a_request_being_recorded():
    processor = BlockingProcessor()
    receiver = OTLPReceiver(processor)  # type: ignore[arg-type]
    url = receiver.start()
    answers = []
    client = threading.Thread(target=lambda: answers.append(post(url, json.dumps(otlp_json()).encode())))
    client.start()
    assert processor.entered.wait(30)
    stopper = threading.Thread(target=receiver.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # still waiting for the request in flight
    processor.release.set()
    stopper.join(30)
    client.join(30)
    assert not stopper.is_alive()
    assert [r.name for r in processor.records] == ["GET /items"]
    assert answers[0][0] == 200
