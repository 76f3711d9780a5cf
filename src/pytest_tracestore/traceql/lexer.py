"""Split a TraceQL query into tokens, as Grafana Tempo's lexer does."""

from __future__ import annotations

import re
from typing import Any, List, NamedTuple

from .errors import TraceQLError

__all__ = ["Token", "tokenize", "ATTRIBUTE_SCOPES", "INTRINSIC_SCOPES"]

# Longest first, so ``!>>`` is never read as ``!`` then ``>>``.
_OPERATORS = (
    "!>>", "!<<", "&>>", "&<<",
    ">>", "<<", ">=", "<=", "!=", "=~", "!~", "!>", "!<", "&>", "&<", "&~", "&&", "||",
    "{", "}", "(", ")", ",", "=", ">", "<", "!", "|", "~", "+", "-", "*", "/", "%", "^",
)

#: Prefixes of attributes: ``span.key``, ``resource.key``, ...; ``parent.`` is Tempo's, unsupported.
ATTRIBUTE_SCOPES = ("span", "resource", "event", "link", "instrumentation", "parent")
#: Prefixes of scoped intrinsics: ``span:name``, ``trace:duration``, ...
INTRINSIC_SCOPES = ("span", "trace", "event", "link", "instrumentation")

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_DURATION = re.compile(r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
            "h": 3600 * 10**9}
# Characters that end an attribute name, as in Tempo: a name may hold dots,
# dashes, slashes and such, but not these.
_ATTRIBUTE_END = set("{}()=~!<>&|^,")
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
                   "a": "\a", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class Token(NamedTuple):
    """One token: ``kind`` is ``op``, ``word``, ``string``, ``int``, ``float``,
    ``duration``, ``attribute``, ``intrinsic`` or ``end``."""

    kind: str
    value: Any
    pos: int
    text: str


def tokenize(query: str) -> List[Token]:
    """The tokens of ``query``, ending with an ``end`` token.  Raises :class:`TraceQLError`."""
    tokens: List[Token] = []
    at, size = 0, len(query)
    while True:
        while at < size and query[at].isspace():
            at += 1
        if at >= size:
            tokens.append(Token("end", None, size, "end of query"))
            return tokens
        token = _next(query, at)
        tokens.append(token)
        at = token.pos + len(token.text)


def _next(query: str, at: int) -> Token:
    char = query[at]
    if char == '"':
        value, end = _read_string(query, at)
        return Token("string", value, at, query[at:end])
    if char == "`":
        end = query.find("`", at + 1)
        if end < 0:
            raise TraceQLError("unterminated string: expected a closing `", query, at)
        return Token("string", query[at + 1 : end], at, query[at : end + 1])
    if char.isdigit() or (char == "." and query[at + 1 : at + 2].isdigit()):
        return _read_number(query, at)
    if char == ".":
        return _read_attribute(query, at, at + 1, "")
    word = _WORD.match(query, at)
    if word:
        end = word.end()
        name = word.group()
        follow = query[end : end + 1]
        if follow == "." and name in ATTRIBUTE_SCOPES:
            return _read_attribute(query, at, end + 1, name)
        if follow == ":" and name in INTRINSIC_SCOPES:
            field = _WORD.match(query, end + 1)
            if not field:
                raise TraceQLError(
                    f"expected an intrinsic name after {name}:", query, end + 1
                )
            text = query[at : field.end()]
            return Token("intrinsic", (name, field.group()), at, text)
        return Token("word", name, at, name)
    for op in _OPERATORS:
        if query.startswith(op, at):
            return Token("op", op, at, op)
    raise TraceQLError(f"unexpected character {char!r}", query, at)


def _read_string(query: str, start: int) -> tuple[str, int]:
    out: List[str] = []
    at = start + 1
    while at < len(query):
        char = query[at]
        if char == '"':
            return "".join(out), at + 1
        if char == "\\":
            code = query[at + 1 : at + 2]
            if code in _STRING_ESCAPES:
                out.append(_STRING_ESCAPES[code])
                at += 2
                continue
            if code in ("u", "x", "U"):
                digits = {"x": 2, "u": 4, "U": 8}[code]
                hexa = query[at + 2 : at + 2 + digits]
                if len(hexa) == digits and all(c in "0123456789abcdefABCDEF" for c in hexa):
                    out.append(chr(int(hexa, 16)))
                    at += 2 + digits
                    continue
            raise TraceQLError(f"invalid escape sequence \\{code} in a string", query, at)
        out.append(char)
        at += 1
    raise TraceQLError('unterminated string: expected a closing "', query, start)


def _read_number(query: str, at: int) -> Token:
    duration = _DURATION.match(query, at)
    if duration and not _word_follows(query, duration.end()):
        text = duration.group()
        total = 0.0
        for amount, unit in _DURATION_PART.findall(text):
            total += float(amount) * _UNIT_NS[unit]
        return Token("duration", int(round(total)), at, text)
    number = _NUMBER.match(query, at)
    if number is None:  # ".5" and the like
        number = re.compile(r"\.[0-9]+").match(query, at)
        assert number is not None
    end = number.end()
    if _word_follows(query, end):
        unit = _WORD.match(query, end)
        assert unit is not None
        raise TraceQLError(
            f"invalid duration unit {unit.group()!r}: expected ns, us, ms, s, m or h", query, end
        )
    text = number.group()
    if any(c in text for c in ".eE"):
        return Token("float", float(text), at, text)
    return Token("int", int(text), at, text)


def _word_follows(query: str, at: int) -> bool:
    return at < len(query) and (query[at].isalpha() or query[at] == "_")


def _read_attribute(query: str, start: int, at: int, scope: str) -> Token:
    name: List[str] = []
    while at < len(query):
        char = query[at]
        if char == '"':
            value, at = _read_quoted_name(query, at)
            name.append(value)
            continue
        if char.isspace() or char in _ATTRIBUTE_END:
            break
        name.append(char)
        at += 1
    if not name:
        prefix = f"{scope}." if scope else "."
        raise TraceQLError(f"expected an attribute name after {prefix!r}", query, at)
    return Token("attribute", (scope, "".join(name)), start, query[start:at])


def _read_quoted_name(query: str, start: int) -> tuple[str, int]:
    # Tempo allows only \" and \\ in a quoted attribute name.
    out: List[str] = []
    at = start + 1
    while at < len(query):
        char = query[at]
        if char == '"':
            return "".join(out), at + 1
        if char == "\\":
            code = query[at + 1 : at + 2]
            if code not in ('"', "\\"):
                raise TraceQLError(
                    f"invalid escape sequence \\{code} in a quoted attribute name: "
                    'only \\" and \\\\ are allowed',
                    query,
                    at,
                )
            out.append(code)
            at += 2
            continue
        out.append(char)
        at += 1
    raise TraceQLError('unterminated quoted attribute name: expected a closing "', query, start)
