"""The JSON parser of the readers' fast paths: orjson when installed (the ``fast`` extra).

The readers parse the part of each line that differs from span to span with
:func:`exact_loads`; whatever it will not take (a line with a lone
surrogate, an integer past 64 bits, a number too large for a float) raises
``ValueError``, and the reader's general path decides with the standard
library's ``json``, so a file gives the same records with or without orjson.
This module imports no pytest.
"""

from __future__ import annotations

import json
import re
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
# exact: a text with a number of 20 digits or more (19 if negative) is left
# to json.  A number stands first or after ':', ',' or '['; the same inside a
# string only sends that line to json too.
_LONG_INT = re.compile(rb"(?:^|[:,\[])\s*(?:-\d{19}|\d{20})")
_LONG_INT_TEXT = re.compile(r"(?:^|[:,\[])\s*(?:-\d{19}|\d{20})")


def _with_orjson(loads: Callable[[Text], Any]) -> Callable[[Text], Any]:
    def exact(text: Text) -> Any:
        """``text`` parsed whole as one JSON value; ``ValueError`` if it is not, or is left to json."""
        found = (_LONG_INT if type(text) is bytes else _LONG_INT_TEXT).search(text)  # type: ignore[arg-type]
        if found is not None:
            raise ValueError("a long integer: left to json")
        return loads(text)

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
