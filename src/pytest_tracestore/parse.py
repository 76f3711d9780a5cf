"""Reading artifact lines back into records, in either format.

Loaded on first use: recording spans never reads a line back, so a test
process that only records never loads this module.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Callable, Dict, Optional, Tuple, Union

from . import fastjson
from .base import DEFAULT_MAX_LINE_BYTES, TraceStoreWarning, check_limit, is_traces_data
from .record import (
    _BYTES_PER_RECORD,
    EMPTY_ATTRIBUTES,
    KINDS,
    STATUSES,
    FrozenAttributes,
    Scope,
    SpanEvent,
    SpanLink,
    SpanRecord,
    _EventTwin,
    _RecordTwin,
    freeze_value,
    hex_id,
    make_event,
    make_link,
    make_record,
    normalize_kind,
    normalize_span_id,
    normalize_status,
    normalize_trace_id,
)
from .serialize import _CACHE_LIMIT, _int, _Interner, _mapping, _string

__all__ = [
    "CorruptLines",
    "DEFAULT_MAX_LINE_BYTES",
    "collection_paused",
    "is_traces_data",
    "parse_records",
    "read_records",
    "read_records_and_lines",
    "record_from_dict",
]


# How much of an over-long line is read at a time while skipping it.
_SKIP_CHUNK = 1024 * 1024

_loads = json.loads
_new = object.__new__
# The C scanner json.loads ends in, without the layers it passes through
# on each call: they cost as much as a short line's parsing.
_scan: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def record_from_dict(data: Mapping[str, Any], interner: _Interner | None = None) -> SpanRecord:
    """Build a record from one artifact line's dict.

    Raises :class:`ValueError` naming the field when the dict is not a span.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    intern = interner or _Interner()
    try:
        trace_id = normalize_trace_id(data["trace_id"])
        span_id = normalize_span_id(data["span_id"])
        name = _string(data["name"], "name")
        start = _int(data["start_time_unix_nano"], "start_time_unix_nano")
        end = _int(data["end_time_unix_nano"], "end_time_unix_nano")
    except KeyError as exc:
        raise ValueError(f"missing field {exc.args[0]!r}") from None
    parent = data.get("parent_span_id")
    events = []
    for item in data.get("events") or ():
        item = _mapping(item, "events")
        events.append(
            SpanEvent(
                _string(item.get("name", ""), "events.name"),
                _int(item.get("time_unix_nano", 0), "events.time_unix_nano"),
                intern.attrs(_mapping(item.get("attributes"), "events.attributes")),
            )
        )
    links = []
    for item in data.get("links") or ():
        item = _mapping(item, "links")
        links.append(
            SpanLink(
                item.get("trace_id"),  # type: ignore[arg-type]  # validated inside
                item.get("span_id"),  # type: ignore[arg-type]
                intern.attrs(_mapping(item.get("attributes"), "links.attributes")),
            )
        )
    description = data.get("status_description")
    return make_record(
        trace_id,
        span_id,
        None if parent in (None, "") else normalize_span_id(parent),
        name,
        normalize_kind(data.get("kind", "INTERNAL")),
        normalize_status(data.get("status", "UNSET")),
        None if description in (None, "") else str(description),
        start,
        end,
        intern.attrs(_mapping(data.get("attributes"), "attributes")),
        tuple(events),
        tuple(links),
        intern.resource(_mapping(data.get("resource"), "resource")),
        intern.scope(data.get("scope")),
        str(data.get("trace_state") or ""),
        0,
        _test_of(data.get("test")),
    )


def _test_of(value: Any) -> Optional[str]:
    if value is None or type(value) is str:
        return value
    raise ValueError(f"invalid test {value!r}: expected a node id string or null")


# -- the fast path for a file's lines ------------------------------------

_LOWER_HEX = "0123456789abcdef"
_KIND_NAMES = {name: name for name in KINDS}
_STATUS_NAMES = {name: name for name in STATUSES}
_CONTAINERS = frozenset((list, dict))
# What our writer puts after a span's own fields: the resource and scope,
# the same text for every span of one tracer.
_TAIL = b',"resource":'
_TAIL_TEXT = ',"resource":'


class _Fallback(Exception):
    """A line (or span) the fast path does not take: the general path decides."""


# Strings up to this long are shared when they repeat; one span in this many
# is looked at to learn which do.
_SHORT = 64
_SAMPLE_EVERY = 16


