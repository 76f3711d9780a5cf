"""Benchmark the OTLP/HTTP receiver against baselines measured in the same run.

Prints ratios, never bare timings: the machines this runs on are shared and noisy.

    python benchmarks/bench_receiver.py            # full run (about a minute)
    python benchmarks/bench_receiver.py --quick    # smaller, for a smoke check
    python benchmarks/bench_receiver.py --memory-only --baseline OTHER/src

Figures:
1. Keep-alive requests: 200 (50 with --quick) one-span JSON requests on one
   ``http.client`` connection (a client that, unlike urllib3, sends headers
   and body in separate writes), best of 5 rounds.  The receiver against
   the floor: a bare ``http.server`` handler that answers ``{}`` in one write
   with ``TCP_NODELAY``; and the same bare handler writing headers and body
   apart with Nagle's algorithm on, to show what a second write costs a
   client waiting for a delayed ACK.  Target: receiver / floor small (it
   decodes and stores a span per request), and far under the two-write
   handler's ratio.
2. Peak memory for one request at the 16 MiB limit, in a fresh process each:
   many small spans (JSON, gzip JSON, protobuf) and one span holding one huge
   value (JSON, protobuf), with the run's file-backed processor.  Peak RSS above what
   was resident before the request, as a ratio to the limit, and the
   tracemalloc peak in another process; ``--baseline SRC`` measures another
   checkout's package as well, first.  Target: < 4.
3. 200 concurrent clients x 5 requests, each on a new connection: requests
   that failed (reset, refused, not 200) and spans lost.  Target: 0 and 0.

4. CPU time to decode one request of many spans at the limit into records,
   a batch at a time as the receiver does, over decoding it whole
   (``json.loads`` or ``ParseFromString`` + ``MessageToDict``, then
   ``records_from_traces_data``), best of 3.  Target: near 1.

Measured on a shared 2-core machine (Python 3.11, SDK 1.45), December 2026:
keep-alive 1.9x the floor (the two-write handler 22x); peak RSS 2.0x (JSON,
many spans), 2.3x (gzip), 1.5x (protobuf), 2.1x and 2.3x for one huge value
(JSON, protobuf: the value and its bytes as they are written; see README.md);
200 x 5 clients: 0 failed, 0 lost; decoding in batches 0.8x to 1.1x the CPU
of decoding whole (runs scatter that much).  Before bodies were decoded a batch of
spans at a time (with a backlog of 5 and two writes per answer), the same
figures were: keep-alive 30x the floor, peak RSS 7x to 13x the limit for
many spans, and 446 of the 1,000 concurrent requests reset.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from pytest_tracestore import FileBasedSpanProcessor, OTLPReceiver

TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"
LIMIT = 16 * 1024 * 1024


def span(number: int, attributes: int = 4, value: str = "x" * 8) -> Dict[str, Any]:
    return {
        "traceId": TRACE_ID,
        "spanId": format(number, "016x"),
        "name": "op",
        "startTimeUnixNano": "1764201600000000000",
        "endTimeUnixNano": "1764201600004000000",
        "attributes": [{"key": f"k{i}", "value": {"stringValue": value}} for i in range(attributes)],
    }


def request(spans: List[Dict[str, Any]]) -> Dict[str, Any]:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "b"}, "spans": spans}]}]}


# -- 1. keep-alive --------------------------------------------------------


def _bare_handler(one_write: bool) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        if one_write:
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            self.wfile.flush()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _keep_alive(port: int, requests: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for number in range(1, requests + 1):
        body = json.dumps(request([span(number)])).encode()
        connection.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def bench_keep_alive(requests: int, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp())
    processor = FileBasedSpanProcessor(folder / "spans.jsonl", max_spans=1000)
    receiver = OTLPReceiver(processor)
    receiver.start()
    servers = {name: ThreadingHTTPServer(("127.0.0.1", 0), _bare_handler(one))
               for name, one in (("floor", True), ("two writes", False))}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports: Dict[str, int] = {name: s.server_address[1] for name, s in servers.items()}
    ports["receiver"] = int(receiver.url.rsplit(":", 1)[1])
    best = {name: float("inf") for name in ports}
    # The two-write handler waits for delayed ACKs: fewer requests keep it short.
    counts = {"floor": requests, "receiver": requests, "two writes": max(10, requests // 10)}
    for _ in range(rounds):
        for name, port in ports.items():
            best[name] = min(best[name], _keep_alive(port, counts[name]) / counts[name])
    receiver.stop()
    processor.shutdown()
    for server in servers.values():
        server.shutdown()
    print("1. keep-alive requests on one http.client connection, per request, over the floor")
    print(f"   receiver / floor:           {best['receiver'] / best['floor']:8.1f}x")
    print(f"   two writes + Nagle / floor: {best['two writes'] / best['floor']:8.1f}x")


# -- 2. peak memory ---------------------------------------------------------

SERVER = r"""
import sys
import tracemalloc
from pytest_tracestore import FileBasedSpanProcessor, OTLPReceiver

