"""Benchmark a pytest-xdist run with the plugin against the same run without it.

Prints ratios, never bare timings alone: the machines this runs on are shared
and noisy.

    python benchmarks/bench_xdist.py            # best of 5 each (about a minute)
    python benchmarks/bench_xdist.py --quick    # best of 2, for a smoke check

A generated suite of 200 tests, each making 50 spans (5 attributes each), runs
with ``-n 2``:

(a) ``-p no:tracestore``: the issue's baseline.  No TracerProvider is set,
    so the API hands out non-recording spans and the SDK is never imported;
(b) ``-p no:tracestore`` with a conftest that installs an SDK
    ``TracerProvider`` with ``SimpleSpanProcessor(InMemorySpanExporter())``:
    what a suite pays just to record its spans in memory, without the plugin;
(c) the plugin, which records every span in the workers (file, store and
    per-test view) and merges them into one artifact at the end.

Runs alternate, best of N wall-clock times.  Target: (c) / (a) <= 1.10; (c) /
(b) is the plugin's own cost over recording spans at all.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 200
SPANS_PER_TEST = 50

SUITE = f"""
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("bench")

@pytest.mark.parametrize("n", range({TESTS}))
def test_spans(n):
    for i in range({SPANS_PER_TEST}):
        with tracer.start_as_current_span(
            "op", attributes={{"n": n, "i": i, "user.id": "bob", "ok": True, "ratio": 0.5}}
        ):
            pass
"""


# Only the in-memory baseline sets this, so the other setups see no provider.
CONFTEST = """
import os

if os.environ.get("BENCH_SDK_IN_MEMORY"):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
"""

SETUPS = {
    "no-plugin": "without the plugin (-p no:tracestore)",
    "sdk-in-memory": "without it, SDK + InMemorySpanExporter",
    "plugin": "with the plugin (merged artifact)",
}


def run_suite(folder: Path, setup: str) -> float:
    args = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    env = dict(os.environ)
    env.pop("BENCH_SDK_IN_MEMORY", None)
    if setup == "plugin":
        args += ["--trace-store-path", str(folder / "spans.jsonl")]
    else:
        args += ["-p", "no:tracestore"]
    if setup == "sdk-in-memory":
        env["BENCH_SDK_IN_MEMORY"] = "1"
    start = time.perf_counter()
    done = subprocess.run(args, cwd=folder, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the suite failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="best of 2 instead of 5")
    options = parser.parse_args(argv)
    rounds = 2 if options.quick else 5
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_bench.py").write_text(SUITE, encoding="utf-8")
        (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        best = dict.fromkeys(SETUPS, float("inf"))
        for _ in range(rounds):
            for setup in SETUPS:
                best[setup] = min(best[setup], run_suite(folder, setup))
        with open(folder / "spans.jsonl", encoding="utf-8") as artifact:
            spans = sum(1 for _ in artifact)
    base = best["no-plugin"]
    print(f"\n{TESTS} tests x {SPANS_PER_TEST} spans with -n 2, best of {rounds}, runs alternating")
    for setup, label in SETUPS.items():
        print(f"   {label:<42} {best[setup]:6.2f} s  {best[setup] / base:5.2f}x")
    print(f"   artifact lines after the merge: {spans} (the newest 1000 by default)")
    ratio = best["plugin"] / base
    over_sdk = best["plugin"] / best["sdk-in-memory"]
    print(f"   target with <= 1.10x without: {'met' if ratio <= 1.10 else 'MISSED'} ({ratio:.2f}x)")
    print(f"   with the plugin / SDK + InMemorySpanExporter: {over_sdk:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
