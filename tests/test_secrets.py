"""Realistic secrets planted in spans never reach a file; ordinary values stay readable.

The tables mirror README's "Redaction" section.  Each secret goes through a
real SDK ``TracerProvider`` and ``FileBasedSpanProcessor`` in both formats;
the pytest runs at the end also cover the failed-dir file, the report section
and pytest-xdist.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple, Optional

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link

from pytest_tracestore import FileBasedSpanProcessor, RedactionPolicy, TraceStore
from pytest_tracestore.redact import REDACTED


class Case(NamedTuple):
    id: str
    where: str  # "span", "event", "link", "resource" (an attribute there) or "name"
    key: str  # the attribute key; for "name", unused
    value: Any
    secret: str  # what must not reach any file
    keep: Optional[str] = None  # what must stay readable next to it


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXBhcnQ"
PEM = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-----END PRIVATE KEY-----"

SECRETS = [
    # Keys matching the patterns: the value is hidden whole.
    Case("authorization-header", "span", "http.request.header.authorization", ("Bearer " + JWT,), JWT),
    Case("cookie-header", "span", "http.request.header.cookie", ("sid=Ck-8f3a91c2",), "Ck-8f3a91c2"),
    Case("set-cookie-header", "span", "http.response.header.set-cookie", ("sid=Sc-77aa01; HttpOnly",), "Sc-77aa01"),
    Case("db-password", "span", "db.password", "Pg-hunter2-pw", "hunter2"),
    Case("client-secret", "span", "oauth.client_secret", "cs-9f8e7d6c5b", "cs-9f8e7d6c5b"),
    Case("access-token", "span", "auth.access_token", "at-1a2b3c4d5e", "at-1a2b3c4d5e"),
    Case("refresh-token", "span", "oauth.refresh_token", "rt-0f9e8d7c6b", "rt-0f9e8d7c6b"),
    Case("x-api-key-header", "span", "http.request.header.x-api-key", ("xk-5566778899",), "xk-5566778899"),
    Case("api-key", "span", "service.api_key", "sk-live-4242424242", "sk-live-4242424242"),
    Case("apikey", "span", "openai.apikey", "sk-proj-ABCDEF123456", "sk-proj-ABCDEF123456"),
    Case("csrf-token-header", "span", "http.request.header.x-csrf-token", ("csrf-31415926",), "csrf-31415926"),
    Case("private-key", "span", "private_key", PEM, "MIIEvQIBADANBgkqhkiG9w0"),
    Case("tls-private-key", "span", "tls.private-key", PEM, "MIIEvQIBADANBgkqhkiG9w0"),
    Case("credentials", "span", "credentials", '{"user":"svc","pass":"Cr3d-0001"}', "Cr3d-0001"),
    Case("gcp-credential", "span", "gcp.credential_json", '{"private_key_id":"pk-778899"}', "pk-778899"),
    Case("passphrase", "span", "ssh.passphrase", "correct horse battery", "correct horse battery"),
    Case("event-password", "event", "db.password", "Ev-pass-2718", "Ev-pass-2718"),
    Case("link-api-key", "link", "api_key", "Lk-key-1618", "Lk-key-1618"),
    Case("resource-api-key", "resource", "cloud.api_key", "Rs-cloud-key-9", "Rs-cloud-key-9"),
    Case("resource-secret", "resource", "deployment.secret", "Rs-deploy-77", "Rs-deploy-77"),
    Case("resource-token", "resource", "service.auth_token", "Rs-tok-55", "Rs-tok-55"),
    # Values scanned: the secret inside is hidden, the rest stays readable.
    Case("resource-dsn", "resource", "db.connection_string", "postgresql://app:Rs-Pg-S3cret@db/app", "Rs-Pg-S3cret", "@db/app"),
    Case("url-user-password", "span", "url.full", "https://user:Hunter2Pass@api.example.com/v1", "Hunter2Pass", "api.example.com/v1"),
    Case("url-token-as-user", "span", "http.url", "https://ghp_T0k3nAsUser99@github.com/org/repo.git", "ghp_T0k3nAsUser99", "github.com/org/repo.git"),
    Case("url-access-token", "span", "url.full", "https://api.example.com/me?access_token=At-Query-1&fields=name", "At-Query-1", "fields=name"),
    Case("url-api-key-param", "span", "http.url", "https://api.example.com/v2/items?api_key=Ak-Query-2&page=3", "Ak-Query-2", "page=3"),
    Case("url-query-token", "span", "url.query", "page=2&token=Tq-Query-3&sort=asc", "Tq-Query-3", "sort=asc"),
    Case("http-target-code", "span", "http.target", "/oauth/callback?code=Oc-4f5e6d&state=xyz", "Oc-4f5e6d", "state=xyz"),
    Case("s3-presigned-signature", "span", "url.full", "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=a1b2c3d4e5f6", "a1b2c3d4e5f6", "X-Amz-Algorithm=AWS4-HMAC-SHA256"),
    Case("s3-security-token", "span", "url.full", "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FQoGZXIvYXdzEJr&X-Amz-Expires=300", "FQoGZXIvYXdzEJr", "X-Amz-Expires=300"),
    Case("gcs-signature", "span", "url.full", "https://storage.googleapis.com/b/o?X-Goog-Signature=9f8e7d6c5b4a&X-Goog-Expires=900", "9f8e7d6c5b4a", "X-Goog-Expires=900"),
    Case("azure-sas-sig", "span", "url.full", "https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=Az%2BSas%3D", "Az%2BSas%3D", "sv=2021-08-06"),
    Case("google-key-param", "span", "url.full", "https://maps.googleapis.com/maps/api/geocode/json?key=AIzaSyD-Gk-123&address=Paris", "AIzaSyD-Gk-123", "address=Paris"),
    Case("signature-param", "span", "http.url", "https://cdn.example.com/f.mp4?expires=1700000000&signature=Sg-112233", "Sg-112233", "expires=1700000000"),
    Case("client-secret-param", "span", "url.full", "https://idp.example.com/token?client_id=app&client_secret=Cs-Param-4", "Cs-Param-4", "client_id=app"),
    Case("fragment-access-token", "span", "url.full", "https://app.example.com/cb#access_token=Fr-At-5&token_type=bearer", "Fr-At-5", "token_type=bearer"),
    Case("jsessionid-path", "span", "url.path", "/shop/cart;jsessionid=Js-ABCDEF12", "Js-ABCDEF12", "/shop/cart"),
    Case("referer-header-code", "span", "http.request.header.referer", ("https://app.example.com/cb?code=Rf-Code-6",), "Rf-Code-6", "app.example.com/cb"),
    Case("location-header-code", "span", "http.response.header.location", ("https://app.example.com/cb?code=Lc-Code-7&state=s",), "Lc-Code-7", "state=s"),
    Case("postgres-dsn", "span", "db.connection_string", "postgresql://u:Pg-Dsn-Pass@db.internal:5432/shop", "Pg-Dsn-Pass", "db.internal:5432/shop"),
    Case("sqlserver-dsn", "span", "db.connection_string", "Server=tcp:db,1433;User Id=sa;Password=Mss-Pass!9;Encrypt=True", "Mss-Pass!9", "Encrypt=True"),
    Case("odbc-dsn", "span", "db.connection_string", "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd={Odbc;Pass8};", "Odbc;Pass8", "Server=db"),
    Case("mongodb-srv", "span", "db.connection_string", "mongodb+srv://admin:Mongo-Pass-3@cluster0.mongodb.net/?retryWrites=true", "Mongo-Pass-3", "retryWrites=true"),
    Case("libpq-keywords", "span", "db.connection_string", "host=db user=app password=LibPq-Pass-4 dbname=app", "LibPq-Pass-4", "dbname=app"),
    Case("jdbc-password-param", "span", "db.connection_string", "jdbc:postgresql://db/app?user=app&password=Jdbc-Pass-5", "Jdbc-Pass-5", "user=app"),
    Case("redis-url", "span", "db.url", "redis://:Redis-Pass-6@cache:6379/0", "Redis-Pass-6", "cache:6379/0"),
    Case("amqp-url", "span", "messaging.url", "amqps://guest:Amqp-Pass-7@mq.internal/vhost", "Amqp-Pass-7", "mq.internal/vhost"),
    Case("name-url-password", "name", "", "GET https://user:Name-Pass-8@api.example.com/v1", "Name-Pass-8", "api.example.com/v1"),
    Case("name-query-code", "name", "", "GET /oauth/callback?code=Name-Code-9&state=s", "Name-Code-9", "state=s"),
]

# Values that must reach the file exactly as they were.
PLAIN = [
    Case("gen-ai-input-tokens", "span", "gen_ai.usage.input_tokens", 812, ""),
    Case("gen-ai-output-tokens", "span", "gen_ai.usage.output_tokens", 64, ""),
    Case("content-length-header", "span", "http.request.header.content-length", ("1234",), ""),
    Case("user-agent-header", "span", "http.request.header.user-agent", ("curl/8.5.0",), ""),
    Case("plain-url", "span", "url.full", "https://api.example.com/search?q=shoes&page=2", ""),
    Case("url-with-at-in-path", "span", "url.full", "https://social.example/@bob/posts?max_id=99", ""),
    Case("query-near-miss-names", "span", "url.query", "country_code=DE&keyboard=us&zip_code=75001", ""),
    Case("http-target-plain", "span", "http.target", "/search?q=a%3Db&sort=asc", ""),
    Case("dsn-without-password", "span", "db.connection_string", "Server=db;Database=shop;Integrated Security=true", ""),
    Case("route-template", "span", "http.route", "/items/{id}", ""),
    Case("code-function", "span", "code.function", "login", ""),
    Case("session-id", "span", "session.id", "0b1c2d3e", ""),
    Case("email-in-plain-key", "span", "user.email", "bob@example.com", ""),
    Case("working-directory", "span", "process.working_directory", "/home/ci/work", ""),
    Case("status-code", "span", "http.response.status_code", 200, ""),
    Case("tokenizer-name", "span", "gen_ai.tokenizer.name", "cl100k_base", ""),
    Case("sql-statement", "span", "db.statement", "SELECT * FROM t WHERE a=1", ""),
    Case("exception-message", "event", "exception.message", "login failed for user bob", ""),
    Case("resource-service-name", "resource", "service.name", "shop", ""),
    Case("resource-endpoint-plain", "resource", "otel.exporter.endpoint", "http://collector:4318", ""),
    Case("name-route", "name", "", "GET /items/{id}", ""),
    Case("name-sql-equals", "name", "", "SELECT shop.orders WHERE id=7", ""),
]

FORMATS = ["jsonl", "otlp"]


def plant(processor: FileBasedSpanProcessor, case: Case) -> None:
    """Record one span carrying ``case``, the way an instrumented app would."""
    resource = Resource({"service.name": "svc", **({case.key: case.value} if case.where == "resource" else {})})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("secrets", "1.0")
    with tracer.start_as_current_span("parent") as parent:
        pass
    attrs = {"app.step": "checkout"}
    links = []
    if case.where == "span":
        attrs[case.key] = case.value
    elif case.where == "link":
        links.append(Link(parent.get_span_context(), {case.key: case.value}))
    name = case.value if case.where == "name" else "work"
    with tracer.start_as_current_span(name, attributes=attrs, links=links) as span:
        if case.where == "event":
            span.add_event("retry", {case.key: case.value, "attempt": 2})
    processor.drain()


def stored_value(store: TraceStore, case: Case) -> Any:
    record = store.span(attributes={"app.step": "checkout"})
    if case.where == "name":
        return record.name
    if case.where == "span":
        return record.attributes[case.key]
    if case.where == "event":
        return record.events[0].attributes[case.key]
    if case.where == "link":
        return record.links[0].attributes[case.key]
    return record.resource[case.key]


def written_value(path, case: Case) -> Any:
    """The value as the file holds it, read back with the public loader (either format)."""
    return stored_value(TraceStore.load(path), case)


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("case", SECRETS, ids=[c.id for c in SECRETS])
def test_a_secret_reaches_no_file_but_stays_in_the_store(tmp_path, case, file_format):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, format=file_format)
    plant(processor, case)
    text = path.read_text(encoding="utf-8")
    assert case.secret not in text
    assert case.secret not in json.dumps(json.loads(text.splitlines()[-1]))  # nor escaped
    assert REDACTED in text
    assert stored_value(processor.store, case) == case.value
    if case.keep is not None:
        shown = written_value(path, case)
        shown = shown[0] if isinstance(shown, tuple) else shown
        assert case.keep in shown and REDACTED in shown


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("case", PLAIN, ids=[c.id for c in PLAIN])
def test_an_ordinary_value_stays_readable(tmp_path, case, file_format):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, format=file_format)
    plant(processor, case)
    assert REDACTED not in path.read_text(encoding="utf-8")
    assert written_value(path, case) == case.value == stored_value(processor.store, case)


@pytest.mark.parametrize("file_format", FORMATS)
def test_value_scanning_can_be_turned_off(tmp_path, file_format):
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, format=file_format, redaction=RedactionPolicy(values=False))
    by_id = {c.id: c for c in SECRETS}
    for case_id in ("url-user-password", "postgres-dsn", "name-query-code", "api-key"):
        plant(processor, by_id[case_id])
    text = path.read_text(encoding="utf-8")
    assert "Hunter2Pass" in text and "Pg-Dsn-Pass" in text and "Name-Code-9" in text
    assert "sk-live-4242424242" not in text  # key patterns still apply


@pytest.mark.parametrize("file_format", FORMATS)
def test_records_from_elsewhere_are_redacted_too(tmp_path, file_format, record_factory):
    # What the OTLP receiver hands the processor: a record, not an SDK span.
    path = tmp_path / "spans.jsonl"
    processor = FileBasedSpanProcessor(path, format=file_format)
    record = record_factory(
        name="GET /cb?code=Rc-Code-1",
        attributes={"url.full": "https://u:Rc-Pass-2@h/x", "user.id": "bob"},
        resource={"cloud.api_key": "Rc-Key-3", "service.name": "svc"},
    )
    processor.add_record(record)
    processor.add_record(record_factory(resource=record.resource))
    text = path.read_text(encoding="utf-8")
    assert not [s for s in ("Rc-Code-1", "Rc-Pass-2", "Rc-Key-3") if s in text]
    first, second = TraceStore.load(path)
    assert first.name == "GET /cb?code=[REDACTED]"
    assert first.attributes == {"url.full": "https://[REDACTED]@h/x", "user.id": "bob"}
    assert dict(first.resource) == dict(second.resource) == {"cloud.api_key": REDACTED, "service.name": "svc"}
    assert processor.store.span(name="GET /cb?code=Rc-Code-1").resource["cloud.api_key"] == "Rc-Key-3"


# -- through pytest: the artifact, the failed-dir file, the report section --

INNER_TEST = """
import json
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link