class Shared:
    """What the records of one file share, found once: key tuples, names, ids, resources.

    JSON gives every line new string objects; sharing the repeated ones keeps
    a loaded record as small as a recorded one.
    """

    def __init__(self, interner: Optional[_Interner] = None) -> None:
        self.interner = interner or _Interner()
        self.keysets: Dict[Tuple[str, ...], Tuple[str, ...]] = {}
        self.texts: Dict[str, str] = {}
        # (what a line held, the id made of it); no line holds None as an id.
        self.last_trace: Tuple[Any, str] = (None, "")
        self.last_parent: Tuple[Any, str] = (None, "")
        # Test node ids, kept apart from ``texts``: a run has thousands of
        # tests, each named by a few spans in a row, and they would crowd
        # out the names and values that repeat across the whole file.
        self.tests: Dict[str, str] = {}
        self.last_test = ""
        # Short string values seen once, while looking for those that repeat.
        self.seen: Dict[str, None] = {}
        self.until_sample = 0

    def shared_values(self, values: Tuple[Any, ...]) -> Tuple[Any, ...]:
        """``values`` with each string that repeats across spans as one shared object.

        The look-up runs in C for every span; which strings repeat is learnt
        from one span in 16, as the Python loop that learns it costs more.
        """
        self.until_sample -= 1
        if self.until_sample < 0:
            self.until_sample = _SAMPLE_EVERY
            self._learn(values)
        get = self.texts.get
        return tuple(map(get, values, values))

    def _learn(self, values: Iterable[Any]) -> None:
        texts, seen = self.texts, self.seen
        for value in values:
            if type(value) is tuple:
                self._learn(value)
            elif type(value) is str and len(value) <= _SHORT and value not in texts:
                if value in seen:
                    if len(texts) < _CACHE_LIMIT:
                        texts[value] = value
                elif len(seen) < _CACHE_LIMIT:
                    seen[value] = None

    def text(self, value: str) -> str:
        """One shared string for span and event names, which repeat across spans."""
        found = self.texts.get(value)
        if found is None:
            found = value
            if len(self.texts) < _CACHE_LIMIT:
                self.texts[value] = value
        return found

    def test(self, value: str) -> str:
        """One shared string for each test node id, which the spans of one test repeat."""
        found = self.tests.get(value)
        if found is None:
            found = value
            if len(self.tests) < _CACHE_LIMIT:
                self.tests[value] = value
        self.last_test = found
        return found

    def keys(self, keys: Tuple[str, ...]) -> Tuple[str, ...]:
        """One shared tuple for each attribute key set."""
        found = self.keysets.get(keys)
        if found is None:
            found = keys
            if len(self.keysets) < _CACHE_LIMIT:
                self.keysets[keys] = keys
        return found

    def trace_id(self, value: Any) -> str:
        """A trace id, shared with the previous span's when equal (spans come a trace at a time)."""
        last = self.last_trace
        if value == last[0] and type(value) is str:
            return last[1]
        found = hex_id(value, 32)
        self.last_trace = (value, found)
        return found

    def parent_id(self, value: Any) -> str:
        """A parent span id, shared with the previous span's when equal (siblings end together)."""
        last = self.last_parent
        if value == last[0] and type(value) is str:
            return last[1]
        found = hex_id(value, 16)
        self.last_parent = (value, found)
        return found

    def attrs(self, data: Any) -> FrozenAttributes:
        """The attributes of a JSON object, as the interner makes them; :class:`_Fallback` if unsure."""
        if data is None:
            return EMPTY_ATTRIBUTES
        if type(data) is not dict:
            raise _Fallback
        if not data:
            return EMPTY_ATTRIBUTES
        # JSON object keys are always strings: no check needed.
        values = tuple(data.values())
        if not _CONTAINERS.isdisjoint(map(type, values)):
            values = _frozen_values(values, self.texts)
        keys = tuple(data)
        # make_attributes(), inlined: events' attributes come with most lines.
        made: Any = _new(FrozenAttributes)
        made._keys = self.keysets.get(keys) or self.keys(keys)
        made._values = values
        return made  # type: ignore[no-any-return]


def _frozen_values(values: Tuple[Any, ...], texts: Dict[str, str]) -> Tuple[Any, ...]:
    """Values of a decoded JSON object in their stored form (arrays as tuples).

    Strings in flat arrays that ``texts`` holds become its shared objects.
    """
    get = texts.get
    out = list(values)
    for at, value in enumerate(out):
        kind = type(value)
        if kind is list and _CONTAINERS.isdisjoint(map(type, value)):
            out[at] = tuple(map(get, value, value))
        elif kind is list or kind is dict:
            out[at] = freeze_value(value)
    return tuple(out)


