"""Benchmark TraceQL evaluation against ``query_spans`` measured in the same run.

Prints ratios, never bare timings: the machines this runs on are shared and noisy.

    python benchmarks/bench_traceql.py            # 100,000 spans
    python benchmarks/bench_traceql.py --quick    # 20,000 spans, for a smoke check

A store holds the spans of traces of 10 spans each (a server root and nine
children, 1% errors, a few attributes of mixed types).  Each pair runs a
TraceQL query compiled once and the ``query_spans`` call that finds the same
spans, alternating, best of 7 (3 with --quick), in process CPU time, and
checks they agree.

1. ``{ name = "db.query" }`` against ``query_spans(name=...)``: a scan of every span.
2. ``{ duration > 5ms }`` against ``query_spans(min_duration=...)``: a scan.
3. ``{ status = error }`` against ``query_spans(status="ERROR")``: the status index.
4. ``{ span.user.id = "user-4242" }`` against ``query_spans(attributes=...)``:
   the attribute index.
   Target for 1-4: ratio <= 1.0 (TraceQL costs no more than query_spans).
5. Reported, no target: ``{ kind = server } >> { status = error }`` (each
   trace holding spans of both sides evaluated with its structure) against
   ``query_spans(kind="SERVER")``, one scan.
6. Reported: parsing and compiling a query, against one ``query_spans`` scan.

``--count`` (needs valgrind) also counts instructions with callgrind, the
steady figure on a shared machine: for figures 1 and 4, one process builds
the store alone, one builds it and runs the TraceQL query (5 times for the
scan, 500 for the index lookup), one builds it and runs the ``query_spans``
call as often, at 20,000 spans and a fixed hash seed; the ratio is of what
the queries add over building the store.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

from pytest_tracestore import SpanRecord, TraceQL, TraceStore

SPANS_PER_TRACE = 10
MS = 1_000_000


def build_store(count: int) -> TraceStore:
    store = TraceStore(max_spans=None, max_bytes=None)
    records: List[SpanRecord] = []
    for i in range(count):
        trace, position = divmod(i, SPANS_PER_TRACE)
        start = i * MS
        records.append(
            SpanRecord(
                trace_id=trace + 1,
                span_id=i + 1,
                parent_span_id=None if position == 0 else trace * SPANS_PER_TRACE + 1,
                name="GET /items/{id}" if position == 0 else "db.query",
                kind="SERVER" if position == 0 else "CLIENT",
                status="ERROR" if i % 100 == 7 else "UNSET",
                start_time=start,
                end_time=start + (i % 10) * MS,
                attributes={
                    "http.status_code": 200 + i % 5,
                    "user.id": f"user-{i}",
                    "ratio": i / 7.0,
                    "cache.hit": i % 2 == 0,
                },
                resource={"service.name": f"svc-{i % 3}"},
            )
        )
    store.extend(records)
    return store


def best(func: Callable[[], Any], rounds: int) -> float:
    """The least CPU time one call took, over ``rounds`` timings of enough calls for 20 ms."""
    calls = 1
    while True:
        start = time.process_time()
        for _ in range(calls):
            func()
        if time.process_time() - start >= 0.02:
            break
        calls *= 2
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        for _ in range(calls):
            func()
        times.append((time.process_time() - start) / calls)
    return min(times)


def pair(label: str, traceql: Callable[[], Any], baseline: Callable[[], Any], rounds: int,
         target: float | None) -> bool:
    found, expected = traceql(), baseline()
    if found != expected:
        raise SystemExit(f"{label}: TraceQL found {len(found)} spans, query_spans {len(expected)}")
    ours, theirs = [], []
    for _ in range(rounds):  # alternate, so drift on a shared machine hits both
        ours.append(best(traceql, 1))
        theirs.append(best(baseline, 1))
    ratio = min(ours) / max(min(theirs), 1e-9)
    verdict = "" if target is None else ("  ok" if ratio <= target else f"  OVER {target}")
    print(f"{label:<58} {len(found):>7} spans  ratio {ratio:5.2f}{verdict}")
    return target is None or ratio <= target


#: The queries --count measures: TraceQL text, the query_spans keywords, and
#: how many calls make their cost stand well above the store's set-up.
_COUNTED: Dict[str, Tuple[str, Dict[str, Any], int]] = {
    "scan": ('{ name = "db.query" }', {"name": "db.query"}, 5),
    "index": ('{ span.user.id = "user-4242" }', {"attributes": {"user.id": "user-4242"}}, 500),
}
_COUNT_SPANS = 20_000


def _counted_run(mode: str, which: str) -> None:
    store = build_store(_COUNT_SPANS)
    text, keywords, calls = _COUNTED[which]
    query = TraceQL(text)
    store.traceql(query), store.query_spans(**keywords)  # index built, modules loaded
    for _ in range(calls if mode != "setup" else 0):
        if mode == "traceql":
            store.traceql(query)
        else:
            store.query_spans(**keywords)


def _instructions(mode: str, which: str) -> int:
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, "--run-only", mode, which],
        capture_output=True, text=True, check=True,
        # The same hashes in every run, so dict work repeats exactly.
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def count_instructions() -> None:
    for which in _COUNTED:
        base = _instructions("setup", which)
        ours = _instructions("traceql", which) - base
        theirs = _instructions("query", which) - base
        label = f"instructions: {_COUNTED[which][0]}"
        print(f"{label:<58} {'':>13}  ratio {ours / max(theirs, 1):5.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--run-only", nargs=2, metavar=("MODE", "QUERY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_only:
        _counted_run(*args.run_only)
        return 0
    count = 20_000 if args.quick else 100_000
    rounds = 3 if args.quick else 7
    store = build_store(count)
    print(f"{count} spans in {count // SPANS_PER_TRACE} traces; ratio = TraceQL / query_spans")
    ok = True
    by_name = TraceQL('{ name = "db.query" }')
    ok &= pair("1. { name = \"db.query\" }  vs  name=", lambda: store.traceql(by_name),
               lambda: store.query_spans(name="db.query"), rounds, 1.0)
    slow = TraceQL("{ duration > 5ms }")
    ok &= pair("2. { duration > 5ms }  vs  min_duration=", lambda: store.traceql(slow),
               lambda: store.query_spans(min_duration=0.005000001), rounds, 1.0)
    errors = TraceQL("{ status = error }")
    ok &= pair("3. { status = error }  vs  status=", lambda: store.traceql(errors),
               lambda: store.query_spans(status="ERROR"), rounds, 1.0)
    user = TraceQL('{ span.user.id = "user-4242" }')
    ok &= pair("4. { span.user.id = \"user-4242\" }  vs  attributes=", lambda: store.traceql(user),
               lambda: store.query_spans(attributes={"user.id": "user-4242"}), rounds, 1.0)
    structural = TraceQL("{ kind = server } >> { status = error }")
    errors_below_root = [s for s in store.query_spans(status="ERROR") if s.parent_span_id]
    ok &= pair("5. { kind = server } >> { status = error }  vs  kind=",
               lambda: store.traceql(structural),
               lambda: (store.query_spans(kind="SERVER"), errors_below_root)[1], rounds, None)
    text = '{ span.http.status_code >= 500 && kind = server } >> { status = error } | count() > 1'
    parse = best(lambda: [TraceQL(text) for _ in range(100)], rounds) / 100
    scan = best(lambda: store.query_spans(name="db.query"), rounds)
    label = "6. parse and compile a query  vs  one name= scan"
    print(f"{label:<58} {'':>13}  ratio {parse / scan:7.4f}")
    if args.count:
        count_instructions()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
