"""The pytest plugin: options, the TracerProvider set-up, fixtures and reporting.

This is the only module that imports pytest.  ``pytest_configure`` builds one
:class:`TraceStorePlugin` and registers it; every other hook is a method on it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator, Optional, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from . import hooks
from .base import DEFAULT_BATCH_SIZE, DEFAULT_MAX_BYTES, FORMATS, TraceStoreWarning
from .redact import RedactionPolicy, policy_from_lines

# The recording code (processor, store, converter, records) loads when a
# processor is made: a pytest-xdist controller, which runs no tests, seldom
# makes one, and pytest reads every module of a plugin at start-up in every
# process, at a cost that grows with their size.
if TYPE_CHECKING:
    from .controller import XdistController
    from .processor import FileBasedSpanProcessor, RecordTransform
    from .receiver import OTLPReceiver
    from .record import SpanRecord
    from .store import ScopedTraceStore, TraceStore

__all__ = ["TraceStorePlugin"]

DEFAULT_MAX_SPANS = 1000
_DEFAULT_FILE = "spans.jsonl"

# Keys of the pytest-xdist hand-over: the controller tells each worker where
# to write (workerinput); each worker reports its spans back (workeroutput).
XDIST_FOLDER = "tracestore_folder"
XDIST_REPORT = "tracestore"

REPORT_MODES = ("failed", "all", "none")
# The spellings pytest accepts for its own boolean ini keys.  Parsed here so a
# bad value is a usage error that names the key.
_TRUTH = {
    **dict.fromkeys(("true", "yes", "y", "on", "1", "t"), True),
    **dict.fromkeys(("false", "no", "n", "off", "0", "f", ""), False),
}
# A report section longer than this is cut, with a note of what was left out.
SECTION_MAX_LINES = 80

plugin_key = pytest.StashKey["TraceStorePlugin"]()

_MARKER_HELP = (
    "trace_store(fail_on_error=True|False): fail this test (or every test of "
    "the module or class) in teardown when its own spans include an ERROR span; "
    "overrides --trace-store-fail-on-error"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracestore", "OpenTelemetry trace assertions (pytest-tracestore)")
    group.addoption(
        "--trace-store-path",
        dest="trace_store_path",
        metavar="PATH",
        default=None,
        help="JSONL file that receives every finished span of the run "
        "(default: .pytest_cache/d/tracestore/spans.jsonl). "
        "Ini: trace_store_path.",
    )
    group.addoption(
        "--trace-store-max-spans",
        dest="trace_store_max_spans",
        metavar="N",
        default=None,
        help=f"keep only the newest N spans in memory and in the file "
        f"(default: {DEFAULT_MAX_SPANS}). Ini: trace_store_max_spans.",
    )
    group.addoption(
        "--trace-store-batch-size",
        dest="trace_store_batch_size",
        metavar="N",
        default=None,
        help=f"add ended spans' records to the in-memory store N at a time (default: "
        f"{DEFAULT_BATCH_SIZE}); each span's line is in the file as it ends, whatever N. "
        "Ini: trace_store_batch_size.",
    )
    group.addoption(
        "--trace-store-format",
        dest="trace_store_format",
        metavar="FORMAT",
        default=None,
        help="format of the span file: jsonl (one span object per line, the default) "
        "or otlp (OTLP JSON Lines, as the OpenTelemetry file exporter writes them). "
        "Ini: trace_store_format.",
    )
    group.addoption(
        "--trace-store-report",
        dest="trace_store_report",
        metavar="WHEN",
        default=None,
        help="add a 'Captured traces' report section to failed tests (failed, the "
        "default), to every test (all; passing ones show with -rA) or to none. "
        "Ini: trace_store_report.",
    )
    group.addoption(
        "--trace-store-fail-on-error",
        dest="trace_store_fail_on_error",
        action="store_true",
        default=None,
        help="fail a test in teardown when its own spans include an ERROR span "
        "(the trace_store marker overrides it per test). Ini: trace_store_fail_on_error.",
    )
    group.addoption(
        "--trace-store-failed-dir",
        dest="trace_store_failed_dir",
        metavar="DIR",
        default=None,
        help="write each failed test's spans, in full, to one JSONL file in DIR. "
        "Ini: trace_store_failed_dir.",
    )
    parser.addini(
        "trace_store_report",
        help="when to add a 'Captured traces' report section: failed (default), all or none",
        default="",
    )
    parser.addini(
        "trace_store_fail_on_error",
        help="fail a test in teardown when its own spans include an ERROR span (true or false)",
        default="false",
    )
    parser.addini(
        "trace_store_failed_dir",
        help="folder that receives one JSONL file of spans per failed test, "
        "relative to the ini file's folder",
        default="",
    )
    parser.addini(
        "trace_store_redact",
        help="glob patterns over attribute keys whose values are written as "
        "[REDACTED] in trace files; 'default' stands for the built-in list, "
        "'none' turns redaction off",
        type="linelist",
        default=[],
    )
    parser.addini(
        "trace_store_path",
        help="JSONL file that receives every finished span of the run, "
        "relative to the ini file's folder",
        default="",
    )
    parser.addini(
        "trace_store_max_spans",
        help=f"keep only the newest N spans (default: {DEFAULT_MAX_SPANS})",
        default=str(DEFAULT_MAX_SPANS),
    )
    parser.addini(
        "trace_store_batch_size",
        help=f"write ended spans to the file N at a time, and at the end of every test "
        f"phase (default: {DEFAULT_BATCH_SIZE}; 1: each span as it ends)",
        default=str(DEFAULT_BATCH_SIZE),
    )
    parser.addini(
        "trace_store_format",
        help="format of the span file: jsonl (default) or otlp (OTLP JSON Lines)",
        default="",
    )


def _setting(config: pytest.Config, name: str) -> tuple[Optional[str], str]:
    """Return ``(value, where)``: the flag wins over the ini key; ``where`` names the source."""
    value = config.getoption(name)
    if value is not None:
        return str(value), "--" + name.replace("_", "-")
    ini = config.getini(name)
    return (str(ini) if ini not in (None, "") else None), f"{name} (ini)"


def _read_count(config: pytest.Config, name: str, default: int, unit: str) -> int:
    """A whole number >= 1 from a flag or ini key; anything else is a usage error."""
    value, where = _setting(config, name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise pytest.UsageError(
            f"{where}: expected a whole number of {unit}, got {value!r}"
        ) from None
    if number < 1:
        raise pytest.UsageError(f"{where}: must be at least 1, got {number}")
    return number


def _read_format(config: pytest.Config) -> str:
    value, where = _setting(config, "trace_store_format")
    if value is None:
        return FORMATS[0]
    name = value.strip().lower()
    if name not in FORMATS:
        raise pytest.UsageError(
            f"{where}: expected one of {', '.join(FORMATS)}, got {value!r}"
        )
    return name


def _default_path(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return cache.mkdir("tracestore") / _DEFAULT_FILE
    # The cache provider is disabled: use the same place it would have used.
    return config.rootpath / ".pytest_cache" / "d" / "tracestore" / _DEFAULT_FILE


def _resolve(config: pytest.Config, value: str, where: str) -> Path:
    """A path from a flag (relative to the current folder) or an ini key (to the ini file's)."""
    if where.startswith("--"):
        base = config.invocation_params.dir
    else:
        base = config.inipath.parent if config.inipath else config.rootpath
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else Path(base) / path


def _read_path(config: pytest.Config) -> tuple[Path, str]:
    value, where = _setting(config, "trace_store_path")
    if value is None:
        return _default_path(config), "default"
    path = _resolve(config, value, where)
    if path.is_dir():
        raise pytest.UsageError(f"{where}: {path} is a folder; give a file path")
    return path, where


class ReportSettings:
    """What the plugin does around failing tests, read from options and ini keys.

    ``redaction`` is the policy the ``trace_store_redact`` ini key asks for.
    """

    # A plain class: building a dataclass costs every test process more at
    # start-up than the rest of this module.
    __slots__ = ("fail_on_error", "failed_dir", "redaction", "report")

    def __init__(
        self,
        report: str = "failed",
        fail_on_error: bool = False,
        failed_dir: Path | None = None,
        redaction: RedactionPolicy | None = None,
    ) -> None:
        self.report = report
        self.fail_on_error = fail_on_error
        self.failed_dir = failed_dir
        self.redaction = redaction


def _read_report_settings(config: pytest.Config) -> ReportSettings:
    value, where = _setting(config, "trace_store_report")
    report = "failed" if value is None else value.strip().lower()
    if report not in REPORT_MODES:
        raise pytest.UsageError(
            f"{where}: expected one of {', '.join(REPORT_MODES)}, got {value!r}"
        )
    fail_on_error = bool(config.getoption("trace_store_fail_on_error"))
    if not fail_on_error:
        text = str(config.getini("trace_store_fail_on_error")).strip().lower()
        if text not in _TRUTH:
            raise pytest.UsageError(
                f"trace_store_fail_on_error (ini): expected true or false, got {text!r}"
            )
        fail_on_error = _TRUTH[text]
    failed_dir = None
    value, where = _setting(config, "trace_store_failed_dir")
    if value is not None:
        failed_dir = _resolve(config, value, where)
        if failed_dir.exists() and not failed_dir.is_dir():
            raise pytest.UsageError(f"{where}: {failed_dir} is a file; give a folder")
    try:
        redaction = policy_from_lines(config.getini("trace_store_redact"))
    except ValueError as exc:
        raise pytest.UsageError(f"trace_store_redact (ini): {exc}") from None
    return ReportSettings(report, fail_on_error, failed_dir, redaction)


def safe_file_name(nodeid: str) -> str:
    """A file name for a test's node id: safe on every file system, unique per id."""
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("._")[:120]
    return f"{stem}-{digest}.jsonl"


def _new_processor(
    path: Path,
    max_spans: int,
    file_format: str,
    redaction: Optional[RedactionPolicy],
    batch_size: int,
) -> FileBasedSpanProcessor:
    from .processor import FileBasedSpanProcessor

    return FileBasedSpanProcessor(
        path,
        max_spans=max_spans,
        max_bytes=DEFAULT_MAX_BYTES,
        format=file_format,
        redaction=redaction,
        batch_size=batch_size,
    )


def _make_processor(
    path: Path,
    where: str,
    max_spans: int,
    file_format: str,
    redaction: Optional[RedactionPolicy],
    batch_size: int,
) -> FileBasedSpanProcessor:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"{where}: cannot create the folder {path.parent}: {exc.strerror or exc}"
        ) from None
    try:
        return _new_processor(path, max_spans, file_format, redaction, batch_size)
    except OSError as exc:
        raise pytest.UsageError(
            f"{where}: cannot write {path}: {exc.strerror or exc}"
        ) from None


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    # The test xdist itself uses to decide whether to distribute: with "-n 0",
    # "-p no:xdist" or --collect-only the tests run in this process.
    return (
        not _is_xdist_worker(config)
        and config.getoption("dist", "no") != "no"
        and bool(config.getoption("tx", None))
        and not config.getoption("collectonly", False)
    )


