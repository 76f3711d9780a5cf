"""The trace page in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test opens the page of a real failing run (three services, nested
spans, an exception, a span named with HTML in it) from ``file://`` and
checks it through the page's documented ``data-*`` hooks.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest
from html_page import pytest_html_tests, srcdoc_pages

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install -y chromium)"
)

XSS = "<img src=x onerror=alert(1)>"

SHOP = """
import time
import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


class Declined(Exception):
    pass


@pytest.fixture(scope="session")
def tracers(trace_store_processor):
    tracers = {}
    for service in ("shop", "inventory", "payments"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(trace_store_processor)
        tracers[service] = provider.get_tracer(service)
    return tracers


def checkout(tracers, card):
    with tracers["shop"].start_as_current_span(
        "POST /checkout", kind=trace.SpanKind.SERVER, attributes={"http.route": "/checkout"}
    ):
        with tracers["inventory"].start_as_current_span("inventory.reserve", attributes={"items": ["lamp"]}):
            with tracers["inventory"].start_as_current_span("db.query", attributes={"db.statement": "UPDATE stock"}):
                time.sleep(0.002)
        with tracers["payments"].start_as_current_span(
            %r, attributes={"payment.card_suffix": card[-4:]}
        ):
            time.sleep(0.003)
            if card.endswith("0002"):
                raise Declined("card ending 0002 declined")


def test_paid(tracers):
    checkout(tracers, "4242424242424242")


def test_declined(tracers):
    checkout(tracers, "0000000000000002")
""" % XSS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


class Opened:
    """A page in the browser, with every request it made and every dialog it opened."""

    def __init__(self, browser: Any, url: str, ready: str = "html[data-ready]") -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector(ready, state="attached")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open_all(self) -> None:
        for head in self.page.locator("[data-trace-id] > button.trace-head").all():
            head.click()

    def rows(self) -> list[dict[str, Any]]:
        """Every span row shown, in page order, with its bar's position."""
        return self.page.eval_on_selector_all(
            "[data-span-id]",
            """rows => rows.map(row => {
                const bar = row.querySelector('[data-role="bar"]');
                return {
                    span_id: row.dataset.spanId,
                    parent: row.dataset.parentSpanId,
                    status: row.dataset.status,
                    trace_id: row.closest('.waterfall').dataset.traceId,
                    visible: row.offsetParent !== null,
                    left: parseFloat(bar.style.left),
                    width: parseFloat(bar.style.width),
                    text: row.innerText,
                };
            })""",
        )

    def visible_traces(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "li[data-trace-id]", "items => items.filter(i => !i.hidden).map(i => i.dataset.traceId)"
        )


@pytest.fixture
def shop_run(pytester) -> tuple[Path, dict[str, dict[str, Any]]]:
    """A failing run's page, and its artifact's spans by span id."""
    pytester.makepyfile(test_shop=SHOP)
    result = pytester.runpytest_subprocess("--trace-store-path", "spans.jsonl", "--trace-store-html", "page.html")
    result.assert_outcomes(passed=1, failed=1)
    lines = (pytester.path / "spans.jsonl").read_text(encoding="utf-8").splitlines()
    spans = {s["span_id"]: s for s in map(json.loads, lines)}
    assert len(spans) == 8
    return pytester.path / "page.html", spans


def test_one_row_per_span_in_tree_order_with_bars_inside_the_axis(browser, shop_run):
    page_path, spans = shop_run
    opened = Opened(browser, page_path.as_uri())
    tests = opened.page.eval_on_selector_all("[data-test]", "groups => groups.map(g => g.dataset.test)")
    # The failed test's group first; the passing test's spans are "no test" ("") until records name their test.
    assert tests[0] == "test_shop.py::test_declined" and len(tests) == 2
    assert tests[1] in ("", "test_shop.py::test_paid")
    # Errors first: the declined checkout's trace leads the list.
    first = opened.page.locator("li[data-trace-id]").first.get_attribute("data-trace-id")
    assert any(s["trace_id"] == first and s["status"] == "ERROR" for s in spans.values())
    assert opened.page.locator("[data-span-id]").count() == 0  # nothing is built before it is opened

    opened.open_all()
    rows = opened.rows()
    assert sorted(r["span_id"] for r in rows) == sorted(spans)
    assert all(r["visible"] for r in rows)
    position = {r["span_id"]: i for i, r in enumerate(rows)}
    for row in rows:
        span = spans[row["span_id"]]
        assert row["parent"] == (span["parent_span_id"] or "")
        assert row["trace_id"] == span["trace_id"]
        if row["parent"]:
            assert position[row["parent"]] < position[row["span_id"]]
        assert 0 <= row["left"] and row["left"] + row["width"] <= 100.01
    for trace_id in {s["trace_id"] for s in spans.values()}:
        mine = [r for r in rows if r["trace_id"] == trace_id]
        by_start = sorted(mine, key=lambda r: spans[r["span_id"]]["start_time_unix_nano"])
        lefts = [r["left"] for r in by_start]
        assert lefts == sorted(lefts) and lefts[0] == 0
    errors = {r["span_id"] for r in rows if r["status"] == "ERROR"}
    assert errors == {sid for sid, s in spans.items() if s["status"] == "ERROR"} and len(errors) == 2
    for row in rows:
        assert ("Declined" in row["text"]) == (row["span_id"] in errors)
    ticks = opened.page.locator(".waterfall .axis .tick").count()
    assert ticks >= 2 * 3
    assert opened.errors == []


def test_details_show_attributes_and_the_stack_trace_after_a_click(browser, shop_run):
    page_path, spans = shop_run
    opened = Opened(browser, page_path.as_uri())
    opened.open_all()
    details = opened.page.locator('[data-role="details"]')
    assert details.is_hidden()
    (charge,) = [sid for sid, s in spans.items() if s["name"] == XSS and s["status"] == "ERROR"]

    opened.page.locator(f'[data-span-id="{charge}"] .name').click()

    assert details.is_visible()
    assert details.get_attribute("data-span-id") == charge
    text = details.inner_text()
    assert "payment.card_suffix" in text and "0002" in text
    stack = details.locator(".stacktrace").inner_text()
    assert "Traceback (most recent call last)" in stack and "card ending 0002 declined" in stack
    assert "Declined: card ending 0002 declined" in details.locator(".exception-message").inner_text()
    assert spans[charge]["trace_id"] in text and "service.name" in text and "payments" in text


def test_search_and_errors_only_filter_traces_and_rows(browser, shop_run):
    page_path, spans = shop_run
    opened = Opened(browser, page_path.as_uri())
    opened.open_all()
    traces = {s["trace_id"] for s in spans.values()}
    (failed,) = {s["trace_id"] for s in spans.values() if s["status"] == "ERROR"}

    def shown() -> list[str]:
        return sorted(spans[r["span_id"]]["name"] for r in opened.rows() if r["visible"])

    opened.page.fill('[data-role="search"]', "0002")
    assert opened.visible_traces() == [failed]
    # The match, and its parent shown as its context.
    assert shown() == sorted(["POST /checkout", XSS])

    opened.page.fill('[data-role="search"]', "INVENTORY")
    assert sorted(opened.visible_traces()) == sorted(traces)
    assert shown() == sorted(["POST /checkout", "inventory.reserve", "db.query"] * 2)

    opened.page.fill('[data-role="search"]', "")
    opened.page.check('[data-role="errors-only"]')
    assert opened.visible_traces() == [failed]
    assert shown() == sorted(["POST /checkout", XSS])

    opened.page.uncheck('[data-role="errors-only"]')
    assert len(shown()) == 8
    assert opened.page.locator('[data-role="count"]').inner_text() == "2 traces, 8 spans"


def test_collapsing_a_row_hides_its_descendants(browser, shop_run):
    page_path, spans = shop_run
    opened = Opened(browser, page_path.as_uri())
    opened.open_all()
    (reserve, _) = [sid for sid, s in spans.items() if s["name"] == "inventory.reserve"]
    row = opened.page.locator(f'[data-span-id="{reserve}"]')
    children = opened.page.locator(f'[data-parent-span-id="{reserve}"]')
    assert children.count() == 1 and children.is_visible()
    row.locator("button.toggle").click()
    assert children.is_hidden() and row.is_visible()
    row.locator("button.toggle").click()
    assert children.is_visible()


def _distinct_pixels(png: bytes) -> int:
    """How many distinct byte values the image's pixel data holds (a blank page has two or three)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, data = 8, b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(data)))


def test_no_request_leaves_the_page_and_html_in_a_name_runs_nothing(browser, shop_run, tmp_path):
    page_path, spans = shop_run
    opened = Opened(browser, page_path.as_uri())
    opened.open_all()
    (charge,) = [sid for sid, s in spans.items() if s["name"] == XSS and s["status"] == "ERROR"]
    opened.page.locator(f'[data-span-id="{charge}"] .name').click()
    opened.page.fill('[data-role="search"]', "img")

    assert opened.requests == [page_path.as_uri()]
    assert opened.dialogs == []
    assert opened.page.locator("img").count() == 0
    assert opened.page.locator(f'[data-span-id="{charge}"] .name').inner_text() == XSS
    assert opened.errors == []
    shot = tmp_path / "page.png"
    opened.page.screenshot(path=str(shot))
    assert _distinct_pixels(shot.read_bytes()) > 20


def test_a_pytest_html_report_shows_the_failed_tests_waterfall(browser, pytester):
    pytest.importorskip("pytest_html")
    pytester.makepyfile(test_shop=SHOP)
    result = pytester.runpytest_subprocess("--html", "report.html", "--self-contained-html")
    result.assert_outcomes(passed=1, failed=1)
    (extra,) = pytest_html_tests(pytester.path / "report.html")["test_shop.py::test_declined"][0]["extras"]
    assert len(srcdoc_pages(extra["content"])) == 1

    opened = Opened(browser, (pytester.path / "report.html").as_uri(), "iframe.tracestore-waterfall")
    frame = opened.page.frame_locator("iframe.tracestore-waterfall")
    # The failed test's trace opens by itself.
    rows = frame.locator("[data-span-id]")
    rows.first.wait_for()
    assert rows.count() == 4
    assert frame.locator('[data-status="ERROR"]').count() == 2
    assert frame.locator("[data-test]").get_attribute("data-test") == "test_shop.py::test_declined"
    assert [u for u in opened.requests if not u.startswith(("file:", "about:", "data:"))] == []
    assert opened.dialogs == []


def test_a_trace_id_in_the_address_opens_that_trace(browser, shop_run):
    page_path, spans = shop_run
    (paid,) = {s["trace_id"] for s in spans.values()} - {s["trace_id"] for s in spans.values() if s["status"] == "ERROR"}
    opened = Opened(browser, f"{page_path.as_uri()}#{paid}")
    rows = opened.rows()
    assert len(rows) == 4 and {r["trace_id"] for r in rows} == {paid}
