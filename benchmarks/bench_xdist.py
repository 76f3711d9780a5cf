"""Benchmark a pytest-xdist run with the plugin against the same run without it.

Prints ratios, never bare timings alone: the machines this runs on are shared
and noisy.

    python benchmarks/bench_xdist.py            # 10 rounds (about two minutes)
    python benchmarks/bench_xdist.py --quick    # best of 2, for a smoke check
    python benchmarks/bench_xdist.py --rounds 0 --count   # counted only (valgrind)

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

On a shared machine whole runs' times scatter by a fifth from run to run,
more than the difference being measured.  ``--count`` adds a figure that
barely moves: it runs (a), (b) and (d) once each under valgrind's
cachegrind, one after another, every process of the run (controller and
workers) summed, with the string hash seed fixed, and prints the ratios of
instructions executed.  Run one after another on an otherwise idle machine,
most totals repeat to within 0.1%; now and then the controller's own share
moves by about 20M instructions (0.3% of the run).  Run side by side, or slowed down further
(cachegrind's cache simulation), the workers' totals move by a tenth in
every setup: pytest-xdist's work depends on how its processes interleave.
Counts leave out what timing sees on real hardware (caches, branch
mispredictions, the operating system, the two workers sharing two cores
with the controller), so they stand beside the timed figures, not in place
of them.

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 200
TARGET = 1.10
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

if os.environ.get("BENCH_COUNTING"):
    # Under valgrind a worker takes longer to exit than the 10 seconds the
    # controller waits before killing it, and a killed worker's counts are lost.
    import xdist.workermanage

    xdist.workermanage.NodeManager.EXIT_TIMEOUT = 600
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


def _command(folder: Path, setup: str, bytecode_cache: bool) -> tuple[list[str], dict[str, str]]:
    """The pytest command line and environment of one setup's run."""
    _, provider, plugin = SETUPS[setup]
    args = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    env = dict(os.environ, BENCH_PROVIDER=provider)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if plugin:
        args += ["--trace-store-path", str(folder / f"spans-{setup}.jsonl")]
    else:
        args += ["-p", "no:tracestore"]
    return args, env


