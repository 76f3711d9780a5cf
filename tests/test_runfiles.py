"""The run's lock and its files beside the artifact, on their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pytest_tracestore import TraceStoreWarning
from pytest_tracestore.base import file_mode
from pytest_tracestore.lock import RunLock
from pytest_tracestore.merge import TimedLines, write_newest
from pytest_tracestore.runfiles import RunFiles


def test_a_lock_is_held_by_one_holder_and_its_file_goes_with_it(tmp_path):
    path = tmp_path / ".spans.jsonl.lock"
    first, second = RunLock(path), RunLock(path)
    assert first.acquire() and first.held
    assert not second.acquire() and not second.held
    first.release()
    assert not path.exists()
    assert second.acquire()
    second.release()


def test_a_lock_held_by_another_process_is_refused_and_freed_when_it_is_killed(tmp_path):
    path = tmp_path / ".spans.jsonl.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from pytest_tracestore.lock import RunLock; "
            f"assert RunLock(Path({str(path)!r})).acquire(); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        assert not RunLock(path).acquire()
    finally:
        holder.kill()
        holder.wait()
    # Killed without releasing: the file is left, the lock is free.
    assert path.exists()
    lock = RunLock(path)
    assert lock.acquire()
    lock.release()


def test_a_second_run_gets_a_path_of_its_own(tmp_path):
    artifact = tmp_path / "spans.jsonl"
    first, second = RunFiles(artifact, pid=1), RunFiles(artifact, pid=2)
    first.claim()
    second.claim()
    assert not first.taken and first.artifact == artifact
    assert second.taken and second.artifact == tmp_path / "spans.2.jsonl"
    second.finish(tests_ran=True)
    first.finish(tests_ran=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("tests_ran", [False, True])
def test_the_previous_file_comes_back_unless_a_test_started(tmp_path, tests_ran):
    artifact = tmp_path / "spans.jsonl"
    artifact.write_bytes(b"previous\n")
    files = RunFiles(artifact, pid=7)
    files.claim()
    files.keep_previous()
    artifact.write_bytes(b"")  # what a processor makes
    if tests_ran:
        files.test_started()
        artifact.write_bytes(b"new\n")
    files.finish(tests_ran)
    assert artifact.read_bytes() == (b"new\n" if tests_ran else b"previous\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spans.jsonl"]


def test_a_run_killed_before_its_first_test_has_the_previous_file_put_back(tmp_path):
    artifact = tmp_path / "spans.jsonl"
    artifact.write_bytes(b"")
    (tmp_path / ".spans.jsonl.previous-99").write_bytes(b"previous\n")
    files = RunFiles(artifact, pid=7)
    files.claim()
    assert artifact.read_bytes() == b"previous\n"
    files.finish(tests_ran=False)


def test_a_killed_runs_worker_folder_is_salvaged_beside_the_artifact(tmp_path, record_factory):
    from pytest_tracestore.serialize import encode_line, record_line

    folder = tmp_path / ".spans.jsonl.xdist-4242"
    folder.mkdir()
    records = [record_factory(name=f"s{i}") for i in range(3)]
    (folder / "gw0.jsonl").write_bytes(b"".join(encode_line(record_line(r, None)) for r in records[:2]))
    # A worker killed halfway through a line.
    (folder / "gw1.jsonl").write_bytes(encode_line(record_line(records[2], None)) + b'{"trace_id": "0a')
    files = RunFiles(tmp_path / "spans.jsonl", pid=7)
    files.claim()
    target = tmp_path / "spans.salvaged-4242.jsonl"
    assert files.salvaged == [(3, target)]
    assert [json.loads(x)["name"] for x in target.read_text().splitlines()] == ["s0", "s1", "s2"]
    assert not folder.exists()
    assert any("skipped a corrupt line" in note for note in files.notes)
    assert any(f"their 3 spans are saved in {target}" in note for note in files.notes)
    files.finish(tests_ran=False)


def test_a_merge_keeps_a_symlink_and_gives_the_umasks_mode(tmp_path, record_factory):
    from pytest_tracestore.merge import timed_lines
    from pytest_tracestore.serialize import encode_line, record_line

    target = tmp_path / "real.jsonl"
    target.write_text("")
    os.chmod(target, 0o600)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    lines = timed_lines("x", [encode_line(record_line(record_factory(), None))])
    assert write_newest(link, lines, 10) == 1
    assert link.is_symlink() and len(target.read_text().splitlines()) == 1
    assert os.stat(target).st_mode & 0o777 == file_mode()
    assert not file_mode() & 0o002


def test_a_merge_refuses_a_path_that_is_not_a_regular_file(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        write_newest(tmp_path, TimedLines(), 10)


def test_salvage_warnings_are_notes_not_raised(tmp_path):
    import warnings

    folder = tmp_path / ".spans.jsonl.xdist-1"
    folder.mkdir()
    (folder / "gw0.jsonl").write_bytes(b"not json\n")
    files = RunFiles(tmp_path / "spans.jsonl", pid=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceStoreWarning)
        files.claim()
    assert files.salvaged == [] and not folder.exists()
    assert files.notes
    files.finish(tests_ran=False)
