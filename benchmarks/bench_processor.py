"""Benchmark the file-backed processor against baselines measured in the same run.

Prints ratios, never bare timings: the machines this runs on are shared and noisy.

    python benchmarks/bench_processor.py            # full run (a few minutes)
    python benchmarks/bench_processor.py --quick    # smaller, for a smoke check

Figures:
1. Span throughput: 20,000 spans, each with 8 attributes of mixed types and one
   event, through (a) a TracerProvider with no processor, (b)
   SimpleSpanProcessor(InMemorySpanExporter()), (c) FileBasedSpanProcessor with
   its defaults (spans written and stored 32 at a time), (d) the same with
   batch_size=1 (a write(2) per span as it ends), (e) the same as (c) writing
   OTLP JSON Lines (format="otlp").  Setups alternate, best of 7 (3 with
   --quick), each timed in process CPU time.
   Target: (c) / (b) <= 1.25; (d) and (e) are reported.
2. Memory held per span at max_spans=100,000, against plain dicts of the same
   spans and the SDK's ReadableSpan objects, measured with tracemalloc.
   Target: <= 1.5 KB per span.
3. get_trace and an indexed attribute lookup at 10,000 and 100,000 spans.
   Target: under 1 ms, and flat (ratio near 1) as the store grows.
4. The processor's own cost per span inside a test run: tests of 50 small
   spans, each test with its own subscribed view (as the plugin gives every
   test), max_spans=1000.  Each setup's time over no processor at all, as a
   ratio to what SimpleSpanProcessor(InMemorySpanExporter()) adds: the
   default batches against batch_size=1 (a write(2) per span as it ends).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_tracestore import FileBasedSpanProcessor, ScopedTraceStore
from pytest_tracestore.processor import DEFAULT_BATCH_SIZE

SPANS_PER_TRACE = 10


def make_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("bench", "1.0")
    i = 0
    while i < count:
        with tracer.start_as_current_span("GET /items/{id}", attributes=_attrs(i)) as root:
            root.add_event("cache.lookup", {"key": f"k{i}"})
            i += 1
            for _ in range(SPANS_PER_TRACE - 1):
                if i >= count:
                    break
                with tracer.start_as_current_span("db.query", attributes=_attrs(i)) as span:
                    span.add_event("cache.lookup", {"key": f"k{i}"})
                i += 1


def _attrs(i: int) -> dict[str, object]:
    return {
        "http.method": "GET",
        "http.route": "/items/{id}",
        "http.status_code": 200 + i % 5,
        "user.id": f"user-{i}",
        "ratio": i / 7.0,
        "cache.hit": i % 2 == 0,
        "tags": ["alpha", "beta", f"t{i % 10}"],
        "request.seq": i,
    }


def _timed(setup: str, count: int, folder: Path) -> float:
    provider = TracerProvider()
    processor = None
    if setup == "memory":
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    elif setup in ("ours", "ours-each", "otlp"):
        fmt = "otlp" if setup == "otlp" else "jsonl"
        batch = 1 if setup == "ours-each" else DEFAULT_BATCH_SIZE
        processor = FileBasedSpanProcessor(
            folder / "spans.jsonl", max_spans=count, format=fmt, batch_size=batch
        )
        provider.add_span_processor(processor)
    gc.collect()
    # CPU time, not wall time: on a shared virtual machine a neighbour's burst
    # (steal time) lands in the wall clock of whichever setup is running.
    start = time.process_time()
    make_spans(provider, count)
    elapsed = time.process_time() - start
    provider.shutdown()
    return elapsed


SETUPS = ("none", "memory", "ours", "ours-each", "otlp")


def bench_throughput(count: int, rounds: int, folder: Path) -> list[dict[str, float]]:
    """Each round's CPU time per setup; the setups alternate inside each round."""
    timings = []
    for _ in range(rounds):
        # Alternate the setups inside each round so drift hits all of them.
        timings.append({setup: _timed(setup, count, folder) for setup in SETUPS})
    return timings