def _worker_folder(path: Path) -> Path:
    return path.parent / f".{path.name}.xdist"


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # trylast: a plugin or conftest that sets its own TracerProvider in its
    # pytest_configure has done so by now, and we join it instead of racing.
    config.addinivalue_line("markers", _MARKER_HELP)
    if config.getoption("help", False) or config.getoption("version", False):
        return
    max_spans = _read_count(config, "trace_store_max_spans", DEFAULT_MAX_SPANS, "spans")
    batch_size = _read_count(config, "trace_store_batch_size", DEFAULT_BATCH_SIZE, "spans")
    file_format = _read_format(config)
    path, where = _read_path(config)
    settings = _read_report_settings(config)
    redaction = settings.redaction
    controller: Optional[XdistController] = None
    if _is_xdist_worker(config):
        workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
        workerid = str(workerinput["workerid"])
        folder = workerinput.get(XDIST_FOLDER)
        # Without a folder from the controller, stay apart from the other workers.
        own = Path(folder) / f"{workerid}.jsonl" if folder else path.with_name(
            f"{path.stem}.{workerid}{path.suffix}"
        )
        processor = _make_processor(own, where, max_spans, file_format, redaction, batch_size)
    elif _is_xdist_controller(config):
        from .controller import DeferredProcessor, XdistController

        # The controller runs no tests, but its own spans (a conftest's, say)
        # are kept like a worker's and merged with theirs at the end.
        folder = _worker_folder(path)
        try:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")  # the artifact starts empty, as without xdist
        except OSError as exc:
            raise pytest.UsageError(
                f"{where}: cannot write {path}: {exc.strerror or exc}"
            ) from None
        processor = cast(
            "FileBasedSpanProcessor",
            DeferredProcessor(
                folder / "controller.jsonl", max_spans, file_format, redaction, batch_size
            ),
        )
        controller = XdistController(folder)
    else:
        processor = _make_processor(path, where, max_spans, file_format, redaction, batch_size)
    plugin = TraceStorePlugin(config, processor, settings, artifact=path, xdist=controller)
    config.stash[plugin_key] = plugin
    config.pluginmanager.register(plugin, "tracestore-plugin")
    if controller is not None:
        config.pluginmanager.register(controller, "tracestore-xdist")
    plugin.announce()


