"""The :class:`Query` filter object and the matching rules it shares with the store."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Pattern, Tuple, Union

from .matchers import Matcher, matches_value
from .record import (
    SpanRecord,
    _same_value,
    error_type_matches,
    error_type_name,
    freeze_value,
    normalize_kind,
    normalize_status,
    normalize_trace_id,
)

if TYPE_CHECKING:
    from typing import Protocol

    class Navigator(Protocol):
        """What relational filters need: a span's parent and children (a store or a trace)."""

        def parent(self, span: SpanRecord) -> Optional[SpanRecord]: ...

        def children(self, span: SpanRecord) -> Sequence[SpanRecord]: ...


__all__ = [
    "Query",
    "error_type_name",
    "error_type_matches",
    "TimeLike",
    "DurationLike",
    "NameLike",
    "RelativeLike",
]

#: A point in time: an aware or naive ``datetime`` (naive means local time,
#: as ``datetime.timestamp`` reads it) or seconds since the Unix epoch.
TimeLike = Union[_dt.datetime, int, float]
#: A duration: a ``timedelta`` or seconds.
DurationLike = Union[_dt.timedelta, int, float]
#: A name to match: the exact string, a compiled regex (``re.search``) or a
#: :class:`~pytest_tracestore.matchers.Matcher` such as ``prefix("GET ")``.
NameLike = Union[str, Pattern[str], Matcher]
#: Another span, for ``parent=`` and its kin: a name (as :data:`NameLike`) or a :class:`Query`.
RelativeLike = Union[str, Pattern[str], Matcher, "Query"]

# The filters that look beyond the span itself, so need a store or trace to navigate.
_RELATIONAL = ("parent", "ancestor", "child", "descendant")


def _to_ns(value: Any, field: str) -> int:
    if isinstance(value, _dt.datetime):
        return int(value.timestamp() * 1_000_000) * 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"invalid {field} {value!r}: must be finite")
        return int(value * 1e9)
    raise ValueError(
        f"invalid {field} {value!r}: expected a datetime or seconds since the epoch"
    )


def _duration_ns(value: Any, field: str) -> int:
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"invalid {field} {value!r}: expected seconds or a timedelta")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid {field} {value!r}: must be a non-negative duration")
    return int(seconds * 1e9)


def _name_matches(wanted: NameLike, name: Any) -> bool:
    if isinstance(wanted, str):
        return bool(name == wanted)
    return matches_value(wanted, name)


def _check_name_like(value: Any, field: str) -> None:
    if not isinstance(value, (str, re.Pattern, Matcher)):
        raise ValueError(
            f"invalid {field} {value!r}: expected a string, a regex or a matcher such as prefix()"
        )


def _relative(value: Any, field: str) -> Query:
    """The query a ``parent=``-like value stands for."""
    if isinstance(value, Query):
        return value
    if isinstance(value, (str, re.Pattern, Matcher)):
        return Query(name=value)
    raise ValueError(
        f"invalid {field} {value!r}: expected a span name, a regex, a matcher or a Query"
    )


def _has_attributes(value: Any) -> Tuple[str, ...]:
    keys = (value,) if isinstance(value, str) else value
    try:
        keys = tuple(keys)
    except TypeError:
        raise ValueError(
            f"invalid has_attributes {value!r}: expected attribute keys (strings)"
        ) from None
    for key in keys:
        if not isinstance(key, str):
            raise ValueError(f"invalid has_attributes key {key!r}: expected a string")
    return keys


def _ancestors(record: SpanRecord, nav: Navigator) -> Iterator[SpanRecord]:
    seen = {record.span_id}
    parent = nav.parent(record)
    while parent is not None and parent.span_id not in seen:
        yield parent
        seen.add(parent.span_id)
        parent = nav.parent(parent)


def _descendants(record: SpanRecord, nav: Navigator) -> Iterator[SpanRecord]:
    seen = {record.span_id}
    stack = list(reversed(nav.children(record)))
    while stack:
        span = stack.pop()
        if span.span_id in seen:  # a parent cycle, in a malformed file
            continue
        seen.add(span.span_id)
        yield span
        stack.extend(reversed(nav.children(span)))


def _names(records: Sequence[SpanRecord], limit: int = 5) -> str:
    shown = ", ".join(repr(r.name) for r in records[:limit])
    return shown + (f", … {len(records) - limit} more" if len(records) > limit else "")


def _plain_name(query: Query) -> Optional[str]:
    """The name when ``query`` asks for nothing but an exact name, for short messages."""
    if isinstance(query.name, str) and all(
        getattr(query, f) is None for f in _FIELD_NAMES if f != "name"
    ):
        return query.name
    return None


