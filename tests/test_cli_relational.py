"""The command's ``query`` with relational filters (--parent, --ancestor, --child, ...)."""

from __future__ import annotations

import io
import re

import pytest
from conftest import make_record

from pytest_tracestore import Scope
from pytest_tracestore.cli import main
from pytest_tracestore.serialize import dumps_line, record_to_dict

MS = 1_000_000
T0 = 1_764_201_600_000_000_000
T = "dd" * 16
HTTP = Scope("opentelemetry.instrumentation.requests", "0.48b0")


def records():
    shop, pay = {"service.name": "shop"}, {"service.name": "payments"}
    return [
        make_record(
            trace_id=T,
            span_id=1,
            name="POST /checkout",
            kind="SERVER",
            start_time=T0,
            end_time=T0 + 90 * MS,
            resource=shop,
        ),
        make_record(
            trace_id=T,
            span_id=2,
            parent_span_id=1,
            name="GET /health",
            start_time=T0 + 1 * MS,
            end_time=T0 + 2 * MS,
            resource=shop,
        ),
        make_record(
            trace_id=T,
            span_id=3,
            parent_span_id=1,
            name="payments.charge",
            start_time=T0 + 3 * MS,
            end_time=T0 + 80 * MS,
            resource=pay,
            scope=HTTP,
            attributes={"retry": True},
        ),
        make_record(
            trace_id=T,
            span_id=4,
            parent_span_id=3,
            name="db.query",
            start_time=T0 + 4 * MS,
            end_time=T0 + 5 * MS,
            resource=pay,
        ),
    ]


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(dumps_line(record_to_dict(r)) + "\n" for r in records()))
    return path


def names(artifact, *flags):
    out, err = io.StringIO(), io.StringIO()
    code = main(["query", str(artifact), *flags], out=out, err=err)
    assert code in (0, 1), err.getvalue()
    return [re.split(r"\s{2,}", line)[4] for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--parent", "POST /checkout"], ["GET /health", "payments.charge"]),
        (["--ancestor", "POST /checkout"], ["GET /health", "payments.charge", "db.query"]),
        (["--child", "db.query"], ["payments.charge"]),
        (["--descendant", "db.query"], ["POST /checkout", "payments.charge"]),
        (["--root"], ["POST /checkout"]),
        (["--no-root"], ["GET /health", "payments.charge", "db.query"]),
        (["--service", "payments"], ["payments.charge", "db.query"]),
        (["--scope", "opentelemetry.instrumentation.requests"], ["payments.charge"]),
        (["--has-attr", "retry"], ["payments.charge"]),
        (["--parent", "POST /checkout", "--service", "shop"], ["GET /health"]),
        (["--parent", "nothing"], []),
    ],
)
def test_relational_and_span_filters(artifact, flags, expected):
    assert names(artifact, *flags) == expected