CASES = json.loads(Path(__file__).with_name("cases.json").read_text())


@pytest.fixture(scope="session")
def provider(trace_store_processor):
    resource = {"service.name": "svc"}
    resource.update({c["key"]: c["value"] for c in CASES if c["where"] == "resource"})
    provider = TracerProvider(resource=Resource(resource))
    provider.add_span_processor(trace_store_processor)
    return provider


def test_planted(provider, trace_store):
    tracer = provider.get_tracer("secrets")
    with tracer.start_as_current_span("parent") as parent:
        pass
    for case in CASES:
        value = tuple(case["value"]) if isinstance(case["value"], list) else case["value"]
        attrs = {"case": case["id"]}
        links = []
        if case["where"] == "span":
            attrs[case["key"]] = value
        elif case["where"] == "link":
            links.append(Link(parent.get_span_context(), {case["key"]: value}))
        name = value if case["where"] == "name" else case["id"]
        with tracer.start_as_current_span(name, attributes=attrs, links=links) as span:
            if case["where"] == "event":
                span.add_event("retry", {case["key"]: value})
    # The store keeps every real value.
    for case in CASES:
        value = tuple(case["value"]) if isinstance(case["value"], list) else case["value"]
        record = trace_store.span(attributes={"case": case["id"]})
        held = {
            "span": lambda: record.attributes[case["key"]],
            "event": lambda: record.events[0].attributes[case["key"]],
            "link": lambda: record.links[0].attributes[case["key"]],
            "resource": lambda: record.resource[case["key"]],
            "name": lambda: record.name,
        }[case["where"]]()
        assert held == value, case["id"]
    raise AssertionError("planted failure, after the store checks")
