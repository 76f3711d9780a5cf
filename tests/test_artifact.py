"""The artifact file: its states and their transitions, disk faults, symlinks, modes, fork."""

from __future__ import annotations

import errno
import itertools
import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest
from conftest import make_record

from pytest_tracestore.artifact import (
    MIN_SLACK,
    TRANSITIONS,
    ArtifactFile,
    FileEvent,
    FileState,
)
from pytest_tracestore.codecs import codec_for

_real_write = os.write
_ends = itertools.count(1_000)


def line_of(name: str) -> tuple[str, int]:
    record = make_record(name=name, end_time=next(_ends) * 1000 + 10**12)
    return codec_for("jsonl").encode(record), record.end_time


def names_in(path) -> list[str]:
    return [json.loads(line)["name"] for line in path.read_bytes().splitlines() if line.strip()]


class Disk:
    """Stands in for os.write: "ok", "full" (ENOSPC), "tear" (5 bytes, then full),
    "foreign" (another writer appends a line, ours lands, then an interrupt)."""

    def __init__(self, monkeypatch, other_path=None):
        self.mode = "ok"
        self.other_path = other_path
        monkeypatch.setattr(os, "write", self.write)

    def write(self, fd, data):
        mode = self.mode
        if mode == "full":
            raise OSError(errno.ENOSPC, "No space left on device")
        if mode == "tear":
            self.mode = "full"
            return _real_write(fd, bytes(data[:5]))
        if mode == "foreign":
            self.mode = "ok"
            with open(self.other_path, "ab") as other:
                other.write(line_of("foreign")[0].encode())
            _real_write(fd, data)
            raise KeyboardInterrupt
        return _real_write(fd, data)


def new_file(path, warnings_seen, max_lines=1000):
    return ArtifactFile(
        path, max_lines, codec_for("jsonl"), lambda key, message: warnings_seen.append(message)
    )


def into_state(artifact: ArtifactFile, disk: Disk, state: FileState) -> None:
    """Bring a fresh file (with one line in it) into ``state`` through real writes."""
    artifact.append(*line_of("first"))
    if state is FileState.EXACT:
        return
    disk.mode = "tear"
    artifact.append(*line_of("torn"))
    disk.mode = "ok"
    artifact._pending.clear()  # keep the table about the file alone
    if state is FileState.UNKNOWN:
        artifact.append(*line_of("after-torn"))
    assert artifact.state is state


def test_the_transition_table_covers_every_state_and_event():
    assert set(TRANSITIONS) == {(s, e) for s in FileState for e in FileEvent}
    # Only a trim makes the file exact again once a line tore.
    for state in FileState:
        assert TRANSITIONS[(state, FileEvent.TRIMMED)] is FileState.EXACT
        assert TRANSITIONS[(state, FileEvent.TORE)] is FileState.TORN


def _write(artifact, disk):
    artifact.append(*line_of("written"))


def _tear(artifact, disk):
    disk.mode = "tear"
    artifact.append(*line_of("torn-again"))
    disk.mode = "ok"
    artifact._pending.clear()


def _fail(artifact, disk):
    disk.mode = "full"
    artifact.append(*line_of("failed"))
    disk.mode = "ok"
    artifact._pending.clear()


def _foreign(artifact, disk):
    disk.mode = "foreign"
    with pytest.raises(KeyboardInterrupt):
        artifact.append(*line_of("beside-foreign"))


def _trim(artifact, disk):
    assert artifact.trim()


