"""Make docs/waterfall.png: the trace page of a small failing run, in headless Chromium.

    python docs/screenshot.py

Needs the test extra (Playwright) and Debian's ``chromium``.  The run has
three services and one failed checkout; the picture shows its trace opened
and the failed span's details.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SUITE = textwrap.dedent(
    r'''
    import time
    import traceback
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    import pytest


    class Declined(Exception):
        """The payment provider refused the card."""


    @pytest.fixture(scope="session")
    def tracers(trace_store_processor):
        tracers = {}
        for service in ("shop", "inventory", "payments"):
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(trace_store_processor)
            tracers[service] = provider.get_tracer(service, "1.0")
        return tracers


    def _stack(exc):
        # This file's frames only, by its base name: the picture shows no machine's paths.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
        for frame in frames:
            frame.filename = "test_shop.py"
        return ("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
                + f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n")


    def checkout(tracers, card):
        shop, inventory, payments = tracers["shop"], tracers["inventory"], tracers["payments"]
        with shop.start_as_current_span(
            "POST /checkout", kind=trace.SpanKind.SERVER, record_exception=False,
            attributes={"http.route": "/checkout", "http.request.method": "POST", "user.id": "bob"},
        ):
            with shop.start_as_current_span("cart.load", attributes={"cart.items": ["lamp", "desk"]}):
                time.sleep(0.004)
            with inventory.start_as_current_span("inventory.reserve", kind=trace.SpanKind.CLIENT):
                with inventory.start_as_current_span("db.query", attributes={
                    "db.system": "sqlite", "db.statement": "UPDATE stock SET held = held + 1"}):
                    time.sleep(0.006)
            with payments.start_as_current_span(
                "payments.charge", kind=trace.SpanKind.CLIENT, record_exception=False,
                attributes={"payment.amount": 19.0, "payment.card_suffix": card[-4:]},
            ) as span:
                with payments.start_as_current_span("fraud.check"):
                    time.sleep(0.003)
                time.sleep(0.008)
                try:
                    if card.startswith("0000"):
                        raise Declined(f"card ending {card[-4:]} declined")
                except Declined as exc:
                    span.record_exception(exc, attributes={"exception.stacktrace": _stack(exc)})
                    raise


    def test_checkout(tracers):
        checkout(tracers, "4242424242424242")


    def test_declined_card(tracers):
        checkout(tracers, "0000000000000002")
    '''
)


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("screenshot: needs Debian's chromium (apt-get install -y chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    target = Path(__file__).resolve().parent / "waterfall.png"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_shop.py").write_text(SUITE, encoding="utf-8")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--trace-store-path",
             "spans.jsonl", "--trace-store-html", "traces.html"],
            cwd=folder, capture_output=True, text=True, check=False,
        )
        if not (folder / "traces.html").exists():
            print(run.stdout, run.stderr, sep="\n", file=sys.stderr)
            return 1
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1440, "height": 600}, device_scale_factor=1)
            page.goto((folder / "traces.html").as_uri())
            page.wait_for_selector("html[data-ready]", state="attached")
            page.locator("li[data-trace-id] > button.trace-head").first.click()
            page.locator('[data-status="ERROR"] .name', has_text="payments.charge").click()
            page.screenshot(path=str(target))
            browser.close()
    print(f"screenshot: wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