class LineDecoder:
    """Decodes our JSON Lines, one line at a time, sharing what lines repeat.

    A line our writer made ends with the resource and scope, the same text
    for every span of one tracer: that tail is decoded once and looked up by
    its bytes, and only the span's own fields are parsed.  A line the fast
    path does not take goes through :func:`record_from_dict`, which decides
    (and names the problem when there is one).
    """

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.tails: Dict[Any, Tuple[FrozenAttributes, Optional[Scope]]] = {}
        # The previous line's tail and what it gave: a tracer's spans come
        # in runs, and comparing with one tail costs less than hashing it.
        self.last_tail: Tuple[Any, Tuple[FrozenAttributes, Optional[Scope]]] = (None, (EMPTY_ATTRIBUTES, None))
        # Lines from another writer may never have a tail to share: stop
        # looking after this many misses without a hit.
        self.misses_left = 64

    def decode(self, raw: Union[str, bytes]) -> SpanRecord:
        """The record of one line; :class:`ValueError` naming the problem if it is not a span."""
        size = _BYTES_PER_RECORD + len(raw) // 2  # estimated_bytes(), inlined
        try:
            record = self._fast(raw, size)
        except (_Fallback, ValueError, TypeError, AttributeError, KeyError, StopIteration):
            # The general path raises the precise error, or takes what the
            # fast one did not expect.
            record = None
        if record is None:
            record = record_from_dict(_loads(raw), self.shared.interner)
            # The line's length is what the memory budget estimates from.
            object.__setattr__(record, "_size", size)
        return record

    def _fast(self, raw: Union[str, bytes], size: int) -> Optional[SpanRecord]:
        if self.misses_left <= 0:
            return None
        last_tail, shared = self.last_tail
        # The last tail holds no later ``,"resource":`` than its first (it
        # was found by rfind), so a line ending with it is cut where rfind
        # would cut it.
        if (
            type(raw) is type(last_tail)
            and raw.endswith(last_tail)  # type: ignore[arg-type]
            and len(raw) > len(last_tail)
        ):
            cut = len(raw) - len(last_tail)
        else:
            if type(raw) is bytes:
                cut = raw.rfind(_TAIL)
            else:
                cut = raw.rfind(_TAIL_TEXT)  # type: ignore[arg-type]
            if cut <= 0:
                self.misses_left -= 0 if self.tails else 1
                return None
            tail = raw[cut:]
            shared = self.tails.get(tail) or self._learn(tail)
            self.last_tail = (tail, shared)
        # ``head + "}"`` parses whole only if the head ends after a top-level
        # member, and the tail parsed as an object, so the line is the head's
        # members then the tail's (which win, as they would in json.loads).
        if fastjson.orjson_loads is not None:
            data = fastjson.exact_loads(raw[:cut] + (b"}" if type(raw) is bytes else "}"))  # type: ignore[operator]
        else:
            # The scanner is json.loads without its per-call layers.
            head = raw[:cut]
            if type(head) is bytes:
                head = head.decode("utf-8", "surrogatepass")
            head += "}"  # type: ignore[operator]
            data, end = _scan(head, 0)  # type: ignore[arg-type]
            if end != len(head):
                return None
        if type(data) is not dict or not data:
            return None
        return self._record(data, shared[0], shared[1], size)

    def _learn(self, tail: Union[str, bytes]) -> Tuple[FrozenAttributes, Optional[Scope]]:
        both = _loads((b"{" if type(tail) is bytes else "{") + tail[1:])  # type: ignore[operator]
        if type(both) is not dict or set(both) != {"resource", "scope"}:
            self.misses_left -= 0 if self.tails else 1
            raise _Fallback
        interner = self.shared.interner
        found = (
            interner.resource(_mapping(both["resource"], "resource")),
            interner.scope(both["scope"]),
        )
        if len(self.tails) < _CACHE_LIMIT:
            self.tails[tail] = found
        return found

    def _record(
        self,
        data: Dict[str, Any],
        resource: FrozenAttributes,
        scope: Optional[Scope],
        size: int,
    ) -> SpanRecord:
        # make_record() and Shared's helpers, inlined: this runs per line.
        shared = self.shared
        get = data.get
        name = get("name")
        start = get("start_time_unix_nano")
        end = get("end_time_unix_nano")
        kind = _KIND_NAMES.get(get("kind", "INTERNAL"))
        status = _STATUS_NAMES.get(get("status", "UNSET"))
        description = get("status_description")
        if (
            type(name) is not str
            or type(start) is not int
            or type(end) is not int
            or kind is None
            or status is None
            or not (description is None or type(description) is str)
        ):
            raise _Fallback
        trace_id = data["trace_id"]
        last = shared.last_trace
        if trace_id == last[0] and type(trace_id) is str:
            trace_id = last[1]
        else:
            trace_id = shared.trace_id(trace_id)
        parent = get("parent_span_id")
        if parent is not None:
            last = shared.last_parent
            if parent == last[0] and type(parent) is str:
                parent = last[1]
            elif parent == "":
                parent = None
            else:
                parent = shared.parent_id(parent)
        attributes = get("attributes")
        if type(attributes) is dict and attributes:
            keys = tuple(attributes)
            values = tuple(attributes.values())
            if not _CONTAINERS.isdisjoint(map(type, values)):
                values = _frozen_values(values, shared.texts)
            # shared.shared_values(values), inlined.
            shared.until_sample -= 1
            if shared.until_sample < 0:
                shared.until_sample = _SAMPLE_EVERY
                shared._learn(values)
            get_text = shared.texts.get
            values = tuple(map(get_text, values, values))
            keys = shared.keysets.get(keys) or shared.keys(keys)
        elif not attributes and (attributes is None or type(attributes) is dict):
            keys = values = ()
        else:
            raise _Fallback
        events = get("events")
        self_: Any = _new(_RecordTwin)
        self_.trace_id = trace_id
        span_id = data["span_id"]
        if type(span_id) is not str or len(span_id) != 16 or span_id.strip(_LOWER_HEX):
            span_id = hex_id(span_id, 16)
        elif not span_id.strip("0"):
            raise _Fallback
        self_.span_id = span_id
        self_.parent_span_id = parent
        self_.name = shared.texts.get(name) or shared.text(name)
        self_.kind = kind
        self_.status = status
        self_.status_description = description or None
        self_.start_time = start
        self_.end_time = end
        self_._attribute_keys = keys
        self_._attribute_values = values
        if not events:
            self_.events = ()
        elif type(events) is list and len(events) == 1 and type(events[0]) is dict:
            # One event (such as an exception) is the common case: inlined.
            event = events[0]
            event_name = event.get("name", "")
            timestamp = event.get("time_unix_nano", 0)
            if type(event_name) is not str or type(timestamp) is not int:
                raise _Fallback
            made: Any = _new(_EventTwin)
            made.name = shared.texts.get(event_name) or shared.text(event_name)
            made.timestamp = timestamp
            made.attributes = shared.attrs(event.get("attributes"))
            made.__class__ = SpanEvent
            self_.events = (made,)
        else:
            self_.events = self._events(events)
        links = get("links")
        self_.links = self._links(links) if links else ()
        self_.resource = resource
        self_.scope = scope
        state = get("trace_state")
        self_.trace_state = str(state) if state else ""
        test = get("test")
        if test is not None:
            # Spans come a test at a time: most share the previous span's test.
            if test == shared.last_test:
                test = shared.last_test
            elif type(test) is str:
                test = shared.test(test)
            else:
                raise _Fallback
            self_._test = test
        self_._size = size
        self_.__class__ = SpanRecord
        return self_  # type: ignore[no-any-return]

    def _events(self, items: Any) -> Tuple[SpanEvent, ...]:
        if type(items) is not list:
            raise _Fallback
        shared = self.shared
        events = []
        for item in items:
            if type(item) is not dict:
                raise _Fallback
            name = item.get("name", "")
            timestamp = item.get("time_unix_nano", 0)
            if type(name) is not str or type(timestamp) is not int:
                raise _Fallback
            events.append(
                make_event(
                    shared.texts.get(name) or shared.text(name),
                    timestamp,
                    shared.attrs(item.get("attributes")),
                )
            )
        return tuple(events)

    def _links(self, items: Any) -> Tuple[SpanLink, ...]:
        if type(items) is not list:
            raise _Fallback
        links = []
        for item in items:
            if type(item) is not dict:
                raise _Fallback
            links.append(
                make_link(
                    hex_id(item.get("trace_id"), 32),
                    hex_id(item.get("span_id"), 16),
                    self.shared.attrs(item.get("attributes")),
                )
            )
        return tuple(links)