def run_suite(folder: Path, setup: str, bytecode_cache: bool) -> tuple[float, float]:
    """One run of the suite: (wall-clock seconds, CPU seconds of all its processes)."""
    args, env = _command(folder, setup, bytecode_cache)
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(args, cwd=folder, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"the suite failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu


def _become_subreaper() -> None:
    """Adopt this process's orphaned descendants (Linux), so it can wait for them."""
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def count_work(folder: Path, setups: list[str], bytecode_cache: bool) -> dict[str, int]:
    """Each setup's instructions, counted by cachegrind over every process of one run.

    One run after another: run side by side, the setups slow each other
    down, and pytest-xdist's own work moves with the timing.  The string
    hash seed is fixed, so on an idle machine most totals repeat to within
    0.1% (the controller's share now and then moves by 0.3% of the run).
    """
    _become_subreaper()
    counts = {}
    for setup in setups:
        args, env = _command(folder, setup, bytecode_cache)
        out = folder / f"cachegrind-{setup}"
        out.mkdir()
        env["PYTHONHASHSEED"] = "0"
        env["BENCH_COUNTING"] = "1"
        valgrind = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--trace-children=yes",
            f"--cachegrind-out-file={out}/out.%p",
        ]
        done = subprocess.run(
            valgrind + args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        # The workers may still be writing their counts when the controller has
        # exited: as the subreaper, this process inherits them, and waits.
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
        if done.returncode != 0:
            log = done.stdout.decode(errors="replace")
            raise SystemExit(f"the suite failed under valgrind:\n{log[-3000:]}")
        counts[setup] = _read_counts(setup, out)
    return counts


def _read_counts(setup: str, out: Path) -> int:
    """Cachegrind's instruction total over every process of one run, from its output files."""
    files = [path for path in out.iterdir() if not _is_helper(path)]
    if len(files) < 3:
        raise SystemExit(
            f"{setup}: counts from {len(files)} processes, expected the controller and 2 workers"
        )
    total = 0
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        summary = [line.split()[1] for line in lines if line.startswith("summary:")]
        if not summary:
            raise SystemExit(f"{setup}: a process of the run left no counts ({path.name})")
        total += int(summary[0])
    return total


def _is_helper(path: Path) -> bool:
    """Whether a count file is of a helper program (platform.processor() runs uname), not Python."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("cmd:"):
            return "python" not in line.split()[1]
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 10")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="how many timed rounds (default 10; 0 with --count)",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run every process with PYTHONDONTWRITEBYTECODE=1",
    )
    parser.add_argument(
        "--count",
        action="store_true",
        help=(
            "also count each setup's instructions under valgrind's cachegrind, "
            "one after another (about five minutes)"
        ),
    )
    options = parser.parse_args(argv)
    rounds = (2 if options.quick else 10) if options.rounds is None else options.rounds
    if rounds < 1 and not (rounds == 0 and options.count):
        parser.error(f"--rounds must be at least 1 (or 0 with --count), got {rounds}")
    if options.count and (shutil.which("valgrind") is None or not sys.platform.startswith("linux")):
        parser.error("--count needs Linux and valgrind on the PATH (Debian: apt install valgrind)")
    cache = not options.no_bytecode_cache
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_bench.py").write_text(SUITE, encoding="utf-8")
        (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        for setup in SETUPS:  # untimed: fills the bytecode caches, warms the disk
            run_suite(folder, setup, cache)
        with open(folder / "spans-plugin.jsonl", encoding="utf-8") as artifact:
            spans = sum(1 for _ in artifact)
        runs = [{setup: run_suite(folder, setup, cache) for setup in SETUPS} for _ in range(rounds)]
        counts = count_work(folder, COUNTED, cache) if options.count else None
    print(
        f"\n{TESTS} tests x {SPANS_PER_TEST} spans with -n 2, "
        f"bytecode cache {'on' if cache else 'off'}; "
        f"artifact lines after the merge: {spans} (the newest 1000 by default)"
    )
    if runs:
        report_timings(runs)
    if counts is not None:
        report_counts(counts)
    return 0


# The setups --count runs: a run under valgrind takes minutes, not seconds.
COUNTED = ["no-plugin", "plugin", "sdk-in-memory"]


def report_timings(runs: list[dict[str, tuple[float, float]]]) -> None:
    """The timed rounds: best-of wall and CPU time per setup, and the paired ratio."""
    rounds = len(runs)
    wall = {setup: min(r[setup][0] for r in runs) for setup in SETUPS}
    cpu = {setup: min(r[setup][1] for r in runs) for setup in SETUPS}
    base = wall["no-plugin"]
    print(f"\ntimed: best of {rounds}, runs alternating")
    print(f"   {'':<44} {'wall':>8}  {'vs (a)':>6}  {'cpu vs (a)':>10}")
    for setup, (label, _, _) in SETUPS.items():
        print(
            f"   {label:<44} {wall[setup]:6.2f} s  {wall[setup] / base:5.2f}x  "
            f"{cpu[setup] / cpu['no-plugin']:9.2f}x"
        )
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
    print_verdicts(verdicts, digits=2)
    print(
        f"   (b) / (c), the plugin plus the SDK's own recording: "
        f"{wall['plugin'] / wall['no-provider']:.2f}x"
    )


def print_verdicts(verdicts: list[tuple[str, float]], digits: int) -> None:
    """One line: each figure of (b) / (a) against the target."""
    marks = [
        f"{name} {value:.{digits}f}x {'met' if value <= TARGET else 'MISSED'}"
        for name, value in verdicts
    ]
    print(f"   target (b) <= {TARGET:.2f}x (a): " + "; ".join(marks))


def report_counts(counts: dict[str, int]) -> None:
    """The counted runs: each setup's instructions over (a)'s, every process of the run summed."""
    base = counts["no-plugin"]
    print("\ncounted by cachegrind: one run each, one after another, every process summed")
    print(f"   {'':<44} {'instructions':>14}  {'vs (a)':>6}")
    for setup in COUNTED:
        print(f"   {SETUPS[setup][0]:<44} {counts[setup]:14,}  {counts[setup] / base:5.3f}x")
    print_verdicts([("instructions", counts["plugin"] / base)], digits=3)


if __name__ == "__main__":
    sys.exit(main())
