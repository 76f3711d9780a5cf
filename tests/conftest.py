from __future__ import annotations

import itertools
from typing import Any

import pytest

from pytest_tracestore import SpanEvent, SpanRecord

pytest_plugins = ["pytester"]

_ids = itertools.count(1)


def make_record(**fields: Any) -> SpanRecord:
    """A hand-built record; ids and times default to fresh, increasing values."""
    n = next(_ids)
    fields.setdefault("trace_id", n)
    fields.setdefault("span_id", n)
    fields.setdefault("name", f"span-{n}")
    fields.setdefault("start_time", n * 1000)
    fields.setdefault("end_time", fields["start_time"] + 500)
    return SpanRecord(**fields)


def exception_event(type_name: str, message: str = "boom") -> SpanEvent:
    return SpanEvent(
        "exception",
        1,
        {"exception.type": type_name, "exception.message": message, "exception.stacktrace": "..."},
    )


@pytest.fixture
def record_factory():
    return make_record