# -- reading lines --------------------------------------------------------


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while records are built.

    Records hold no reference cycles, so collecting while a file loads finds
    nothing, yet each full collection walks every record made so far:
    a load of a large file would spend more time there than parsing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_MAX_LINE_WARNINGS = 20


class CorruptLines:
    """Reports the lines skipped while reading one source of artifact lines.

    Each of the first few skipped lines gets a message naming the source, the
    line number and the problem; :meth:`done` then adds one message with the
    total, so a badly broken file does not flood the output.  The messages go
    to ``on_corrupt`` when one is given, and are otherwise issued as
    :class:`TraceStoreWarning`.
    """

    def __init__(self, name: str, on_corrupt: Optional[Callable[[str], None]] = None) -> None:
        self.name = name
        self.skipped = 0
        self._report = on_corrupt or _warn

    def skip(self, lineno: int, exc: BaseException, what: str = "a corrupt line") -> None:
        """Count line ``lineno`` as skipped because of ``exc``, reporting it while few."""
        self.skipped += 1
        if self.skipped <= _MAX_LINE_WARNINGS:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._report(f"{self.name}:{lineno}: skipped {what} ({reason})")

    def done(self) -> None:
        """Report once with the total, if more lines were skipped than were named."""
        if self.skipped > _MAX_LINE_WARNINGS:
            self._report(f"{self.name}: skipped {self.skipped} corrupt lines or spans in all")


