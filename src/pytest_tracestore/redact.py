"""Redaction of secrets in what the plugin writes to files.

CI artifacts are often public, and instrumentation records request headers,
URLs and connection strings as attributes.  A :class:`RedactionPolicy`
decides, per attribute *key set*, which values to replace with
``"[REDACTED]"`` whole (keys matching its patterns) and which to scan for
credentials inside them (URLs and connection strings: the password in
``user:pass@``, the value of ``?access_token=``).  The in-memory store keeps
the real values, so a test can still assert on them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Optional, Pattern, Tuple

if TYPE_CHECKING:
    from .record import FrozenAttributes, SpanRecord

__all__ = [
    "DEFAULT_REDACT_PATTERNS",
    "REDACTED",
    "SENSITIVE_PARAMETERS",
    "VALUE_PATTERNS",
    "RedactionPlan",
    "RedactionPolicy",
]

#: What a redacted value is replaced with.
REDACTED = "[REDACTED]"

#: Glob patterns (case-insensitive, over the whole attribute key) whose values are hidden whole.
DEFAULT_REDACT_PATTERNS: Tuple[str, ...] = (
    "*authorization*",
    "*cookie*",
    "*password*",
    "*passwd*",
    "*passphrase*",
    "*secret*",
    # "*token" and "*token.*", not "*token*": LLM instrumentation counts
    # "gen_ai.usage.input_tokens", which is no secret.
    "*token",
    "*token.*",
    "*api?key*",
    "*apikey*",
    "*private?key*",
    "*privatekey*",
    "*credential*",
)

#: Glob patterns over attribute keys whose string values are scanned for
#: credentials inside URLs and connection strings.  A key matching one by
#: accident costs a scan, never a readable value: only ``user:pass@`` and
#: sensitive ``name=value`` pairs are ever replaced.
VALUE_PATTERNS: Tuple[str, ...] = (
    "*url*",
    "*uri",
    "*.uri.*",
    "http.target",
    "*.href",
    "*.referer",
    "*.referrer",
    "*.location",
    "*.endpoint",
    "*connection?string*",
    "*connectionstring*",
    "*dsn*",
)

#: Query-string and connection-string parameter names (lower case) whose
#: values are hidden, besides names matching the policy's key patterns.
SENSITIVE_PARAMETERS: FrozenSet[str] = frozenset(
    {
        "access_token",
        "code",
        "sig",
        "signature",
        "x-amz-signature",
        "x-goog-signature",
        "key",
        "pwd",
        "jsessionid",
        "phpsessid",
    }
)

# Past this many distinct key sets (or names) a cache stops growing; a miss
# only costs the work the cache saves.
_CACHE_LIMIT = 4096

# ``scheme://userinfo@``: the userinfo is replaced whole, since a token is
# often the user name (``https://ghp_...@github.com``).  Greedy up to the
# last ``@`` before the path, so a password with a raw ``@`` goes too.  The
# lookbehind starts a scheme only where a word starts, which keeps a long run
# of letters from being retried at every position (quadratic time).
_USERINFO = r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#]+@"
# ``name=`` after a separator of a query string (``?``, ``&``, ``#``, ``;``)
# or of a key=value connection string (``;`` or white space).  No ``\s*``
# after the separator: in a run of white space the last one is the separator,
# and each match attempt stays short.
_PARAMETER = r"(?:^|[?&;#\s])([^\s=&;?#/]+)\s*=\s*"
# A parameter's value: braced or quoted (connection strings), else up to the
# next separator.  All three are compiled on first use, like the key
# patterns: most runs never scan a value.
_VALUE = r"\{[^}]*\}|\"[^\"]*\"|'[^']*'|[^&;#\s]*"


class RedactionPlan:
    """What to do to the values of one attribute key set.

    ``hidden`` keys have their value replaced whole; ``scanned`` keys have
    credentials inside their string values replaced.  Made by
    :meth:`RedactionPolicy.plan`, which gives ``None`` when there is nothing
    to do, so a plan always changes something or scans something.
    """

    __slots__ = ("hidden", "scanned", "_fill", "_policy")

    def __init__(
        self, policy: RedactionPolicy, hidden: Tuple[str, ...], scanned: Tuple[str, ...]
    ) -> None:
        self.hidden = hidden
        self.scanned = scanned
        self._fill = dict.fromkeys(hidden, REDACTED)
        self._policy = policy

    def apply(self, attributes: Dict[str, Any]) -> Dict[str, Any]:
        """``attributes`` (of this plan's key set) redacted: a copy, or the same
        dict when scanning found nothing and no key is hidden."""
        out: Optional[Dict[str, Any]] = None
        if self._fill:
            out = dict(attributes)
            out.update(self._fill)
        scrub = self._policy.scrub_value
        for key in self.scanned:
            value = attributes[key]
            clean = scrub(value)
            if clean is not value:
                if out is None:
                    out = dict(attributes)
                out[key] = clean
        return attributes if out is None else out

    def __repr__(self) -> str:
        return f"RedactionPlan(hidden={self.hidden!r}, scanned={self.scanned!r})"


def _compile(patterns: Iterable[str]) -> Optional[Pattern[str]]:
    globs = [fnmatch.translate(p.lower()) for p in patterns]
    # fnmatch.translate escapes what it does not translate: this compiles.
    return re.compile("|".join(globs)) if globs else None


def _check_patterns(patterns: Iterable[str]) -> Tuple[str, ...]:
    if isinstance(patterns, str):
        raise ValueError(f"invalid redaction patterns {patterns!r}: expected a list of globs")
    cleaned = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(f"invalid redaction pattern {pattern!r}: expected a glob string")
        cleaned.append(pattern.strip())
    return tuple(cleaned)


class RedactionPolicy:
    """Which secrets to hide in files.

    ``patterns`` are ``fnmatch`` globs matched case-insensitively against the
    whole attribute key (``*token`` matches ``auth.access_token``): such
    values are hidden whole, in span, event, link and resource attributes.
    With ``values`` (the default), credentials inside URLs and connection
    strings are hidden too: in the values of keys matching
    :data:`VALUE_PATTERNS` (``url.full``, ``http.url``,
    ``db.connection_string``, ...) and in span names, the userinfo of
    ``scheme://user:pass@host`` and the values of parameters named in
    :data:`SENSITIVE_PARAMETERS` or matching ``patterns``, keeping the rest
    readable.

    Decisions are cached per key tuple: spans from one call site share their
    key tuple, so a span with no secret key and no URL-like key costs one
    dictionary lookup, and nothing is copied.
    """

    __slots__ = (
        "patterns",
        "values",
        "_compiled",
        "_value_keys",
        "_cache",
        "_plans",
        "_names",
        "_parameters",
        "_resources",
        "_scrubbers",
    )

    def __init__(
        self, patterns: Iterable[str] = DEFAULT_REDACT_PATTERNS, *, values: bool = True
    ) -> None:
        if not isinstance(values, bool):
            raise ValueError(f"invalid redaction values {values!r}: expected True or False")
        self.patterns: Tuple[str, ...] = _check_patterns(patterns)
        self.values = values
        # Compiled on first use: every test process builds the default policy
        # at start-up, and one that records nothing never matches a key.
        self._compiled: Optional[Pattern[str]] = None
        self._value_keys: Optional[Pattern[str]] = None
        self._cache: Dict[Tuple[str, ...], Tuple[str, ...]] = {}
        self._plans: Dict[Tuple[str, ...], Optional[RedactionPlan]] = {}
        self._names: Dict[str, str] = {}
        self._parameters: Dict[str, bool] = {}
        # id(resource) -> (resource, redacted): resources are interned, and
        # the OTLP encoder caches its text per resource object.
        self._resources: Dict[int, Tuple[Any, Any]] = {}
        self._scrubbers: Optional[Tuple[Pattern[str], Pattern[str], Pattern[str]]] = None

    # -- decisions over keys ---------------------------------------------

    def matches(self, key: str) -> bool:
        """Whether values of attribute ``key`` are hidden whole."""
        if not self.patterns:
            return False
        regex = self._compiled
        if regex is None:
            regex = self._compiled = _compile(self.patterns)
        return regex.match(key.lower()) is not None  # type: ignore[union-attr]

    def scans(self, key: str) -> bool:
        """Whether values of attribute ``key`` are scanned for credentials inside them."""
        if not self.values:
            return False
        regex = self._value_keys
        if regex is None:
            regex = self._value_keys = _compile(VALUE_PATTERNS)
        return regex.match(key.lower()) is not None  # type: ignore[union-attr]

    def hidden_keys(self, keys: Tuple[str, ...]) -> Tuple[str, ...]:
        """The keys of ``keys`` whose values are hidden whole (cached per key tuple)."""
        hidden = self._cache.get(keys)
        if hidden is None:
            hidden = tuple(k for k in keys if self.matches(k))
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[keys] = hidden
        return hidden

    def plan(self, keys: Tuple[str, ...]) -> Optional[RedactionPlan]:
        """What to do to values of the key set ``keys``; ``None`` for nothing (cached)."""
        try:
            return self._plans[keys]
        except KeyError:
            pass
        except TypeError:  # a list of keys, say: cached by its tuple
            keys = tuple(keys)
            return self.plan(keys)
        hidden = self.hidden_keys(keys)
        scanned = tuple(k for k in keys if k not in hidden and self.scans(k))
        plan = RedactionPlan(self, hidden, scanned) if hidden or scanned else None
        if len(self._plans) < _CACHE_LIMIT:
            self._plans[keys] = plan
        return plan

    def _sensitive_parameter(self, name: str) -> bool:
        found = self._parameters.get(name)
        if found is None:
            lower = name.lower()
            found = lower in SENSITIVE_PARAMETERS or self.matches(lower)
            if len(self._parameters) < _CACHE_LIMIT:
                self._parameters[name] = found
        return found

    # -- values ----------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with URL userinfo and sensitive parameter values replaced;
        ``text`` itself when there are none.  Ignores :attr:`values`."""
        if "@" not in text and "=" not in text:
            return text
        regexes = self._scrubbers
        if regexes is None:
            regexes = self._scrubbers = (
                re.compile(_USERINFO),
                re.compile(_PARAMETER),
                re.compile(_VALUE),
            )
        out = regexes[0].sub(r"\1" + REDACTED + "@", text) if "@" in text else text
        if "=" in out:
            out = self._scrub_parameters(out, regexes[1], regexes[2])
        return text if out == text else out

    def _scrub_parameters(self, text: str, parameter: Pattern[str], value: Pattern[str]) -> str:
        parts = []
        done = pos = 0
        while True:
            found = parameter.search(text, pos)
            if found is None:
                break
            start = found.end()
            pos = start
            if not self._sensitive_parameter(found.group(1)):
                # Not taken as a value: a URL inside it has parameters too.
                continue
            end = value.match(text, start).end()  # type: ignore[union-attr]
            if end > start:
                parts.append(text[done:start])
                parts.append(REDACTED)
                done = pos = end
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def scrub_value(self, value: Any) -> Any:
        """:meth:`scrub` over a string or each string of a sequence; ``value``
        itself when nothing changes."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, (tuple, list)):
            clean = tuple(self.scrub(v) if isinstance(v, str) else v for v in value)
            if any(a is not b for a, b in zip(clean, value)):
                return clean
        return value

    def redact_value(self, key: str, value: Any) -> Any:
        """What the files show for attribute ``key`` holding ``value``."""
        if self.matches(key):
            return REDACTED
        if self.scans(key):
            return self.scrub_value(value)
        return value

    def redact_name(self, name: str) -> str:
        """A span name as the files show it: URL credentials and sensitive
        parameters hidden when :attr:`values` is on (cached per name)."""
        if not self.values or ("@" not in name and "=" not in name):
            return name
        clean = self._names.get(name)
        if clean is None:
            clean = self.scrub(name)
            if len(self._names) < _CACHE_LIMIT:
                # "" for a name left as it is: the caller's own string is
                # then returned, so it can tell nothing changed by identity.
                self._names[name] = "" if clean is name else clean
        return clean or name

    # -- attribute collections and records -------------------------------

    def apply(self, attributes: Dict[str, Any], keys: Optional[Tuple[str, ...]] = None) -> Dict[str, Any]:
        """Return ``attributes`` with secrets replaced; the same dict when there are none.

        ``keys`` is the dict's key tuple when the caller has it already.
        """
        if not attributes:
            return attributes
        plan = self.plan(tuple(attributes) if keys is None else keys)
        return attributes if plan is None else plan.apply(attributes)

    def redact_attributes(self, attributes: FrozenAttributes) -> FrozenAttributes:
        """``attributes`` with secrets replaced; the same object when there are none."""
        if not attributes:
            return attributes
        plan = self.plan(attributes._keys)
        if plan is None:
            return attributes
        mapping = dict(zip(attributes._keys, attributes._values))
        out = plan.apply(mapping)
        if out is mapping:
            return attributes
        from .record import make_attributes

        return make_attributes(attributes._keys, tuple(out.values()))

    def redact_resource(self, resource: FrozenAttributes) -> FrozenAttributes:
        """:meth:`redact_attributes` cached per resource object: spans share a few."""
        entry = self._resources.get(id(resource))
        if entry is None or entry[0] is not resource:
            # Holding the resource keeps its id from being reused.
            entry = (resource, self.redact_attributes(resource))
            if len(self._resources) < _CACHE_LIMIT:
                self._resources[id(resource)] = entry
        return entry[1]

    def redact_record(self, record: SpanRecord) -> SpanRecord:
        """A copy of ``record`` with secrets in its name and in its span, event,
        link and resource attributes replaced, for writing out; ``record``
        itself when there are none."""
        from .record import _RECORD_FIELDS, make_event, make_link, make_record

        name = self.redact_name(record.name)
        original = record.attributes  # a new mapping on each access: compare with this one
        attrs = self.redact_attributes(original)
        resource = self.redact_resource(record.resource)
        events = tuple(
            make_event(e.name, e.timestamp, self.redact_attributes(e.attributes))
            for e in record.events
        )
        links = tuple(
            make_link(lk.trace_id, lk.span_id, self.redact_attributes(lk.attributes))
            for lk in record.links
        )
        if (
            name is record.name
            and attrs is original
            and resource is record.resource
            and all(a.attributes is b.attributes for a, b in zip(events, record.events))
            and all(a.attributes is b.attributes for a, b in zip(links, record.links))
        ):
            return record
        fields = dict(zip(_RECORD_FIELDS, record._key()))
        fields.update(name=name, attributes=attrs, events=events, links=links, resource=resource)
        return make_record(**fields, _size=0)

    def __bool__(self) -> bool:
        return bool(self.patterns) or self.values

    def __repr__(self) -> str:
        return f"RedactionPolicy({list(self.patterns)!r}, values={self.values!r})"


def policy_from_lines(lines: Iterable[str], values: bool = True) -> Optional[RedactionPolicy]:
    """Build a policy from configuration lines and the value-scanning switch.

    No lines means the default patterns.  The word ``default`` stands for
    them (so ``default`` plus more lines extends them); ``none`` alone means
    no key patterns.  ``None`` when that leaves nothing to redact (``none``
    and ``values`` off).
    """
    items = [line.strip() for line in lines if line and line.strip()]
    patterns: list[str] = []
    if not items:
        patterns.extend(DEFAULT_REDACT_PATTERNS)
    elif [i.lower() for i in items] == ["none"]:
        if not values:
            return None
    elif any(i.lower() == "none" for i in items):
        raise ValueError(f"invalid redaction patterns {items!r}: 'none' must stand alone")
    else:
        for item in items:
            if item.lower() == "default":
                patterns.extend(DEFAULT_REDACT_PATTERNS)
            else:
                patterns.append(item)
    return RedactionPolicy(patterns, values=values)
