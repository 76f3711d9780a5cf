"""Deterministic snapshots: the structure, its options, and stability across runs (black-box)."""

from __future__ import annotations

import json

import pytest
from conftest import make_record

from pytest_tracestore import (
    DEFAULT_VOLATILE_ATTRIBUTES,
    Scope,
    SpanEvent,
    SpanLink,
    Trace,
    TraceStore,
)

MS = 1_000_000
T0 = 1_764_201_600_000_000_000
A = "a1" * 16
B = "b2" * 16
SHOP = {"service.name": "shop", "host.name": "ci-runner-7", "process.pid": 4242}


def shop_store():
    root = make_record(
        trace_id=A,
        span_id=1,
        name="POST /checkout",
        kind="SERVER",
        start_time=T0,
        end_time=T0 + 100 * MS,
        resource=SHOP,
        scope=Scope("shop.http", "1.2"),
        attributes={
            "http.route": "/checkout",
            "server.port": 53122,
            "server.address": "localhost",
            "thread.id": 140213,
            "code.filepath": "/home/ci/shop/app.py",
            "tags": ("a", "b"),
        },
    )
    charge = make_record(
        trace_id=A,
        span_id=2,
        parent_span_id=1,
        name="payments.charge",
        kind="CLIENT",
        status="ERROR",
        status_description="card declined",
        start_time=T0 + 10 * MS + 400_000,
        end_time=T0 + 42 * MS + 600_000,
        resource=SHOP,
        attributes={"http.client.request.duration": 0.0321, "amount": 12.5},
        events=[
            SpanEvent(
                "exception",
                T0 + 12 * MS,
                {
                    "exception.type": "shop.Declined",
                    "exception.message": "no funds",
                    "exception.stacktrace": 'File "/home/ci/shop/pay.py", line 9',
                },
            )
        ],
    )
    reserve = make_record(
        trace_id=A,
        span_id=3,
        parent_span_id=1,
        name="inventory.reserve",
        start_time=T0 + 2 * MS,
        end_time=T0 + 5 * MS,
        resource=SHOP,
    )
    later = make_record(
        trace_id=B,
        span_id=9,
        name="email.send",
        start_time=T0 + 500 * MS,
        end_time=T0 + 510 * MS,
        resource=SHOP,
        links=[SpanLink(A, 2, {"reason": "receipt"}), SpanLink("cc" * 16, 5)],
    )
    store = TraceStore()
    store.extend([reserve, charge, root, later])
    return store


def test_default_snapshot():
    assert shop_store().snapshot() == [
        {
            "trace": 1,
            "spans": [
                {
                    "span": 1,
                    "name": "POST /checkout",
                    "kind": "SERVER",
                    "status": "UNSET",
                    "attributes": {"http.route": "/checkout", "tags": ["a", "b"]},
                    "children": [
                        {
                            "span": 2,
                            "name": "inventory.reserve",
                            "kind": "INTERNAL",
                            "status": "UNSET",
                        },
                        {
                            "span": 3,
                            "name": "payments.charge",
                            "kind": "CLIENT",
                            "status": "ERROR",
                            "status_description": "card declined",
                            "attributes": {"amount": 12.5},
                            "events": [
                                {
                                    "name": "exception",
                                    "attributes": {
                                        "exception.message": "no funds",
                                        "exception.type": "shop.Declined",
                                    },
                                }
                            ],
                        },
                    ],
                }
            ],
        },
        {
            "trace": 2,
            "spans": [
                {
                    "span": 1,
                    "name": "email.send",
                    "kind": "INTERNAL",
                    "status": "UNSET",
                    "links": [
                        {"trace": 1, "span": 3, "attributes": {"reason": "receipt"}},
                        {"trace": "external"},
                    ],
                }
            ],
        },
    ]


def test_snapshot_is_plain_json():
    snap = shop_store().snapshot(timestamps=True, resource=True, scope=True)
    assert json.loads(json.dumps(snap)) == snap


