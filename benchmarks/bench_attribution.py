"""What deciding each span's test costs the recording path, as ratios of the same run.

Prints ratios, never bare timings: the machines this runs on are shared and noisy.

    python benchmarks/bench_attribution.py            # timed rounds
    python benchmarks/bench_attribution.py --quick    # smaller, for a smoke check
    python benchmarks/bench_attribution.py --count    # also instruction counts (valgrind)

Setups, each making traces of 10 spans (a root and nine children, four
attributes each) through a TracerProvider:

(a) no processor at all;
(b) ``FileBasedSpanProcessor`` without attribution: the recording path as it
    was before spans were attributed (the processor's defaults);
(c) the same processor with the plugin's ``Attribution``, every span made
    inside a test's scope, as the plugin runs it.

Figures:
1. (c) / (b), the whole recording cost per span, and the processor's own
   increment over no processor, ((c) - (a)) / ((b) - (a)).  Target: near
   1.0x.  Timed rounds are best of 7 (3 with --quick), setups alternating,
   in process CPU time.  --count runs each setup under valgrind
   --tool=callgrind twice, with N spans and with none, and prints the same
   ratios of the difference: the steady instructions per span, without
   start-up and imports.
2. ``TraceStore.load`` of the file (c) wrote, whose every line names one of
   100 tests, over the load of the file (b) wrote, without: the reader's
   fast path with the ``test`` key.  Target: near 1.0x.  With --count, the
   same ratio of instructions (each load less the load of an empty file).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from opentelemetry.sdk.trace import TracerProvider

from pytest_tracestore import FileBasedSpanProcessor, TraceStore
from pytest_tracestore.attribution import Attribution

SETUPS = ("none", "processor", "attributed")
LOADS = ("load-processor", "load-attributed")
TESTS = 100
SPANS_PER_TRACE = 10


def _provider(setup: str, folder: Path) -> tuple[TracerProvider, Optional[Attribution]]:
    provider = TracerProvider()
    attribution = None
    if setup != "none":
        processor = FileBasedSpanProcessor(folder / f"{setup}.jsonl", max_spans=1000)
        if setup == "attributed":
            attribution = Attribution()
            processor.attribution = attribution
        provider.add_span_processor(processor)
    return provider, attribution


def make_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("bench")
    for t in range(count // SPANS_PER_TRACE):
        with tracer.start_as_current_span("request", attributes={"http.route": "/r", "n": t}):
            for i in range(SPANS_PER_TRACE - 1):
                with tracer.start_as_current_span(
                    "step", attributes={"step": i, "ok": True, "db.system": "sqlite", "rows": 3}
                ):
                    pass


def _run(setup: str, count: int, folder: Path, tests: int = 1) -> float:
    provider, attribution = _provider(setup, folder)
    make_spans(provider, 200)  # caches warm, as in a run's steady state
    start = time.process_time()
    if attribution is None:
        make_spans(provider, count)
    else:
        for n in range(tests):
            with attribution.scope(f"tests/test_bench.py::test_spans[{n}]"):
                make_spans(provider, count // tests)
    took = time.process_time() - start
    provider.shutdown()
    return took


def _load(path: Path) -> float:
    start = time.process_time()
    TraceStore.load(path, max_spans=None)
    return time.process_time() - start


def _one(setup: str, count: int, folder: Path) -> None:
    """The body --count runs under callgrind: one setup, ``count`` spans (or lines loaded)."""
    if setup in LOADS:
        _load(_part(folder, setup, count))
    else:
        _run(setup, count, folder)


def _part(folder: Path, setup: str, count: int) -> Path:
    """The first ``count`` lines of the file a load setup reads (made by the parent)."""
    return folder / f"{setup}-{count}.jsonl"


def _instructions(setup: str, count: int, folder: Optional[Path] = None) -> int:
    totals = []
    for spans in (count, 0):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            command = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, __file__, "--one", setup, "--spans", str(spans),
                "--folder", str(folder or tmp),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"valgrind failed for {setup}: {done.stderr[-2000:]}")
            found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
            if found is None:
                raise RuntimeError(f"no instruction total for {setup}")
            totals.append(int(found.group(1)))
    return totals[0] - totals[1]


def _print_load(title: str, plain: float, attributed: float) -> None:
    print(title)
    print(f"  load with a test on every line / without:  {attributed / plain:.3f}x")


def _print(title: str, values: dict[str, float]) -> None:
    none, plain, attributed = (values[s] for s in SETUPS)
    print(title)
    print(f"  (c) / (b), whole recording path:          {attributed / plain:.3f}x")
    if plain > none:
        print(f"  ((c) - (a)) / ((b) - (a)), the increment: {(attributed - none) / (plain - none):.3f}x")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", action="store_true", help="also callgrind instruction counts")
    parser.add_argument("--one", choices=SETUPS + LOADS, help=argparse.SUPPRESS)
    parser.add_argument("--spans", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _one(args.one, args.spans, Path(args.folder))
        return 0
    spans = 5_000 if args.quick else 20_000
    rounds = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        best = {setup: float("inf") for setup in SETUPS}
        for _ in range(rounds):
            for setup in SETUPS:
                best[setup] = min(best[setup], _run(setup, spans, folder))
        _print(f"1. recording, CPU time, {spans} spans, best of {rounds}", best)
        if args.count:
            counted = spans // 4
            counts = {setup: float(_instructions(setup, counted)) for setup in SETUPS}
            _print(f"\n1b. recording, instructions (callgrind), {counted} spans", counts)
            per_span = {s: counts[s] / counted for s in SETUPS}
            print(
                "  instructions per span: "
                + ", ".join(f"({k}) {per_span[s]:,.0f}" for k, s in zip("abc", SETUPS))
            )
        # The files the load reads: the processor's, and the attributed one's
        # with 100 tests' node ids.
        for setup in SETUPS[1:]:
            _run(setup, spans, folder, tests=TESTS)
        loads = {
            setup: min(_load(folder / f"{setup}.jsonl") for _ in range(rounds)) for setup in SETUPS[1:]
        }
        _print_load(f"\n2. TraceStore.load, CPU time, {spans} spans, best of {rounds}", *loads.values())
        if args.count:
            counted = spans // 4
            for setup in LOADS:
                lines = (folder / f"{setup[5:]}.jsonl").read_text().splitlines(keepends=True)
                _part(folder, setup, counted).write_text("".join(lines[:counted]))
                _part(folder, setup, 0).write_text("")
            plain, attributed = (float(_instructions(s, counted, folder)) for s in LOADS)
            _print_load(f"\n2b. TraceStore.load, instructions (callgrind), {counted} lines", plain, attributed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