class _HasName:
    """The relational test for a bare name (a class, not a lambda, so a Query pickles)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, record: SpanRecord, _nav: Any) -> bool:
        return record.name == self.name


def _needs_store(field: str) -> ValueError:
    return ValueError(
        f"the {field}= filter needs spans to navigate: call matches(record, store=trace_store) "
        "with a TraceStore or a Trace, or filter through the store (trace_store.spans(...))"
    )


@dataclasses.dataclass(frozen=True)
class Query:
    """A span filter.  Every field that is set must match (AND).

    About the span itself:

    - ``trace_id``: an int or a hex string.
    - ``name``: the exact span name, a compiled regular expression that must
      match somewhere in it (``re.search``), or a matcher (``prefix("GET ")``).
    - ``status``: ``"UNSET"``, ``"OK"`` or ``"ERROR"`` (any case).
    - ``error_type``: a string or an exception class; see
      :meth:`TraceStore.filter_by_error_type`.
    - ``attributes``: a mapping of attribute keys to what their values must
      be: a value (equal), a compiled regex, or a matcher (``gte(500)``,
      ``one_of(200, 204)``, ...; see :mod:`pytest_tracestore.matchers`).
      The attribute must exist.
    - ``has_attributes``: attribute keys that must exist, whatever their value.
    - ``since`` / ``until``: the span overlaps this window: it ended at or
      after ``since`` and started at or before ``until``.
    - ``min_duration`` / ``max_duration``: seconds or a ``timedelta``, inclusive.
    - ``kind``: ``"INTERNAL"``, ``"SERVER"``, ``"CLIENT"``, ``"PRODUCER"`` or ``"CONSUMER"``.
    - ``root``: ``True`` for spans without a parent id, ``False`` for the others.
    - ``service``: the resource's ``service.name`` (a name, regex or matcher).
    - ``scope``: the instrumentation scope's name (a name, regex or matcher).
    - ``where``: a callable taking the :class:`SpanRecord`, true to keep it.

    About other spans of its trace (each a span name, regex, matcher or a
    :class:`Query`, which may itself be relational):

    - ``parent``: the span's parent matches.
    - ``ancestor``: some span above it matches.
    - ``child``: at least one of its children matches.
    - ``descendant``: at least one span below it matches.

    The relational four need spans to navigate: the store's methods
    provide them, and :meth:`matches` takes ``store=`` (a store or a
    :class:`~pytest_tracestore.Trace`).  Invalid values raise ``ValueError``
    naming the field and the value.
    """

    trace_id: Optional[Union[int, str]] = None
    name: Optional[NameLike] = None
    status: Optional[str] = None
    error_type: Optional[Union[str, type]] = None
    attributes: Optional[Mapping[str, Any]] = None
    since: Optional[TimeLike] = None
    until: Optional[TimeLike] = None
    min_duration: Optional[DurationLike] = None
    max_duration: Optional[DurationLike] = None
    kind: Optional[str] = None
    parent: Optional[RelativeLike] = None
    ancestor: Optional[RelativeLike] = None
    child: Optional[RelativeLike] = None
    descendant: Optional[RelativeLike] = None
    root: Optional[bool] = None
    service: Optional[NameLike] = None
    scope: Optional[NameLike] = None
    has_attributes: Optional[Union[str, Sequence[str]]] = None
    where: Optional[Callable[[SpanRecord], Any]] = None

    def __post_init__(self) -> None:
        # Normalised forms live beside the user's values so repr shows what was asked.
        norm: dict[str, Any] = {}
        norm["trace_id"] = None if self.trace_id is None else normalize_trace_id(self.trace_id)
        for field in ("name", "service", "scope"):
            if getattr(self, field) is not None:
                _check_name_like(getattr(self, field), field)
        norm["status"] = None if self.status is None else normalize_status(self.status)
        norm["error_type"] = (
            None if self.error_type is None else error_type_name(self.error_type)
        )
        if self.attributes is not None:
            if not isinstance(self.attributes, Mapping):
                raise ValueError(f"invalid attributes {self.attributes!r}: expected a mapping")
            for key in self.attributes:
                if not isinstance(key, str):
                    raise ValueError(f"invalid attribute key {key!r}: expected a string")
            norm["attributes"] = {
                k: v if isinstance(v, (Matcher, re.Pattern)) else freeze_value(v)
                for k, v in self.attributes.items()
            }
        else:
            norm["attributes"] = None
        norm["since"] = None if self.since is None else _to_ns(self.since, "since")
        norm["until"] = None if self.until is None else _to_ns(self.until, "until")
        norm["min_duration"] = (
            None if self.min_duration is None else _duration_ns(self.min_duration, "min_duration")
        )
        norm["max_duration"] = (
            None if self.max_duration is None else _duration_ns(self.max_duration, "max_duration")
        )
        norm["kind"] = None if self.kind is None else normalize_kind(self.kind)
        for field in _RELATIONAL:
            value = getattr(self, field)
            norm[field] = None if value is None else _relative(value, field)
        # Checked for every span matched: each set relational field with its
        # test; a bare name (the common case) is compared as such, not through a Query.
        norm["relational"] = tuple(
            (f, norm[f].matches if _plain_name(norm[f]) is None else _HasName(norm[f].name))
            for f in _RELATIONAL
            if norm[f] is not None
        )
        if self.root is not None and not isinstance(self.root, bool):
            raise ValueError(f"invalid root {self.root!r}: expected True or False")
        norm["has_attributes"] = (
            None if self.has_attributes is None else _has_attributes(self.has_attributes)
        )
        if self.where is not None and not callable(self.where):
            raise ValueError(f"invalid where {self.where!r}: expected a callable taking a span")
        object.__setattr__(self, "_norm", norm)

    @property
    def normalized(self) -> dict[str, Any]:
        """The validated, normalised filters (ids as hex, times as ns, relatives as Querys)."""
        return dict(self._norm)  # type: ignore[attr-defined]

    @property
    def is_relational(self) -> bool:
        """Whether a filter looks at other spans (``parent=``, ``child=`` and their kin)."""
        return bool(self._norm["relational"])  # type: ignore[attr-defined]

    def is_empty(self) -> bool:
        """Whether no field is set, so every span matches."""
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))

    def replace(self, **changes: Any) -> Query:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def matches(self, record: SpanRecord, store: Optional[Navigator] = None) -> bool:
        """Whether ``record`` satisfies every field of this query.

        ``store`` (a :class:`TraceStore` or :class:`Trace`) is where
        relational filters find the span's parent and children; without it
        they raise ``ValueError``.
        """
        return self._own_match(record) and self._relational_match(record, store)

    def _own_match(self, record: SpanRecord) -> bool:
        n = self._norm  # type: ignore[attr-defined]
        if n["trace_id"] is not None and record.trace_id != n["trace_id"]:
            return False
        if self.name is not None and not _name_matches(self.name, record.name):
            return False
        if n["status"] is not None and record.status != n["status"]:
            return False
        if n["kind"] is not None and record.kind != n["kind"]:
            return False
        if n["error_type"] is not None and not any(
            error_type_matches(n["error_type"], t) for t in record.error_types()
        ):
            return False
        if n["attributes"]:
            attrs = record.attributes
            missing = object()
            for key, value in n["attributes"].items():
                found = attrs.get(key, missing)
                if found is missing:
                    return False
                if isinstance(value, (Matcher, re.Pattern)):
                    if not matches_value(value, found):
                        return False
                elif not _same_value(found, value):  # frozen already
                    return False
        if n["has_attributes"]:
            keys = record._attribute_keys
            if not all(k in keys for k in n["has_attributes"]):
                return False
        if n["since"] is not None and record.end_time < n["since"]:
            return False
        if n["until"] is not None and record.start_time > n["until"]:
            return False
        duration = record.end_time - record.start_time
        if n["min_duration"] is not None and duration < n["min_duration"]:
            return False
        if n["max_duration"] is not None and duration > n["max_duration"]:
            return False
        if self.root is not None and (record.parent_span_id is None) != self.root:
            return False
        if self.service is not None and not _name_matches(
            self.service, record.resource.get("service.name")
        ):
            return False
        if self.scope is not None and (
            record.scope is None or not _name_matches(self.scope, record.scope.name)
        ):
            return False
        if self.where is not None and not self.where(record):
            return False
        return True

    def _relational_match(self, record: SpanRecord, nav: Optional[Navigator]) -> bool:
        relational = self._norm["relational"]  # type: ignore[attr-defined]
        if not relational:
            return True
        if nav is None:
            raise _needs_store(relational[0][0])
        for field, test in relational:
            if field == "parent":
                parent = nav.parent(record)
                if parent is None or not test(parent, nav):
                    return False
            elif field == "ancestor":
                if not any(test(a, nav) for a in _ancestors(record, nav)):
                    return False
            elif field == "child":
                if not any(test(c, nav) for c in nav.children(record)):
                    return False
            elif not any(test(d, nav) for d in _descendants(record, nav)):
                return False
        return True

    def mismatches(self, record: SpanRecord, store: Optional[Navigator] = None) -> list[str]:
        """What keeps ``record`` from matching, one phrase per failed field or attribute.

        Empty when the record matches.  Used to explain near misses;
        ``store`` as for :meth:`matches`.
        """
        n = self._norm  # type: ignore[attr-defined]
        out: list[str] = []
        if n["trace_id"] is not None and record.trace_id != n["trace_id"]:
            out.append(f"trace_id is {record.trace_id}")
        if self.name is not None and not _name_matches(self.name, record.name):
            out.append(f"name is {record.name!r}")
        if n["status"] is not None and record.status != n["status"]:
            out.append(f"status is {record.status}")
        if n["kind"] is not None and record.kind != n["kind"]:
            out.append(f"kind is {record.kind}")
        if n["error_type"] is not None and not any(
            error_type_matches(n["error_type"], t) for t in record.error_types()
        ):
            types = record.error_types()
            out.append(f"error types are {list(types)!r}" if types else "no error type")
        missing = object()
        for key, value in (n["attributes"] or {}).items():
            found = record.attributes.get(key, missing)
            if found is missing:
                out.append(f"no attribute {key!r}")
            elif not matches_value(value, found):
                wanted = f", not {value!r}" if isinstance(value, Matcher) else ""
                out.append(f"{key}={found!r}{wanted}")
        for key in n["has_attributes"] or ():
            if key not in record._attribute_keys:
                out.append(f"no attribute {key!r}")
        if (n["since"] is not None and record.end_time < n["since"]) or (
            n["until"] is not None and record.start_time > n["until"]
        ):
            out.append("outside the time window")
        duration = record.end_time - record.start_time
        if (n["min_duration"] is not None and duration < n["min_duration"]) or (
            n["max_duration"] is not None and duration > n["max_duration"]
        ):
            out.append(f"duration is {duration / 1e6:.3g}ms")
        if self.root is not None and (record.parent_span_id is None) != self.root:
            out.append("a root span" if record.parent_span_id is None else "not a root span")
        if self.service is not None:
            service = record.resource.get("service.name")
            if not _name_matches(self.service, service):
                out.append(f"service is {service!r}" if service is not None else "no service.name")
        if self.scope is not None and (
            record.scope is None or not _name_matches(self.scope, record.scope.name)
        ):
            out.append(
                f"scope is {record.scope.name!r}" if record.scope else "no instrumentation scope"
            )
        if self.where is not None and not self.where(record):
            out.append(f"where={_callable_name(self.where)} is false")
        if self.is_relational:
            out.extend(self._relational_mismatches(record, store))
        return out

    def _relational_mismatches(self, record: SpanRecord, nav: Optional[Navigator]) -> list[str]:
        n = self._norm  # type: ignore[attr-defined]
        for field in _RELATIONAL:
            if n[field] is not None and nav is None:
                raise _needs_store(field)
        assert nav is not None
        out: list[str] = []
        wanted = n["parent"]
        if wanted is not None:
            parent = nav.parent(record)
            if record.parent_span_id is None:
                out.append("no parent (a root span)")
            elif parent is None:
                out.append(f"parent {record.parent_span_id} not recorded")
            elif not wanted.matches(parent, nav):
                plain = _plain_name(wanted)
                out.append(
                    f"parent is {parent.name!r}, not {plain!r}"
                    if plain is not None
                    else f"parent {parent.name!r} does not match {wanted.describe()}"
                )
        wanted = n["ancestor"]
        if wanted is not None:
            above = list(_ancestors(record, nav))
            if not any(wanted.matches(a, nav) for a in above):
                seen = f"ancestors: {_names(above)}" if above else "no ancestors"
                out.append(f"no ancestor matching {wanted.describe()} ({seen})")
        wanted = n["child"]
        if wanted is not None:
            kids = list(nav.children(record))
            if not any(wanted.matches(c, nav) for c in kids):
                seen = f"children: {_names(kids)}" if kids else "no children"
                out.append(f"no child matching {wanted.describe()} ({seen})")
        wanted = n["descendant"]
        if wanted is not None:
            below = list(_descendants(record, nav))
            if not any(wanted.matches(d, nav) for d in below):
                seen = f"descendants: {_names(below)}" if below else "no descendants"
                out.append(f"no descendant matching {wanted.describe()} ({seen})")
        return out

    def describe(self) -> str:
        """The set fields as ``field=value, ...``, for messages."""
        return ", ".join(
            f"{f.name}={_describe_value(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        ) or "(no filters)"


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Query))


def _callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _describe_value(value: Any) -> str:
    if isinstance(value, Query):
        return f"Query({value.describe()})"
    if callable(value) and not isinstance(value, (Matcher, type)):
        return _callable_name(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in value.items()) + "}"
    return repr(value)


def combine(query: Query | None, filters: dict[str, Any]) -> Query:
    """The query that ``query`` and keyword ``filters`` make together.

    Raises ``ValueError`` naming the bad argument: an unknown filter, or a
    ``query`` that is not a :class:`Query`.
    """
    if filters:
        try:
            return query.replace(**filters) if query is not None else Query(**filters)
        except TypeError as exc:
            allowed = ", ".join(f for f in Query.__dataclass_fields__)
            raise ValueError(f"{exc}; the filters are: {allowed}") from None
    if not isinstance(query, Query):
        raise ValueError(f"expected a Query, got {query!r}")
    return query
