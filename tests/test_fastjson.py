"""With orjson (the ``fast`` extra) a file gives the same records and warnings as without it."""

from __future__ import annotations

import json
import random
import warnings

import pytest
from conftest import make_record
from test_load import VARIANTS, _rich

from pytest_tracestore import TraceStore
from pytest_tracestore import fastjson as fastjson_module
from pytest_tracestore.otlp import record_to_otlp_line
from pytest_tracestore.serialize import dumps_line, record_line, record_to_dict

pytest.importorskip("orjson")

# What orjson reads otherwise than json, or not at all: each must go to json.
AWKWARD = {
    "attribute past 64 bits": {"big": 2**70},
    "negative past 64 bits": {"big": -(2**63) - 1},
    "unsigned 64 bits": {"big": 2**64 - 1},
    "lone surrogate": {"s": "\ud800"},
    "huge float": {"f": 1e308},
    "astral": {"s": "𝄞 é"},
    "nested": {"m": [[1, [2]], {"k": None}]},
    "digits in a string": {"s": "12345678901234567890123"},
}


def _our_lines(rng):
    lines = [v[1] for v in VARIANTS]
    for attributes in AWKWARD.values():
        lines.append(record_line(_rich(attributes=attributes)))
    data = record_to_dict(_rich())
    lines.append(dumps_line(dict(data, start_time_unix_nano=10**30, end_time_unix_nano=10**30)) + "\n")
    lines.append(record_line(_rich()).replace("}", "} ", 1))
    lines.append(json.dumps(data).replace("1", "1E400", 1) + "\n")
    lines += ["{oops\n", "[]\n", "\n", '{"resource":{},"scope":null}\n', "\x00\n", '{"a":1,"resource":{}}\n']
    rng.shuffle(lines)
    return lines


def _otlp_lines(rng):
    lines = [record_to_otlp_line(_rich(attributes=a)) + "\n" for a in AWKWARD.values()]
    lines += [record_to_otlp_line(make_record()) + "\n" for _ in range(3)]
    good = json.loads(lines[-1])
    span = good["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for broken in [dict(span, startTimeUnixNano="x"), dict(span, events=[None]), dict(span, traceId=7)]:
        good["resourceSpans"][0]["scopeSpans"][0]["spans"] = [span, broken]
        lines.append(json.dumps(good, separators=(",", ":")) + "\n")
    lines.append(lines[0].replace('"intValue"', '"intValue" ', 1))
    lines += ["{torn\n", '{"resourceSpans":[{"scopeSpans":[{"spans":[99999999999999999999999]}]}]}\n']
    rng.shuffle(lines)
    return lines


def _load(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = TraceStore.load(path)
    return [(r, r.scope, r.trace_state, r.resource) for r in store], [str(w.message) for w in caught]


@pytest.mark.parametrize("form", ["jsonl", "otlp"])
@pytest.mark.parametrize("seed", range(4))
def test_records_and_warnings_are_the_same_with_and_without_orjson(tmp_path, monkeypatch, form, seed):
    rng = random.Random(seed)
    lines = (_our_lines if form == "jsonl" else _otlp_lines)(rng)
    path = tmp_path / "spans.jsonl"
    path.write_bytes("".join(lines).encode("utf-8", "surrogatepass"))
    with_orjson = _load(path)
    monkeypatch.setattr(fastjson_module, "orjson_loads", None)
    without = _load(path)
    assert with_orjson == without
    assert len(with_orjson[0]) >= 5 and with_orjson[1]  # spans kept, and corrupt lines named


def test_exact_loads_reads_long_integers_and_surrogates_as_json_does():
    for text in ["[12345678901234567890]", "[-1234567890123456789]", b'{"a": 123456789012345678901}',
                 '["\\ud800", "\ud800"]', b'{"t":1764201600000000000,"id":"00000000000000000000000000000001"}']:
        expected = json.loads(text)
        assert fastjson_module.exact_loads(text) == expected
        assert [type(v) for v in (expected.values() if isinstance(expected, dict) else expected)] == [
            type(v) for v in (fastjson_module.exact_loads(text).values() if isinstance(expected, dict)
                              else fastjson_module.exact_loads(text))]
    for bad in ['{"a":1} x', "", "[1E400]", b'["\xed\xa0\x80"]']:
        with pytest.raises(ValueError):
            fastjson_module.exact_loads(bad)


@pytest.mark.parametrize("form", ["jsonl", "otlp"])
def test_orjson_parses_the_lines_our_writer_makes(tmp_path, monkeypatch, form):
    records = [_rich(trace_id=0x5B8AA5A2D2C872E8321CF37308D69DF2, span_id=0x51F2AB3C4D5E6F70 + n) for n in range(5)]
    encode = record_to_otlp_line if form == "otlp" else (lambda r: record_line(r).rstrip("\n"))
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(encode(r) + "\n" for r in records), encoding="utf-8")
    parsed = []
    real = fastjson_module.exact_loads
    monkeypatch.setattr(fastjson_module, "exact_loads", lambda text: parsed.append(real(text)) or parsed[-1])
    assert list(TraceStore.load(path)) == records
    assert len(parsed) == 5
