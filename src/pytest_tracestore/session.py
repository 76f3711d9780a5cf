"""The plugin object: one per run, holding every pytest hook but the entry point's.

``startup.configure`` builds one :class:`TraceStorePlugin` and registers it.
It owns the run's recording, which starts on first need (``recording``),
the provider policy (``providers``), which test owns a span
(``attribution``), and what each test's reports show.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Generator, Optional, cast

import pytest

from .base import DEFAULT_MAX_BYTES, FORMATS, TraceStoreWarning, display_path, warn_always
from .options import DEFAULT_MAX_SPANS, ReportSettings
from .providers import Mode, Providers
from .recording import ImportWatch, Recording, opentelemetry_loaded
from .runfiles import RunFiles
from .termsignal import TermSignal
from .worker import JOINED_REPORT

# The recording code (processor, store, converter, records), the SDK and the
# API load when recording starts: pytest reads every module of a plugin at
# start-up in every process, at a cost that grows with their size.
if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from .attribution import Attribution, Scope
    from .controller import XdistController
    from .forwarder import Forwarder
    from .htmlreport import HtmlReport
    from .processor import FileBasedSpanProcessor, RecordTransform
    from .receiver import OTLPReceiver
    from .record import SpanRecord
    from .section import SectionOptions
    from .store import ScopedTraceStore
    from .testspans import TestSpans

__all__ = ["ProcessorFactory", "TraceStorePlugin", "is_xdist_worker", "plugin_key"]

#: Makes the run's processor, when something first needs it.
ProcessorFactory = Callable[[], "FileBasedSpanProcessor"]

# The workerinput key under which the controller tells workers how to write sections.
XDIST_SECTION = "tracestore_section"

plugin_key = pytest.StashKey["TraceStorePlugin"]()


def is_xdist_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker."""
    return hasattr(config, "workerinput")


class _TestRun:
    """What the plugin keeps about the test that runs now.

    On the plugin, not in the item's stash: every hook of every test reads
    it, and a stash lookup is several Python calls.  One slot, because pytest
    runs one test at a time in a process (pytest-xdist runs more processes);
    a nested protocol keeps the outer test's and restores it.
    """

    __slots__ = ("item", "view", "failed", "fail_on_error", "scope", "done")

    def __init__(self, item: pytest.Item, scope: Scope) -> None:
        self.item = item
        #: The spans the test owns, as they end; ``None`` while nothing records.
        self.view: Optional[ScopedTraceStore] = None
        #: Set once the test's protocol is over: it gets no view after that.
        self.done = False
        #: The test's stretch of time, with the spans it started that are still open.
        self.scope = scope
        #: Set once any phase of the test has failed.
        self.failed = False
        #: Whether the test's spans must hold no ERROR span, decided in its setup.
        self.fail_on_error: Optional[bool] = None