def _held_per_span(build, count: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    holder = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del holder
    return (after - before) / count


def bench_memory(count: int, folder: Path) -> dict[str, float]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    processor = FileBasedSpanProcessor(folder / "memory.jsonl", max_spans=count)
    provider.add_span_processor(processor)
    make_spans(provider, count)
    processor.shutdown()
    readable = exporter.get_finished_spans()
    lines = (folder / "memory.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == count == len(readable)
    records = list(processor.store)
    del processor
    gc.collect()

    def ours():
        p = FileBasedSpanProcessor(folder / "memory2.jsonl", max_spans=count)
        for span in readable:
            p.on_end(span)
        p.shutdown()
        # Indexes are built at the first lookup: make one, so they count.
        p.store.trace_ids()
        # What stays: the store (records and indexes), not the processor's caches.
        return p.store

    def ours_attr_index():
        store = ours()
        store.filter_by_attribute("user.id", "user-0")
        return store

    results = {
        "ours": _held_per_span(ours, count),
        "ours + attribute index": _held_per_span(ours_attr_index, count),
        "plain dicts (json.loads)": _held_per_span(lambda: [json.loads(x) for x in lines], count),
    }
    # ReadableSpans already exist; measure what a list of fresh copies costs by
    # rebuilding them through a second in-memory provider.

    def readable_spans():
        p = TracerProvider()
        e = InMemorySpanExporter()
        p.add_span_processor(SimpleSpanProcessor(e))
        make_spans(p, count)
        return e.get_finished_spans()

    results["SDK ReadableSpan"] = _held_per_span(readable_spans, count)
    del records
    return results


def bench_lookups(sizes: list[int], folder: Path) -> dict[int, dict[str, float]]:
    stores = {}
    providers = []
    for size in sizes:
        provider = TracerProvider()
        processor = FileBasedSpanProcessor(folder / f"lookup{size}.jsonl", max_spans=size)
        provider.add_span_processor(processor)
        make_spans(provider, size)
        processor.store.filter_by_attribute("user.id", "user-0")  # build the index once
        stores[size] = processor.store
        providers.append(provider)
    samples: dict[int, dict[str, list[float]]] = {
        size: {"get_trace": [], "filter_by_attribute": []} for size in sizes
    }
    trace_ids = {size: store.trace_ids() for size, store in stores.items()}
    for k in range(2000):
        # Alternate the stores sample by sample, so both sizes see the same
        # moments of a shared machine.
        for size, store in stores.items():
            ids = trace_ids[size]
            n = k * 7919
            for label, call in (
                ("get_trace", lambda: store.get_trace(ids[n % len(ids)])),
                ("filter_by_attribute", lambda: store.filter_by_attribute("user.id", f"user-{n % size}")),
            ):
                start = time.perf_counter()
                result = call()
                samples[size][label].append(time.perf_counter() - start)
                assert result, label
    for provider in providers:
        provider.shutdown()
    return {
        size: {label: statistics.median(values) for label, values in by_label.items()}
        for size, by_label in samples.items()
    }


def _test_run(setup: str, folder: Path, tests: int = 40, per_test: int = 50) -> float:
    """CPU seconds for ``tests`` tests of ``per_test`` spans through one setup."""
    provider = TracerProvider()
    processor = None
    if setup == "memory":
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    elif setup != "none":
        batch = 1 if setup == "ours-each" else DEFAULT_BATCH_SIZE
        processor = FileBasedSpanProcessor(folder / f"run-{setup}.jsonl", batch_size=batch)
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    gc.collect()
    start = time.process_time()
    for n in range(tests):
        view = ScopedTraceStore(processor.store) if processor is not None else None
        if processor is not None:
            processor.subscribe(view)
        for i in range(per_test):
            with tracer.start_as_current_span("op", attributes={"n": n, "i": i, "ok": True}):
                pass
        if processor is not None:
            processor.unsubscribe(view)
    elapsed = time.process_time() - start
    provider.shutdown()
    return elapsed


def bench_test_run(rounds: int, folder: Path) -> dict[str, float]:
    """Per setup: its best time over no processor's best, as a ratio to the in-memory one's."""
    setups = ("none", "memory", "ours", "ours-each")
    timings = [{setup: _test_run(setup, folder) for setup in setups} for _ in range(rounds)]
    best = {setup: min(t[setup] for t in timings) for setup in setups}
    memory = best["memory"] - best["none"]
    return {setup: (best[setup] - best["none"]) / memory for setup in setups[1:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    args = parser.parse_args(argv)
    spans = 5_000 if args.quick else 20_000
    rounds = 3 if args.quick else 7
    memory_spans = 20_000 if args.quick else 100_000
    sizes = [1_000, 10_000] if args.quick else [10_000, 100_000]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
        timings = bench_throughput(spans, rounds, folder)
        best = {setup: min(t[setup] for t in timings) for setup in SETUPS}
        base = best["memory"]
        print(f"\n1. throughput: {spans} spans, 8 attributes + 1 event each, best of {rounds}")
        for setup, label in (
            ("none", "no processor"),
            ("memory", "SimpleSpanProcessor(InMemorySpanExporter)  [baseline]"),
            ("ours", "FileBasedSpanProcessor (defaults: batches of 32)"),
            ("ours-each", "FileBasedSpanProcessor(batch_size=1)"),
            ("otlp", "FileBasedSpanProcessor(format=\"otlp\")"),
        ):
            print(f"   {label:<55} {best[setup] / base:5.2f}x")
        ratio = best["ours"] / base
        print(f"   target ours <= 1.25x baseline: {'met' if ratio <= 1.25 else 'MISSED'} ({ratio:.2f}x)")
        # Best-of takes each setup's quietest moment, which need not be the
        # same moment; the ratio within each round compares neighbours.
        paired = sorted(t["ours"] / t["memory"] for t in timings)
        print(
            f"   ours / baseline within each round: median {statistics.median(paired):.2f}x, "
            f"range {paired[0]:.2f}x to {paired[-1]:.2f}x"
        )

        memory = bench_memory(memory_spans, folder)
        print(f"\n2. memory held per span at max_spans={memory_spans}")
        dict_cost = memory["plain dicts (json.loads)"]
        for label, value in memory.items():
            print(f"   {label:<30} {value:7.0f} B/span  {value / dict_cost:5.2f}x plain dicts")
        print(
            f"   target ours <= 1.5 KB: {'met' if memory['ours'] <= 1536 else 'MISSED'} "
            f"({memory['ours'] / 1024:.2f} KB)"
        )

        lookups = bench_lookups(sizes, folder)
        small, large = sizes
        print(f"\n3. lookups (median of 2000), {large} spans vs {small} spans")
        for label in ("get_trace", "filter_by_attribute"):
            s, l = lookups[small][label], lookups[large][label]
            print(
                f"   {label:<22} {l * 1e6:7.1f} us at {large}; growth {l / s:4.2f}x; "
                f"{'under' if l < 1e-3 else 'OVER'} 1 ms"
            )

        costs = bench_test_run(rounds * 4, folder)
        print("\n4. the processor's own cost per span in a test run (over no processor, best of")
        print(f"   {rounds * 4}), as a ratio to the in-memory exporter's")
        for setup, label in (
            ("memory", "SimpleSpanProcessor(InMemorySpanExporter)  [baseline]"),
            ("ours", "FileBasedSpanProcessor (defaults: batches of 32)"),
            ("ours-each", "FileBasedSpanProcessor(batch_size=1)"),
        ):
            print(f"   {label:<55} {costs[setup]:5.2f}x")
        print(f"   batches of 32 against batch_size=1: {costs['ours'] / costs['ours-each']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
