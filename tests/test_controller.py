"""The pytest-xdist controller's stand-in processor, on its own."""

from __future__ import annotations

import json
import warnings

import pytest
from opentelemetry.sdk.trace import TracerProvider

from pytest_tracestore import FileBasedSpanProcessor, TraceStoreWarning
from pytest_tracestore.controller import DeferredProcessor, made


def _deferred(path):
    return DeferredProcessor(path, max_spans=10, file_format="jsonl", redaction=None, batch_size=1)


def _end_span(processor, name="op"):
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("lib").start_as_current_span(name):
        pass


def test_nothing_is_made_until_a_span_ends_and_a_transform_set_before_applies(tmp_path):
    deferred = _deferred(tmp_path / "controller.jsonl")
    renamed = []

    def rename(record):
        renamed.append(record.name)
        return record

    deferred.transform = rename
    assert made(deferred) is None and not (tmp_path / "controller.jsonl").exists()
    assert deferred.force_flush() is True
    with deferred.quiet():  # nothing to hold back yet
        pass

    _end_span(deferred, "first")
    built = made(deferred)
    assert isinstance(built, FileBasedSpanProcessor) and built.transform is rename
    assert renamed == ["first"] and deferred.store.added == 1  # forwarded to what it made
    deferred.transform = None
    assert built.transform is None
    deferred.shutdown()
    lines = (tmp_path / "controller.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["first"]


def test_a_span_after_shutdown_is_dropped_without_making_anything(tmp_path):
    deferred = _deferred(tmp_path / "controller.jsonl")
    deferred.shutdown()
    _end_span(deferred)
    assert made(deferred) is None and not (tmp_path / "controller.jsonl").exists()


def test_a_file_that_cannot_be_made_costs_the_application_nothing_and_is_reported_once(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    deferred = _deferred(blocker / "controller.jsonl")
    _end_span(deferred)  # does not raise into the application's code
    assert made(deferred) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report must not become an error
        with pytest.warns(TraceStoreWarning, match="spans that ended in the xdist controller are lost"):
            deferred.shutdown()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deferred.shutdown()  # reported once