def _warn(message: str) -> None:
    # The caller's caller's caller: the code that iterates over the records.
    warnings.warn(message, TraceStoreWarning, stacklevel=5)


class LineTooLong(ValueError):
    """A line longer than the reader's limit."""


def _check_limit(max_line_bytes: Any) -> int:
    check_limit("max_line_bytes", max_line_bytes)
    return int(max_line_bytes)


def bounded_lines(
    handle: IO[Any], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Union[str, bytes, LineTooLong]]:
    """Yield the lines of an open file, each over ``max_line_bytes`` as a :class:`LineTooLong`.

    Never holds more than ``max_line_bytes`` and one chunk of a line: the rest
    of an over-long line is read and dropped a chunk at a time.
    """
    readline = handle.readline
    chunk = min(max_line_bytes + 1, _SKIP_CHUNK)
    newline: Any = None
    while True:
        line = readline(chunk)
        if not line:
            return
        if newline is None:
            newline = "\n" if isinstance(line, str) else b"\n"
        if len(line) < chunk or line[-1:] == newline:
            yield line
            continue
        # A line longer than a chunk: gather it a chunk at a time, and drop
        # what was gathered as soon as it passes the limit.
        pieces = [line]
        length = len(line)
        ended = False
        while length <= max_line_bytes:
            piece = readline(chunk)
            pieces.append(piece)
            length += len(piece)
            if len(piece) < chunk or piece[-1:] == newline:
                ended = True
                break
        if length - (pieces[-1][-1:] == newline) <= max_line_bytes:
            yield line[:0].join(pieces)
            continue
        del pieces, line
        while not ended:
            piece = readline(_SKIP_CHUNK)
            length += len(piece)
            ended = len(piece) < _SKIP_CHUNK or piece[-1:] == newline
        yield LineTooLong(
            f"a line of {length} bytes or more, over max_line_bytes={max_line_bytes}"
        )


def read_records(
    path: Union[str, os.PathLike[str]],
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_corrupt: Optional[Callable[[str], None]] = None,
) -> Iterator[SpanRecord]:
    """Yield the records of an artifact file, skipping corrupt lines with a warning.

    The file is either our JSON Lines (one span object per line) or OTLP JSON
    Lines (one ``TracesData`` per line); the first line that parses decides.
    A line longer than ``max_line_bytes`` is skipped with a warning, without
    ever being held whole.  In an OTLP line, a span with fields of the wrong
    type is skipped with a warning and the line's other spans are kept.

    ``on_corrupt``, when given, is called with each of these messages instead
    of a warning being issued: a reader that hands the records on one at a
    time can report them its own way without catching warnings around code
    it does not own.
    """
    max_line_bytes = _check_limit(max_line_bytes)
    with open(path, "rb") as handle:
        yield from parse_records(
            handle, os.fspath(path), max_line_bytes=max_line_bytes, on_corrupt=on_corrupt
        )


