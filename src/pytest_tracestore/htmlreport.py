"""The run's trace page (``--trace-store-html``) and the pytest-html extra of each failed test.

At the end of the run the page holds every span of the artifact plus every
failed test's spans, kept from the test's own evidence when it failed (the
FIFO cap may have dropped them from the artifact since).  Under pytest-xdist
each worker sends its failed tests' spans to the controller, which writes
the page.  When pytest-html writes a report, each failed test's entry gets
that test's waterfall as an HTML extra: the page in an ``iframe``'s
``srcdoc``, self-contained like pytest-html's own ``--self-contained-html``.
pytest-html is never imported: its extras are plain dicts.
"""

from __future__ import annotations

import html as _html
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

import pytest

from .base import TraceStoreWarning, warn_always

if TYPE_CHECKING:
    from .record import SpanRecord
    from .redact import RedactionPolicy

__all__ = ["HtmlReport", "pytest_html_active"]

# The key of a worker's failed tests' spans in pytest-xdist's workeroutput.
XDIST_HTML = "tracestore_html"
_IFRAME = (
    '<iframe class="tracestore-waterfall" title="Trace waterfall" '
    'style="width:100%;height:480px;border:1px solid #d9dce1" srcdoc="{page}"></iframe>'
)

_Tests = Dict[Tuple[str, str], str]


def pytest_html_active(config: pytest.Config) -> bool:
    """Whether pytest-html writes a report in this run."""
    return config.pluginmanager.hasplugin("html") and bool(config.getoption("htmlpath", None))


class HtmlReport:
    """Keeps failed tests' spans for the run's page and hands pytest-html its extras."""

    def __init__(
        self, config: pytest.Config, path: Optional[Path], redaction: Optional[RedactionPolicy]
    ) -> None:
        self.config = config
        #: Where the run's page goes (an xdist worker sends its part to the
        #: controller instead); ``None`` when only pytest-html gets pages.
        self.path = path
        self.redaction = redaction
        self.extras = pytest_html_active(config)
        # Node id -> the failed test's spans, redacted.
        self.failed: Dict[str, List[SpanRecord]] = {}
        #: ``(spans, traces)`` on the page once written.
        self.written: Optional[Tuple[int, int]] = None

    @classmethod
    def create(
        cls, config: pytest.Config, path: Optional[Path], redaction: Optional[RedactionPolicy]
    ) -> Optional[HtmlReport]:
        """A report when there is a page to write or a pytest-html report to extend, else ``None``."""
        report = cls(config, path, redaction)
        return report if path is not None or report.extras else None

    def add_failed(self, nodeid: str, report: pytest.TestReport, records: Iterable[SpanRecord]) -> None:
        """Keep a failed test's spans, and give its pytest-html entry their waterfall."""
        redaction = self.redaction
        spans = [redaction.redact_record(r) for r in records] if redaction else list(records)
        if self.path is not None:
            self.failed[nodeid] = spans
        if self.extras and spans:
            report.extras = [*getattr(report, "extras", []), self._extra(nodeid, spans)]  # type: ignore[attr-defined]

    def _extra(self, nodeid: str, spans: List[SpanRecord]) -> Dict[str, Optional[str]]:
        from .html import page_data, render_page

        tests = {(r.trace_id, r.span_id): nodeid for r in spans}
        page = render_page(page_data(spans, tests=tests, title=nodeid, open_first=True))
        # The shape pytest_html.extras.html() returns.
        return {
            "name": None,
            "format_type": "html",
            "content": _IFRAME.format(page=_html.escape(page, quote=True)),
            "mime_type": None,
            "extension": None,
        }

    def _tests(self) -> _Tests:
        return {(r.trace_id, r.span_id): nodeid for nodeid, spans in self.failed.items() for r in spans}

    # -- pytest-xdist -----------------------------------------------------

    def report_to_controller(self) -> None:
        """In a worker: put the failed tests' spans in ``workeroutput`` for the controller."""
        if self.path is None or not self.failed:
            return
        from .serialize import record_line

        workeroutput: Dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
        workeroutput[XDIST_HTML] = {
            nodeid: "".join(record_line(r) for r in spans) for nodeid, spans in self.failed.items()
        }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        sent = getattr(node, "workeroutput", {}).get(XDIST_HTML)
        if not sent or self.path is None:
            return
        from .parse import parse_records

        for nodeid, lines in sent.items():
            self.failed[nodeid] = list(parse_records(lines.splitlines(keepends=True), str(nodeid)))

    # -- the end of the run -----------------------------------------------

    def write(self, artifact: Path) -> None:
        """Write the run's page: the artifact's spans and the failed tests'; a failure is a warning."""
        if self.path is None:
            return
        from .html import page_data, render_page, span_count
        from .parse import read_records
        from .stream import atomic_output

        failed = [r for spans in self.failed.values() for r in spans]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", TraceStoreWarning)
                stored = list(read_records(artifact)) if artifact.exists() else []
            data = page_data([*stored, *failed], tests=self._tests(), title=f"Traces: {artifact.name}")
            with atomic_output(self.path) as out:
                out.write(render_page(data).encode("utf-8"))
        except OSError as exc:
            warn_always(f"pytest-tracestore: could not write the trace page {self.path}: {exc}")
            return
        self.written = span_count(data)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.written is None:
            return
        spans, traces = self.written
        terminalreporter.write_line(
            f"tracestore: trace page ({spans} span{'s' * (spans != 1)} in "
            f"{traces} trace{'s' * (traces != 1)}) -> {self.path}"
        )
