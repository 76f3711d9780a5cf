"""The artifact's line formats, one class each over one base.

A format encodes a record as one line, decodes a line back into records,
reads a line's end time (a merge orders lines by it) and recognises its own
lines.  ``codec_for(name)`` looks one up by the name the options use; a new
format is one new subclass added to ``_CODECS``.

The readers are loaded on first use, as recording never reads a line back.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Type, Union

from .base import FORMATS, is_traces_data

if TYPE_CHECKING:
    from .pieces import FileLine
    from .record import SpanRecord
    from .redact import RedactionPolicy
    from .serialize import _Interner

__all__ = ["LineCodec", "JsonlCodec", "OtlpCodec", "codec_for", "detect_codec"]

Line = Union[str, bytes]


class LineCodec:
    """One artifact line format: one span record (or, read back, several) per line."""

    #: The name options and ``FileBasedSpanProcessor(format=...)`` use.
    name: ClassVar[str] = ""
    #: Whether the converter's own line (our JSON object) is this format's.
    native: ClassVar[bool] = False

    def encode(self, record: SpanRecord, redaction: Optional[RedactionPolicy] = None) -> str:
        """The record's line, newline included, secret values redacted."""
        if redaction:
            record = redaction.redact_record(record)
        return self._encode(record) + "\n"

    def file_line(self, record: SpanRecord, redaction: Optional[RedactionPolicy] = None) -> FileLine:
        """:meth:`encode`'s line as a file takes it: the text, or, for a record
        holding a huge string, the same line's UTF-8 in pieces
        (:func:`~pytest_tracestore.pieces.line_pieces`)."""
        from .pieces import line_pieces

        if redaction:
            record = redaction.redact_record(record)
        pieces = line_pieces(record, self._encode)
        return self._encode(record) + "\n" if pieces is None else pieces

    def _encode(self, record: SpanRecord) -> str:
        """The record's line without its newline."""
        raise NotImplementedError

    def decode(self, line: Line, interner: Optional[_Interner] = None) -> List[SpanRecord]:
        """The records of one line; ``ValueError`` naming the problem if it holds none."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        return self.decode_data(data, interner)

    def decode_data(self, data: Any, interner: Optional[_Interner] = None) -> List[SpanRecord]:
        """The records of one line already parsed as JSON."""
        raise NotImplementedError

    def end_time(self, line: Line) -> int:
        """The end time of the line's span (the latest, if the line holds several)."""
        return self.end_time_of(json.loads(line))

    def end_time_of(self, data: Any) -> int:
        """:meth:`end_time` of a line already parsed as JSON."""
        records = self.decode_data(data)
        if not records:
            raise ValueError("no span in the line")
        return max(record.end_time for record in records)

    @staticmethod
    def matches(data: Any) -> bool:
        """Whether a line, parsed as JSON, is in this format."""
        raise NotImplementedError


class JsonlCodec(LineCodec):
    """Our own JSON Lines: one flat span object per line."""

    name = "jsonl"
    native = True

    def encode(self, record: SpanRecord, redaction: Optional[RedactionPolicy] = None) -> str:
        from .serialize import record_line

        return record_line(record, redaction)

    def _encode(self, record: SpanRecord) -> str:
        from .serialize import dumps_line, record_to_dict

        return dumps_line(record_to_dict(record))

    def decode_data(self, data: Any, interner: Optional[_Interner] = None) -> List[SpanRecord]:
        from .parse import record_from_dict

        return [record_from_dict(data, interner)]

    def end_time_of(self, data: Any) -> int:
        from .serialize import _int

        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if "end_time_unix_nano" not in data:
            raise ValueError("missing field 'end_time_unix_nano'")
        return _int(data["end_time_unix_nano"], "end_time_unix_nano")

    @staticmethod
    def matches(data: Any) -> bool:
        return isinstance(data, dict) and not is_traces_data(data)


class OtlpCodec(LineCodec):
    """OTLP JSON Lines: one ``TracesData`` per line (the OpenTelemetry file exporter's format)."""

    name = "otlp"

    def __init__(self) -> None:
        from .otlp_text import OtlpTextEncoder

        self._encode = OtlpTextEncoder().line  # type: ignore[method-assign]

    def decode_data(self, data: Any, interner: Optional[_Interner] = None) -> List[SpanRecord]:
        from .otlp import records_from_traces_data

        return records_from_traces_data(data, interner=interner)

    @staticmethod
    def matches(data: Any) -> bool:
        return is_traces_data(data)


_CODECS: Dict[str, Type[LineCodec]] = {"jsonl": JsonlCodec, "otlp": OtlpCodec}
assert tuple(_CODECS) == FORMATS


def codec_for(name: str) -> LineCodec:
    """A new codec for the format called ``name``; ``ValueError`` naming it if unknown."""
    try:
        return _CODECS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"invalid format {name!r}: expected one of {', '.join(FORMATS)}") from None


def detect_codec(data: Any) -> LineCodec:
    """The codec of a file whose first line, parsed as JSON, is ``data`` (ours by default)."""
    for cls in _CODECS.values():
        if cls is not JsonlCodec and cls.matches(data):
            return cls()
    return JsonlCodec()
