"""A run's start: where this process records (plain run, xdist controller or worker), and the plugin.

:func:`configure` reads the settings, claims the artifact and builds the
:class:`~pytest_tracestore.session.TraceStorePlugin`; the processor itself
is made on first need (see ``recording``), except where it must exist from
the start.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, cast

import pytest

from .base import DEFAULT_BATCH_SIZE
from .options import (
    DEFAULT_MAX_SPANS,
    make_folder,
    read_count,
    read_format,
    read_html_path,
    read_path,
    read_report_settings,
    test_spans_wanted,
)
from .providers import Mode, read_mode
from .recording import create_empty
from .registration import MARKER_HELP
from .runfiles import RunFiles, make_processor
from .session import ProcessorFactory, TraceStorePlugin, is_xdist_worker, plugin_key
from .worker import worker_processor

if TYPE_CHECKING:
    from .controller import XdistController
    from .htmlreport import HtmlReport
    from .processor import FileBasedSpanProcessor
    from .redact import RedactionPolicy
    from .testspans import TestSpans

__all__ = ["configure"]


def is_xdist_controller(config: pytest.Config) -> bool:
    # The test xdist itself uses to decide whether to distribute: with "-n 0",
    # "-p no:xdist" or --collect-only the tests run in this process.
    return (
        not is_xdist_worker(config)
        and config.getoption("dist", "no") != "no"
        and bool(config.getoption("tx", None))
        and not config.getoption("collectonly", False)
    )


def _run_processor(
    config: pytest.Config, files: RunFiles, where: str, *settings: Any
) -> tuple[ProcessorFactory, Optional[XdistController]]:
    """How to make the processor of a run that owns its artifact: its own, or an xdist controller's."""
    if not is_xdist_controller(config):
        try:
            files.keep_previous()
        except OSError as exc:
            raise pytest.UsageError(
                f"{where}: cannot write {files.artifact}: {exc.strerror or exc}"
            ) from None
        # The artifact is this run's from the start, even if no span ever
        # comes and the processor is never made.
        try:
            create_empty(files.artifact)
        except (OSError, ValueError) as exc:
            problem = getattr(exc, "strerror", None) or exc
            raise pytest.UsageError(f"{where}: cannot write {files.artifact}: {problem}") from None
        return functools.partial(make_processor, files.artifact, where, *settings), None
    from .controller import DeferredProcessor, XdistController

    # The controller runs no tests, but its own spans (a conftest's, say)
    # are kept like a worker's and merged with theirs at the end.  The
    # artifact is left alone until then.
    folder = files.worker_folder()
    make_folder(folder, where)
    deferred = cast("FileBasedSpanProcessor", DeferredProcessor(folder / "controller.jsonl", *settings))
    return (lambda: deferred), XdistController(folder)


def configure(config: pytest.Config) -> None:
    """Build the run's plugin object from the settings and register it."""
    config.addinivalue_line("markers", MARKER_HELP)
    if config.getoption("help", False) or config.getoption("version", False):
        return
    max_spans = read_count(config, "trace_store_max_spans", DEFAULT_MAX_SPANS, "spans")
    batch_size = read_count(config, "trace_store_batch_size", DEFAULT_BATCH_SIZE, "spans")
    file_format = read_format(config)
    worker = is_xdist_worker(config)
    # A worker writes where its controller, which checked the path, tells it.
    path, where = read_path(config, check=not worker)
    settings = read_report_settings(config)
    test_spans: Optional[TestSpans] = None
    if test_spans_wanted(config):
        from .testspans import read_test_spans

        test_spans = read_test_spans(config, controller=is_xdist_controller(config))
    html_path = read_html_path(config, path, check=not worker)
    provider_mode = read_mode(config)
    recording = (max_spans, file_format, settings.redaction, batch_size)
    controller: Optional[XdistController] = None
    files: Optional[RunFiles] = None
    scratch: Optional[Path] = None
    if worker:
        processor, scratch = worker_processor(config, path, where, *recording)
        factory: ProcessorFactory = lambda: processor  # noqa: E731
        artifact = processor.path
    else:
        files = RunFiles(path)
        try:
            files.claim()
        except OSError as exc:
            raise pytest.UsageError(
                f"{where}: cannot lock {path}: {exc.strerror or exc}"
            ) from None
        try:
            factory, controller = _run_processor(config, files, where, *recording)
        except BaseException:
            files.finish(tests_ran=False)
            raise
        artifact = files.artifact
    plugin = TraceStorePlugin(
        config,
        factory,
        settings,
        xdist=controller,
        files=files,
        artifact=artifact,
        scratch=scratch,
        provider_mode=provider_mode,
        file_format=file_format,
        max_spans=max_spans,
    )
    plugin.test_spans = test_spans
    config.stash[plugin_key] = plugin
    config.pluginmanager.register(plugin, "tracestore-plugin")
    plugin.html = _html_report(config, html_path, settings.redaction)
    plugin.html_page = html_path
    if plugin.html is not None:
        config.pluginmanager.register(plugin.html, "tracestore-html")
    if controller is not None:
        config.pluginmanager.register(controller, "tracestore-xdist")
    # Workers report their file to the controller whatever happens; test spans
    # and a provider to install are wanted from the start.
    eager = worker or controller is not None or test_spans is not None
    plugin.begin(eager=eager or provider_mode is Mode.INSTALL)


def _html_report(
    config: pytest.Config, path: Optional[Path], redaction: Optional[RedactionPolicy]
) -> Optional[HtmlReport]:
    """The run's page and pytest-html extras, when either is asked for (pytest-html looked up by name)."""
    if path is None and not (config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None)):
        return None
    from .htmlreport import HtmlReport

    return HtmlReport.create(config, path, redaction)