@pytest.mark.parametrize(
    "event, action",
    [
        (FileEvent.WROTE, _write),
        (FileEvent.TORE, _tear),
        (FileEvent.FAILED, _fail),
        (FileEvent.FOREIGN, _foreign),
        (FileEvent.TRIMMED, _trim),
    ],
    ids=lambda v: v.name if isinstance(v, FileEvent) else "",
)
@pytest.mark.parametrize("start", list(FileState), ids=lambda s: s.name)
def test_each_transition_happens_as_the_table_says_and_the_file_ends_valid(
    tmp_path, monkeypatch, start, event, action
):
    path = tmp_path / "spans.jsonl"
    disk = Disk(monkeypatch, other_path=path)
    seen: list[str] = []
    artifact = new_file(path, seen)
    into_state(artifact, disk, start)
    action(artifact, disk)
    assert artifact.state is TRANSITIONS[(start, event)]
    known = artifact.line_sizes()
    assert (known is not None) == (artifact.state is FileState.EXACT)
    if known is not None:
        assert known == [len(x) for x in path.read_bytes().splitlines(keepends=True)]
    artifact.close()
    # Closing trims what is not known exact: every line left is a whole span.
    assert artifact.state is FileState.EXACT
    data = path.read_bytes()
    assert artifact.line_sizes() == [len(x) for x in data.splitlines(keepends=True)]
    assert artifact.line_end_times() == [json.loads(x)["end_time_unix_nano"] for x in data.splitlines()]
    names = names_in(path)
    assert "torn" not in names and "torn-again" not in names and names[0] == "first"


def test_a_line_the_disk_refused_goes_in_first_once_it_takes_lines_again(tmp_path, monkeypatch):
    path = tmp_path / "spans.jsonl"
    disk = Disk(monkeypatch)
    seen: list[str] = []
    artifact = new_file(path, seen)
    artifact.append(*line_of("a"))
    disk.mode = "full"
    for name in ("b", "c"):
        artifact.append(*line_of(name))
    assert names_in(path) == ["a"] and artifact.unwritten == 2
    disk.mode = "ok"
    artifact.append(*line_of("d"))
    assert names_in(path) == ["a", "b", "c", "d"] and artifact.unwritten == 0
    assert artifact.line_sizes() == [len(x) for x in path.read_bytes().splitlines(keepends=True)]
    assert len(seen) == 1 and seen[0].startswith(f"pytest-tracestore: could not write spans to {path}")


def test_lines_still_refused_at_close_are_counted_unwritten(tmp_path, monkeypatch):
    path = tmp_path / "spans.jsonl"
    disk = Disk(monkeypatch)
    artifact = new_file(path, [], max_lines=3)
    disk.mode = "full"
    for i in range(5):
        artifact.append(*line_of(f"s{i}"))
    # Past the cap, the oldest waiting lines are the cap's to drop.
    assert artifact.unwritten == 3
    artifact.close()
    assert artifact.unwritten == 3 and artifact.lines == 0 and names_in(path) == []


def test_a_failing_trim_is_retried_with_back_off_and_reported_once(tmp_path, monkeypatch):
    # The old path retried a failed trim on every batch, re-reading the file each time.
    path = tmp_path / "spans.jsonl"
    seen: list[str] = []
    artifact = new_file(path, seen, max_lines=10)
    attempts = []

    def read_only_folder(*args, **kwargs):
        attempts.append(artifact.lines)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only_folder)
    count = 10 + MIN_SLACK * 15
    line, end = line_of("s")
    for _ in range(count):
        artifact.append(line, end)
    # Tried at 10 + slack lines, then after 1, 2, 4, 8 more slacks.
    slack = MIN_SLACK
    assert attempts == [10 + slack, 10 + 2 * slack, 10 + 4 * slack, 10 + 8 * slack]
    assert len(seen) == 1
    assert seen[0].startswith(f"pytest-tracestore: could not trim {path} to its newest 10 spans")
    assert "write" not in seen[0]
    monkeypatch.undo()
    artifact.close()  # the trim works again: exactly the cap
    assert len(names_in(path)) == 10


def test_a_symlinked_path_keeps_its_link_and_trims_its_target(tmp_path):
    target = tmp_path / "real" / "spans.jsonl"
    target.parent.mkdir()
    target.write_text("old run\n")
    link = tmp_path / "spans.jsonl"
    link.symlink_to(target)
    artifact = new_file(link, [], max_lines=2)
    for i in range(5):
        artifact.append(*line_of(f"s{i}"))
    artifact.close()
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert names_in(target) == ["s3", "s4"]
    assert not [p for p in target.parent.iterdir() if p != target]  # no temp file left


def test_trimmed_files_keep_their_mode_and_new_ones_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "spans.jsonl"
        artifact = new_file(path, [], max_lines=1)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.chmod(path, 0o640)
        for i in range(3):
            artifact.append(*line_of(f"s{i}"))
        artifact.close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o640 and names_in(path) == ["s2"]
        os.umask(0)
        loose = tmp_path / "loose.jsonl"
        new_file(loose, []).close()
        assert not stat.S_IMODE(loose.stat().st_mode) & stat.S_IWOTH  # never world-writable
    finally:
        os.umask(old)


