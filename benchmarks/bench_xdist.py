"""Benchmark a pytest-xdist run with the plugin against the same run without it.

Prints ratios, never bare timings alone: the machines this runs on are shared
and noisy.

    python benchmarks/bench_xdist.py            # 10 rounds (about two minutes)
    python benchmarks/bench_xdist.py --quick    # best of 2, for a smoke check

A generated suite of 200 tests, each making 50 spans (5 attributes each), runs
with ``-n 2``.  Like the suites of the teams this plugin is for, its conftest
sets up the OpenTelemetry SDK (a ``TracerProvider``) for the application code:

(a) ``-p no:tracestore``: the same instrumented suite without the plugin.  The
    SDK records every span and, with no processor, drops it;
(b) the plugin, which joins that provider and records every span in the
    workers (file, store and per-test view), then merges them into one
    artifact at the end.

Two more rows put these in context:

(c) ``-p no:tracestore`` and no provider at all: the API hands out
    non-recording spans and the SDK is never imported (what a suite that is
    not instrumented pays);
(d) ``-p no:tracestore`` with ``SimpleSpanProcessor(InMemorySpanExporter())``
    on the provider: the SDK's own way of keeping spans for tests.

Runs alternate, round by round.  Printed: the best of N wall-clock times of
each setup, the best CPU time (the controller and its workers), and the
ratio of (b) to (a) within each round (median and range).  The target line
gives all three against 1.10: the best-of figures estimate the plugin's own
cost (each setup's least disturbed run), the within-round median shows how
much a shared machine's noise moves a single comparison.
Target: (b) / (a) <= 1.10.

The runs use Python's default bytecode cache, as a developer machine or a CI
job does, after one untimed run of each setup fills it.  pytest rewrites the
modules of every installed plugin and caches the result beside the bytecode;
with ``--no-bytecode-cache`` (``PYTHONDONTWRITEBYTECODE=1``, common in
container images) every process compiles pytest-xdist's modules, the test
files and this plugin's modules again, and the ratio shows that cost too.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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


# BENCH_PROVIDER picks what the conftest installs: "sdk" (the instrumented
# application's provider), "sdk-in-memory" (plus the SDK's in-memory exporter)
# or nothing.
CONFTEST = """
import os

_setup = os.environ.get("BENCH_PROVIDER")
if _setup:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    if _setup == "sdk-in-memory":
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
"""

# setup -> (label, provider the conftest installs, plugin on)
SETUPS = {
    "no-plugin": ("(a) instrumented suite, -p no:tracestore", "sdk", False),
    "plugin": ("(b) instrumented suite with the plugin", "sdk", True),
    "no-provider": ("(c) no provider, -p no:tracestore", "", False),
    "sdk-in-memory": ("(d) SDK + InMemorySpanExporter, no plugin", "sdk-in-memory", False),
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(folder: Path, setup: str, bytecode_cache: bool) -> tuple[float, float]:
    """One run of the suite: (wall-clock seconds, CPU seconds of all its processes)."""
    _, provider, plugin = SETUPS[setup]
    args = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    env = dict(os.environ, BENCH_PROVIDER=provider)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if plugin:
        args += ["--trace-store-path", str(folder / "spans.jsonl")]
    else:
        args += ["-p", "no:tracestore"]
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(args, cwd=folder, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"the suite failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 10")
    parser.add_argument("--rounds", type=int, default=None, help="how many rounds (default 10)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run every process with PYTHONDONTWRITEBYTECODE=1",
    )
    options = parser.parse_args(argv)
    rounds = options.rounds or (2 if options.quick else 10)
    if rounds < 1:
        parser.error(f"--rounds must be at least 1, got {rounds}")
    cache = not options.no_bytecode_cache
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_bench.py").write_text(SUITE, encoding="utf-8")
        (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        for setup in SETUPS:  # untimed: fills the bytecode caches, warms the disk
            run_suite(folder, setup, cache)
        runs = [{setup: run_suite(folder, setup, cache) for setup in SETUPS} for _ in range(rounds)]
        with open(folder / "spans.jsonl", encoding="utf-8") as artifact:
            spans = sum(1 for _ in artifact)
    wall = {setup: min(r[setup][0] for r in runs) for setup in SETUPS}
    cpu = {setup: min(r[setup][1] for r in runs) for setup in SETUPS}
    base = wall["no-plugin"]
    print(
        f"\n{TESTS} tests x {SPANS_PER_TEST} spans with -n 2, best of {rounds}, runs alternating, "
        f"bytecode cache {'on' if cache else 'off'}"
    )
    print(f"   {'':<44} {'wall':>8}  {'vs (a)':>6}  {'cpu vs (a)':>10}")
    for setup, (label, _, _) in SETUPS.items():
        print(
            f"   {label:<44} {wall[setup]:6.2f} s  {wall[setup] / base:5.2f}x  "
            f"{cpu[setup] / cpu['no-plugin']:9.2f}x"
        )
    print(f"   artifact lines after the merge: {spans} (the newest 1000 by default)")
    paired = sorted(r["plugin"][0] / r["no-plugin"][0] for r in runs)
    print(
        f"   (b) / (a) within each round: median {statistics.median(paired):.2f}x, "
        f"range {paired[0]:.2f}x to {paired[-1]:.2f}x"
    )
    verdicts = [
        (f"best of {rounds} wall", wall["plugin"] / base),
        (f"best of {rounds} CPU", cpu["plugin"] / cpu["no-plugin"]),
        ("median within rounds", statistics.median(paired)),
    ]
    marks = [f"{name} {value:.2f}x {'met' if value <= 1.10 else 'MISSED'}" for name, value in verdicts]
    print("   target (b) <= 1.10x (a): " + "; ".join(marks))
    print(
        f"   (b) / (c), the plugin plus the SDK's own recording: "
        f"{wall['plugin'] / wall['no-provider']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
