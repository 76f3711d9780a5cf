"""Black-box: a service under test, in its own process, exports spans over OTLP to the run."""

from __future__ import annotations

import json

import pytest

SERVICE = '''
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "hello-svc"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("hello")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with tracer.start_as_current_span(
            "GET /hello", context=extract(self.headers), kind=trace.SpanKind.SERVER,
            attributes={"http.route": "/hello"},
        ):
            body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
'''

CONFTEST = '''
import os
import subprocess
import sys
import threading

import pytest


@pytest.fixture(scope="session")
def hello_service(request, tmp_path_factory):
    # The receiver starts lazily: nothing listens until the endpoint is asked for.
    assert "pytest-tracestore-otlp" not in [t.name for t in threading.enumerate()]
    endpoint = request.getfixturevalue("trace_store_otlp_endpoint")
    script = tmp_path_factory.mktemp("svc") / "service.py"
    script.write_text(SERVICE)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="50")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    port = proc.stdout.readline().strip()
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)
'''

TEST = '''
import urllib.request

from opentelemetry import trace
from opentelemetry.propagate import inject

tracer = trace.get_tracer("client")


def test_service_spans_join_the_test_view(hello_service, trace_store, trace_store_otlp_endpoint):
    assert trace_store_otlp_endpoint.startswith("http://127.0.0.1:")
    with tracer.start_as_current_span("call hello") as client:
        headers = {}
        inject(headers)
        request = urllib.request.Request(hello_service + "/hello", headers=headers)
        assert urllib.request.urlopen(request, timeout=10).read() == b"hello"

    (server,) = trace_store.wait_for(name="GET /hello", timeout=30)
    assert server.resource["service.name"] == "hello-svc"
    assert server.kind == "SERVER" and server.attributes["http.route"] == "/hello"
    trace_id = format(client.get_span_context().trace_id, "032x")
    assert [s.name for s in trace_store.get_trace(trace_id)] == ["call hello", "GET /hello"]
    assert len(trace_store.session) == 2
'''


@pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_spans_from_a_service_process_reach_the_fixture_and_the_artifact(pytester, xdist_args):
    pytester.makeconftest(f"SERVICE = {SERVICE!r}\n" + CONFTEST)
    pytester.makepyfile(TEST)
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *xdist_args)
    result.assert_outcomes(passed=1)
    written = [json.loads(x) for x in (pytester.path / "run.jsonl").read_text().splitlines()]
    services = {x["name"]: x["resource"]["service.name"] for x in written}
    assert services.keys() == {"GET /hello", "call hello"}
    assert services["GET /hello"] == "hello-svc"
    assert services["call hello"].startswith("unknown_service")  # the test's own process
    result.stdout.fnmatch_lines(["tracestore: 2 spans recorded; 2 in *run.jsonl"])