class _TestRun:
    """What the plugin keeps about the test that runs now.

    On the plugin, not in the item's stash: every hook of every test reads
    it, and a stash lookup is several Python calls.  One slot, because pytest
    runs one test at a time in a process (pytest-xdist runs more processes);
    a nested protocol keeps the outer test's and restores it.
    """

    __slots__ = ("item", "view", "failed", "fail_on_error")

    def __init__(self, item: pytest.Item, view: ScopedTraceStore) -> None:
        self.item = item
        #: The spans that end while the test runs.
        self.view = view
        #: Set once any phase of the test has failed.
        self.failed = False
        #: Whether the test's spans must hold no ERROR span, decided in its setup.
        self.fail_on_error: Optional[bool] = None


class TraceStorePlugin:
    """Owns the run's processor and the provider set-up; holds the pytest hooks."""

    def __init__(
        self,
        config: pytest.Config,
        processor: FileBasedSpanProcessor,
        settings: Optional[ReportSettings] = None,
        *,
        artifact: Optional[Path] = None,
        xdist: Optional[XdistController] = None,
    ) -> None:
        self.config = config
        self.processor = processor
        self.settings = settings if settings is not None else ReportSettings()
        #: The run's artifact; under xdist the processor writes elsewhere.
        self.artifact = artifact if artifact is not None else processor.path
        self.xdist = xdist
        self.is_worker = _is_xdist_worker(config)
        self._merged: Optional[tuple[int, int]] = None
        self._receiver: Optional[OTLPReceiver] = None
        self._closed = False
        self.provider: Optional[TracerProvider] = None
        self._warned_failed_dir = False
        self._announced = False
        self._running: Optional[_TestRun] = None
        # The same block every time: the per-test hooks skip a call to get it.
        self._quiet = processor.quiet()
        self._refresh_transform()
        self.provider_mode = self._attach(processor)

    def announce(self) -> None:
        """Call ``pytest_tracestore_configure`` with the provider and the processor.

        A deferred processor (the xdist controller's) is made for it only once
        some plugin implements the hook; until then the call waits.
        """
        hook = self.config.hook.pytest_tracestore_configure
        if self._announced:
            return
        processor = self.processor
        if self.xdist is not None:  # the controller's processor is a deferred one
            if not hook.get_hookimpls():
                return
            from .controller import DeferredProcessor

            deferred = cast(DeferredProcessor, processor)
            try:
                processor = deferred.get()
            except OSError as exc:
                raise pytest.UsageError(
                    f"cannot write {deferred.path}: {exc.strerror or exc}"
                ) from None
        self._announced = True
        # Historic, so conftest files found later during collection get the call too.
        hook.call_historic(kwargs=dict(provider=self.provider, processor=processor))

    # -- the pytest_tracestore_record hook ------------------------------

    def _refresh_transform(self) -> None:
        """Give the processor a transform only when some plugin implements the hook.

        Looked up when a plugin registers, never per span: with no
        implementation the processor's hot path does not change at all.
        """
        impls = [
            impl
            for impl in self.config.hook.pytest_tracestore_record.get_hookimpls()
            if not (impl.hookwrapper or getattr(impl, "wrapper", False))
        ]
        self.processor.transform = _chain(impls) if impls else None

    def pytest_plugin_registered(self, plugin: object) -> None:
        # conftest files below the root are registered during collection.
        self._refresh_transform()
        if not self._announced:
            self.announce()

    def _attach(self, processor: FileBasedSpanProcessor) -> str:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            current.add_span_processor(processor)
            self.provider = current
            return "existing"
        if isinstance(current, trace.ProxyTracerProvider):
            provider = TracerProvider()
            provider.add_span_processor(processor)
            trace.set_tracer_provider(provider)
            if trace.get_tracer_provider() is provider:
                self.provider = provider
                return "installed"
            current = trace.get_tracer_provider()
        # Some other provider (say a no-op one) is global; we cannot hook into
        # it, but apps that build their own provider can add our processor.
        return f"unsupported:{type(current).__module__}.{type(current).__qualname__}"

    # -- reporting ------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.is_worker:
            return []
        fmt = "" if self.processor.format == FORMATS[0] else f", {self.processor.format}"
        where = f"spans -> {self.artifact} (max {self.processor.max_spans}{fmt})"
        if self.xdist is not None:
            where += ", merged from the xdist workers at the end"
        if self.provider_mode == "existing":
            how = "added to the TracerProvider already set"
        elif self.provider_mode == "installed":
            how = "installed a session TracerProvider"
        else:
            how = (
                f"global provider {self.provider_mode.split(':', 1)[1]} is not an SDK "
                "TracerProvider: add the trace_store_processor fixture's processor to yours"
            )
        return [f"tracestore: {how}; {where}"]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.is_worker:
            return
        if self._merged is not None:
            total, kept = self._merged
        else:
            total, kept = self.processor.store.added, self.processor.spans_in_file
        dropped = f", the oldest {total - kept} dropped by the FIFO cap" if total > kept else ""
        terminalreporter.write_line(
            f"tracestore: {total} spans recorded{dropped}; {kept} in {self.artifact}"
        )

    # -- per-test capture -----------------------------------------------

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: Optional[pytest.Item]
    ) -> Generator[None, None, None]:
        from .store import ScopedTraceStore

        processor = self.processor
        # Subscribing around the whole protocol catches spans from setup,
        # call and teardown, from any thread.
        view = ScopedTraceStore(processor.store, max_bytes=DEFAULT_MAX_BYTES)
        outer, self._running = self._running, _TestRun(item, view)
        with self._quiet:
            processor.subscribe(view)
        try:
            yield
        finally:
            with self._quiet:
                processor.unsubscribe(view)
            # Release the test's spans: a long run must not keep them all.
            self._running = outer

    # -- spans from other processes ---------------------------------------

    def otlp_receiver(self) -> OTLPReceiver:
        """The run's OTLP/HTTP receiver, started on first use."""
        if self._receiver is None:
            # Imported here: http.server and friends cost every run start-up
            # time, and only suites with services in other processes need them.
            from .receiver import OTLPReceiver

            self._receiver = OTLPReceiver(self.processor)
        self._receiver.start()
        return self._receiver

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # A misspelt marker fails its test at once, not silently in teardown.
        fail_on_error = self._fail_on_error(item)
        run = self._running
        if run is not None and run.item is item:
            run.fail_on_error = fail_on_error

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        # trylast: the test's fixtures are torn down by now, so their spans count.
        run = self._running
        if run is None or run.item is not item or run.failed:
            return
        # Looking the marker up walks the test's parents: once per test is enough.
        fail_on_error = run.fail_on_error
        if not (self._fail_on_error(item) if fail_on_error is None else fail_on_error):
            return
        try:
            run.view.assert_no_failures()
        except AssertionError as exc:
            message = str(exc)
        else:
            return
        # Outside the except block: the report shows this message alone, not
        # the AssertionError it came from as well.
        pytest.fail(f"tracestore: fail_on_error: this test's spans include {message}", pytrace=False)

    def _fail_on_error(self, item: pytest.Item) -> bool:
        marker = item.get_closest_marker("trace_store")
        if marker is None:
            return self.settings.fail_on_error
        unknown = sorted(set(marker.kwargs) - {"fail_on_error"})
        value = marker.kwargs.get("fail_on_error", self.settings.fail_on_error)
        if marker.args or unknown or not isinstance(value, bool):
            pytest.fail(
                "@pytest.mark.trace_store: expected fail_on_error=True or False, got "
                f"args={marker.args!r}, kwargs={marker.kwargs!r}",
                pytrace=False,
            )
        return value

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        run = self._running
        if run is not None and run.item is not item:
            run = None
        # Outside the phase itself: the processor's warnings must stay warnings.
        with self._quiet:
            # Every test phase ends with its spans in the file, before its
            # report is made: a run killed later keeps them.
            self.processor.drain()
            if run is not None:
                self._add_section(run, call)
        outcome = yield
        if run is None:
            return
        report: pytest.TestReport = outcome.get_result()
        if report.failed:
            run.failed = True
        if run.failed and call.when == "teardown":
            with self._quiet:
                if run.view:
                    self._record_failure_evidence(item, report, run.view)

    def _add_section(self, run: _TestRun, call: pytest.CallInfo[None]) -> None:
        """The "Captured traces" section of this phase's report, when it gets one."""
        view = run.view
        failing = call.excinfo is not None and not call.excinfo.errisinstance(
            pytest.skip.Exception
        )
        mode = self.settings.report
        # The view last: asking whether it holds spans drains the queue.
        if ((failing and mode != "none") or (mode == "all" and call.when == "call")) and view:
            from .render import render_spans

            # Before the report is built, so the section lands in it (and
            # travels wherever reports go: junitxml, pytest-xdist).
            run.item.add_report_section(
                call.when,
                "traces",
                render_spans(
                    view.spans(), max_lines=SECTION_MAX_LINES, redaction=self.processor.redaction
                ),
            )

    def _record_failure_evidence(
        self, item: pytest.Item, report: pytest.TestReport, view: ScopedTraceStore
    ) -> None:
        """Trace ids as JUnit XML properties, and the failed-dir file, of a failed test."""
        properties: list[tuple[str, object]] = [("trace_id", t) for t in view.trace_ids()]
        path = self._write_failed_file(item.nodeid, view)
        if path is not None:
            properties.append(("trace_store_file", str(path)))
        # junitxml reads the teardown report's properties.
        item.user_properties.extend(properties)
        report.user_properties.extend(properties)

    def _write_failed_file(self, nodeid: str, view: ScopedTraceStore) -> Optional[Path]:
        folder = self.settings.failed_dir
        if folder is None:
            return None
        from .serialize import encode_line, record_line

        path = folder / safe_file_name(nodeid)
        redaction = self.processor.redaction
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as out:
                out.writelines(encode_line(record_line(record, redaction)) for record in view)
        except OSError as exc:
            if not self._warned_failed_dir:
                self._warned_failed_dir = True
                # In a report hook: a filter set to "error" must not turn
                # this into an INTERNALERROR, nor cost the test its properties.
                with warnings.catch_warnings():
                    warnings.simplefilter("always", TraceStoreWarning)
                    warnings.warn(
                        f"pytest-tracestore: could not write {path}: {exc}",
                        TraceStoreWarning,
                        stacklevel=2,
                    )
            return None
        return path

    # -- end of run -----------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.close()
        if self.is_worker:
            self._report_to_controller()

    def _report_to_controller(self) -> None:
        # The spans travel over xdist's own channel, so workers on other hosts
        # work too; the file stays the fallback if this message never arrives.
        try:
            spans: Optional[bytes] = self.processor.path.read_bytes()
        except OSError:  # the controller reads what it can of the file
            spans = None
        workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
        ends = self.processor.line_end_times()
        sizes = self.processor.line_sizes()
        workeroutput[XDIST_REPORT] = {
            "path": str(self.processor.path),
            "recorded": self.processor.store.added,
            "spans": spans,
            "whole": self.processor.lines_whole,
            # One string, not a list: execnet encodes each list item in Python.
            "ends": None if ends is None else " ".join(map(str, ends)),
            # With each line's size, the controller cuts the lines apart
            # without looking for newlines.
            "sizes": None if sizes is None else " ".join(map(str, sizes)),
        }

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.close()

    def close(self) -> None:
        """Flush the provider (bounded), trim and close the artifact, merge xdist workers.

        Runs once.  The processor may be closed already (an app or conftest
        that shuts its provider down at the end shuts ours down with it); the
        rest must happen all the same.
        """
        if self._closed:
            return
        self._closed = True
        if self._receiver is not None:
            # Before the processor closes: a request being handled now still
            # lands in the file.
            self._receiver.stop()
        with self.processor.quiet():
            if self.provider is not None:
                self.provider.force_flush(timeout_millis=5000)
            self.processor.shutdown()
        if self.xdist is not None:
            from .controller import made

            self._merged = self.xdist.merge(
                made(self.processor), self.artifact, self.processor.max_spans
            )