def test_volatile_keys_can_be_kept_added_or_all_kept():
    store = shop_store()
    root = store.snapshot(A, keep=["server.port"])["spans"][0]
    assert root["attributes"] == {
        "http.route": "/checkout",
        "server.port": 53122,
        "tags": ["a", "b"],
    }
    root = store.snapshot(A, drop=["http.*"])["spans"][0]
    assert root["attributes"] == {"tags": ["a", "b"]}
    root = store.snapshot(A, volatile=())["spans"][0]
    assert set(root["attributes"]) == {
        "http.route",
        "server.port",
        "server.address",
        "thread.id",
        "code.filepath",
        "tags",
    }
    assert "attributes" not in store.snapshot(A, attributes=False)["spans"][0]
    assert "server.port" in store.snapshot(A, volatile="code.*")["spans"][0]["attributes"]


def test_default_volatile_keys_cover_ports_hosts_durations_threads_and_paths():
    import fnmatch

    for key in [
        "server.port",
        "client.port",
        "network.peer.address",
        "net.peer.name",
        "host.name",
        "http.server.request.duration",
        "thread.id",
        "code.filepath",
        "code.file.path",
        "exception.stacktrace",
        "process.pid",
        "url.full",
    ]:
        assert any(fnmatch.fnmatchcase(key, p) for p in DEFAULT_VOLATILE_ATTRIBUTES), key
    for key in ["http.route", "http.response.status_code", "db.system", "service.name"]:
        assert not any(fnmatch.fnmatchcase(key, p) for p in DEFAULT_VOLATILE_ATTRIBUTES), key


def test_relative_rounded_timestamps():
    trace = shop_store().snapshot(A, timestamps=True)
    root = trace["spans"][0]
    assert (root["start_ms"], root["duration_ms"]) == (0, 100)
    charge = root["children"][1]
    assert (charge["start_ms"], charge["duration_ms"]) == (10, 32)  # 10.4 and 32.2 ms, rounded
    assert charge["events"][0]["at_ms"] == 2  # 1.6 ms after the span's start
    charge = shop_store().snapshot(A, timestamps=True, round_ms=0.5)["spans"][0]["children"][1]
    assert (charge["start_ms"], charge["duration_ms"]) == (10.5, 32)
    charge = shop_store().snapshot(A, timestamps=True, round_ms=25)["spans"][0]["children"][1]
    assert (charge["start_ms"], charge["duration_ms"]) == (0, 25)


def test_resource_and_scope_are_optional():
    root = shop_store().snapshot(A, resource=True, scope=True)["spans"][0]
    assert root["resource"] == {"service.name": "shop"}  # host and process dropped
    assert root["scope"] == {"name": "shop.http", "version": "1.2"}
    assert root["children"][0]["scope"] is None
    assert "resource" not in shop_store().snapshot(A)["spans"][0]


def test_events_and_links_can_be_left_out():
    store = shop_store()
    assert "events" not in store.snapshot(A, events=False)["spans"][0]["children"][1]
    assert "links" not in store.snapshot(B, links=False)["spans"][0]


def test_missing_parent_is_marked():
    root = make_record(trace_id=1, span_id=1, name="root", start_time=0, end_time=10)
    orphan = make_record(trace_id=1, span_id=3, parent_span_id=2, name="orphan", start_time=5)
    snap = Trace([orphan, root]).snapshot()
    assert snap == {
        "trace": 1,
        "spans": [
            {"span": 1, "name": "root", "kind": "INTERNAL", "status": "UNSET"},
            {
                "span": 2,
                "name": "orphan",
                "kind": "INTERNAL",
                "status": "UNSET",
                "parent": "missing",
            },
        ],
    }


