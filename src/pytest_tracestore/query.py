"""The :class:`Query` filter object and the matching rules it shares with the store."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from collections.abc import Mapping
from typing import Any, Optional, Pattern, Union

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

__all__ = ["Query", "error_type_name", "error_type_matches", "TimeLike", "DurationLike"]

#: A point in time: an aware or naive ``datetime`` (naive means local time,
#: as ``datetime.timestamp`` reads it) or seconds since the Unix epoch.
TimeLike = Union[_dt.datetime, int, float]
#: A duration: a ``timedelta`` or seconds.
DurationLike = Union[_dt.timedelta, int, float]


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


def _name_matches(wanted: Union[str, Pattern[str]], name: str) -> bool:
    if isinstance(wanted, str):
        return name == wanted
    return wanted.search(name) is not None


@dataclasses.dataclass(frozen=True)
class Query:
    """A span filter.  Every field that is set must match (AND).

    - ``trace_id``: an int or a hex string.
    - ``name``: the exact span name, or a compiled regular expression that
      must match somewhere in it (``re.search``).
    - ``status``: ``"UNSET"``, ``"OK"`` or ``"ERROR"`` (any case).
    - ``error_type``: a string or an exception class; see
      :meth:`TraceStore.filter_by_error_type`.
    - ``attributes``: a mapping of attribute keys to values that must all be equal.
    - ``since`` / ``until``: the span overlaps this window: it ended at or
      after ``since`` and started at or before ``until``.
    - ``min_duration`` / ``max_duration``: seconds or a ``timedelta``, inclusive.
    - ``kind``: ``"INTERNAL"``, ``"SERVER"``, ``"CLIENT"``, ``"PRODUCER"`` or ``"CONSUMER"``.

    Invalid values raise ``ValueError`` naming the field and the value.
    """

    trace_id: Optional[Union[int, str]] = None
    name: Optional[Union[str, Pattern[str]]] = None
    status: Optional[str] = None
    error_type: Optional[Union[str, type]] = None
    attributes: Optional[Mapping[str, Any]] = None
    since: Optional[TimeLike] = None
    until: Optional[TimeLike] = None
    min_duration: Optional[DurationLike] = None
    max_duration: Optional[DurationLike] = None
    kind: Optional[str] = None

    def __post_init__(self) -> None:
        # Normalised forms live beside the user's values so repr shows what was asked.
        norm: dict[str, Any] = {}
        norm["trace_id"] = None if self.trace_id is None else normalize_trace_id(self.trace_id)
        if self.name is not None and not isinstance(self.name, (str, re.Pattern)):
            raise ValueError(f"invalid name {self.name!r}: expected a string or a regex")
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
            norm["attributes"] = {k: freeze_value(v) for k, v in self.attributes.items()}
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
        object.__setattr__(self, "_norm", norm)

    @property
    def normalized(self) -> dict[str, Any]:
        """The validated, normalised filters (ids as hex, times as ns)."""
        return dict(self._norm)  # type: ignore[attr-defined]

    def is_empty(self) -> bool:
        """Whether no field is set, so every span matches."""
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))

    def replace(self, **changes: Any) -> Query:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def matches(self, record: SpanRecord) -> bool:
        """Whether ``record`` satisfies every field of this query."""
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
                if not _same_value(attrs.get(key, missing), value):
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
        return True

    def mismatches(self, record: SpanRecord) -> list[str]:
        """What keeps ``record`` from matching, one phrase per failed field or attribute.

        Empty when the record matches.  Used to explain near misses.
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
            elif not _same_value(found, value):
                out.append(f"{key}={found!r}")
        if (n["since"] is not None and record.end_time < n["since"]) or (
            n["until"] is not None and record.start_time > n["until"]
        ):
            out.append("outside the time window")
        duration = record.end_time - record.start_time
        if (n["min_duration"] is not None and duration < n["min_duration"]) or (
            n["max_duration"] is not None and duration > n["max_duration"]
        ):
            out.append(f"duration is {duration / 1e6:.3g}ms")
        return out

    def describe(self) -> str:
        """The set fields as ``field=value, ...``, for messages."""
        return ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        ) or "(no filters)"
