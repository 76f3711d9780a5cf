"""Benchmark navigation and relational filters against baselines measured in the same run.

Prints ratios, never bare timings: the machines this runs on are shared and noisy.

    python benchmarks/bench_navigation.py            # full run
    python benchmarks/bench_navigation.py --quick    # smaller, for a smoke check
    python benchmarks/bench_navigation.py --count    # also instruction counts (valgrind)

Stores hold traces of 10 spans (a root, three children, six grandchildren).

Figures:
1. ``store.parent(span)`` and ``store.children(span)`` at 100,000 spans over
   the same at 1,000 spans.  Target: flat (ratio near 1): a lookup goes
   through the span-id index, never a scan.
2. ``spans(trace_id=T, parent=NAME)`` over ``spans(trace_id=T)`` (ten
   candidates: building the relational Query is most of the difference),
   and ``spans(name=N, parent=NAME)`` over ``spans(name=N)`` (a scan, then a
   parent lookup per span named N), at 100,000 spans.  Reported.
3. ``spans(parent=NAME)`` over ``spans(name=NAME)`` at 100,000 spans, both
   a scan of every span: the cost of one parent lookup per span against one
   name comparison.  Reported.
4. With ``--count``: instructions per ``store.parent`` call (valgrind
   --tool=callgrind, the whole process counted with and without the calls),
   at 20,000 spans over 1,000.  Target: flat.
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
from typing import Callable, List

from pytest_tracestore import SpanRecord, TraceStore

SPANS_PER_TRACE = 10


def build(count: int) -> TraceStore:
    store = TraceStore(max_spans=None, max_bytes=None)
    records: List[SpanRecord] = []
    for t in range(1, count // SPANS_PER_TRACE + 1):
        t0 = t * 10_000
        records.append(SpanRecord(trace_id=t, span_id=1, name="GET /items", kind="SERVER",
                                  start_time=t0, end_time=t0 + 9000))
        for c in range(3):
            child = 2 + c
            records.append(SpanRecord(trace_id=t, span_id=child, parent_span_id=1,
                                      name=f"call-{c}", start_time=t0 + 100 * child,
                                      end_time=t0 + 100 * child + 50))
            for g in range(2):
                records.append(SpanRecord(trace_id=t, span_id=10 + 2 * c + g,
                                          parent_span_id=child, name="db.query",
                                          start_time=t0 + 100 * child + g,
                                          end_time=t0 + 100 * child + g + 10))
    store.extend(records)
    len(store.trace_ids())  # index what the queries use before timing
    return store


def _once(fn: Callable[[], object], repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat


def best(fn: Callable[[], object], rounds: int, repeat: int) -> float:
    """The best time per call of ``rounds`` rounds, in process CPU time."""
    return min(_once(fn, repeat) for _ in range(rounds))


def ratio(a: Callable[[], object], b: Callable[[], object], rounds: int, repeat: int) -> float:
    """Best of ``a`` over best of ``b``, the two alternating round by round."""
    times_a, times_b = [], []
    for _ in range(rounds):
        times_a.append(_once(a, repeat))
        times_b.append(_once(b, repeat))
    return min(times_a) / min(times_b)


def figure_lookups(small: TraceStore, large: TraceStore, rounds: int) -> None:
    def probes(store: TraceStore) -> List[SpanRecord]:
        ids = store.trace_ids()
        return [store.get_trace(ids[i])[5] for i in range(0, len(ids), max(len(ids) // 50, 1))]

    for name in ("parent", "children"):
        per = []
        for store in (small, large):
            spans = probes(store)
            method = getattr(store, name)
            method(spans[0])  # the index is made on first use: not timed

            def run(method: Callable[[SpanRecord], object] = method,
                    spans: List[SpanRecord] = spans) -> None:
                for span in spans:
                    method(span)

            per.append(best(run, rounds, 200) / len(spans))
        print(f"1. store.{name}(span): {len(large):,} spans / {len(small):,} spans = "
              f"{per[1] / per[0]:.2f}  (target: near 1)")


def figure_relational(large: TraceStore, rounds: int) -> None:
    trace_id = large.trace_ids()[len(large.trace_ids()) // 2]
    large.spans(parent="x")  # make the navigation index outside the timing
    pairs = [
        ("spans(trace_id=T, parent='call-1') / spans(trace_id=T)",
         lambda: large.spans(trace_id=trace_id, parent="call-1"),
         lambda: large.spans(trace_id=trace_id), 5000),
        ("spans(name='call-1', parent='GET /items') / spans(name='call-1')",
         lambda: large.spans(name="call-1", parent="GET /items"),
         lambda: large.spans(name="call-1"), 1),
    ]
    for label, relational, plain, repeat in pairs:
        found = ratio(relational, plain, rounds, repeat)
        print(f"2. {label} = {found:.2f}  (reported)")
    found = ratio(lambda: large.spans(parent="call-1"), lambda: large.spans(name="call-1"),
                  rounds, 1)
    print(f"3. spans(parent='call-1') / spans(name='call-1'), both scans = {found:.2f}"
          "  (reported)")


COUNT_SCRIPT = """
import sys
sys.path.insert(0, {bench_dir!r})
from bench_navigation import build
store = build({spans})
ids = store.trace_ids()
spans = [store.get_trace(ids[i % len(ids)])[5] for i in range(1000)]
store.parent(spans[0])
for _ in range({repeat}):
    for span in spans:
        store.parent(span)
"""


def instructions(spans: int, repeat: int) -> int:
    script = COUNT_SCRIPT.format(bench_dir=os.path.dirname(os.path.abspath(__file__)),
                                 spans=spans, repeat=repeat)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-c", script],
            capture_output=True, text=True, check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def figure_count() -> None:
    if shutil.which("valgrind") is None:
        print("4. skipped: valgrind not found")
        return
    per = []
    for spans in (1_000, 20_000):
        with_calls = instructions(spans, 5)
        without = instructions(spans, 0)
        per.append((with_calls - without) / 5000)
    print(f"4. instructions per store.parent(span): 20,000 spans / 1,000 spans = "
          f"{per[1] / per[0]:.3f}  ({per[0]:.0f} and {per[1]:.0f}; target: flat)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller stores, fewer rounds")
    parser.add_argument("--count", action="store_true", help="also count instructions")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    small = build(1_000)
    large = build(20_000 if args.quick else 100_000)
    figure_lookups(small, large, rounds)
    figure_relational(large, rounds)
    if args.count:
        figure_count()


if __name__ == "__main__":
    main()
