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


@pytest.mark.parametrize(
    "key",
    [
        "private_key", "tls.private-key", "app.privateKey", "credentials", "aws.credential_source",
        "X-Amz-Credential", "ssh.passphrase",
    ],
)
def test_default_policy_covers_keys_and_credentials(key):
    assert RedactionPolicy().matches(key)


# Near misses considered for the default patterns: none may be hidden.
@pytest.mark.parametrize(
    "key",
    [
        "user.id", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.tokenizer.name",
        "http.method", "keyboard", "http.request.header.content-length", "code.function",
        "session.id", "process.working_directory", "http.response.status_code", "cache.key",
        "messaging.kafka.message.key", "enduser.id", "db.name", "db.statement", "exception.message",
    ],
)
def test_default_policy_leaves_ordinary_keys(key):
    assert not RedactionPolicy().matches(key)


@pytest.mark.parametrize(
    "key", ["url.full", "http.url", "url.query", "http.target", "url.path", "db.connection_string",
            "http.request.header.referer", "http.response.header.location", "messaging.url", "app.dsn"],
)
def test_url_like_keys_are_scanned(key):
    assert RedactionPolicy().scans(key) and not RedactionPolicy(values=False).scans(key)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://u:p@h/x?a=1", "https://[REDACTED]@h/x?a=1"),
        ("https://u:p@ss@h/x", "https://[REDACTED]@h/x"),  # a raw @ in the password
        ("a=1&ACCESS_TOKEN=t&b=2", "a=1&ACCESS_TOKEN=[REDACTED]&b=2"),  # names are case-insensitive
        ("/cb?code=&state=s", "/cb?code=&state=s"),  # nothing to hide
        ("/login?next=https://x/cb?token=t1&y=2", "/login?next=https://x/cb?token=[REDACTED]&y=2"),
        ("password = 'a b' host=x", "password = [REDACTED] host=x"),
        ("Pwd={a;b};Server=s", "Pwd=[REDACTED];Server=s"),
        ("mailto:bob@example.com", "mailto:bob@example.com"),
        ("SELECT 1 WHERE a=1", "SELECT 1 WHERE a=1"),
    ],
)
def test_scrub_hides_credentials_and_keeps_the_rest(text, expected):
    assert RedactionPolicy().scrub(text) == expected


def test_parameter_names_follow_the_policy_patterns():
    assert RedactionPolicy(["*card*"]).scrub("?card_no=4111&key=k") == "?card_no=[REDACTED]&key=[REDACTED]"
    assert RedactionPolicy([]).scrub("?card_no=4111") == "?card_no=4111"


def test_plans_are_cached_and_none_when_nothing_to_do():
    policy = RedactionPolicy()
    assert policy.plan(("user.id", "http.method")) is None
    plan = policy.plan(("url.full", "db.password", "user.id"))
    assert plan is policy.plan(("url.full", "db.password", "user.id"))
    assert (plan.hidden, plan.scanned) == (("db.password",), ("url.full",))
    plain = {"url.full": "https://h/x", "db.password": "p", "user.id": "u"}
    assert plan.apply(plain) == {**plain, "db.password": REDACTED}
    scanned_only = policy.plan(("url.full",))
    untouched = {"url.full": "https://h/x"}
    assert scanned_only.apply(untouched) is untouched


def test_span_names_keep_their_identity_when_clean():
    policy = RedactionPolicy()
    name = "".join(["GET /x?", "page=1"])  # not interned
    assert policy.redact_name(name) is name
    again = "".join(["GET /x?", "page=1"])
    assert policy.redact_name(again) is again
    assert policy.redact_name("GET /x?code=c") == "GET /x?code=[REDACTED]"
    assert RedactionPolicy(values=False).redact_name("GET /x?code=c") == "GET /x?code=c"


def test_redact_record_covers_the_resource_and_keeps_clean_records(record_factory):
    policy = RedactionPolicy()
    clean = record_factory(attributes={"user.id": "u"}, resource={"service.name": "s"})
    assert policy.redact_record(clean) is clean
    dirty = record_factory(name="GET /?sig=s1", resource={"cloud.api_key": "k", "db.dsn": "pg://u:p@h/d"})
    out = policy.redact_record(dirty)
    assert out.name == "GET /?sig=[REDACTED]"
    assert dict(out.resource) == {"cloud.api_key": REDACTED, "db.dsn": "pg://[REDACTED]@h/d"}
    # One redacted resource object for every record sharing the resource.
    twin = record_factory(resource=dirty.resource)
    assert policy.redact_record(twin).resource is out.resource
    assert dirty.resource["cloud.api_key"] == "k"


def test_apply_copies_only_when_a_key_matches():
    policy = RedactionPolicy(["*card*"])
    plain = {"a": 1}
    assert policy.apply(plain) is plain
    assert policy.apply({"a": 1, "card.number": "4111"}) == {"a": 1, "card.number": REDACTED}


def test_configuration_lines_extend_replace_or_turn_off():
    assert policy_from_lines([]).patterns == DEFAULT_REDACT_PATTERNS
    assert policy_from_lines(["default", "*card*"]).patterns == DEFAULT_REDACT_PATTERNS + ("*card*",)
    assert policy_from_lines(["*card*"]).patterns == ("*card*",)
    assert policy_from_lines(["none"]).patterns == ()
    assert policy_from_lines(["none"]).values is True
    assert policy_from_lines(["none"], values=False) is None
    assert policy_from_lines([], values=False).values is False
    with pytest.raises(ValueError, match="'none' must stand alone"):
        policy_from_lines(["none", "*card*"])
    with pytest.raises(ValueError, match="expected a list of globs"):
        RedactionPolicy("*card*")
    with pytest.raises(ValueError, match="invalid redaction values 'no'"):
        RedactionPolicy(values="no")


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


@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000 + "@",  # letters that never become a scheme
        " " * 200_000 + "=x",  # white space that never becomes a name
        "https://" + "u" * 200_000 + "@h?" + "&x=1" * 20_000,
    ],
    ids=["letters", "spaces", "long-url"],
)
def test_scrub_is_linear_on_hostile_values(text):
    # Quadratic matching would not finish here in any reasonable time.
    out = RedactionPolicy().scrub(text)
    assert REDACTED not in out or out.startswith("https://[REDACTED]@h?")