def parse_records(
    lines: Iterable[Union[str, bytes]],
    name: str,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_corrupt: Optional[Callable[[str], None]] = None,
) -> Iterator[SpanRecord]:
    """Yield the records of artifact lines; ``name`` says where they came from in warnings.

    Either format is read, as in :func:`read_records`.  A torn or corrupt line
    is skipped with a :class:`TraceStoreWarning` naming ``name``, the line
    number and the problem, and so is a line longer than ``max_line_bytes``
    (bytes, or characters for text).  An open file is read a bounded piece
    at a time.  ``on_corrupt`` takes the warnings' messages instead, as in
    :func:`read_records`.
    """
    max_line_bytes = _check_limit(max_line_bytes)
    _check_callback(on_corrupt)
    return _records(lines, name, max_line_bytes, on_corrupt, False)


def read_records_and_lines(
    path: Union[str, os.PathLike[str]],
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_corrupt: Optional[Callable[[str], None]] = None,
) -> Iterator[Tuple[SpanRecord, Optional[bytes]]]:
    """:func:`read_records`, each record paired with its line when the file is our format.

    The line is the bytes read, without its newline: a merge into our format
    writes it as it was instead of encoding the record again.  A record of an
    OTLP line (which may hold several spans) comes with ``None``.
    """
    max_line_bytes = _check_limit(max_line_bytes)
    _check_callback(on_corrupt)
    with open(path, "rb") as handle:
        yield from _records(handle, os.fspath(path), max_line_bytes, on_corrupt, True)


def _check_callback(on_corrupt: Any) -> None:
    if on_corrupt is not None and not callable(on_corrupt):
        raise ValueError(f"invalid on_corrupt {on_corrupt!r}: expected a callable or None")


def _records(
    lines: Iterable[Union[str, bytes]],
    name: str,
    max_line_bytes: int,
    on_corrupt: Optional[Callable[[str], None]],
    with_lines: bool,
) -> Iterator[Any]:
    """The records of :func:`parse_records`, or with ``with_lines`` (record, line) pairs."""
    source: Iterable[Any]
    if hasattr(lines, "readline"):
        source = bounded_lines(lines, max_line_bytes)  # type: ignore[arg-type]
    else:
        source = lines
    shared = Shared()
    corrupt = CorruptLines(name, on_corrupt)
    decode: Any = None
    lineno = 0
    raw: Any
    for raw in source:
        lineno += 1
        if type(raw) is LineTooLong:
            corrupt.skip(lineno, raw, "an over-long line")
            continue
        if len(raw) > max_line_bytes and len(raw.rstrip()) > max_line_bytes:
            too_long = LineTooLong(
                f"a line of {len(raw)} bytes, over max_line_bytes={max_line_bytes}"
            )
            corrupt.skip(lineno, too_long, "an over-long line")
            continue
        # Only a line that starts with white space can be blank: strip() copies.
        if raw[:1].isspace() and not raw.strip():
            continue
        try:
            if decode is None:
                decode = _decoder_for(raw, shared, corrupt)
            if type(decode) is LineDecoder:
                record = decode.decode(raw)
            else:
                records = decode(raw, lineno)
        except (ValueError, TypeError, RecursionError) as exc:
            corrupt.skip(lineno, exc)
            continue
        if type(decode) is not LineDecoder:
            if with_lines:
                yield from ((one, None) for one in records)
            else:
                yield from records
        elif with_lines:
            yield record, raw.rstrip() if type(raw) is bytes else None
        else:
            yield record
    corrupt.done()


def _decoder_for(
    first: Union[str, bytes], shared: Shared, corrupt: CorruptLines
) -> Union[LineDecoder, Callable[[Any, int], Any]]:
    """The decoder for a file whose first non-blank line is ``first``; raises if it is not JSON.

    Our own format's :class:`LineDecoder` makes one record a line; the OTLP
    one is a function of the line and its number, for its span warnings.
    """
    if is_traces_data(_loads(first)):
        from .otlp import OtlpLineDecoder

        otlp = OtlpLineDecoder(shared)

        def decode_otlp(raw: Union[str, bytes], lineno: int) -> Any:
            return otlp.decode(raw, lambda exc: corrupt.skip(lineno, exc, "a corrupt span"))

        return decode_otlp
    return LineDecoder(shared)