class TraceStorePlugin:
    """Owns the run's processor and the provider set-up; holds the pytest hooks."""

    def __init__(
        self,
        config: pytest.Config,
        factory: ProcessorFactory,
        settings: Optional[ReportSettings] = None,
        *,
        artifact: Path,
        xdist: Optional[XdistController] = None,
        files: Optional[RunFiles] = None,
        scratch: Optional[Path] = None,
        provider_mode: Mode = Mode.AUTO,
        file_format: str = FORMATS[0],
        max_spans: int = DEFAULT_MAX_SPANS,
    ) -> None:
        self.config = config
        self.settings = settings if settings is not None else ReportSettings()
        #: The run's files beside its artifact; ``None`` in an xdist worker.
        self.files = files
        #: The run's artifact; under xdist the processor writes elsewhere.
        self.artifact = artifact
        self.file_format = file_format
        self.max_spans = max_spans
        self.xdist = xdist
        self.is_worker = is_xdist_worker(config)
        # (recorded, kept, could not be written), once the xdist merge is done.
        self._merged: Optional[tuple[int, int, int]] = None
        self._receiver: Optional[OTLPReceiver] = None
        self._closed = False
        self._scratch = scratch
        self.provider: Optional[TracerProvider] = None
        self._warned_failed_dir = False
        self._warned_shutdown = False
        self._announced = False
        self._running: Optional[_TestRun] = None
        #: The session's and each test's own spans, when asked for.
        self.test_spans: Optional[TestSpans] = None
        #: The run's trace page and pytest-html extras, when either is asked for.
        self.html: Optional[HtmlReport] = None
        #: The run's HTML page, named below each trace of a report section; set
        #: by whatever writes the page, before the first test runs.
        self.html_page: Optional[Path] = None
        self._section: Optional[SectionOptions] = None
        #: Whether any test has started: a run that starts none leaves the artifact alone.
        self.tests_ran = False
        # While tests run: a provider shut down then still has tests to record.
        self._testing = False
        self._term = TermSignal()
        self._factory = factory
        # The processor, made and attached to the providers on first need.
        self.recording: Recording[FileBasedSpanProcessor] = Recording(self._start_recording)
        # The same block every time, once recording: the per-test hooks skip a call to get it.
        self._quiet: ContextManager[object] = contextlib.nullcontext()
        self._watch: Optional[ImportWatch] = None
        # The processor forwarders hand spans to, once made.
        self._target: Optional[FileBasedSpanProcessor] = None
        self.attribution = _new_attribution()
        self.providers = Providers(provider_mode, self._forwarder, self._processor_made, warn_always)
        self._term.install()

    # -- the lazy recording set-up ----------------------------------------

    def begin(self, *, eager: bool) -> None:
        """Start recording now if something already needs it, else on first need."""
        wanted = (
            eager
            or opentelemetry_loaded()
            or bool(self.config.hook.pytest_tracestore_configure.get_hookimpls())
        )
        if wanted:
            self.recording.start()
        elif self.providers.mode is not Mode.OFF:
            self.providers.expect()
            self._watch = ImportWatch(self._imported)
            self._watch.install()

    @property
    def processor(self) -> FileBasedSpanProcessor:
        """The run's processor, made (and the providers joined) if nothing needed it before."""
        return self.recording.start()

    @property
    def recording_started(self) -> bool:
        """Whether the processor is made: without it, no span was recorded."""
        return self.recording.value is not None

    def _imported(self) -> None:
        # In the user's import statement: a failure here must not break it.
        try:
            self.recording.start()
        except Exception as exc:
            warn_always(f"pytest-tracestore: could not start recording: {exc}")

    def _start_recording(self, keep: Callable[[FileBasedSpanProcessor], None]) -> None:
        """Make the processor, then join or install providers: once, under the recording lock."""
        if self._watch is not None:
            self._watch.uninstall()
        processor = self._factory()
        self._target = processor
        keep(processor)
        self._quiet = processor.quiet()
        if self.xdist is None:  # the xdist controller runs no test
            processor.attribution = self.attribution
            # A controller's processor is made only once a span ends there.
            processor.store.empty_hint = self.providers.empty_hint
        self._refresh_transform()
        self.providers.start()
        self.provider = self.providers.provider
        run = self._running
        if run is not None:  # a test imported OpenTelemetry, or asked for a store
            self._watch_test(run)
        self.announce()

    def _processor_made(self) -> Optional[FileBasedSpanProcessor]:
        return self._target

    def _forwarder(self, provider: TracerProvider) -> Forwarder:
        from .forwarder import Forwarder

        assert self._target is not None  # providers are joined once it is made
        # A partial, not a lambda: the warning's stacklevel counts Python frames.
        return Forwarder(self._target, functools.partial(self._provider_shut_down, provider))

    def _watch_test(self, run: _TestRun) -> None:
        """Give the running test its view of the store, once the processor is made."""
        if self._target is None:
            return  # the set-up gives the running test its view
        from .store import ScopedTraceStore

        with self.recording.lock:
            processor = self._target
            if processor is None or run.view is not None or run.done:
                return
            # The view keeps the spans the test owns, whenever they end during
            # its protocol: from setup, call and teardown, from any thread.
            view = ScopedTraceStore(
                processor.store, max_bytes=DEFAULT_MAX_BYTES, test=run.item.nodeid
            )
            with self._quiet:
                processor.subscribe(view)
            run.view = view

    def _unwatch_test(self, run: _TestRun) -> None:
        with self.recording.lock:
            run.done = True
            view = run.view
            processor = self._target
            if view is not None and processor is not None:
                with self._quiet:
                    processor.unsubscribe(view)

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
        provider = self.providers.session_provider()
        hook.call_historic(kwargs=dict(provider=provider, processor=processor))

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
        processor = self._target
        if processor is not None:
            processor.transform = _chain(impls) if impls else None

    def pytest_plugin_registered(self, plugin: object) -> None:
        # conftest files below the root are registered during collection.
        if not self.recording_started:
            # A conftest that imported OpenTelemetry, or that wants the
            # pytest_tracestore_configure call, needs recording now.
            if opentelemetry_loaded() or self.config.hook.pytest_tracestore_configure.get_hookimpls():
                self.recording.start()
            return
        self._refresh_transform()
        if not self._announced:
            self.announce()

    def _provider_shut_down(self, provider: TracerProvider) -> None:
        """The global provider was shut down: warn if tests still run; recording goes on regardless."""
        if self._closed or not self._testing or self._warned_shutdown:
            return
        # Providers made and shut down by a fixture or a test are no news.
        from opentelemetry import trace

        if provider is not self.provider and provider is not trace.get_tracer_provider():
            return
        self._warned_shutdown = True
        name = f"{type(provider).__module__}.{type(provider).__qualname__} at {id(provider):#x}"
        # In the application's code: a filter set to "error" must not raise there.
        with warnings.catch_warnings():
            warnings.simplefilter("always", TraceStoreWarning)
            warnings.warn(
                f"pytest-tracestore: the TracerProvider {name} was shut down while tests "
                "run; its other span processors are closed, but its spans are still "
                "recorded until the run ends",
                TraceStoreWarning,
                # Past the SDK's provider and its multi-processor: the caller.
                stacklevel=5,
            )

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Before pytest-xdist's (trylast), which starts the workers.
        if self.test_spans is not None:
            self.test_spans.start_session(session)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, None, None]:
        if self.recording_started:
            self.providers.check_global()
        self._testing = True
        try:
            yield
        finally:
            self._testing = False

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        # In the xdist controller too: it hears of every test a worker starts.
        if not self.tests_ran:
            self.tests_ran = True
            if self.files is not None:
                self.files.test_started()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        # Inside pytest's own warning capture, so they reach the summary.
        if not self.is_worker:
            for message in self.providers.warnings():
                warn_always(message, stacklevel=1)
        if self.files is None:
            return
        notes, self.files.notes = self.files.notes, []
        for note in notes:
            warn_always(note, stacklevel=1)

    # -- reporting ------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.is_worker:
            return []
        fmt = "" if self.file_format == FORMATS[0] else f", {self.file_format}"
        where = f"spans -> {self.artifact} (max {self.max_spans}{fmt})"
        if self.xdist is not None:
            where += ", merged from the xdist workers at the end"
        if self.files is not None and self.files.taken:
            where += f"; {self.files.requested} is in use by another run"
        lines = [f"tracestore: {self.providers.header()}; {where}", *self.providers.header_notes()]
        if self.test_spans is not None:
            lines.append(self.test_spans.header())
        for count, file in self.files.salvaged if self.files is not None else ():
            lines.append(
                f"tracestore: salvaged {count} spans of an earlier run killed before its "
                f"merge -> {file}"
            )
        return lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.is_worker:
            return
        if not self.tests_ran:
            terminalreporter.write_line(f"tracestore: no test ran; {self.artifact} left as it was")
            return
        processor = self.recording.value
        if self._merged is not None:
            total, kept, unwritten = self._merged
        elif processor is None:  # nothing needed recording: no span was made
            total = kept = unwritten = 0
        else:
            total, kept = processor.store.added, processor.spans_in_file
            unwritten = int(getattr(processor, "spans_unwritten", 0))
        losses = []
        dropped = total - kept - unwritten
        if dropped > 0:
            losses.append(f"the oldest {dropped} dropped by the FIFO cap")
        if unwritten > 0:
            losses.append(f"{unwritten} could not be written")
        told = "".join(f", {loss}" for loss in losses)
        terminalreporter.write_line(
            f"tracestore: {total} spans recorded{told}; {kept} in {self.artifact}"
        )
        joined = self.providers.summary()
        if joined is not None:
            terminalreporter.write_line(joined)

    # -- per-test capture -----------------------------------------------

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: Optional[pytest.Item]
    ) -> Generator[None, None, None]:
        if not self.recording_started and opentelemetry_loaded():
            # Imported while the watch could not start recording (a module half made then).
            self._imported()
        with self.attribution.scope(item.nodeid) as scope:
            run = _TestRun(item, scope)
            outer, self._running = self._running, run
            # After the slot is set: a set-up starting now in another thread sees this test.
            self._watch_test(run)
            try:
                if self.test_spans is None:
                    yield
                else:
                    # Inside the subscription: the test's span is one of its spans.
                    with self.test_spans.around(item):
                        yield
            finally:
                self._unwatch_test(run)
                # Release the test's spans: a long run must not keep them all.
                self._running = outer

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, None, None]:
        # A wide fixture is set up in whichever test needs it first, and torn
        # down in whichever ends its scope; its spans are the fixture's.
        if fixturedef.scope == "function":
            yield
            return
        from .attribution import fixture_owner

        owner = fixture_owner(request.node.nodeid, fixturedef.argname)
        enter, leave = self.attribution.later_scope(owner)
        # Finalizers run last in, first out: this one after the fixture's
        # teardown, which its set-up registers, and ``enter`` before it.
        fixturedef.addfinalizer(leave)
        with self.attribution.scope(owner):
            yield
        fixturedef.addfinalizer(enter)

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
        if run.view is None:  # nothing recorded: no span can have failed
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
        processor = self.recording.value
        with self._quiet:
            # Every test phase ends with its spans in the file, before its
            # report is made: a run killed later keeps them.
            if processor is not None:
                processor.drain()
            if run is not None:
                self._add_section(run, call)
                if call.when == "teardown" and self.settings.report != "none":
                    self._add_open_section(run)
        outcome = yield
        if run is None:
            return
        report: pytest.TestReport = outcome.get_result()
        if self.test_spans is not None:
            self.test_spans.report(item, report, call)
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
            from .section import render_section

            # Before the report is built, so the section lands in it (and
            # travels wherever reports go: junitxml, pytest-xdist).
            run.item.add_report_section(
                call.when, "traces", render_section(view.spans(), self._section_options())
            )

    def _add_open_section(self, run: _TestRun) -> None:
        """Name the spans the test started that are still open as its teardown ends."""
        still_open = run.scope.still_open()
        if self.test_spans is not None:
            # The test's own span ends once its teardown is over, as it should.
            own = self.test_spans.own_span_id(run.item)
            still_open = [span for span in still_open if span.span_id != own]
        if not still_open:
            return
        from .attribution import render_open

        run.item.add_report_section("teardown", "traces (still open)", render_open(still_open))
    def _section_view(self) -> dict[str, Any]:
        """What sections show of the run as this process sees it: JSON-able, for workers."""
        # Without a terminal reporter (-p no:terminal) nothing is coloured.
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        color = reporter is not None and bool(self.config.get_terminal_writer().hasmarkup)
        here = self.config.invocation_params.dir
        return {
            "artifact": display_path(self.artifact, here),
            "color": color,
            "html_page": None if self.html_page is None else display_path(self.html_page, here),
        }

    def _section_options(self) -> SectionOptions:
        if self._section is None:
            from .section import SectionOptions

            workerinput = getattr(self.config, "workerinput", {})
            # A worker writes no artifact and its output is not a terminal: it
            # names the controller's artifact and colours as the controller does.
            view = workerinput.get(XDIST_SECTION) or self._section_view()
            self._section = SectionOptions(
                artifact=str(view["artifact"]),
                color=bool(view["color"]),
                html_page=view["html_page"],
                redaction=self.settings.redaction,
            )
        return self._section

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[XDIST_SECTION] = self._section_view()

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
        if self.html is not None:
            self.html.add_failed(item.nodeid, report, view)

    def _write_failed_file(self, nodeid: str, view: ScopedTraceStore) -> Optional[Path]:
        folder = self.settings.failed_dir
        if folder is None:
            return None
        from .evidence import safe_file_name, write_failed_file

        try:
            return write_failed_file(folder, nodeid, view, self.settings.redaction)
        except OSError as exc:
            if not self._warned_failed_dir:
                self._warned_failed_dir = True
                # In a report hook: the test must not lose its properties.
                path = folder / safe_file_name(nodeid)
                warn_always(f"pytest-tracestore: could not write {path}: {exc}")
            return None

    # -- end of run -----------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.test_spans is not None:
            self.test_spans.end_session(int(session.exitstatus))
        self.close()
        if self.is_worker:
            from .worker import report_to_controller

            report_to_controller(self.config, self.processor, self.providers.joined, self._scratch)
        if self.html is not None:
            if self.is_worker:
                self.html.report_to_controller()
            elif self.tests_ran:
                self.html.write(self.artifact)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        # A pytest-xdist worker's report of the providers it joined.
        output = getattr(node, "workeroutput", None) or {}
        joined = output.get(JOINED_REPORT)
        if isinstance(joined, dict):
            self.providers.joined_elsewhere.update({str(k): int(v) for k, v in joined.items()})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.close()
        self.providers.close()
        self._term.restore()

    def close(self) -> None:
        """Flush the provider (bounded), trim and close the artifact, merge xdist workers.

        Runs once.  A run that started no test puts the previous run's file
        back, and leaves it alone under xdist.  The lock on the artifact is
        released last, whatever happened before.
        """
        if self._closed:
            return
        self._closed = True
        if self._watch is not None:
            self._watch.uninstall()
        processor = self.recording.value
        try:
            if self._receiver is not None:
                # Before the processor closes: a request being handled now still
                # lands in the file.
                self._receiver.stop()
            if processor is not None:
                with processor.quiet():
                    self._flush_provider()
                    processor.shutdown()
            if self.xdist is not None:
                if self.tests_ran:
                    self._merge_workers()
                else:
                    self.xdist.discard()
        finally:
            if self.files is not None:
                self.files.finish(self.tests_ran)


    def _flush_provider(self) -> None:
        if self.provider is None:
            return
        try:
            self.provider.force_flush(timeout_millis=5000)
        except Exception as exc:  # another of the app's processors: ours must still close
            warn_always(f"pytest-tracestore: flushing the TracerProvider failed: {exc!r}")

    def _merge_workers(self) -> None:
        from .controller import made

        assert self.xdist is not None
        try:
            # Its warnings (a worker that died, say) come from pytest's hooks too.
            with warnings.catch_warnings():
                warnings.simplefilter("always", TraceStoreWarning)
                self._merged = self.xdist.merge(made(self.processor), self.artifact, self.max_spans)
        except (OSError, ValueError) as exc:
            # The worker files stay where they are: the next run salvages them.
            warn_always(
                f"pytest-tracestore: could not merge the xdist workers' spans into "
                f"{self.artifact}: {exc}; they stay in {self.xdist.folder}, and the next "
                "run salvages them"
            )


def _new_attribution() -> Attribution:
    """The run's attribution: which test owns each span, tracked from the first test on."""
    from .attribution import Attribution

    return Attribution()


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