def test_ordinals_do_not_depend_on_ids_or_clock():
    def trace(trace_id, first_id, t0):
        return [
            make_record(
                trace_id=trace_id, span_id=first_id, name="root", start_time=t0, end_time=t0 + 100
            ),
            make_record(
                trace_id=trace_id,
                span_id=first_id + 7,
                parent_span_id=first_id,
                name="b",
                start_time=t0 + 20,
            ),
            make_record(
                trace_id=trace_id,
                span_id=first_id + 3,
                parent_span_id=first_id,
                name="a",
                start_time=t0 + 10,
            ),
        ]

    one, two = TraceStore(), TraceStore()
    one.extend(trace(1, 10, 0))
    two.extend(reversed(trace(99, 500, 10**12)))
    assert one.snapshot() == two.snapshot()
    assert [c["name"] for c in one.snapshot()[0]["spans"][0]["children"]] == ["a", "b"]


def test_order_by_name_for_concurrent_siblings():
    spans = [
        make_record(trace_id=1, span_id=1, name="batch", start_time=0, end_time=100),
        make_record(trace_id=1, span_id=2, parent_span_id=1, name="worker-b", start_time=10),
        make_record(trace_id=1, span_id=3, parent_span_id=1, name="worker-a", start_time=11),
    ]
    trace = Trace(spans)
    by_start = [c["name"] for c in trace.snapshot()["spans"][0]["children"]]
    by_name = [c["name"] for c in trace.snapshot(order="name")["spans"][0]["children"]]
    assert by_start == ["worker-b", "worker-a"]
    assert by_name == ["worker-a", "worker-b"]


