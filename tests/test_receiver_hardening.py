"""The OTLP/HTTP receiver under hostile or heavy use: framing, compression, timestamps, load, memory.

Real HTTP on loopback against an in-process receiver; memory is measured in a
process of its own.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_tracestore import FileBasedSpanProcessor, OTLPReceiver, TraceStoreWarning
from pytest_tracestore.otlp import records_from_traces_data

TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"
LIMIT = 1024 * 1024


def span_json(number=1, name="op", start="1764201600000000000", end="1764201600004000000", **extra):
    return {
        "traceId": TRACE_ID,
        "spanId": format(number, "016x"),
        "name": name,
        "startTimeUnixNano": start,
        "endTimeUnixNano": end,
        **extra,
    }


def request_json(*spans, service="inventory"):
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    level = {"scope": {"name": "inventory.http"}, "spans": list(spans or [span_json()])}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [level]}]}


def encoded(data):
    return json.dumps(data).encode()


def host_port(receiver):
    host, port = receiver.url[len("http://"):].split(":")
    return host, int(port)


def post(receiver, body, content_type="application/json", headers=None):
    """(status, parsed answer) of one request on a connection of its own."""
    connection = http.client.HTTPConnection(*host_port(receiver), timeout=30)
    try:
        connection.request("POST", "/v1/traces", body, {"Content-Type": content_type, **(headers or {})})
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if content_type == "application/json":
        return response.status, json.loads(answer)
    return response.status, answer


def exchange(receiver, data):
    """Send raw bytes; return everything the receiver answers until it closes the connection."""
    with socket.create_connection(host_port(receiver), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            chunk = sock.recv(65536)  # a receiver that keeps the connection open times out here
            if not chunk:
                return answer
            answer += chunk


@pytest.fixture
def processor(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "spans.jsonl", max_spans=5000)
    yield processor
    processor.shutdown()


@pytest.fixture
def receiver(processor):
    receiver = OTLPReceiver(processor, max_body_bytes=LIMIT)
    receiver.start()
    yield receiver
    receiver.stop()


# -- the connection -------------------------------------------------------


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the backlog")
def test_listen_backlog_is_at_least_128(receiver):
    _, port = host_port(receiver)
    listing = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    # For a listening socket ss shows Recv-Q (queued now) and Send-Q (the backlog).
    assert int(listing[2]) >= 128, listing


def test_every_answer_leaves_in_one_send_without_nagle(receiver, processor, monkeypatch):
    _, port = host_port(receiver)
    sends = []
    for method in ("send", "sendall"):
        original = getattr(socket.socket, method)

        def wrapper(sock, data, *args, _original=original):
            if sock.getsockname()[1] == port:  # the receiver's side of a connection
                nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                sends.append((bytes(data[:12]), nodelay))
            return _original(sock, data, *args)

        monkeypatch.setattr(socket.socket, method, wrapper)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for number in range(1, 51):  # keep-alive: one connection
        connection.request("POST", "/v1/traces", encoded(request_json(span_json(number))),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"{}")
    connection.close()
    assert len(sends) == 50
    assert all(head.startswith(b"HTTP/1.1 200") and nodelay for head, nodelay in sends)
    assert len(processor.store) == 50


@pytest.mark.parametrize(
    "headers, body",
    [
        ("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"0\r\n\r\n"),
        ("Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"),
        ("Content-Length: 2\r\nContent-Length: 60\r\n", b"{}"),
        ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
    ],
    ids=["length-then-chunked", "chunked-then-length", "two-equal-lengths", "two-lengths", "two-chunked"],
)
def test_conflicting_framing_is_400_and_the_connection_closes(receiver, processor, headers, body):
    smuggled = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(encoded(request_json())) + encoded(request_json())
    )
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + headers.encode() + b"\r\n" + body + smuggled
    )
    answer = exchange(receiver, request)
    assert answer.startswith(b"HTTP/1.1 400") and b"conflicting framing" in answer
    assert answer.count(b"HTTP/1.1 ") == 1  # the request behind it was never read as one
    assert b"Connection: close" in answer
    assert len(processor.store) == 0


@pytest.mark.parametrize("length", ["+5", "5,5", "1_0", "-1", "5 5", "0x10"])
def test_a_content_length_other_than_digits_is_400(receiver, length):
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length.encode() + b"\r\n\r\n{}{}{}{}{}"
    )
    answer = exchange(receiver, request)
    assert answer.startswith(b"HTTP/1.1 400") and b"invalid Content-Length" in answer


def test_expect_100_continue_is_answered_before_the_body_is_sent(receiver, processor):
    body = encoded(request_json())
    with socket.create_connection(host_port(receiver), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")  # times out if held back
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert [r.name for r in processor.store] == ["op"]


def _join_new_threads(before):
    """Wait for every thread started since ``before`` (the handlers) to end."""
    for _ in range(100000):
        pending = [t for t in threading.enumerate() if t not in before and t.name != "pytest-tracestore-otlp"]
        if not pending:
            return
        for thread in pending:
            try:
                thread.join(30)
            except RuntimeError:  # still starting: joined on the next round
                time.sleep(0)


def _rude(receiver, data):
    # SO_LINGER 0: close() sends a reset, as a client that crashes does.
    sock = socket.create_connection(host_port(receiver), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.sendall(data)
    sock.close()


def test_clients_that_go_away_mid_request_or_mid_answer_are_quiet(receiver, processor, capfd):
    before = set(threading.enumerate())
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    body = encoded(request_json())
    for _ in range(20):
        _rude(receiver, head + b"Content-Length: 50000\r\n\r\n" + body[:30])  # mid-body
        _rude(receiver, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)  # before the answer
        _rude(receiver, head + b"Transfer-Encoding: chunked\r\n\r\n10\r\n01234")  # mid-chunk
        with socket.create_connection(host_port(receiver), timeout=10) as sock:  # half a body, then FIN
            sock.sendall(head + b"Content-Length: 500\r\n\r\n{")
    _join_new_threads(before)
    assert post(receiver, body)[0] == 200  # still serving
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Exception occurred" not in captured.err
    assert captured.err == ""


# -- the body ---------------------------------------------------------------


def test_every_gzip_member_is_read(receiver, processor):
    text = encoded(request_json(span_json(1, "first"), span_json(2, "second")))
    half = len(text) // 2
    body = gzip.compress(text[:half]) + gzip.compress(text[half:])
    assert post(receiver, body, headers={"Content-Encoding": "gzip"}) == (200, {})
    assert [r.name for r in processor.store] == ["first", "second"]


def test_gzip_members_count_together_against_the_limit(receiver, processor):
    # Each member alone fits the limit; together they do not.
    text = encoded(request_json())
    body = gzip.compress(b" " * (LIMIT // 2 + 1)) + gzip.compress(b" " * (LIMIT // 2) + text)
    status, answer = post(receiver, body, headers={"Content-Encoding": "gzip"})
    assert status == 413 and "once decompressed" in answer["message"]
    assert len(processor.store) == 0


@pytest.mark.parametrize(
    "encoding, body, message",
    [
        ("gzip", gzip.compress(encoded(request_json())) + b"garbage!", "malformed gzip body"),
        ("deflate", zlib.compress(encoded(request_json())) + b"more", "malformed deflate body: data after its end"),
        (
            "deflate",
            zlib.compress(encoded(request_json())) + zlib.compress(b"{}"),
            "malformed deflate body: data after its end",
        ),
    ],
    ids=["gzip-garbage", "deflate-garbage", "deflate-two-streams"],
)
def test_bytes_after_a_compressed_body_are_400(receiver, processor, encoding, body, message):
    status, answer = post(receiver, body, headers={"Content-Encoding": encoding})
    assert status == 400 and message in answer["message"]
    assert len(processor.store) == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceSpans":' + b"[" * 50000 + b"]" * 50000 + b"}",
        b"[" * 50000 + b"]" * 50000,
        encoded(request_json(span_json(attributes=[{"key": "deep", "value": {"arrayValue": {"values": []}}}])))
        .replace(b'"values": []', b'"values": [' + b'{"arrayValue": {"values": [' * 3000 + b"]}}" * 3000 + b"]"),
    ],
    ids=["request", "top-level", "attribute"],
)
def test_too_deep_json_is_400(receiver, processor, body):
    status, answer = post(receiver, body)
    assert status == 400 and "nested too deeply" in answer["message"]
    assert post(receiver, encoded(request_json()))[0] == 200


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"resourceSpans": [] ', "malformed JSON body"),
        (b'{"resourceSpans": []} {}', "extra data"),
        (b'{"resourceSpans": 5}', "resourceSpans must be an array"),
        (b'{"spans": []}', "with 'resourceSpans'"),
        (b'\xff{"resourceSpans": []}', "not UTF-8"),
    ],
)
def test_malformed_json_is_400(receiver, body, message):
    status, answer = post(receiver, body)
    assert status == 400 and message in answer["message"], answer


def test_json_levels_in_any_order_and_many_batches(receiver, processor):
    spans = [span_json(n, f"s{n}") for n in range(1, 601)]
    # Protobuf's JSON writes schemaUrl after the spans; the resource may come last too.
    body = (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": ' + encoded(spans)
        + b', "scope": {"name": "lib", "version": "2"}, "schemaUrl": "https://example.com/s"}],'
        b' "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "late"}}]}}]}'
    )
    assert post(receiver, body) == (200, {})
    stored = list(processor.store)
    assert [r.name for r in stored] == [f"s{n}" for n in range(1, 601)]
    assert {(r.resource["service.name"], r.scope.name, r.scope.version, r.scope.schema_url) for r in stored} == {
        ("late", "lib", "2", "https://example.com/s")
    }


def _sdk_request():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "payments"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for library in ("a", "b"):
        tracer = provider.get_tracer(library, "1.0", schema_url="https://example.com/schema")
        for number in range(300):
            with tracer.start_as_current_span(f"{library}{number}", attributes={"n": number, "tags": ["x"]}) as span:
                span.add_event("tick", {"k": "v"})
    provider.shutdown()
    encoder = pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    return encoder.encode_spans(exporter.get_finished_spans())


def test_protobuf_batches_agree_with_decoding_the_whole_message(receiver, processor):
    request = _sdk_request()
    expected = records_from_traces_data(MessageToDict(request))
    assert post(receiver, request.SerializeToString(), "application/x-protobuf") == (200, b"")
    assert list(processor.store) == expected
    assert len(expected) == 600


def test_malformed_protobuf_structure_is_400(receiver, processor):
    body = _sdk_request().SerializeToString()
    status, answer = post(receiver, body[:-3], "application/x-protobuf")
    assert status == 400 and b"malformed protobuf body" in answer


# -- timestamps ---------------------------------------------------------------


@pytest.mark.parametrize(
    "span, field",
    [
        (span_json(start=str(10**30)), "startTimeUnixNano 1000000000000000000000000000000"),
        (span_json(end="-5"), "endTimeUnixNano -5"),
        (span_json(end=str(2**64)), "endTimeUnixNano 18446744073709551616"),
        (span_json(events=[{"name": "e", "timeUnixNano": str(10**25)}]), "events[0].timeUnixNano"),
    ],
    ids=["start-huge", "end-negative", "end-past-fixed64", "event"],
)
def test_impossible_timestamps_are_400_naming_the_field(receiver, processor, span, field):
    with pytest.warns(TraceStoreWarning, match="refused 1 span"):
        status, answer = post(receiver, encoded(request_json(span)))
    assert status == 400
    assert field in answer["message"] and "spanId 0000000000000001" in answer["message"]
    assert len(processor.store) == 0


def test_the_largest_timestamps_otlp_holds_and_an_end_before_the_start_are_kept(receiver, processor):
    spans = [span_json(1, "last", start=str(2**64 - 2), end=str(2**64 - 1)), span_json(2, "stepped back", end="1")]
    assert post(receiver, encoded(request_json(*spans))) == (200, {})
    assert {r.name: r.end_time for r in processor.store} == {"last": 2**64 - 1, "stepped back": 1}


def test_refused_spans_beside_good_ones_are_a_partial_success(receiver, processor):
    spans = [span_json(1, "good"), span_json(2, "bad", start=str(10**30)), span_json(3, "bad id", spanId="xyz")]
    with pytest.warns(TraceStoreWarning, match="refused 2 spans"):
        status, answer = post(receiver, encoded(request_json(*spans)))
    assert status == 200
    assert answer["partialSuccess"]["rejectedSpans"] == "2"
    assert "startTimeUnixNano" in answer["partialSuccess"]["errorMessage"]
    assert [r.name for r in processor.store] == ["good"]


def test_a_partial_success_in_protobuf(receiver, processor):
    request = _sdk_request()
    request.resource_spans[0].scope_spans[0].spans[5].end_time_unix_nano = 0
    request.resource_spans[0].scope_spans[0].spans[5].start_time_unix_nano = 0
    request.resource_spans[0].scope_spans[0].spans[7].trace_id = b"\x01\x02"
    with pytest.warns(TraceStoreWarning, match="refused 1 span"):
        status, answer = post(receiver, request.SerializeToString(), "application/x-protobuf")
    assert status == 200
    response = ExportTraceServiceResponse.FromString(answer)
    assert response.partial_success.rejected_spans == 1
    assert "traceId" in response.partial_success.error_message or "could not be read" in (
        response.partial_success.error_message
    )
    assert len(processor.store) == 599


# -- load ---------------------------------------------------------------------


def test_200_concurrent_clients_lose_nothing(processor):
    receiver = OTLPReceiver(processor)
    receiver.start()
    clients, requests = 200, 5
    start = threading.Barrier(clients, timeout=60)
    failures = []

    def client(index):
        try:
            start.wait()
            for turn in range(requests):
                number = index * requests + turn + 1
                status, _ = post(receiver, encoded(request_json(span_json(number, f"span {number}"))))
                if status != 200:
                    failures.append((number, status))
        except Exception as exc:  # a reset, a timeout: any of them fails the test
            failures.append((index, repr(exc)))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not [t for t in threads if t.is_alive()]
    finally:
        receiver.stop()
    assert failures == []
    assert sorted(r.name for r in processor.store) == sorted(f"span {n}" for n in range(1, clients * requests + 1))


# -- memory -------------------------------------------------------------------

SERVER = r"""
import sys
from pytest_tracestore import FileBasedSpanProcessor, OTLPReceiver

