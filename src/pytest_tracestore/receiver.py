"""An OTLP/HTTP trace receiver: spans exported by other processes land in the run's store.

A service under test, started as a subprocess with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing here, exports its spans with the
official OTLP exporter; :class:`OTLPReceiver` decodes each request into
:class:`SpanRecord` objects and hands them to the run's
:class:`FileBasedSpanProcessor`, the path in-process spans take.

It speaks OTLP/HTTP for traces (``POST /v1/traces``) with ``http/protobuf``
(which needs the ``opentelemetry-proto`` package: ``pytest-tracestore[otlp]``)
and ``http/json``, compressed with gzip, deflate or not at all.  It binds to loopback only.  This
module imports no pytest.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
import zlib
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from .otlp import records_from_traces_data
from .processor import FileBasedSpanProcessor
from .store import TraceStoreWarning

__all__ = ["OTLPReceiver", "DEFAULT_MAX_BODY_BYTES", "TRACES_PATH"]

#: The largest request body accepted, after decompression: 16 MiB.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

#: The OTLP/HTTP path for traces.
TRACES_PATH = "/v1/traces"

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_INSTALL_HINT = (
    "OTLP http/protobuf needs the opentelemetry-proto package: "
    "pip install 'pytest-tracestore[otlp]' (or export with "
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json)"
)

# google.rpc.Code values used in the error bodies the OTLP spec asks for.
_RPC_INVALID_ARGUMENT = 3
_RPC_RESOURCE_EXHAUSTED = 8
_RPC_UNIMPLEMENTED = 12
_RPC_INTERNAL = 13
_RPC_UNAVAILABLE = 14

# The most of a refused body read and thrown away before answering.
_MAX_DISCARD = 1 << 30

# Content-Encoding -> zlib window bits: gzip framing, or zlib's (what HTTP
# calls "deflate", and what the official exporter's Compression.Deflate sends).
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _RequestError(Exception):
    def __init__(self, http_status: int, message: str, rpc_code: int = _RPC_INVALID_ARGUMENT):
        super().__init__(message)
        self.http_status = http_status
        self.rpc_code = rpc_code


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        bits = number & 0x7F
        number >>= 7
        if number:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _status_protobuf(code: int, message: str) -> bytes:
    # A google.rpc.Status message (code = field 1, message = field 2), encoded
    # by hand so that error answers need no protobuf package.
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


# -- the server ---------------------------------------------------------


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the exporter's connection open between batches.
    protocol_version = "HTTP/1.1"
    server_version = "pytest-tracestore-otlp"
    # A client that promises a body and stalls must not hold a thread forever.
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test run's output is no place for an access log."""

    def _answer(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: _RequestError, as_protobuf: bool, close: bool = False) -> None:
        message = str(error)
        if as_protobuf:
            body, content_type = _status_protobuf(error.rpc_code, message), _PROTOBUF
        else:
            body = json.dumps({"code": error.rpc_code, "message": message}).encode("utf-8")
            content_type = _JSON
        self._answer(error.http_status, body, content_type, close)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        content_type = _base_type(self.headers.get("Content-Type", ""))
        as_protobuf = content_type == _PROTOBUF
        try:
            if self.path.split("?", 1)[0] != TRACES_PATH:
                raise _RequestError(
                    404, f"unknown path {self.path!r}: this receiver takes traces at {TRACES_PATH}",
                    _RPC_UNIMPLEMENTED,
                )
            body = self._read_body()
        except _RequestError as error:
            # The body may be unread: the connection cannot be reused.
            self._error(error, as_protobuf, close=True)
            return
        try:
            self.server.receiver._accept(content_type, body)
        except _RequestError as error:
            self._error(error, as_protobuf)
            return
        except Exception as exc:  # the receiver must answer, whatever comes
            failure = _RequestError(500, f"could not record the spans: {exc!r}", _RPC_INTERNAL)
            self._error(failure, as_protobuf)
            return
        if as_protobuf:
            # An ExportTraceServiceResponse with no partial_success field set
            # is the empty message: zero bytes.
            self._answer(200, b"", _PROTOBUF)
        else:
            self._answer(200, b"{}", _JSON)

    def _read_body(self) -> bytes:
        limit = self.server.receiver.max_body_bytes
        transfer = self.headers.get("Transfer-Encoding", "").strip().lower()
        if transfer == "chunked":
            body = self._read_chunked(limit)
        elif transfer not in ("", "identity"):
            raise _RequestError(
                501, f"unsupported Transfer-Encoding {transfer!r}", _RPC_UNIMPLEMENTED
            )
        else:
            body = self._read_sized(limit)
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in _ENCODINGS:
            return _decompress(body, limit, encoding)
        if encoding not in ("", "identity"):
            raise _RequestError(
                415,
                f"unsupported Content-Encoding {encoding!r}: send gzip, deflate or no compression",
                _RPC_UNIMPLEMENTED,
            )
        return body

    def _read_sized(self, limit: int) -> bytes:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise _RequestError(411, "send a Content-Length header or a chunked body")
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            raise _RequestError(400, f"invalid Content-Length {length_text!r}") from None
        if length > limit:
            self._discard(length)
            raise _RequestError(
                413, f"request body of {length} bytes is over the limit of {limit} bytes",
                _RPC_RESOURCE_EXHAUSTED,
            )
        body = self.rfile.read(length)
        if len(body) != length:
            raise _RequestError(400, f"request body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            field = line.split(b";", 1)[0].strip()
            # Hex digits only: int() would also take "-5", "+5" or "1_0".
            if not _CHUNK_SIZE.fullmatch(field):
                raise _RequestError(400, f"malformed chunked body: chunk size {line!r}")
            size = int(field, 16)
            if size == 0:
                break
            total += size
            if total > limit:
                self._discard(size)
            else:
                parts.append(self.rfile.read(size))
                if len(parts[-1]) != size:
                    raise _RequestError(400, "malformed chunked body: a chunk ended early")
            if self.rfile.readline(3).strip():
                raise _RequestError(400, "malformed chunked body: no line end after a chunk")
        # Skip any trailer fields, up to the empty line that ends the body.
        while self.rfile.readline(1024).strip():
            pass
        if total > limit:
            raise _RequestError(
                413, f"request body of {total} bytes is over the limit of {limit} bytes",
                _RPC_RESOURCE_EXHAUSTED,
            )
        return b"".join(parts)

    def _discard(self, size: int) -> None:
        # Read a refused body to its end (up to a bound) before answering:
        # closing on a client still sending makes it see a broken pipe
        # instead of the 413 that says why.
        left = min(size, _MAX_DISCARD)
        while left > 0:
            block = self.rfile.read(min(left, 65536))
            if not block:
                return
            left -= len(block)

    def _not_allowed(self) -> None:
        error = _RequestError(405, f"use POST {TRACES_PATH}", _RPC_UNIMPLEMENTED)
        self._error(error, as_protobuf=False, close=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


def _decompress(body: bytes, limit: int, encoding: str) -> bytes:
    # Bounded: a small bomb must not expand past the limit in memory.
    inflater = zlib.decompressobj(_ENCODINGS[encoding])
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _RequestError(400, f"malformed {encoding} body: {exc}") from None
    if len(data) > limit:
        raise _RequestError(
            413, f"request body is over the limit of {limit} bytes once decompressed",
            _RPC_RESOURCE_EXHAUSTED,
        )
    if not inflater.eof:
        raise _RequestError(400, f"malformed {encoding} body: truncated")
    return data


class _Server(ThreadingHTTPServer):
    # Handler threads must not keep the test process alive, nor make
    # shutdown wait on a keep-alive connection an exporter holds open.
    daemon_threads = True
    block_on_close = False
    receiver: OTLPReceiver


class OTLPReceiver:
    """An OTLP/HTTP receiver for traces, on ``127.0.0.1``, feeding ``processor``.

    ``start()`` binds a free port (or ``port``) and serves in a daemon
    thread; :attr:`url` is then the base URL to give an exporter as
    ``OTEL_EXPORTER_OTLP_ENDPOINT``.  ``stop()`` closes it.

    Requests go to ``POST /v1/traces`` as ``application/x-protobuf`` or
    ``application/json``, optionally gzip- or deflate-compressed.  A body over
    ``max_body_bytes`` (before or after decompression) gets 413, a malformed
    one 400, an unsupported content type or encoding 415; the answer carries
    a ``google.rpc.Status`` naming the problem.  Accepted spans go to
    ``processor.add_record``: the run's store, the current test's view and the
    artifact file.
    """

    def __init__(
        self,
        processor: FileBasedSpanProcessor,
        *,
        port: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"invalid port {port!r}: expected an integer from 0 to 65535")
        if (
            isinstance(max_body_bytes, bool)
            or not isinstance(max_body_bytes, int)
            or max_body_bytes < 1
        ):
            raise ValueError(f"invalid max_body_bytes {max_body_bytes!r}: expected an integer >= 1")
        self.processor = processor
        self.port = port
        self.max_body_bytes = max_body_bytes
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._protobuf_decoder: Optional[Callable[[bytes], Any]] = None
        self._warned_no_protobuf = False
        self.received = 0
        self._idle = threading.Condition()
        self._in_flight = 0
        self._stopping = False

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``; ``RuntimeError`` before :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the OTLP receiver is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def running(self) -> bool:
        """Whether the receiver is serving."""
        return self._server is not None

    def start(self) -> str:
        """Start serving (once; later calls do nothing) and return :attr:`url`."""
        with self._lock:
            if self._server is None:
                # Loopback only: spans can carry secrets, and a test run must
                # not open a port to the network.
                server = _Server(("127.0.0.1", self.port), _Handler)
                with self._idle:
                    self._stopping = False
                server.receiver = self
                self._thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name="pytest-tracestore-otlp",
                    daemon=True,
                )
                self._server = server
                self._thread.start()
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the port, after the requests being recorded (up to
        ``timeout`` seconds).  Idempotent."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()
        # Handler threads outlive server_close() (block_on_close is off, so an
        # idle keep-alive connection cannot hold the run up): refuse new
        # requests, and let those already decoding finish.
        with self._idle:
            self._stopping = server is not None or self._stopping
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    # -- decoding -------------------------------------------------------

    def _accept(self, content_type: str, body: bytes) -> int:
        """Decode one export request body and record its spans; return how many.

        Raises ``_RequestError`` (an HTTP status and a message) for a body
        that cannot be taken.  :meth:`stop` waits for the requests counted
        here, so their spans reach the processor before it closes.
        """
        with self._idle:
            if self._stopping:
                raise _RequestError(503, "the receiver is stopping", _RPC_UNAVAILABLE)
            self._in_flight += 1
        try:
            return self._record(content_type, body)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _record(self, content_type: str, body: bytes) -> int:
        if content_type == _PROTOBUF:
            data = self._decode_protobuf(body)
        elif content_type == _JSON:
            try:
                data = json.loads(body)
            except ValueError as exc:  # UnicodeDecodeError is one too
                raise _RequestError(400, f"malformed JSON body: {exc}") from None
        else:
            raise _RequestError(
                415,
                f"unsupported Content-Type {content_type or '(none)'!r}: "
                f"send {_PROTOBUF} or {_JSON}",
                _RPC_UNIMPLEMENTED,
            )
        if not isinstance(data, Mapping):
            raise _RequestError(
                400, f"expected an ExportTraceServiceRequest object, got {type(data).__name__}"
            )
        if not data:
            return 0  # an empty request (no resourceSpans) is valid and holds nothing
        try:
            records = records_from_traces_data(data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise _RequestError(400, f"malformed ExportTraceServiceRequest: {exc}") from None
        for record in records:
            self.processor.add_record(record)
        with self._lock:
            self.received += len(records)
        return len(records)

    def _decode_protobuf(self, body: bytes) -> Any:
        decoder = self._protobuf_decoder
        if decoder is None:
            decoder = self._protobuf_decoder = self._load_protobuf_decoder()
        return decoder(body)

    def _load_protobuf_decoder(self) -> Callable[[bytes], Any]:
        try:
            from google.protobuf.json_format import MessageToDict
            from google.protobuf.message import DecodeError
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTraceServiceRequest,
            )
        except ImportError:
            return self._no_protobuf

        def decode(body: bytes) -> Any:
            request = ExportTraceServiceRequest()
            try:
                request.ParseFromString(body)
            except DecodeError as exc:
                raise _RequestError(400, f"malformed protobuf body: {exc}") from None
            return MessageToDict(request)

        return decode

    def _no_protobuf(self, body: bytes) -> Any:
        with self._lock:
            warn, self._warned_no_protobuf = not self._warned_no_protobuf, True
        if warn:
            warnings.warn(
                f"pytest-tracestore: an OTLP request was refused: {_INSTALL_HINT}",
                TraceStoreWarning,
                stacklevel=2,
            )
        raise _RequestError(415, _INSTALL_HINT, _RPC_UNIMPLEMENTED)

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<OTLPReceiver {where} received={self.received}>"
