"""What a suite that never makes a span pays for the plugin being installed.

Prints ratios against ``-p no:tracestore`` measured in the same run, never
bare timings alone: the machines this runs on are shared and noisy.

    python benchmarks/bench_startup.py             # 5 rounds and the instruction counts
    python benchmarks/bench_startup.py --quick     # best of 2, no valgrind
    python benchmarks/bench_startup.py --rounds 0  # instruction counts only
    python benchmarks/bench_startup.py --no-bytecode-cache  # every module compiled from source

Two generated suites, neither of which imports the OpenTelemetry SDK: one
trivial test, and 500 trivial tests (``def test_n(): pass``).  Each runs
in a fresh process, without pytest-xdist, with the plugin (its defaults:
``trace_store_provider = auto``) and with ``-p no:tracestore``.

Printed for each suite: the best wall-clock time of each setup over the
rounds (runs alternate, round by round) and their ratio, then the
instructions executed by the whole process under valgrind's callgrind (the
steady figure: with the string hash seed fixed, totals repeat to within a
fraction of a percent from run to run) and their ratio.
Target: instructions with the plugin / without <= 1.03 for 500 tests.

The runs write and use bytecode caches, as a user's do (``pip install``
compiles the plugin's modules; pytest caches its rewritten ones), even when
``PYTHONDONTWRITEBYTECODE`` is set around the benchmark; with
``--no-bytecode-cache`` every run compiles every module it imports from
source instead, which weighs each imported line far more.
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
from typing import Optional

SUITES = {"1 test": 1, "500 tests": 500}
SETUPS = {"without (-p no:tracestore)": ["-p", "no:tracestore"], "with the plugin": []}
TARGET = 1.03


def make_suite(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    body = "".join(f"def test_{n}():\n    pass\n\n\n" for n in range(count))
    (folder / "test_trivial.py").write_text(body, encoding="utf-8")
    # An ini of its own: the suite must not pick up a parent folder's settings.
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")


def command(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:randomly", *extra]


def environment(no_cache: Optional[Path] = None) -> dict[str, str]:
    """The runs' environment; with ``no_cache`` (an empty folder) no bytecode cache is read or written."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    if no_cache is None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        # Caches are looked for under the prefix only (pytest's rewritten
        # modules too), where nothing is ever written.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(no_cache)
    return env



def timed(folder: Path, extra: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command(extra), cwd=folder, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the suite failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def instructions(folder: Path, extra: list[str], env: dict[str, str]) -> int:
    out = folder / "callgrind.out"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command(extra)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the suite failed under valgrind ({done.returncode}):\n{done.stderr[-2000:]}")
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    out.unlink(missing_ok=True)
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (0: instruction counts only)")
    parser.add_argument("--quick", action="store_true", help="best of 2, no valgrind")
    parser.add_argument(
        "--no-bytecode-cache", action="store_true", help="compile every module from source in every run"
    )
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    count = not args.quick and shutil.which("valgrind") is not None
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = environment(Path(tmp) / "no-cache" if args.no_bytecode_cache else None)
        for suite, size in SUITES.items():
            folder = Path(tmp) / suite.replace(" ", "-")
            make_suite(folder, size)
            for extra in SETUPS.values():  # fills the bytecode caches (if used), untimed
                timed(folder, extra, env)
            cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode caches"
            print(f"{suite} (no span, no SDK imported by the suite; {cache}):")
            if rounds:
                best = {name: float("inf") for name in SETUPS}
                for _ in range(rounds):
                    for name, extra in SETUPS.items():
                        best[name] = min(best[name], timed(folder, extra, env))
                for name in SETUPS:
                    print(f"  wall, best of {rounds:<3} {name:<28} {best[name]:8.3f} s")
                base, plugin = best.values()
                print(f"  wall ratio (with / without)            {plugin / base:8.3f}")
            if count:
                counted = {name: instructions(folder, extra, env) for name, extra in SETUPS.items()}
                for name, value in counted.items():
                    print(f"  instructions {name:<28} {value / 1e6:10.1f} M")
                base, plugin = counted.values()
                verdict = "met" if plugin / base <= TARGET else "NOT met"
                print(
                    f"  instruction ratio (with / without)     {plugin / base:8.3f}"
                    f"  (+{(plugin - base) / 1e6:.1f} M; target <= {TARGET}: {verdict})"
                )
            elif not args.quick:
                print("  (valgrind not found: no instruction counts)")


if __name__ == "__main__":
    main()
