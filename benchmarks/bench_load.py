"""Benchmark reading artifacts back, against the json.loads floor measured in the same run.

Prints ratios, never bare timings alone: the machines this runs on are shared and noisy.

    python benchmarks/bench_load.py                    # 100,000 spans, both formats
    python benchmarks/bench_load.py --sizes 100000,1000000
    python benchmarks/bench_load.py --count            # also callgrind instruction counts

Artifacts are made by the real processor (``FileBasedSpanProcessor`` under a
``TracerProvider``: 10 spans a trace, 8 attributes of mixed types and one
event each, one trace in 50 failing with an exception, each trace in a test
of its own, so that every line names its test as the plugin's do) and cached in the
temporary folder (``--cache`` to choose), one per size and format.

Figures, per size and format:
1. The floor: ``json.loads`` of every line of the file, results discarded,
   in process CPU time (best of ``--rounds``).
2. ``TraceStore.load``: CPU time, as a ratio to the floor.  Target <= 1.5.
3. Each CLI command (``summary``, ``failures``, ``query --name``, ``export``,
   ``show <trace id>``) run as ``python -m pytest_tracestore ...``: CPU
   and wall time as ratios to the floor (the floor has no interpreter
   start-up; the start-up alone is reported as ``python -c pass``), and peak
   RSS, from ``os.wait4`` in a small runner process.  ``load`` is also run
   this way, for its peak RSS.
4. Memory held per span: 20,000 spans recorded by the processor, against
   the same spans loaded back from its file, measured with tracemalloc
   (indexes built in both).  Target: loaded <= recorded.
5. With ``--count``: instructions (callgrind) for the floor and for
   ``TraceStore.load`` of the first ``--count-spans`` lines (default 20,000),
   less those of a child that only starts and imports, and their ratio: a
   figure that repeats from run to run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

SPANS_PER_TRACE = 10
MEMORY_SPANS = 20_000


def make_spans(count: int, path: Path, file_format: str) -> None:
    """Record ``count`` spans through the processor into ``path``."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_tracestore import FileBasedSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    processor = FileBasedSpanProcessor(path, max_spans=count, max_bytes=None, format=file_format)
    provider.add_span_processor(processor)
    _emit(provider, processor, count)
    provider.shutdown()