def peak_kib():
    if tracing:
        return tracemalloc.get_traced_memory()[1] // 1024
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])

tracing = sys.argv[2] == "tracemalloc"
processor = FileBasedSpanProcessor(sys.argv[1], max_spans=100)
receiver = OTLPReceiver(processor)
print(receiver.start(), flush=True)
sys.stdin.readline()
if tracing:
    tracemalloc.start()
else:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
print(peak_kib(), flush=True)
sys.stdin.readline()
print(peak_kib(), flush=True)
receiver.stop()
processor.shutdown()
"""


def _protobuf(data: Dict[str, Any]) -> bytes:
    import base64

    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    for item in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        item["traceId"] = base64.b64encode(bytes.fromhex(item["traceId"])).decode()
        item["spanId"] = base64.b64encode(bytes.fromhex(item["spanId"])).decode()
    message: bytes = ParseDict(data, ExportTraceServiceRequest()).SerializeToString()
    return message


def _bodies() -> Dict[str, Tuple[bytes, Dict[str, str]]]:
    json_type = {"Content-Type": "application/json"}
    one = len(json.dumps(span(1))) + 2
    many = request([span(n + 1) for n in range((LIMIT - 1024) // one)])
    many_json = json.dumps(many).encode()
    # Protobuf is smaller on the wire: as many spans as fit the limit there.
    first = len(_protobuf(request([span(1)])))
    each = len(_protobuf(request([span(1), span(2)]))) - first
    pb = _protobuf(request([span(n + 1) for n in range((LIMIT - first) // each)]))
    huge = json.dumps(request([span(1, 1, "x" * (LIMIT - 1024))])).encode()
    return {
        "JSON, many spans": (many_json, json_type),
        "gzip JSON, many spans": (gzip.compress(many_json), {**json_type, "Content-Encoding": "gzip"}),
        "protobuf, many spans": (pb, {"Content-Type": "application/x-protobuf"}),
        "JSON, one huge value": (huge, json_type),
        "protobuf, one huge value": (
            _protobuf(request([span(1, 1, "x" * (LIMIT - 1024))])),
            {"Content-Type": "application/x-protobuf"},
        ),
    }


def _peak(body: bytes, headers: Dict[str, str], measure: str = "rss", source: str = "") -> float:
    folder = Path(tempfile.mkdtemp())
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(folder / "spans.jsonl"), measure],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    assert server.stdin is not None and server.stdout is not None
    url = server.stdout.readline().strip()
    server.stdin.write("go\n")
    server.stdin.flush()
    before = int(server.stdout.readline())
    connection = http.client.HTTPConnection(url[len("http://"):], timeout=300)
    connection.request("POST", "/v1/traces", body, headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    server.stdin.write("done\n")
    server.stdin.flush()
    peak = (int(server.stdout.readline()) - before) * 1024
    server.stdin.close()
    server.wait(60)
    return peak / LIMIT


def bench_memory(baseline: str) -> None:
    print("2. peak RSS for one request at the 16 MiB limit, over the limit (target < 4);")
    print("   in brackets the tracemalloc peak (Python's allocations alone, steadier)")
    if baseline:
        print(f"   before: the package under {baseline}; after: the one installed")
    for name, (body, headers) in _bodies().items():
        figures = []
        for source in ([baseline, ""] if baseline else [""]):
            rss = _peak(body, headers, "rss", source)
            traced = _peak(body, headers, "tracemalloc", source)
            figures.append(f"{rss:5.2f}x ({traced:4.2f}x)")
        print(f"   {name:24} {len(body) / 2**20:5.1f} MiB sent  " + "  ->  ".join(figures))


# -- 3. concurrency -----------------------------------------------------------


def bench_concurrency(clients: int, requests: int) -> None:
    folder = Path(tempfile.mkdtemp())
    processor = FileBasedSpanProcessor(folder / "spans.jsonl", max_spans=clients * requests)
    receiver = OTLPReceiver(processor)
    receiver.start()
    port = int(receiver.url.rsplit(":", 1)[1])
    barrier = threading.Barrier(clients, timeout=60)
    failed: List[str] = []

    def client(index: int) -> None:
        barrier.wait()
        for turn in range(requests):
            body = json.dumps(request([span(index * requests + turn + 1)])).encode()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
                status = connection.getresponse().status
                connection.close()
                if status != 200:
                    failed.append(str(status))
            except (OSError, http.client.HTTPException) as exc:
                failed.append(type(exc).__name__)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    receiver.stop()
    lost = clients * requests - len(failed) - len(processor.store)
    processor.shutdown()
    print(f"3. {clients} concurrent clients x {requests} requests: {len(failed)} failed, {lost} spans lost")
    if failed:
        print(f"   failures: {sorted(set(failed))}")


# -- 4. decoding CPU ------------------------------------------------------


def _best_cpu(work: Callable[[], int], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def bench_decoding(rounds: int) -> None:
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from pytest_tracestore.ingest import json_batches, protobuf_batches
    from pytest_tracestore.otlp import records_from_traces_data
    from pytest_tracestore.serialize import _Interner

    one = len(json.dumps(span(1))) + 2
    text = json.dumps(request([span(n + 1) for n in range((LIMIT - 1024) // one)]))
    pb = _protobuf(json.loads(text))

    def whole_json() -> int:
        return len(records_from_traces_data(json.loads(text)))

    def whole_protobuf() -> int:
        message = ExportTraceServiceRequest()
        message.ParseFromString(pb)
        return len(records_from_traces_data(MessageToDict(message)))

    def batches(source: Any) -> Callable[[], int]:
        def work() -> int:
            interner = _Interner()
            return sum(len(records_from_traces_data(d, interner=interner)) for d, _ in source())
        return work

    print("4. CPU to decode one request of many spans, in batches over whole")
    json_ratio = _best_cpu(batches(lambda: json_batches(text)), rounds) / _best_cpu(whole_json, rounds)
    pb_ratio = _best_cpu(batches(lambda: protobuf_batches(pb)), rounds) / _best_cpu(whole_protobuf, rounds)
    print(f"   JSON:     {json_ratio:5.2f}x")
    print(f"   protobuf: {pb_ratio:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke check")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        default="",
        help="a source folder of another version of the package (a checkout's src/): "
        "peak memory is measured with it too, before the installed one",
    )
    parser.add_argument("--memory-only", action="store_true", help="only the peak memory figures")
    args = parser.parse_args()
    socket.setdefaulttimeout(60)
    if args.memory_only:
        bench_memory(args.baseline)
        return
    bench_keep_alive(50 if args.quick else 200, 3 if args.quick else 5)
    if sys.platform.startswith("linux"):
        bench_memory(args.baseline)
    bench_concurrency(200, 5)
    bench_decoding(2 if args.quick else 3)


if __name__ == "__main__":
    main()
