"""``pytest-tracestore merge``: artifacts of several CI jobs combined into one file."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import sysconfig

import pytest
from conftest import make_record

from pytest_tracestore import TraceStore
from pytest_tracestore.cli import main
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.serialize import dumps_line, record_to_dict

T0 = 1_764_201_600_000_000_000
MS = 1_000_000


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def spans(first, count, *, trace_every=3, step=MS):
    """``count`` spans numbered from ``first``, ending ``step`` apart, in end order."""
    return [
        make_record(trace_id=f"{i // trace_every + 1:032x}", span_id=f"{i + 1:016x}", name=f"s{i}",
                    start_time=T0 + i * step - 500, end_time=T0 + i * step,
                    resource={"service.name": f"shard-{first}"})
        for i in range(first, first + count)
    ]


def write(path, records, form="jsonl"):
    encode = record_to_otlp_line if form == "otlp" else (lambda r: dumps_line(record_to_dict(r)))
    path.write_text("".join(encode(r) + "\n" for r in records), encoding="utf-8")
    return path


def names(path):
    return [r.name for r in TraceStore.load(path)]


def ends(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        data = json.loads(line)
        if "resourceSpans" in data:
            out.append(int(data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["endTimeUnixNano"]))
        else:
            out.append(data["end_time_unix_nano"])
    return out


def test_interleaved_shards_of_both_formats_come_out_in_end_order(tmp_path):
    every = spans(0, 30)
    a = write(tmp_path / "a.jsonl", every[0::3], "otlp")
    b = write(tmp_path / "b.jsonl", every[1::3])
    c = write(tmp_path / "c.jsonl", every[2::3], "otlp")
    out = tmp_path / "merged.jsonl"
    code, stdout, err = run("merge", a, b, c, "-o", out)
    assert (code, stdout) == (0, "")
    assert err == (f"pytest-tracestore: merged 30 spans from 3 files into {out} (otlp): "
                   "30 written, 0 duplicates removed\n")
    assert names(out) == [f"s{i}" for i in range(30)]
    assert ends(out) == sorted(ends(out))
    assert all("resourceSpans" in line for line in out.read_text().splitlines())  # the first input's
    assert sorted(TraceStore.load(out), key=lambda r: r.span_id) == sorted(every, key=lambda r: r.span_id)


def test_format_option_and_the_default_from_the_first_input(tmp_path):
    a = write(tmp_path / "a.jsonl", spans(0, 4))
    b = write(tmp_path / "b.jsonl", spans(4, 4), "otlp")
    out = tmp_path / "out.jsonl"
    assert run("merge", a, b, "-o", out)[0] == 0
    assert all(json.loads(line).get("trace_id") for line in out.read_text().splitlines())
    assert run("merge", a, b, "-o", out, "--format", "otlp")[0] == 0
    assert all("resourceSpans" in json.loads(line) for line in out.read_text().splitlines())
    assert names(out) == [f"s{i}" for i in range(8)]


def test_duplicates_are_kept_once(tmp_path):
    a = write(tmp_path / "a.jsonl", spans(0, 10))
    again = write(tmp_path / "again.jsonl", spans(5, 10), "otlp")  # s5..s9 twice
    out = tmp_path / "out.jsonl"
    code, _, err = run("merge", a, again, a, "-o", out)
    assert code == 0
    assert err.endswith("(jsonl): 15 written, 15 duplicates removed\n")
    assert names(out) == [f"s{i}" for i in range(15)]
    # The first copy is the one kept: s5..s9 carry the first file's resource.
    assert {r.resource["service.name"] for r in TraceStore.load(out) if r.name == "s7"} == {"shard-0"}


def test_max_spans_keeps_the_newest(tmp_path):
    a = write(tmp_path / "a.jsonl", spans(0, 10, step=2 * MS))
    b = write(tmp_path / "b.jsonl", [make_record(trace_id="f" * 32, span_id=f"{i + 100:016x}",
                                                  name=f"b{i}", start_time=T0, end_time=T0 + (2 * i + 1) * MS)
                                      for i in range(10)])
    out = tmp_path / "out.jsonl"
    code, _, err = run("merge", a, b, "-o", out, "--max-spans", "5")
    assert code == 0 and err.endswith("5 written, 0 duplicates removed, 15 oldest dropped by --max-spans\n")
    assert names(out) == ["b7", "s8", "b8", "s9", "b9"]
    assert run("merge", a, "-o", out, "--max-spans", "0")[0] == 2


@pytest.mark.parametrize("run_bytes", [None, 2000])  # in memory, and in runs on disk
def test_inputs_out_of_end_order_are_sorted(tmp_path, monkeypatch, run_bytes):
    if run_bytes:
        monkeypatch.setattr("pytest_tracestore.shards.RUN_BYTES", run_bytes)
    every = spans(0, 200)
    shuffled = every[0::2]
    random.Random(7).shuffle(shuffled)
    a = write(tmp_path / "a.jsonl", shuffled)
    b = write(tmp_path / "b.jsonl", every[1::2][::-1], "otlp")  # newest first
    c = write(tmp_path / "c.jsonl", spans(200, 50))  # in order: its runs extend one file
    out = tmp_path / "out.jsonl"
    assert run("merge", a, b, c, "-o", out)[0] == 0
    assert names(out) == [f"s{i}" for i in range(250)]


def test_spans_ending_together_keep_the_order_of_the_inputs(tmp_path):
    same = [make_record(trace_id="a" * 32, span_id=f"{i + 1:016x}", name=f"n{i}", start_time=T0,
                        end_time=T0 + MS) for i in range(4)]
    a = write(tmp_path / "a.jsonl", same[2:])
    b = write(tmp_path / "b.jsonl", same[:2])
    out = tmp_path / "out.jsonl"
    assert run("merge", a, b, "-o", out)[0] == 0
    assert names(out) == ["n2", "n3", "n0", "n1"]


def test_corrupt_lines_are_skipped_with_warnings_and_the_rest_merged(tmp_path):
    a = tmp_path / "a.jsonl"
    good = [dumps_line(record_to_dict(r)) for r in spans(0, 3)]
    a.write_text("\n".join([good[0], '{"trace_id": "aa', good[1], "\x00\x00\x00", good[2]]) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = run("merge", a, "-o", out)
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith(f"pytest-tracestore: warning: {a}:2: skipped a corrupt line (")
    assert lines[1].startswith(f"pytest-tracestore: warning: {a}:4: skipped a corrupt line (")
    assert lines[2].endswith("3 written, 0 duplicates removed")
    assert names(out) == ["s0", "s1", "s2"]


def test_a_problem_leaves_the_output_as_it_was(tmp_path):
    a = write(tmp_path / "a.jsonl", spans(0, 3))
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    for argv, message in [
        (["merge", a, tmp_path / "missing.jsonl", "-o", out], f"no such file: {tmp_path / 'missing.jsonl'}"),
        (["merge", a, tmp_path, "-o", out], f"{tmp_path} is a folder; give a trace file"),
        (["merge", a, "-o", out, "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["merge", "-o", out], "the following arguments are required: FILE"),
        (["merge", a, "-o", a / "out.jsonl"], f"cannot write {a / 'out.jsonl'}: "),
    ]:
        code, _, err = run(*argv)
        assert code == 2, argv
        assert err.count("\n") == 1 and err.startswith("pytest-tracestore: error: ") and message in err
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "out.jsonl"]  # no temporary left


def test_output_replaces_an_input_safely_and_gets_its_mode_from_the_umask(tmp_path):
    a = write(tmp_path / "a.jsonl", spans(0, 3))
    b = write(tmp_path / "b.jsonl", spans(3, 3))
    os.chmod(a, 0o600)
    old = os.umask(0o002)
    try:
        assert run("merge", a, b, "-o", a)[0] == 0
    finally:
        os.umask(old)
    assert names(a) == [f"s{i}" for i in range(6)]
    assert a.stat().st_mode & 0o777 == 0o664


def test_shards_with_no_spans_still_merge(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    b = write(tmp_path / "b.jsonl", spans(0, 2), "otlp")
    out = tmp_path / "out.jsonl"
    code, _, err = run("merge", empty, b, "-o", out)
    assert code == 0 and "(otlp): 2 written" in err  # the format of the first input that has one
    assert f"warning: {empty} holds no span" in err and f"{b} holds no span" not in err
    code, _, err = run("merge", empty, "-o", out)
    assert code == 0 and out.read_bytes() == b"" and "(jsonl): 0 written" in err


def test_shards_of_real_runs_merge_and_read_back(pytester):
    pytester.makepyfile(
        test_shop="""
        import pytest
        from opentelemetry import trace

        @pytest.mark.parametrize("n", range(4))
        def test_item(n):
            with trace.get_tracer("shop").start_as_current_span(f"item-{n}"):
                pass
        """
    )
    paths = []
    for shard in range(2):
        path = pytester.path / f"shard-{shard}.jsonl"
        fmt = ["--trace-store-format", "otlp"] if shard else []
        result = pytester.runpytest_subprocess(
            f"--trace-store-path={path}", *fmt, "-k", f"item[{shard}] or item[{shard + 2}]"
        )
        result.assert_outcomes(passed=2)
        paths.append(path)
    out = pytester.path / "all.jsonl"
    console_script = os.path.join(sysconfig.get_path("scripts"), "pytest-tracestore")
    if not os.path.exists(console_script):
        console_script = None
    argv = [console_script] if console_script else [sys.executable, "-m", "pytest_tracestore"]
    done = subprocess.run([*argv, "merge", *map(str, paths), "-o", str(out)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    merged = TraceStore.load(out)
    assert sorted(r.name for r in merged) == ["item-0", "item-1", "item-2", "item-3"]
    assert [r.end_time for r in merged] == sorted(r.end_time for r in merged)
