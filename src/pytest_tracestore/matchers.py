"""Small value matchers for attribute filters: ``attributes={"http.status_code": gte(500)}``.

A matcher stands where a plain value would: in :class:`~pytest_tracestore.Query`'s
``attributes``, ``name``, ``service`` and ``scope``, and in the nodes of
:meth:`~pytest_tracestore.TraceStore.assert_tree`.  A value of the wrong type
(a string compared with ``gte(500)``) simply does not match.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Pattern, Tuple, Union

from .record import _same_value, freeze_value

__all__ = [
    "Matcher",
    "all_of",
    "any_of",
    "contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "matches_value",
    "not_",
    "one_of",
    "prefix",
    "regex",
    "suffix",
]


class Matcher:
    """A test on one value, with a short description for messages.

    Build one with the functions of this module (:func:`gte`, :func:`prefix`,
    ...) rather than directly.
    """

    __slots__ = ("_test", "_text")

    def __init__(self, test: Callable[[Any], bool], text: str) -> None:
        self._test = test
        self._text = text

    def matches(self, value: Any) -> bool:
        """Whether ``value`` passes; a value of the wrong type does not."""
        try:
            return bool(self._test(value))
        except TypeError:
            return False

    def __repr__(self) -> str:
        return self._text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Matcher):
            return self._text == other._text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._text)


def matches_value(wanted: Any, value: Any) -> bool:
    """Whether ``value`` satisfies ``wanted``: a :class:`Matcher`, a compiled regex, or a value.

    A regex must match somewhere in a string value; a plain value must be
    equal as attribute equality has it (``True`` is not ``1``, a list equals
    the tuple of its items).
    """
    if isinstance(wanted, Matcher):
        return wanted.matches(value)
    if isinstance(wanted, re.Pattern):
        return isinstance(value, str) and wanted.search(value) is not None
    return _same_value(value, freeze_value(wanted))


def _number(value: Any, what: str) -> Union[int, float, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"invalid {what} bound {value!r}: expected a number or a string")
    if isinstance(value, float) and value != value:
        raise ValueError(f"invalid {what} bound {value!r}: NaN compares with nothing")
    return value


def _comparable(bound: Any, value: Any) -> bool:
    # Numbers compare with numbers and strings with strings; a bool is no number here.
    if isinstance(value, bool):
        return False
    if isinstance(bound, str):
        return isinstance(value, str)
    return isinstance(value, (int, float))


def lt(bound: Union[int, float, str]) -> Matcher:
    """A number (or string) less than ``bound``."""
    b = _number(bound, "lt")
    return Matcher(lambda v: _comparable(b, v) and v < b, f"lt({b!r})")


def lte(bound: Union[int, float, str]) -> Matcher:
    """A number (or string) less than or equal to ``bound``."""
    b = _number(bound, "lte")
    return Matcher(lambda v: _comparable(b, v) and v <= b, f"lte({b!r})")


def gt(bound: Union[int, float, str]) -> Matcher:
    """A number (or string) greater than ``bound``."""
    b = _number(bound, "gt")
    return Matcher(lambda v: _comparable(b, v) and v > b, f"gt({b!r})")


def gte(bound: Union[int, float, str]) -> Matcher:
    """A number (or string) greater than or equal to ``bound``."""
    b = _number(bound, "gte")
    return Matcher(lambda v: _comparable(b, v) and v >= b, f"gte({b!r})")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"invalid {what} {value!r}: expected a string")
    return value


def prefix(text: str) -> Matcher:
    """A string that starts with ``text``."""
    t = _text(text, "prefix")
    return Matcher(lambda v: isinstance(v, str) and v.startswith(t), f"prefix({t!r})")


def suffix(text: str) -> Matcher:
    """A string that ends with ``text``."""
    t = _text(text, "suffix")
    return Matcher(lambda v: isinstance(v, str) and v.endswith(t), f"suffix({t!r})")


def contains(item: Any) -> Matcher:
    """A string holding the substring ``item``, or a sequence value holding the item ``item``."""
    frozen = freeze_value(item)

    def test(v: Any) -> bool:
        if isinstance(v, str):
            return isinstance(frozen, str) and frozen in v
        if isinstance(v, tuple):
            return any(_same_value(x, frozen) for x in v)
        return False

    return Matcher(test, f"contains({item!r})")


def regex(pattern: Union[str, Pattern[str]]) -> Matcher:
    """A string in which the regular expression ``pattern`` matches (``re.search``)."""
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    elif isinstance(pattern, re.Pattern):
        compiled = pattern
    else:
        raise ValueError(f"invalid regex {pattern!r}: expected a string or a compiled pattern")
    return Matcher(
        lambda v: isinstance(v, str) and compiled.search(v) is not None,
        f"regex({compiled.pattern!r})",
    )


def _wanted(values: Tuple[Any, ...], what: str) -> Tuple[Any, ...]:
    if not values:
        raise ValueError(f"invalid {what}(): expected at least one value")
    return values


def _combined(name: str, items: tuple[Any, ...], every: bool) -> Matcher:
    wanted = _wanted(items, name)
    text = ", ".join(repr(v) for v in wanted)
    test = all if every else any
    return Matcher(lambda v: test(matches_value(w, v) for w in wanted), f"{name}({text})")


def one_of(*values: Any) -> Matcher:
    """Equal to one of ``values`` (each may itself be a matcher): ``one_of(200, 204)``."""
    return _combined("one_of", values, every=False)


def any_of(*matchers: Any) -> Matcher:
    """Passes at least one of ``matchers`` (values or matchers): ``any_of(lt(200), gte(500))``."""
    return _combined("any_of", matchers, every=False)


def all_of(*matchers: Any) -> Matcher:
    """Passes every one of ``matchers``: ``all_of(gte(200), lt(300))``."""
    return _combined("all_of", matchers, every=True)


def not_(wanted: Any) -> Matcher:
    """Does not equal ``wanted`` (or does not pass it, for a matcher): ``not_(prefix("GET"))``."""
    return Matcher(lambda v: not matches_value(wanted, v), f"not_({wanted!r})")
