"""Black-box tests of a run's life: kills, signals, runs that record nothing, two runs at once."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

XDIST = pytest.mark.parametrize("xdist_args", [[], ["-n", "2"]], ids=["plain", "n2"])

# A test that makes spans, says so in a file, then waits until the harness
# lets it go (or its process is stopped).  The harness waits on that file:
# the spans are written by then, whatever the timing.
WAITING = """
import os, time
import pytest
from opentelemetry import trace
tracer = trace.get_tracer("demo")

def wait_here(tag, trace_store_processor):
    trace_store_processor.force_flush()
    with open(f"ready-{{tag}}", "w") as out:
        out.write(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not os.path.exists("release") and time.monotonic() < deadline:
        time.sleep(0.02)

@pytest.mark.parametrize("n", range({tests}))
def test_waits(n, trace_store_processor):
    for i in range({spans}):
        with tracer.start_as_current_span(f"{prefix}{{n}}.s{{i}}"):
            pass
    wait_here(n, trace_store_processor)
"""


def beside(folder):
    """The artifact and whatever the plugin left beside it."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(("run.", ".run.")))


def names(path):
    return [json.loads(line)["name"] for line in path.read_text(encoding="utf-8").splitlines()]


def start(pytester, *args, **popen_kw):
    """Start pytest in a subprocess; its stdout and stderr go to files, read with output()."""
    out = open(pytester.path / f"out-{len(list(pytester.path.glob('out-*')))}.txt", "w+b")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:randomly", *args]
    proc = subprocess.Popen(cmd, cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT, **popen_kw)
    proc.out = out  # type: ignore[attr-defined]
    return proc


def output(proc):
    proc.out.seek(0)
    return proc.out.read().decode("utf-8", "replace")


def wait_for(pytester, files, proc, timeout=120.0):
    """Wait until every file exists; fail with the run's output if it ends first."""
    deadline = time.monotonic() + timeout
    while not all((pytester.path / f).exists() for f in files):
        if proc.poll() is not None:
            pytest.fail(f"the run ended before writing {files}:\n{output(proc)}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {files}:\n{output(proc)}")
        time.sleep(0.02)


def finish(proc, timeout=120.0):
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the run did not end:\n{output(proc)}")
    return output(proc)


def expected_mode():
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask & ~0o002


# -- killed runs ------------------------------------------------------------


@XDIST
def test_a_test_that_sigkills_its_own_process_leaves_all_its_spans(pytester, xdist_args):
    pytester.makepyfile(
        """
        import os, signal
        from opentelemetry import trace
        tracer = trace.get_tracer("demo")

        def test_a_first():
            with tracer.start_as_current_span("first"):
                pass

        def test_b_dies():
            for i in range(5):
                with tracer.start_as_current_span(f"dying-{i}"):
                    pass
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", "-p", "no:randomly", *xdist_args)
    assert sorted(names(pytester.path / "run.jsonl")) == sorted(["first"] + [f"dying-{i}" for i in range(5)])


@XDIST
def test_sigterm_ends_the_run_with_every_span_merged_and_the_file_trimmed(pytester, xdist_args):
    tests = 2 if xdist_args else 1
    pytester.makepyfile(WAITING.format(tests=tests, spans=3, prefix="t"))
    proc = start(pytester, "--trace-store-path", "run.jsonl", "--trace-store-max-spans", "2", *xdist_args)
    wait_for(pytester, [f"ready-{n}" for n in range(tests)], proc)
    proc.send_signal(signal.SIGTERM)
    text = finish(proc)
    (pytester.path / "release").write_text("")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text
    artifact = pytester.path / "run.jsonl"
    kept = names(artifact)
    # The newest two of the run's spans: the file is trimmed to its cap.
    assert len(kept) == 2 and all(name.endswith(".s2") or name.endswith(".s1") for name in kept), kept
    # A worker stopped in turn trims its own file first: the count is what reached the merge.
    assert f"dropped by the FIFO cap; 2 in {artifact}" in text, text
    assert beside(pytester.path) == ["run.jsonl"]


def test_a_killed_xdist_controllers_spans_are_salvaged_by_the_next_run(pytester):
    pytester.makepyfile(WAITING.format(tests=2, spans=3, prefix="t"))
    proc = start(
        pytester, "--trace-store-path", "run.jsonl", "-n", "2", start_new_session=True
    )
    wait_for(pytester, ["ready-0", "ready-1"], proc)
    # The whole process group, as an out-of-memory kill or a CI runner would.
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    (pytester.path / "release").write_text("")

    pytester.makepyfile(test_other="def test_x(): pass")
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", "test_other.py")
    result.assert_outcomes(passed=1)
    salvaged = pytester.path / f"run.salvaged-{proc.pid}.jsonl"
    result.stdout.fnmatch_lines(
        [f"tracestore: salvaged 6 spans of an earlier run killed before its merge -> {salvaged}"]
    )
    result.stdout.fnmatch_lines(["*TraceStoreWarning*ended before merging its xdist workers' files*"])
    assert sorted(names(salvaged)) == sorted(f"t{n}.s{i}" for n in range(2) for i in range(3))
    assert not [p for p in pytester.path.iterdir() if ".xdist-" in p.name]


# -- runs that record nothing -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--collect-only"], ["--fixtures"], ["--markers"], ["-k", "nomatch"], ["-n", "2", "-k", "nomatch"]],
    ids=["collect-only", "fixtures", "markers", "no-test", "n2-no-test"],
)
def test_a_run_that_runs_no_test_leaves_the_artifact_byte_identical(pytester, args):
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_spans():
            with trace.get_tracer("demo").start_as_current_span("kept"):
                pass
        """
    )
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    artifact = pytester.path / "run.jsonl"
    before = artifact.read_bytes()
    assert names(artifact) == ["kept"]
    result = pytester.runpytest_subprocess("--trace-store-path", "run.jsonl", *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
    assert artifact.read_bytes() == before
    assert beside(pytester.path) == ["run.jsonl"]


# -- two runs at once -----------------------------------------------------------


@XDIST
def test_two_runs_at_once_each_keep_exactly_their_own_spans(pytester, xdist_args):
    first = pytester.mkdir("first")
    second = pytester.mkdir("second")
    (first / "test_first.py").write_text(WAITING.format(tests=2, spans=3, prefix="A"))
    (second / "test_second.py").write_text(
        "from opentelemetry import trace\n"
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(2))\n"
        "def test_b(n):\n"
        "    for i in range(3):\n"
        "        with trace.get_tracer('demo').start_as_current_span(f'B{n}.s{i}'):\n"
        "            pass\n"
    )
    artifact = pytester.path / "run.jsonl"
    args = ["--trace-store-path", str(artifact), "-p", "no:cacheprovider", *xdist_args]
    # The first run's tests wait: the second runs entirely inside the first.
    a = start(pytester, *args, str(first / "test_first.py"))
    ready = ["ready-0", "ready-1"] if xdist_args else ["ready-0"]
    wait_for(pytester, ready, a)
    b = start(pytester, *args, str(second / "test_second.py"))
    b_text = finish(b)
    (pytester.path / "release").write_text("")
    a_text = finish(a)
    assert a.returncode == 0 and b.returncode == 0, a_text + b_text

    own = pytester.path / f"run.{b.pid}.jsonl"
    assert sorted(names(artifact)) == sorted(f"A{n}.s{i}" for n in range(2) for i in range(3))
    assert sorted(names(own)) == sorted(f"B{n}.s{i}" for n in range(2) for i in range(3))
    assert f"spans -> {own} (max 1000)" in b_text and f"{artifact} is in use by another run" in b_text
    assert f"tracestore: 6 spans recorded; 6 in {own}" in b_text
    assert f"tracestore: 6 spans recorded; 6 in {artifact}" in a_text
    assert beside(pytester.path) == sorted(["run.jsonl", own.name])


# -- the path is what it says ---------------------------------------------------


@XDIST
def test_a_symlinked_path_writes_the_file_it_names_and_stays_a_link(pytester, xdist_args):
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        @pytest.mark.parametrize("n", range(4))
        def test_spans(n):
            with trace.get_tracer("demo").start_as_current_span(f"s{n}"):
                pass
        """
    )
    target = pytester.mkdir("real") / "target.jsonl"
    target.write_text("old\n")
    link = pytester.path / "run.jsonl"
    link.symlink_to(target)
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-max-spans", "3", *xdist_args
    )
    result.assert_outcomes(passed=4)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(names(target)) == 3
    if xdist_args:  # the merge's file; a trim's is the processor's
        assert stat.S_IMODE(target.stat().st_mode) == expected_mode()
    result.stdout.fnmatch_lines(
        [f"*spans -> {target} (max 3)*", f"tracestore: 4 spans recorded, *; 3 in {target}"]
    )


@pytest.mark.parametrize("source", ["flag", "ini"])
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_a_usage_error(pytester, source, kind):
    pytester.makepyfile("def test_x(): pass")
    if kind == "device":
        path = "/dev/null"
    else:
        path = str(pytester.path / "pipe")
        os.mkfifo(path)
    if source == "flag":
        result = pytester.runpytest_subprocess("--trace-store-path", path)
        where = "--trace-store-path"
    else:
        pytester.makeini(f"[pytest]\ntrace_store_path = {path}\n")
        result = pytester.runpytest_subprocess()
        where = "trace_store_path (ini)"
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{where}: {path} is not a regular file*"])
    assert "Traceback" not in result.stderr.str()
    if kind == "device":
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("source", ["flag", "ini"])
@pytest.mark.parametrize("option", ["path", "failed_dir"])
@pytest.mark.parametrize("problem", ["parent-is-a-file", "read-only", "long-name"])
def test_every_path_option_problem_is_a_usage_error_naming_it(pytester, request, source, option, problem):
    pytester.makepyfile("def test_x(): assert False")
    pytester.path.joinpath("blocker").write_text("a file, not a folder")
    if problem == "parent-is-a-file":
        value, words = "blocker/inside/x", "cannot create the folder"
    elif problem == "read-only":
        value, words = str(request.getfixturevalue("read_only_folder") / "x"), "Read-only file system"
    else:
        value, words = "out/" + "n" * 300 + "/x", "File name too long"
    if option == "path":
        value += ".jsonl"
    name = f"trace_store_{option}"
    if source == "flag":
        result = pytester.runpytest_subprocess("--" + name.replace("_", "-"), value)
        where = "--" + name.replace("_", "-")
    else:
        pytester.makeini(f"[pytest]\n{name} = {value}\n")
        result = pytester.runpytest_subprocess()
        where = f"{name} (ini)"
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"*{where}: *{words}*"])
    assert "Traceback" not in result.stderr.str()


# -- a provider shut down mid-run ---------------------------------------------


def test_a_provider_shut_down_in_a_fixture_is_warned_about_and_recording_goes_on(pytester):
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace
        tracer = trace.get_tracer("demo")

        @pytest.fixture
        def app():
            yield
            trace.get_tracer_provider().shutdown()  # as a FastAPI lifespan does

        def test_a_app(app):
            with tracer.start_as_current_span("before"):
                pass

        def test_b_later(trace_store):
            with tracer.start_as_current_span("after"):
                pass
            assert [s.name for s in trace_store.spans()] == ["after"]
            assert False, "for the report section"
        """
    )
    # install: the global provider shut down is the plugin's own session one.
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "-p", "no:randomly", "--trace-store-provider", "install"
    )
    result.assert_outcomes(passed=1, failed=1)
    assert names(pytester.path / "run.jsonl") == ["before", "after"]
    result.stdout.fnmatch_lines(
        [
            "*Captured traces call*",
            "*after*",
            "*test_a_provider_shut_down*.py:8: TraceStoreWarning: pytest-tracestore: the "
            "TracerProvider opentelemetry.sdk.trace.TracerProvider at 0x* was shut down while tests run*",
        ]
    )


