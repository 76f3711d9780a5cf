"""Reading back what a trace page embeds, for the page's tests."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Union

_DATA = re.compile(r'<script type="application/json" id="tracestore-data">(.*?)</script>', re.S)


def page_data(page: Union[str, Path]) -> dict[str, Any]:
    """The JSON data a page (its text, or its file) embeds."""
    text = page.read_text(encoding="utf-8") if isinstance(page, Path) else page
    (found,) = _DATA.findall(text)
    return json.loads(found)


def page_spans(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Span id -> the span's fields by name, with its trace id and its test."""
    fields = data["fields"]
    tests = {index: group["test"] for group in data["groups"] for index in group["traces"]}
    out = {}
    for index, trace in enumerate(data["traces"]):
        for row in trace["spans"]:
            span = dict(zip(fields, row))
            span["name"] = data["strings"][span["name"]]
            span["trace_id"] = trace["id"]
            span["test"] = tests[index]
            out[span["span_id"]] = span
    return out


def srcdoc_pages(report: str) -> list[str]:
    """The trace pages a pytest-html report embeds as iframes, as their own HTML."""
    return [html.unescape(m) for m in re.findall(r'srcdoc="([^"]*)"', report)]


def pytest_html_tests(report: Path) -> dict[str, Any]:
    """The per-test data a pytest-html 4 report embeds: test id -> its entries."""
    text = report.read_text(encoding="utf-8")
    (blob,) = re.findall(r'data-jsonblob="([^"]*)"', text)
    return json.loads(html.unescape(blob))["tests"]