def _chain(impls: list[Any]) -> RecordTransform:
    """One transform calling each implementation in pluggy's order on the previous result."""
    # pluggy calls the last registered (and tryfirst) implementation first.
    steps = tuple((impl.function, bool(impl.argnames)) for impl in reversed(impls))

    def transform(record: SpanRecord) -> Optional[SpanRecord]:
        result: Optional[SpanRecord] = record
        for function, takes_record in steps:
            result = function(result) if takes_record else function()
            if result is None:
                return None
        return result

    return transform


def _plugin(config: pytest.Config) -> TraceStorePlugin:
    try:
        return config.stash[plugin_key]
    except KeyError:
        raise pytest.UsageError("pytest-tracestore is not configured in this run") from None


@pytest.fixture(name="trace_store")
def trace_store_fixture(request: pytest.FixtureRequest) -> ScopedTraceStore:
    """The spans that ended while this test ran (setup through teardown, any thread).

    Query it with ``get_trace``, ``recent_failures``, ``filter_by_error_type``,
    ``filter_by_attribute`` and ``query_spans``.  ``trace_store.session`` is
    the whole run's store.
    """
    plugin = _plugin(request.config)
    run = plugin._running
    if run is not None and run.item is request.node:
        return run.view
    # A test run without the plugin's protocol hook (another plugin's runner):
    # a view of its own, from now to the end of the test.
    from .store import ScopedTraceStore

    view = ScopedTraceStore(plugin.processor.store)
    plugin.processor.subscribe(view)
    request.addfinalizer(lambda: plugin.processor.unsubscribe(view))
    return view