def test_snapshot_of_one_trace_and_of_an_empty_store():
    store = shop_store()
    assert store.snapshot(B) == store.trace(B).snapshot()
    assert store.snapshot(B)["trace"] == 1
    assert TraceStore().snapshot() == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({"round_ms": 0}, "invalid round_ms 0"),
        ({"round_ms": True}, "invalid round_ms True"),
        ({"order": "time"}, "invalid order 'time': expected 'start' or 'name'"),
        ({"timestamps": "yes"}, "invalid timestamps 'yes'"),
        ({"drop": [3]}, "invalid drop pattern 3"),
        ({"keep": 3}, "invalid keep 3"),
        ({"ids": True}, "unknown snapshot option 'ids'; the options are: attributes, volatile"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        shop_store().snapshot(**options)
    with pytest.raises(ValueError, match=message):
        shop_store().trace(A).snapshot(**options)


# -- black-box: the same suite gives the same snapshots ------------------------

SUITE_CONFTEST = """
import json
import os
import pathlib

import pytest


@pytest.fixture(autouse=True)
def _write_snapshot(request, trace_store):
    yield
    out = pathlib.Path(os.environ["SNAPSHOT_DIR"])
    out.mkdir(exist_ok=True)
    (out / f"{request.node.name}.json").write_text(
        json.dumps(trace_store.snapshot(order="name"), sort_keys=True, indent=1)
    )


def pytest_collection_modifyitems(items):
    if os.environ.get("REVERSE_ORDER"):
        items.reverse()
"""

SUITE = """
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace

tracer = trace.get_tracer("shop.tests", "1.0")


def volatile():
    return {
        "server.port": random.randint(1024, 65535),
        "thread.id": threading.get_ident(),
        "process.pid": os.getpid(),
        "code.filepath": __file__,
        "http.server.request.duration": random.random(),
    }


def test_checkout():
    with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER,
                                      attributes={"http.route": "/checkout", **volatile()}):
        with tracer.start_as_current_span("inventory.reserve", attributes={"items": 3}):
            pass
        with tracer.start_as_current_span("payments.charge") as span:
            span.record_exception(ValueError("declined"))
            span.set_status(trace.Status(trace.StatusCode.ERROR, "declined"))


def test_fan_out():
    with tracer.start_as_current_span("batch") as batch:
        context = trace.set_span_in_context(batch)

        def work(n):
            with tracer.start_as_current_span(f"worker-{n}", context=context,
                                              attributes={"n": n, **volatile()}):
                pass

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(6)))


@pytest.mark.parametrize("user", ["ann", "bob"])
def test_login(user):
    with tracer.start_as_current_span("login", attributes={"user": user}) as login:
        with tracer.start_as_current_span("session.create"):
            pass
    link = trace.Link(login.get_span_context())
    with tracer.start_as_current_span("audit", links=[link]):
        pass
"""


def run_suite(pytester, monkeypatch, name, *args, reverse=False):
    out = pytester.path / name
    monkeypatch.setenv("SNAPSHOT_DIR", str(out))
    if reverse:
        monkeypatch.setenv("REVERSE_ORDER", "1")
    else:
        monkeypatch.delenv("REVERSE_ORDER", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:randomly", *args)
    return result, {p.name: p.read_text() for p in sorted(out.iterdir())}


def test_snapshots_are_identical_across_runs_orders_selection_and_xdist(pytester, monkeypatch):
    pytester.makeconftest(SUITE_CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result, first = run_suite(pytester, monkeypatch, "first")
    result.assert_outcomes(passed=4)
    assert sorted(first) == [
        "test_checkout.json",
        "test_fan_out.json",
        "test_login[ann].json",
        "test_login[bob].json",
    ]
    checkout = json.loads(first["test_checkout.json"])
    assert checkout[0]["spans"][0]["attributes"] == {"http.route": "/checkout"}
    assert len(json.loads(first["test_fan_out.json"])[0]["spans"][0]["children"]) == 6
    audit, login = json.loads(first["test_login[ann].json"])  # order="name": audit first
    assert audit["spans"][0]["links"] == [{"trace": 2, "span": 1}]
    assert login["spans"][0]["attributes"] == {"user": "ann"}

    _, again = run_suite(pytester, monkeypatch, "again")
    assert again == first
    _, reversed_ = run_suite(pytester, monkeypatch, "reversed", reverse=True)
    assert reversed_ == first
    _, selected = run_suite(pytester, monkeypatch, "selected", "-k", "login or fan")
    assert selected == {k: v for k, v in first.items() if "checkout" not in k}
    result, xdist = run_suite(pytester, monkeypatch, "xdist", "-n", "2")
    result.assert_outcomes(passed=4)
    assert xdist == first


def test_works_with_syrupy(pytester):
    pytester.makepyfile(
        test_shop="""
        from opentelemetry import trace

        NAME = "POST /checkout"

        def test_checkout(trace_store, snapshot):
            tracer = trace.get_tracer("shop")
            with tracer.start_as_current_span(NAME, attributes={"server.port": id(object())}):
                with tracer.start_as_current_span("db.query"):
                    pass
            assert trace_store.snapshot() == snapshot
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--snapshot-update")
    result.assert_outcomes(passed=1)
    stored = (pytester.path / "__snapshots__" / "test_shop.ambr").read_text()
    assert "'name': 'db.query'" in stored and "server.port" not in stored
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    test_file = pytester.path / "test_shop.py"
    test_file.write_text(test_file.read_text().replace('"POST /checkout"', '"POST /orders"'))
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*'POST /orders'*"])


def test_works_with_inline_snapshot(pytester, monkeypatch):
    # Under pytest-xdist the inner runs inherit its variables, and
    # inline-snapshot refuses to create values "under xdist".
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    test_file = pytester.makepyfile(
        test_shop="""
        from inline_snapshot import snapshot
        from opentelemetry import trace

        def test_checkout(trace_store):
            tracer = trace.get_tracer("shop")
            with tracer.start_as_current_span("POST /checkout", attributes={"thread.id": 7}):
                with tracer.start_as_current_span("db.query"):
                    pass
            assert trace_store.snapshot() == snapshot()
        """
    )
    # Creating a value reports "your snapshot is missing one value" once, by design.
    pytester.runpytest_subprocess("-p", "no:randomly", "--inline-snapshot=create")
    written = test_file.read_text()
    stored = written.split("== snapshot(")[-1]
    assert "'name': 'db.query'" in stored and "thread.id" not in stored
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--inline-snapshot=disable")
    result.assert_outcomes(passed=1)
    test_file.write_text(
        written.replace('start_as_current_span("db.query")', 'start_as_current_span("db.insert")')
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--inline-snapshot=disable")
    result.assert_outcomes(failed=1)
