"""A span's line as UTF-8 pieces, so that a huge string is never held whole twice over.

A line is normally one ``str``, encoded to one ``bytes`` when it is written.
For a span that holds a string of a mebibyte or more (an OTLP request of one
huge value, say) that means the string, its escaped copy inside the encoder,
the line's text and the line's bytes at once.  :func:`line_pieces` instead
writes the line's text with a short stand-in for each huge string, then puts
the string's own UTF-8 where its stand-in was: the same bytes as the whole
line encoded, in pieces that one ``writev(2)`` appends whole
(:class:`~pytest_tracestore.artifact.ArtifactFile`).
This module imports no pytest.
"""

from __future__ import annotations

import re
import secrets
from json.encoder import encode_basestring as _encode_str  # what dumps_line escapes with
from typing import Any, Callable, List, Optional, Tuple, Union

from .record import FrozenAttributes, SpanRecord, make_attributes, make_event, make_link, make_record

__all__ = ["FileLine", "HUGE", "Pieces", "line_length", "line_pieces"]

#: A string at least this long is written apart from the rest of its line.
HUGE = 1 << 20

#: A line's UTF-8, newline included, in pieces to be written together.
Pieces = Tuple[bytes, ...]

#: A line as a file takes it: its text (newline included), or its UTF-8 in pieces.
FileLine = Union[str, Pieces]

# A huge string is encoded this many characters at a time (or in at most
# _MOST_PIECES pieces): its escaped copy is never whole in memory, and pieces
# of this size fit in memory the allocator already holds, freed by the
# request's body and the parser, where one piece the string's size may not.
_CHUNK = 1 << 20
_MOST_PIECES = 64
# What the line encoders escape in a string (json's ensure_ascii=False).
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\\"]')
# Private-use characters around the stand-ins: never escaped, and the random
# part keeps a span's own text from passing for one.
_STAND_IN = "\ue000tracestore-" + secrets.token_hex(8) + "-%d\ue000"


def line_length(line: FileLine) -> int:
    """How long a line is: characters of its text, or bytes of its pieces."""
    return len(line) if isinstance(line, str) else sum(map(len, line))


def line_pieces(record: SpanRecord, encode: Callable[[SpanRecord], str]) -> Optional[Pieces]:
    """The UTF-8 of ``encode(record) + "\\n"`` in pieces, or ``None`` if ``record`` holds no huge string.

    ``encode`` is a line format's encoder (compact JSON, strings escaped as
    ``json`` does with ``ensure_ascii=False``).  The huge strings it may hold
    are the span's name and status description and the string values of its
    attributes and of its events' and links' attributes; one elsewhere (a
    resource's) stays in the text.  ``None`` also when the text cannot be cut
    so (a stand-in the encoder did not write once, a lone surrogate): the
    caller then encodes the line whole, as for any other span.
    """
    huge: List[str] = []
    stand_in = _with_stand_ins(record, huge)
    if stand_in is None:
        return None
    try:
        text = encode(stand_in)
        places = sorted((_place(text, i), i) for i in range(len(huge)))
        if places[0][0] < 0:
            return None
        pieces: List[bytes] = []
        done = 0
        for at, number in places:
            pieces.append(text[done:at].encode("utf-8"))
            pieces.extend(_escaped(huge[number]))
            done = at + len(_STAND_IN % number)
        pieces.append(text[done:].encode("utf-8") + b"\n")
    except UnicodeEncodeError:
        return None
    return tuple(pieces)


def _place(text: str, number: int) -> int:
    """Where stand-in ``number`` starts in ``text`` (inside its quotes), or -1 unless once exactly."""
    quoted = '"' + _STAND_IN % number + '"'
    at = text.find(quoted)
    if at < 0 or text.find(quoted, at + 1) >= 0:
        return -1
    return at + 1


def _escaped(value: str) -> List[bytes]:
    """A string's JSON text without its quotes, as UTF-8, a chunk a piece."""
    size = max(_CHUNK, len(value) // _MOST_PIECES)
    return [_escaped_chunk(value[start : start + size]) for start in range(0, len(value), size)]


def _escaped_chunk(chunk: str) -> bytes:
    if _NEEDS_ESCAPE.search(chunk) is None:
        return chunk.encode("utf-8")
    return _encode_str(chunk)[1:-1].encode("utf-8")


# -- the stand-in record ------------------------------------------------


def _with_stand_ins(record: SpanRecord, huge: List[str]) -> Optional[SpanRecord]:
    """``record`` with each huge string replaced by a stand-in (appended to ``huge``),
    or ``None`` when it holds none."""
    if not _holds_huge(record):
        return None

    def swap(value: Any) -> Any:
        if type(value) is str and len(value) >= HUGE:
            huge.append(value)
            return _STAND_IN % (len(huge) - 1)
        if type(value) is tuple:
            return tuple(map(swap, value))
        return value

    def swap_all(attributes: FrozenAttributes) -> FrozenAttributes:
        return make_attributes(attributes._keys, tuple(map(swap, attributes._values)))

    return make_record(
        record.trace_id,
        record.span_id,
        record.parent_span_id,
        swap(record.name),
        record.kind,
        record.status,
        swap(record.status_description),
        record.start_time,
        record.end_time,
        swap_all(record.attributes),
        tuple(make_event(swap(e.name), e.timestamp, swap_all(e.attributes)) for e in record.events),
        tuple(make_link(lk.trace_id, lk.span_id, swap_all(lk.attributes)) for lk in record.links),
        record.resource,
        record.scope,
        record.trace_state,
        0,
        record.test,
    )


def _holds_huge(record: SpanRecord) -> bool:
    # Runs for every span received: plain loops, no stand-in record.
    if _is_huge(record.name) or _is_huge(record.status_description):
        return True
    if any(map(_is_huge, record._attribute_values)):
        return True
    for event in record.events:
        if _is_huge(event.name) or any(map(_is_huge, event.attributes._values)):
            return True
    return any(any(map(_is_huge, lk.attributes._values)) for lk in record.links)


def _is_huge(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return len(value) >= HUGE
    return kind is tuple and any(map(_is_huge, value))
