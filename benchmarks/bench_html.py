"""The trace page at size: how long headless Chromium takes to show the trace list.

    python benchmarks/bench_html.py               # 10,000 and 100,000 spans, best of 3
    python benchmarks/bench_html.py --quick       # 2,000 and 10,000 spans, for a smoke check
    python benchmarks/bench_html.py --count       # also callgrind instruction counts

The spans: traces of 10 spans (a server span, nested children over three
services, attributes of mixed types), one trace in seven with an ERROR span
carrying an exception event and its stack trace.  For each size the page is
built (``page_data`` and ``render_page``), written, and opened from
``file://`` in Debian's ``chromium`` through Playwright; the time is from
``goto`` until the page marks itself ready (``html[data-ready]``), which
happens once the list is in the DOM.  The largest trace is then opened and
the time until its rows are shown is printed too.

Targets: 10,000 spans -> the list shown in under 2 s; 100,000 spans open.
Ratios are printed against a 100-span page opened in the same run, so a
slow or busy machine shows as a slow baseline, not as a regression.

With ``--count``, instructions for building the page in Python (callgrind,
``PYTHONHASHSEED=0``): children that make 1,000 and 10,000 records, with and
without their page; the differences over 9,000 spans give the steady cost
per span, start-up and the records' own making cancelled out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, List

from pytest_tracestore import Scope, SpanEvent, SpanRecord
from pytest_tracestore.html import page_data, render_page

T0 = 1_764_201_600_000_000_000
MS = 1_000_000
SERVICES = ("shop", "inventory", "payments")
STACK = "Traceback (most recent call last):\n" + "".join(
    f'  File "shop/module{i}.py", line {i * 7}, in step{i}\n    step{i + 1}()\n' for i in range(12)
) + "shop.Declined: card declined\n"


def records(count: int) -> List[SpanRecord]:
    """``count`` spans, in traces of ten."""
    out = []
    scope = Scope("bench", "1.0")
    resources = [{"service.name": s, "host.name": "ci-runner-7"} for s in SERVICES]
    for i in range(count):
        trace, n = divmod(i, 10)
        start = T0 + trace * 50 * MS + n * 3 * MS
        error = trace % 7 == 3 and n == 4
        out.append(
            SpanRecord(
                trace_id=trace + 1,
                span_id=i + 1,
                parent_span_id=None if n == 0 else trace * 10 + 1 + (0 if n < 4 else 3),
                name="POST /checkout" if n == 0 else f"step.{n}",
                kind="SERVER" if n == 0 else "INTERNAL",
                status="ERROR" if error else "UNSET",
                start_time=start,
                end_time=start + (40 if n == 0 else 2) * MS,
                attributes={"http.route": "/checkout", "user.id": f"user-{trace % 100}",
                            "attempt": n, "ratio": n / 7, "cached": n % 2 == 0, "tags": ["a", "b"]},
                events=[SpanEvent("exception", start + MS, {"exception.type": "shop.Declined",
                                                            "exception.message": "card declined",
                                                            "exception.stacktrace": STACK})] if error else [],
                resource=resources[n % 3],
                scope=scope,
            )
        )
    return out


def build(count: int, path: Path) -> float:
    """Write the page of ``count`` spans; return the seconds its building took (records made before)."""
    made = records(count)
    began = time.perf_counter()
    page = render_page(page_data(made, title=f"{count} spans"))
    took = time.perf_counter() - began
    path.write_text(page, encoding="utf-8")
    return took


def measure(browser: Any, path: Path, rounds: int) -> tuple[float, float]:
    """Best seconds until the list is shown, and until the largest trace's rows are."""
    shown, opened = [], []
    for _ in range(rounds):
        page = browser.new_page()
        began = time.perf_counter()
        page.goto(path.as_uri(), timeout=300_000)
        page.wait_for_selector("html[data-ready]", state="attached", timeout=300_000)
        shown.append(time.perf_counter() - began)
        began = time.perf_counter()
        page.locator("li[data-trace-id] > button.trace-head").first.click()
        page.wait_for_selector("[data-span-id]", timeout=300_000)
        opened.append(time.perf_counter() - began)
        page.close()
    return min(shown), min(opened)


def callgrind(what: str, count: int, folder: Path) -> int:
    """Instructions of a child that makes ``count`` records and, for ``page``, their page."""
    out = folder / f"callgrind.{what}.{count}.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         str(Path(__file__).resolve()), "--_child", what, str(count), str(folder / "count.html")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
    return int(found.group(1)) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", action="store_true", help="callgrind instruction counts")
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        what, count, path = args._child
        if what == "page":
            build(int(count), Path(path))
        else:
            records(int(count))
        return 0
    chromium = shutil.which("chromium")
    if chromium is None:
        print("bench_html: needs Debian's chromium (apt-get install -y chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as driver:
        folder = Path(tmp)
        browser = driver.chromium.launch(executable_path=chromium, headless=True)
        build(100, folder / "baseline.html")
        baseline, _ = measure(browser, folder / "baseline.html", args.rounds)
        print(f"baseline: 100 spans, list shown in {baseline:.3f} s")
        for size in sizes:
            path = folder / f"{size}.html"
            built = build(size, path)
            shown, opened = measure(browser, path, args.rounds)
            megabytes = path.stat().st_size / 1e6
            print(
                f"{size:>7} spans: page {megabytes:.1f} MB built in {built:.2f} s; list shown in "
                f"{shown:.3f} s ({shown / baseline:.1f}x the baseline); a trace opened in {opened:.3f} s"
            )
        browser.close()
        if args.count:
            counts = {(what, n): callgrind(what, n, folder) for what in ("records", "page") for n in (1_000, 10_000)}
            page = counts["page", 10_000] - counts["page", 1_000]
            made = counts["records", 10_000] - counts["records", 1_000]
            print(f"callgrind: the page of 10,000 spans {counts['page', 10_000]:,} instructions in all; "
                  f"per span, {page / 9_000:,.0f} with the records made, {(page - made) / 9_000:,.0f} "
                  "for the page alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
