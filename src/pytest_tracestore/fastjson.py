"""The JSON parser of the readers' fast paths: orjson when installed (the ``fast`` extra).

The readers parse the part of each line that differs from span to span with
:func:`exact_loads`.  A text orjson would read otherwise than ``json`` (an
integer past 64 bits, which orjson makes a float; a lone surrogate, which
it refuses) goes to ``json``'s scanner instead, and anything orjson rejects
raises ``ValueError``, so that the reader's general path decides with
``json``: a file gives the same records with or without orjson.
This module imports no pytest.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Tuple, Union

__all__ = ["exact_loads", "orjson_loads"]

Text = Union[str, bytes]

# The C scanner json.loads ends in, without the layers it passes through on
# each call: they cost as much as a short line's parsing.
_scan: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _orjson() -> Optional[Callable[[Text], Any]]:
    try:
        import orjson
    except ImportError:
        return None
    loads: Callable[[Text], Any] = orjson.loads
    return loads


#: ``orjson.loads``, or ``None`` when orjson is not installed.
orjson_loads = _orjson()

# orjson reads an integer beyond 64 bits as a float, where json keeps it
# exact: a text with a run of 20 digits, a minus sign counting as one, is
# left to json's scanner.  Digits and minus signs are first turned into
# zeros, so one substring search finds any such run (one inside a string,
# such as an id of many zeros, only sends that text to json too).
_ZEROS = bytes.maketrans(b"-123456789", b"0000000000")
_LONG = b"0" * 20


def _with_orjson(loads: Callable[[Text], Any]) -> Callable[[Text], Any]:
    def exact(text: Text) -> Any:
        """``text`` parsed whole as one JSON value; ``ValueError`` if it is not."""
        try:
            data = text if type(text) is bytes else text.encode("utf-8")  # type: ignore[union-attr]
        except UnicodeEncodeError:  # a lone surrogate, which orjson refuses
            return _with_json(text)
        if _LONG in data.translate(_ZEROS):
            return _with_json(text)
        return loads(data)

    return exact


def _with_json(text: Text) -> Any:
    """``text`` parsed whole as one JSON value; ``ValueError`` if it is not."""
    if type(text) is bytes:
        text = text.decode("utf-8", "surrogatepass")
    try:
        value, end = _scan(text, 0)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError("not a JSON value") from None
    if end != len(text):
        raise ValueError("extra data after a JSON value")
    return value


#: Parse a whole ``str`` or UTF-8 ``bytes`` as one JSON value, raising
#: ``ValueError`` for anything else (or anything orjson would read otherwise
#: than json).
exact_loads: Callable[[Text], Any] = _with_orjson(orjson_loads) if orjson_loads is not None else _with_json