def peak_kib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])

class Keeping:
    # Holds the records as a store does and writes nothing: what the receiver itself costs.
    def __init__(self):
        self.records = []

    def add_record(self, record):
        self.records.append(record)

    def shutdown(self):
        pass

path, kind, limit = sys.argv[1:]
processor = FileBasedSpanProcessor(path, max_spans=100) if kind == "file" else Keeping()
receiver = OTLPReceiver(processor, max_body_bytes=int(limit))
print(receiver.start(), flush=True)
sys.stdin.readline()
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # the peak starts again from what is resident now
print(peak_kib(), flush=True)
sys.stdin.readline()
print(peak_kib(), flush=True)
receiver.stop()
processor.shutdown()
"""

MEMORY_LIMIT = 8 * 1024 * 1024


def _many_spans(limit):
    small = span_json(1, "op", attributes=[{"key": f"k{i}", "value": {"stringValue": "x" * 8}} for i in range(4)])
    count = (limit - 1024) // (len(encoded(small)) + 2)
    return encoded(request_json(*[dict(small, spanId=format(n + 1, "016x")) for n in range(count)]))


def _body(case, limit):
    if case == "one-huge-span":
        value = [{"key": "blob", "value": {"stringValue": "é" * (limit // 2 - 1024)}}]
        return json.dumps(request_json(span_json(1, "big", attributes=value)), ensure_ascii=False).encode()
    if case == "protobuf-one-huge-span":
        from google.protobuf.json_format import ParseDict
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        value = [{"key": "blob", "value": {"stringValue": "x" * (limit - 1024)}}]
        data = request_json(span_json(1, "big", attributes=value))
        only = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        only["traceId"] = base64.b64encode(bytes.fromhex(only["traceId"])).decode()
        only["spanId"] = base64.b64encode(bytes.fromhex(only["spanId"])).decode()
        return ParseDict(data, ExportTraceServiceRequest()).SerializeToString()
    many = _many_spans(limit)
    if case == "gzip":
        return gzip.compress(many)
    if case == "astral":  # one character beyond the BMP in an otherwise ASCII body
        return many.replace(b'"name": "op"', '"name": "\U0001F600"'.encode(), 1)
    return many


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="resets and reads the peak RSS through /proc (Linux)"
)
@pytest.mark.parametrize(
    "case, processor",
    [
        ("many-spans", "file"),
        ("gzip", "file"),
        ("astral", "file"),
        ("one-huge-span", "keep"),
        ("one-huge-span", "file"),
        ("protobuf-one-huge-span", "file"),
    ],
)
def test_peak_memory_for_one_request_at_the_limit_is_under_4x_the_limit(tmp_path, case, processor):
    body = _body(case, MEMORY_LIMIT)
    assert MEMORY_LIMIT - 4096 < len(body) <= MEMORY_LIMIT or case == "gzip"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path / "spans.jsonl"), processor, str(MEMORY_LIMIT)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        url = server.stdout.readline().strip()
        server.stdin.write("measure\n")
        server.stdin.flush()
        before = int(server.stdout.readline())
        headers = {"Content-Type": "application/json"}
        if case.startswith("protobuf"):
            headers["Content-Type"] = "application/x-protobuf"
        if case == "gzip":
            headers["Content-Encoding"] = "gzip"
        connection = http.client.HTTPConnection(url[len("http://"):], timeout=120)
        connection.request("POST", "/v1/traces", body, headers)
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"" if case.startswith("protobuf") else b"{}")
        connection.close()
        server.stdin.write("done\n")
        server.stdin.flush()
        peak = (int(server.stdout.readline()) - before) * 1024
    finally:
        server.stdin.close()
        server.wait(60)
    assert peak < 4 * MEMORY_LIMIT, f"peak {peak / MEMORY_LIMIT:.2f}x the limit"