@pytest.fixture(name="trace_store_session", scope="session")
def trace_store_session_fixture(request: pytest.FixtureRequest) -> TraceStore:
    """The whole run's span store, FIFO-capped like the run's artifact file."""
    return _plugin(request.config).processor.store


@pytest.fixture(name="trace_store_processor", scope="session")
def trace_store_processor_fixture(request: pytest.FixtureRequest) -> FileBasedSpanProcessor:
    """The run's span processor, for apps that build their own TracerProvider.

    ``provider.add_span_processor(trace_store_processor)`` sends that
    provider's spans to the run's artifact and the ``trace_store`` fixture.
    """
    return _plugin(request.config).processor


@pytest.fixture(name="trace_store_otlp_endpoint", scope="session")
def trace_store_otlp_endpoint_fixture(request: pytest.FixtureRequest) -> str:
    """Base URL of an OTLP/HTTP receiver whose spans join this run's store.

    For example ``http://127.0.0.1:PORT``: give it to a service under test as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``<url>/v1/traces`` as
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``).  Its spans reach ``trace_store``,
    ``trace_store_session`` and the artifact like in-process ones; wait for
    them with ``trace_store.wait_for(name=...)``.  Started on first use, on
    loopback only, and stopped at the end of the session.
    """
    return _plugin(request.config).otlp_receiver().url