# -- remote workers ---------------------------------------------------------------


def test_workers_in_folders_of_their_own_send_their_spans_over_xdists_channel(
    pytester, monkeypatch, tmp_path_factory
):
    # Each worker runs in a folder of its own and writes to a folder the
    # controller cannot see (a relative path means another place there), as
    # on another host: only xdist's channel brings the spans back.
    pytester.makepyfile(
        remote_plugin="""
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(config):
            if hasattr(config, "workerinput"):
                config.workerinput["tracestore_folder"] = "worker-only"
        """
    )
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        @pytest.mark.parametrize("n", range(4))
        def test_spans(n):
            with trace.get_tracer("demo").start_as_current_span(f"s{n}"):
                pass
        """
    )
    remote = tmp_path_factory.mktemp("remote")
    result = pytester.runpytest_subprocess(
        "--trace-store-path",
        str(pytester.path / "run.jsonl"),
        "--dist",
        "load",
        "--tx",
        f"2*popen//chdir={remote}",
        "--rsyncdir",
        str(pytester.path),
        "-p",
        "no:cacheprovider",
        "-p",
        "remote_plugin",
    )
    result.assert_outcomes(passed=4)
    assert sorted(names(pytester.path / "run.jsonl")) == ["s0", "s1", "s2", "s3"]
    assert not (pytester.path / "worker-only").exists()
    assert list(remote.rglob("worker-only"))  # where the workers wrote
    assert "ended without reporting" not in result.stdout.str()