@pytest.mark.parametrize("kind", ["device", "folder", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    if kind == "device":
        path = os.devnull
    elif kind == "folder":
        path = str(tmp_path)
    else:
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    with pytest.raises(ValueError, match=f"invalid path {path!r}: it exists and is not a regular file"):
        new_file(path, [])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_appends_whole_lines_and_the_parent_trims_around_them(tmp_path, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_tracestore import FileBasedSpanProcessor, TraceStoreWarning

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=6)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    disk = Disk(monkeypatch)
    with tracer.start_as_current_span("p0"):
        pass
    disk.mode = "full"
    with pytest.warns(TraceStoreWarning, match="could not write spans"):
        with tracer.start_as_current_span("p1"):  # waits for the disk
            pass
        processor.drain()
    assert processor.spans_unwritten == 1
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            disk.mode = "ok"
            for name in ("c0", "c1"):
                with tracer.start_as_current_span(name):
                    pass
            processor.shutdown()  # must neither write p1 nor trim the parent's file
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert names_in(path) == ["p0", "c0", "c1"]
    assert processor.line_sizes() is None  # the child's lines are not the parent's to size
    disk.mode = "ok"
    for name in ("p2", "p3", "p4", "p5"):
        with tracer.start_as_current_span(name):
            pass
    processor.shutdown()
    # The trim found lines it had not written, read the file, and kept the newest 6.
    assert names_in(path) == ["c0", "c1", "p1", "p2", "p3", "p4", "p5"][-6:]
    data = path.read_bytes()
    assert processor.line_sizes() == [len(x) for x in data.splitlines(keepends=True)]


def test_a_forked_childs_lines_after_the_parents_trim_reach_the_file_at_the_path(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_tracestore import FileBasedSpanProcessor

    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=2)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for name in ("p0", "p1", "p2"):
        with tracer.start_as_current_span(name):
            pass
    to_parent, from_child = os.pipe()
    to_child, from_parent = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            with tracer.start_as_current_span("c0"):
                pass
            os.write(from_child, b"1")
            os.read(to_child, 1)  # the parent has trimmed: the file at the path is a new one
            with tracer.start_as_current_span("c1"):
                pass
            code = 0
        finally:
            os._exit(code)
    os.read(to_parent, 1)
    processor.shutdown()  # trims to the newest 2 by replacing the file
    os.write(from_parent, b"1")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert names_in(path) == ["p2", "c0", "c1"]


def test_enospc_on_a_real_small_filesystem_then_recovery(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("tmpfs mounts are Linux only")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        _fill_then_free(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill_then_free(mount):
    from pytest_tracestore import FileBasedSpanProcessor, TraceStoreWarning

    path = mount / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, max_spans=100_000)
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"x" * 1024)
        except OSError:
            pass
    with pytest.warns(TraceStoreWarning, match="could not write spans .*No space left"):
        for i in range(200):
            processor.add_record(make_record(name=f"s{i}", attributes={"pad": "y" * 200}))
        processor.drain()
    stuck = processor.spans_unwritten
    assert stuck > 0
    filler.unlink()  # space is back: the next span's write takes the waiting lines first
    processor.add_record(make_record(name="after"))
    assert processor.spans_unwritten == 0
    processor.shutdown()
    names = names_in(path)
    assert names == [f"s{i}" for i in range(200)] + ["after"]
    assert [r.name for r in processor.store] == names
    assert processor.spans_in_file == len(names)


def test_a_failed_fsync_warns_and_never_writes_the_line_twice(tmp_path, monkeypatch):
    seen: list[str] = []
    artifact = new_file(tmp_path / "spans.jsonl", seen)
    artifact.fsync = True

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)
    artifact.append(*line_of("a"))
    artifact.append(*line_of("b"))
    artifact.close()
    assert names_in(tmp_path / "spans.jsonl") == ["a", "b"]
    assert len(seen) == 1 and "could not sync" in seen[0]