def _emit(provider, processor, count: int) -> None:
    from pytest_tracestore.attribution import Attribution

    # Every line the plugin writes names its test: one test per trace here.
    attribution = Attribution()
    processor.attribution = attribution
    tracer = provider.get_tracer("bench", "1.0")
    i = 0
    while i < count:
        failing = (i // SPANS_PER_TRACE) % 50 == 49
        test = f"tests/test_items.py::test_item[{i // SPANS_PER_TRACE}]"
        try:
            with attribution.scope(test), tracer.start_as_current_span("GET /items/{id}", attributes=_attrs(i)) as root:
                root.add_event("cache.lookup", {"key": f"k{i}"})
                i += 1
                for _ in range(SPANS_PER_TRACE - 1):
                    if i >= count:
                        break
                    with tracer.start_as_current_span("db.query", attributes=_attrs(i)) as span:
                        span.add_event("cache.lookup", {"key": f"k{i}"})
                    i += 1
                if failing:
                    raise KeyError("item not found")
        except KeyError:
            pass


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


def artifact(cache: Path, count: int, file_format: str) -> Path:
    """The cached artifact of ``count`` spans in ``file_format``, made on first use."""
    suffix = ".otlp.jsonl" if file_format == "otlp" else ".jsonl"
    path = cache / f"spans-{count}-tested{suffix}"
    if not path.exists():
        print(f"  making {path.name} ...", file=sys.stderr, flush=True)
        part = path.with_suffix(".part")
        make_spans(count, part, file_format)
        part.replace(path)
    return path


def _best(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
        del result
    return best


def floor(path: Path) -> None:
    loads = json.loads
    with open(path, "rb") as handle:
        for line in handle:
            loads(line)


def load(path: Path):
    from pytest_tracestore import TraceStore

    return TraceStore.load(path)


def orjson_switched(on: bool):
    """Switch the readers' use of orjson on (if installed) or off; returns whether it is on."""
    try:
        from pytest_tracestore import fastjson
    except ImportError:  # a checkout older than the fast extra
        return False
    fastjson.orjson_loads = fastjson._orjson() if on else None
    return fastjson.orjson_loads is not None


def child(what: str, path: Path, folder: Path) -> None:
    """What a callgrind child runs (after the imports counted in "start")."""
    from pytest_tracestore.cli import main

    orjson_switched(what.endswith("+orjson"))
    what = what.split("+")[0]
    if what == "floor":
        floor(path)
    elif what == "load":
        load(path)
    elif what == "export":
        main(["export", str(path), "-o", str(folder / "count.out")])
    elif what == "merge":
        main(["merge", str(path), "-o", str(folder / "count.out")])


def run_child(args: list[str]) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds, peak RSS in MiB and exit status of one command.

    Started through a small runner process: a child forked from this one
    would count this process's memory in its own peak RSS.
    """
    runner = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--_run", *args],
        stdout=subprocess.PIPE, check=True, text=True,
    )
    wall, cpu, rss, code = runner.stdout.split()
    return float(wall), float(cpu), int(rss), int(code)


def _run(args: list[str]) -> int:
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux.
    code = os.waitstatus_to_exitcode(status)
    print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, code)
    return 0


def a_trace_id(path: Path) -> str:
    with open(path, "rb") as handle:
        first = handle.readline().decode()
    found = re.search(r'"trace_?[iI]d":"([0-9a-f]{32})"', first)
    assert found, "no trace id in the first line"
    return found.group(1)


# The command line as installed, with orjson (the fast extra) switched off:
# the targets are for the standard library's parser.
# (A checkout older than the fast extra has no fastjson: it is skipped there.)
NO_ORJSON = (
    "import sys\n"
    "try:\n    import pytest_tracestore.fastjson as f; f.orjson_loads = None\n"
    "except ImportError:\n    pass\n"
)
WITHOUT_ORJSON = NO_ORJSON + "from pytest_tracestore.cli import main; sys.exit(main(sys.argv[1:]))"


def bench_cli(path: Path, out: Path) -> dict[str, tuple[float, float, int, int]]:
    python = sys.executable
    cli = [python, "-c", WITHOUT_ORJSON]
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "load (in a child)": [
            python, "-c",
            NO_ORJSON + "from pytest_tracestore import TraceStore; TraceStore.load(sys.argv[1])",
            str(path),
        ],
        "summary": cli + ["summary", str(path)],
        "failures": cli + ["failures", str(path)],
        "query --name db.query": cli + ["query", "--name", "db.query", str(path)],
        "export --format otlp": cli + ["export", str(path), "-o", str(out)],
        "merge (one file)": cli + ["merge", str(path), "-o", str(out)],
        "merge (itself twice)": cli + ["merge", str(path), str(path), "-o", str(out)],
        "show <id>": cli + ["show", str(path), a_trace_id(path)],
    }
    return {name: run_child(args) for name, args in commands.items()}


def held_per_span(cache: Path) -> dict[str, float]:
    """Memory held per span, recorded by the processor and loaded back from its file."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_tracestore import FileBasedSpanProcessor, TraceStore

    path = cache / f"memory-{MEMORY_SPANS}-tested.jsonl"
    results = {}
    for name in ("recorded", "loaded"):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        if name == "recorded":
            provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
            processor = FileBasedSpanProcessor(path, max_spans=MEMORY_SPANS, max_bytes=None)
            provider.add_span_processor(processor)
            _emit(provider, processor, MEMORY_SPANS)
            provider.shutdown()
            store = processor.store
            del provider, processor
        else:
            store = TraceStore.load(path)
        store.trace_ids()  # the indexes count too
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert len(store) == MEMORY_SPANS
        results[name] = held / MEMORY_SPANS
        del store
    return results


COUNTED = ("start", "floor", "load", "load+orjson", "export", "merge")


def callgrind(path: Path, spans: int, folder: Path) -> dict[str, int]:
    """Instructions for the floor and each of :data:`COUNTED` on the first ``spans`` lines."""
    part = folder / f"count-{spans}-{path.name}"
    with open(path, "rb") as source, open(part, "wb") as target:
        for _, line in zip(range(spans), source):
            target.write(line)
    here = Path(__file__).resolve()
    counts = {}
    for what in COUNTED:
        out = folder / f"callgrind.{what}.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, str(here), "--_child", what, str(part)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        text = out.read_text()
        found = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
        counts[what] = int(found.group(1)) if found else 0
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated span counts")
    parser.add_argument("--formats", default="jsonl,otlp")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many (in process)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pytest-tracestore-bench")
    parser.add_argument("--count", action="store_true", help="callgrind instruction counts")
    parser.add_argument("--count-spans", type=int, default=20_000)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI commands")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_run"]:
        return _run(argv[1:])
    args = parser.parse_args(argv)
    if args._child:
        what, path = args._child
        from pytest_tracestore import TraceStore, cli, parse, shards  # noqa: F401  # counted in "start"

        if what != "start":
            child(what, Path(path), Path(path).parent)
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    # Each figure as it comes, also into a file: a million-span run is long.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    print(f"Python {sys.version.split()[0]}; cache {args.cache}")
    for count in sizes:
        for file_format in formats:
            path = artifact(args.cache, count, file_format)
            rounds = args.rounds if count <= 200_000 else 1
            base = _best(lambda path=path: floor(path), rounds)
            orjson_switched(False)
            loaded = _best(lambda path=path: load(path), rounds)
            fast = _best(lambda path=path: load(path), rounds) if orjson_switched(True) else None
            orjson_switched(False)
            size_mb = path.stat().st_size / 2**20
            print(f"\n{count:,} spans, {file_format} ({size_mb:.0f} MiB)")
            print(f"  json.loads floor      {base:7.2f} s CPU")
            print(f"  TraceStore.load       {loaded / base:7.2f}x floor")
            if fast is not None:
                print(f"    with orjson         {fast / base:7.2f}x floor")
            if args.no_cli:
                continue
            out = args.cache / "export.out"
            print(f"  {'command':22s}{'CPU':>8s}{'wall':>8s}  (x floor){'peak RSS':>12s}")
            for name, (wall, cpu, rss, code) in bench_cli(path, out).items():
                print(f"  {name:22s}{cpu / base:8.2f}{wall / base:8.2f}{rss:12d} MiB  exit {code}")
            out.unlink(missing_ok=True)
    memory = held_per_span(args.cache)
    print(f"\nHeld per span ({MEMORY_SPANS:,} spans, indexes built)")
    for name, value in memory.items():
        print(f"  {name:10s} {value:7.0f} B")
    print(f"  loaded / recorded {memory['loaded'] / memory['recorded']:.2f}")
    if args.count:
        if not shutil.which("valgrind"):
            print("\nvalgrind not found: no instruction counts")
            return 0
        for file_format in formats:
            path = artifact(args.cache, sizes[0], file_format)
            counts = callgrind(path, args.count_spans, args.cache)
            print(f"\nInstructions, first {args.count_spans:,} lines, {file_format}")
            # Interpreter start-up and imports, counted alone, are taken off each.
            base = counts["floor"] - counts["start"]
            print(f"  json.loads floor      {base:,}")
            for what in COUNTED[2:]:
                own = counts[what] - counts["start"]
                print(f"  {what:20s}  {own / max(base, 1):7.2f}x floor  ({own:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
