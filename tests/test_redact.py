"""Redaction of secret values in trace files, and the processor's record transform."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider

from pytest_tracestore import FileBasedSpanProcessor, RedactionPolicy, SpanRecord, TraceStoreWarning
from pytest_tracestore.redact import DEFAULT_REDACT_PATTERNS, REDACTED, policy_from_lines


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    "key",
    [
        "http.request.header.authorization", "Authorization", "http.response.header.set-cookie",
        "db.password", "client_secret", "auth.access_token", "oauth.token.value", "x-api-key",
        "service.api_key", "apikey",
    ],
)
def test_default_policy_covers_the_usual_secrets(key):
    assert RedactionPolicy().matches(key)


@pytest.mark.parametrize("key", ["user.id", "gen_ai.usage.input_tokens", "http.method", "keyboard"])
def test_default_policy_leaves_ordinary_keys(key):
    assert not RedactionPolicy().matches(key)


def test_apply_copies_only_when_a_key_matches():
    policy = RedactionPolicy(["*card*"])
    plain = {"a": 1}
    assert policy.apply(plain) is plain
    assert policy.apply({"a": 1, "card.number": "4111"}) == {"a": 1, "card.number": REDACTED}


def test_configuration_lines_extend_replace_or_turn_off():
    assert policy_from_lines([]).patterns == DEFAULT_REDACT_PATTERNS
    assert policy_from_lines(["default", "*card*"]).patterns == DEFAULT_REDACT_PATTERNS + ("*card*",)
    assert policy_from_lines(["*card*"]).patterns == ("*card*",)
    assert policy_from_lines(["none"]) is None
    with pytest.raises(ValueError, match="'none' must stand alone"):
        policy_from_lines(["none", "*card*"])
    with pytest.raises(ValueError, match="expected a list of globs"):
        RedactionPolicy("*card*")


def make_spans(processor):
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span(
        "login", attributes={"user.id": "bob", "http.request.header.authorization": ["Bearer s3cr3t"]}
    ) as span:
        span.add_event("retry", {"db.password": "hunter2", "attempt": 2})
    with tracer.start_as_current_span("health", attributes={"user.id": "bob"}):
        pass
    processor.drain()  # write the queued spans before the test reads the file


def test_processor_redacts_the_file_but_not_the_store(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "s.jsonl")
    make_spans(processor)
    login, health = read_lines(tmp_path / "s.jsonl")
    assert login["attributes"] == {"user.id": "bob", "http.request.header.authorization": REDACTED}
    assert login["events"][0]["attributes"] == {"db.password": REDACTED, "attempt": 2}
    assert health["attributes"] == {"user.id": "bob"}
    record = processor.store.span(name="login")
    assert record.attributes["http.request.header.authorization"] == ("Bearer s3cr3t",)
    assert record.events[0].attributes["db.password"] == "hunter2"


def test_processor_without_redaction_writes_values(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "s.jsonl", redaction=None)
    make_spans(processor)
    assert read_lines(tmp_path / "s.jsonl")[0]["events"][0]["attributes"]["db.password"] == "hunter2"
    with pytest.raises(ValueError, match="invalid redaction"):
        FileBasedSpanProcessor(tmp_path / "t.jsonl", redaction=["*"])


def test_transform_can_change_or_drop_records(tmp_path):
    def transform(record):
        if record.name == "health":
            return None
        return SpanRecord(
            trace_id=record.trace_id, span_id=record.span_id, name=record.name.upper(),
            start_time=record.start_time, end_time=record.end_time,
            attributes={**record.attributes, "api_key": "k-123"},
        )

    processor = FileBasedSpanProcessor(tmp_path / "s.jsonl", transform=transform)
    subscriber = processor.store.__class__()
    processor.subscribe(subscriber)
    make_spans(processor)
    (line,) = read_lines(tmp_path / "s.jsonl")
    # The line is written from the changed copy, and still redacted.
    assert line["name"] == "LOGIN"
    assert line["attributes"]["api_key"] == REDACTED
    assert [r.name for r in processor.store] == ["LOGIN"] == [r.name for r in subscriber]
    assert processor.store.span(name="LOGIN").attributes["api_key"] == "k-123"


def test_a_failing_transform_keeps_the_span_and_warns_once(tmp_path):
    def transform(record):
        raise RuntimeError("bug in a hook")

    processor = FileBasedSpanProcessor(tmp_path / "s.jsonl", transform=transform)
    with pytest.warns(TraceStoreWarning, match="could not transform a span for .*bug in a hook") as caught:
        make_spans(processor)
    assert len(caught) == 1
    assert [x["name"] for x in read_lines(tmp_path / "s.jsonl")] == ["login", "health"]


def test_otlp_format_is_redacted_too(tmp_path):
    processor = FileBasedSpanProcessor(tmp_path / "s.jsonl", format="otlp")
    make_spans(processor)
    text = (tmp_path / "s.jsonl").read_text(encoding="utf-8")
    assert "s3cr3t" not in text and "hunter2" not in text
    assert text.count(REDACTED) == 2
    assert processor.store.span(name="login").events[0].attributes["db.password"] == "hunter2"