"""


@pytest.mark.parametrize(
    "args",
    [["--trace-store-format", "jsonl"], ["--trace-store-format", "otlp"], ["-n", "2"]],
    ids=["jsonl", "otlp", "jsonl-n2"],
)
def test_no_file_of_a_run_holds_a_secret(pytester, args):
    pytester.path.joinpath("cases.json").write_text(json.dumps([c._asdict() for c in SECRETS]))
    pytester.makepyfile(test_planted=INNER_TEST)
    pytester.makeini("[pytest]\ntrace_store_report = failed\n")
    result = pytester.runpytest_subprocess(
        "--trace-store-path", "run.jsonl", "--trace-store-failed-dir", "failed", *args
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*planted failure, after the store checks*"])
    (failed_file,) = (pytester.path / "failed").iterdir()
    files = {
        "artifact": (pytester.path / "run.jsonl").read_text(encoding="utf-8"),
        "failed-dir": failed_file.read_text(encoding="utf-8"),
        "report": result.stdout.str(),
    }
    assert len(files["artifact"].splitlines()) == len(SECRETS) + 1
    leaks = [(c.id, where) for c in SECRETS for where, text in files.items() if c.secret in text]
    assert leaks == []
    assert all(REDACTED in text for text in files.values())


def test_value_scanning_setting(pytester):
    pytester.makepyfile(
        test_url="""
        from opentelemetry.sdk.trace import TracerProvider

        def test_x(trace_store_processor):
            provider = TracerProvider()
            provider.add_span_processor(trace_store_processor)
            with provider.get_tracer("t").start_as_current_span(
                "GET /cb?code=abc", attributes={"url.full": "https://u:pw1@h/x", "api_key": "k1"}
            ):
                pass
        """
    )
    pytester.makeini("[pytest]\ntrace_store_redact_values = false\n")
    pytester.runpytest_subprocess("--trace-store-path", "run.jsonl").assert_outcomes(passed=1)
    (line,) = [json.loads(x) for x in (pytester.path / "run.jsonl").read_text().splitlines()]
    assert line["name"] == "GET /cb?code=abc"
    assert line["attributes"] == {"url.full": "https://u:pw1@h/x", "api_key": REDACTED}


def test_a_bad_value_scanning_setting_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    pytester.makeini("[pytest]\ntrace_store_redact_values = maybe\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*trace_store_redact_values (ini): expected true or false, got 'maybe'*"])
    assert "Traceback" not in result.stderr.str()
