"""An OTLP/HTTP trace receiver: spans exported by other processes land in the run's store.

A service under test, started as a subprocess with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing here, exports its spans with the
official OTLP exporter; :class:`OTLPReceiver` decodes each request into
:class:`SpanRecord` objects and hands them to the run's
:class:`FileBasedSpanProcessor`, the path in-process spans take.

It speaks OTLP/HTTP for traces (``POST /v1/traces``) with ``http/protobuf``
(which needs the ``opentelemetry-proto`` package: ``pytest-tracestore[otlp]``)
and ``http/json``, compressed with gzip, deflate or not at all.  It binds to
loopback only.  Bodies are read and inflated within a size limit and decoded a
batch of spans at a time (:mod:`pytest_tracestore.ingest`), so one request
costs a small multiple of its size.  This module imports no pytest.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import warnings
import zlib
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, NoReturn, Optional

from .ingest import Batch, json_batches, protobuf_batches
from .otlp import records_from_traces_data
from .processor import FileBasedSpanProcessor
from .record import SpanRecord
from .serialize import _Interner
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
_DIGITS = re.compile(r"[0-9]{1,19}")
# Bytes read off the connection at a time.
_BLOCK = 1 << 16
# The longest message an error answer carries.
_MAX_MESSAGE = 2000


class _Body:
    """Collects a request body as it is read, inflating it on the way when compressed.

    Both sizes are bounded by ``limit``: the body as sent and, when
    compressed, the body once inflated, so a small bomb never expands past
    the limit in memory.  A problem is kept, not raised, so that the rest of
    the body can still be read off the connection before the answer.
    """

    def __init__(self, limit: int, encoding: str) -> None:
        self.limit = limit
        self.encoding = encoding
        self.sent = 0
        self.error: Optional[_RequestError] = None
        self._size = 0
        self._parts: List[bytes] = []
        self._inflater: Any = self._new_inflater() if encoding in _ENCODINGS else None

    @property
    def inflating(self) -> bool:
        """Whether the body is compressed, and so read a block at a time."""
        return self._inflater is not None

    def _new_inflater(self) -> Any:
        return zlib.decompressobj(_ENCODINGS[self.encoding])

    def feed(self, data: bytes) -> None:
        self.sent += len(data)
        if self.error is not None or not data:
            return
        if self.sent > self.limit:
            self._fail(_too_large("request body", self.limit))
        elif self._inflater is None:
            self._keep(data)
        else:
            self._inflate(data)

    def _inflate(self, data: bytes) -> None:
        try:
            while data and self.error is None:
                if self._inflater.eof:
                    # RFC 1952: a gzip body may be several members, one after
                    # another; each is its own stream.  Deflate has no such form.
                    if self.encoding != "gzip":
                        raise _RequestError(400, "malformed deflate body: data after its end")
                    self._inflater = self._new_inflater()
                self._keep(self._inflater.decompress(data, self.limit + 1 - self._size))
                inflater = self._inflater
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        except zlib.error as exc:
            self._fail(_RequestError(400, f"malformed {self.encoding} body: {exc}"))
        except _RequestError as error:
            self._fail(error)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            after = "" if self._inflater is None else " once decompressed"
            self._fail(_too_large("request body", self.limit, after))
        elif data:
            self._parts.append(data)

    def _fail(self, error: _RequestError) -> None:
        self.error = error
        self._parts = []

    def result(self) -> bytes:
        """The whole body; raises the first problem met."""
        if self.error is None and self._inflater is not None and not self._inflater.eof:
            self.error = _RequestError(400, f"malformed {self.encoding} body: truncated")
        if self.error is not None:
            raise self.error
        parts, self._parts = self._parts, []
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_large(what: str, limit: int, after: str = "") -> _RequestError:
    return _RequestError(
        413, f"{what} is over the limit of {limit} bytes{after}", _RPC_RESOURCE_EXHAUSTED
    )


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the exporter's connection open between batches.
    protocol_version = "HTTP/1.1"
    server_version = "pytest-tracestore-otlp"
    # A client that promises a body and stalls must not hold a thread forever.
    timeout = 30
    # Each answer leaves in one write (buffered, flushed once), and without
    # Nagle's delay: a client that waits for the whole answer before its next
    # request would otherwise wait for a delayed ACK on every keep-alive request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test run's output is no place for an access log."""

    def handle_expect_100(self) -> bool:
        """Send ``100 Continue`` at once: the client waits for it before sending the body."""
        going_on = super().handle_expect_100()
        self.wfile.flush()
        return going_on

    def _answer(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _error(self, error: _RequestError, as_protobuf: bool, close: bool = False) -> None:
        message = _shorten(str(error))
        if as_protobuf:
            body, content_type = _status_protobuf(error.rpc_code, message), _PROTOBUF
        else:
            body = json.dumps({"code": error.rpc_code, "message": message}).encode("utf-8")
            content_type = _JSON
        self._answer(error.http_status, body, content_type, close)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        content_type = _base_type(self.headers.get("Content-Type", ""))
        as_protobuf = content_type == _PROTOBUF
        box: List[bytes] = []
        try:
            if self.path.split("?", 1)[0] != TRACES_PATH:
                raise _RequestError(
                    404, f"unknown path {self.path!r}: this receiver takes traces at {TRACES_PATH}",
                    _RPC_UNIMPLEMENTED,
                )
            box.append(self._read_body())
        except _RequestError as error:
            # The body may be unread: the connection cannot be reused.
            self._error(error, as_protobuf, close=True)
            return
        try:
            outcome = self.server.receiver._accept(content_type, box)
        except _RequestError as error:
            self._error(error, as_protobuf)
            return
        except Exception as exc:  # the receiver must answer, whatever comes
            failure = _RequestError(500, f"could not record the spans: {exc!r}", _RPC_INTERNAL)
            self._error(failure, as_protobuf)
            return
        if as_protobuf:
            self._answer(200, outcome.protobuf(), _PROTOBUF)
        else:
            self._answer(200, outcome.json(), _JSON)

    def _read_body(self) -> bytes:
        transfer = self._framing()
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in _ENCODINGS and encoding not in ("", "identity"):
            raise _RequestError(
                415,
                f"unsupported Content-Encoding {encoding!r}: send gzip, deflate or no compression",
                _RPC_UNIMPLEMENTED,
            )
        body = _Body(self.server.receiver.max_body_bytes, encoding)
        if transfer == "chunked":
            self._read_chunked(body)
        else:
            self._read_sized(body)
        return body.result()

    def _framing(self) -> str:
        # Two ways of saying where a body ends, or one said twice, are how
        # requests are smuggled past a proxy: refuse them (and close).
        lengths = self.headers.get_all("Content-Length") or []
        transfers = self.headers.get_all("Transfer-Encoding") or []
        if len(lengths) > 1:
            raise _RequestError(400, "conflicting framing: more than one Content-Length header")
        if len(transfers) > 1:
            raise _RequestError(400, "conflicting framing: more than one Transfer-Encoding header")
        transfer = transfers[0].strip().lower() if transfers else ""
        if lengths and transfer:
            raise _RequestError(
                400, "conflicting framing: both Content-Length and Transfer-Encoding"
            )
        if transfer not in ("", "chunked"):
            raise _RequestError(
                501, f"unsupported Transfer-Encoding {transfer!r}", _RPC_UNIMPLEMENTED
            )
        return transfer

    def _read_sized(self, body: _Body) -> None:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise _RequestError(411, "send a Content-Length header or a chunked body")
        # Digits only: int() would also take "+5", " 5" or "1_0".
        if not _DIGITS.fullmatch(length_text):
            raise _RequestError(400, f"invalid Content-Length {length_text!r}")
        length = int(length_text)
        if length > body.limit:
            self._discard(length)
            raise _too_large(f"request body of {length} bytes", body.limit)
        self._read_into(body, length)

    def _read_into(self, body: _Body, size: int) -> None:
        got = 0
        if not body.inflating and body.sent + size <= body.limit:
            # One read into one buffer: blocks joined afterwards would need twice the memory.
            block = self.rfile.read(size)
            if len(block) < size:
                raise _RequestError(400, f"request body ended after {len(block)} of {size} bytes")
            body.feed(block)
            return
        while got < size:
            block = self.rfile.read(min(size - got, _BLOCK))
            if not block:
                raise _RequestError(400, f"request body ended after {got} of {size} bytes")
            got += len(block)
            body.feed(block)

    def _read_chunked(self, body: _Body) -> None:
        while True:
            line = self.rfile.readline(1024)
            field = line.split(b";", 1)[0].strip()
            # Hex digits only: int() would also take "-5", "+5" or "1_0".
            if not _CHUNK_SIZE.fullmatch(field):
                raise _RequestError(400, f"malformed chunked body: chunk size {line!r}")
            size = int(field, 16)
            if size == 0:
                break
            if body.sent + size > _MAX_DISCARD:
                raise _too_large("request body", body.limit)
            try:
                self._read_into(body, size)
            except _RequestError:
                raise _RequestError(400, "malformed chunked body: a chunk ended early") from None
            if self.rfile.readline(3).strip():
                raise _RequestError(400, "malformed chunked body: no line end after a chunk")
        # Skip any trailer fields, up to the empty line that ends the body.
        while self.rfile.readline(1024).strip():
            pass

    def _discard(self, size: int) -> None:
        # Read a refused body to its end (up to a bound) before answering:
        # closing on a client still sending makes it see a broken pipe
        # instead of the 413 that says why.
        left = min(size, _MAX_DISCARD)
        while left > 0:
            block = self.rfile.read(min(left, _BLOCK))
            if not block:
                return
            left -= len(block)

    def _not_allowed(self) -> None:
        error = _RequestError(405, f"use POST {TRACES_PATH}", _RPC_UNIMPLEMENTED)
        self._error(error, as_protobuf=False, close=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815


def _shorten(message: str) -> str:
    # An answer names the problem; it need not echo a huge value back.
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE - 1] + "…"


class _Server(ThreadingHTTPServer):
    # Handler threads must not keep the test process alive, nor make
    # shutdown wait on a keep-alive connection an exporter holds open.
    daemon_threads = True
    block_on_close = False
    # The listen backlog: a test suite may start many exporters at once, and
    # connections past a full queue are dropped or reset.
    request_queue_size = 1024
    receiver: OTLPReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (or stalled) is no news; anything else is a warning.

        socketserver would print a traceback to stderr, in the middle of the
        test run's output.
        """
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        warnings.warn(
            f"pytest-tracestore: the OTLP receiver failed on a request: {error!r}",
            TraceStoreWarning,
            stacklevel=2,
        )


# A UTF-8 sequence for a character beyond the Basic Multilingual Plane.
_ASTRAL = re.compile(rb"[\xf0-\xf4][\x80-\xbf]{3}")


def _json_text(body: bytes) -> str:
    # One character beyond the BMP makes Python store the whole text at four
    # bytes a character: four times an ASCII body.  Written as JSON escapes
    # (which can only stand inside strings, where such characters are allowed),
    # the same text decodes to the same values at one or two bytes a character.
    if _ASTRAL.search(body) is not None:
        body = _ASTRAL.sub(lambda m: json.dumps(m.group().decode("utf-8"))[1:-1].encode(), body)
    return body.decode("utf-8")


# What an OTLP timestamp can hold (fixed64 nanoseconds since 1970: up to the
# year 2554), and so what every reader of the artifact can show as a date.
_MAX_TIME = 2**64 - 1


def _impossible_time(record: SpanRecord) -> Optional[str]:
    # An end before the start is kept: wall clocks can step back mid-span.
    times = [("startTimeUnixNano", record.start_time), ("endTimeUnixNano", record.end_time)]
    times += [(f"events[{i}].timeUnixNano", e.timestamp) for i, e in enumerate(record.events)]
    for field, value in times:
        if not 0 <= value <= _MAX_TIME:
            return (
                f"span {record.name!r} (spanId {record.span_id}): {field} {value} is outside "
                f"0 to {_MAX_TIME} (nanoseconds since 1970, as OTLP's fixed64 holds them)"
            )
    return None


def _one_by_one(data: Mapping[str, Any]) -> Iterator[Dict[str, Any]]:
    # A batch from ingest: one resource, one scope level, its spans.
    (resource_spans,) = data["resourceSpans"]
    (level,) = resource_spans["scopeSpans"]
    for span in level["spans"]:
        single = dict(level, spans=[span])
        yield {"resourceSpans": [{"resource": resource_spans["resource"], "scopeSpans": [single]}]}


class _Outcome:
    """What became of one request's spans: how many were recorded, how many refused and why."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0
        self.first_problem = ""
        # Equal resources and scopes are shared between the request's batches.
        self.interner = _Interner()

    def reject(self, count: int, problem: str) -> None:
        self.rejected += count
        self.first_problem = self.first_problem or problem

    def summary(self) -> str:
        """``"1 span: <problem>"``, or ``"N spans; the first: <problem>"``."""
        if self.rejected == 1:
            return f"1 span: {self.first_problem}"
        return f"{self.rejected} spans; the first: {self.first_problem}"

    def json(self) -> bytes:
        """The ExportTraceServiceResponse, in OTLP/JSON."""
        if not self.rejected:
            return b"{}"
        partial = {"rejectedSpans": str(self.rejected), "errorMessage": _shorten(self.summary())}
        return json.dumps({"partialSuccess": partial}).encode("utf-8")

    def protobuf(self) -> bytes:
        """The ExportTraceServiceResponse, in protobuf (empty when every span was taken)."""
        if not self.rejected:
            return b""
        text = _shorten(self.summary()).encode("utf-8")
        # ExportTracePartialSuccess: rejected_spans = 1, error_message = 2.
        partial = b"\x08" + _varint(self.rejected) + b"\x12" + _varint(len(text)) + text
        return b"\x0a" + _varint(len(partial)) + partial


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
    ``processor.add_record``: the run's store, the view of the test that owns it and the
    artifact file.  A span that cannot be taken (a timestamp outside 0 to
    2**64-1 ns, a bad id) is refused on its own: the answer is OTLP's partial
    success (200 with ``partialSuccess``), or 400 when no span was taken, and
    a :class:`TraceStoreWarning` says why.
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

    def _accept(self, content_type: str, box: List[bytes]) -> _Outcome:
        """Decode one export request body (the one item of ``box``) and record its spans.

        Raises ``_RequestError`` (an HTTP status and a message) for a body
        that cannot be taken, or whose spans were all refused.  :meth:`stop`
        waits for the requests counted here, so their spans reach the
        processor before it closes.  The body comes in a box so that no frame
        keeps it alive once it has been decoded.
        """
        with self._idle:
            if self._stopping:
                raise _RequestError(503, "the receiver is stopping", _RPC_UNAVAILABLE)
            self._in_flight += 1
        try:
            outcome = self._record(content_type, box)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
        if outcome.rejected:
            warnings.warn(
                f"pytest-tracestore: the OTLP receiver refused {outcome.summary()}",
                TraceStoreWarning,
                stacklevel=2,
            )
            if not outcome.accepted:
                raise _RequestError(400, outcome.summary())
        return outcome

    def _record(self, content_type: str, box: List[bytes]) -> _Outcome:
        outcome = _Outcome()
        try:
            for data, count in self._batches(content_type, box):
                self._take(data, count, outcome)
        except ValueError as exc:
            message = str(exc)
            if outcome.accepted:
                message += f" (the {outcome.accepted} spans before it were recorded)"
            raise _RequestError(400, message) from None
        return outcome

    def _batches(self, content_type: str, box: List[bytes]) -> Iterator[Batch]:
        if content_type == _PROTOBUF:
            try:
                return protobuf_batches(box.pop())
            except ImportError:
                self._no_protobuf()
        if content_type == _JSON:
            try:
                text = _json_text(box.pop())
            except UnicodeDecodeError as exc:
                raise _RequestError(400, f"malformed JSON body: not UTF-8: {exc}") from None
            return json_batches(text)
        raise _RequestError(
            415,
            f"unsupported Content-Type {content_type or '(none)'!r}: "
            f"send {_PROTOBUF} or {_JSON}",
            _RPC_UNIMPLEMENTED,
        )

    def _take(self, data: Mapping[str, Any], count: int, outcome: _Outcome) -> None:
        try:
            records = records_from_traces_data(data, interner=outcome.interner)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            if count > 1:
                # Find the span at fault, and keep the others of its batch.
                for single in _one_by_one(data):
                    self._take(single, 1, outcome)
                return
            outcome.reject(1, f"malformed span: {exc}")
            return
        taken = 0
        for record in records:
            problem = _impossible_time(record)
            if problem is not None:
                outcome.reject(1, problem)
                continue
            self.processor.add_record(record)
            taken += 1
        if len(records) < count:
            # The decoder skipped spans it could not read (and warned why).
            outcome.reject(count - len(records), "spans that could not be read")
        outcome.accepted += taken
        with self._lock:
            self.received += taken

    def _no_protobuf(self) -> NoReturn:
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
