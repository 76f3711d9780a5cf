"""Redaction of secret attribute values in what the plugin writes to files.

CI artifacts are often public, and instrumentation records request headers
and connection strings as attributes.  A :class:`RedactionPolicy` decides,
per attribute *key set*, which values to replace with ``"[REDACTED]"``.  The
in-memory store keeps the real values, so a test can still assert on them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Dict, Optional, Pattern, Tuple

if TYPE_CHECKING:
    from .record import FrozenAttributes, SpanRecord

__all__ = ["DEFAULT_REDACT_PATTERNS", "REDACTED", "RedactionPolicy"]

#: What a redacted value is replaced with.
REDACTED = "[REDACTED]"

#: Glob patterns (case-insensitive, over the whole attribute key) redacted by default.
DEFAULT_REDACT_PATTERNS: Tuple[str, ...] = (
    "*authorization*",
    "*cookie*",
    "*password*",
    "*passwd*",
    "*secret*",
    # "*token" and "*token.*", not "*token*": LLM instrumentation counts
    # "gen_ai.usage.input_tokens", which is no secret.
    "*token",
    "*token.*",
    "*api?key*",
    "*apikey*",
)

# Past this many distinct key sets the cache stops growing; a miss only costs
# a few fnmatch calls.
_CACHE_LIMIT = 4096


class RedactionPolicy:
    """Which attribute values to hide in files: keys matching any glob pattern.

    Patterns are ``fnmatch`` globs matched case-insensitively against the
    whole key (``*token`` matches ``auth.access_token``).  Decisions are cached
    per key tuple: spans from one call site share their key tuple, so the cost
    per span is one dictionary lookup, and nothing is copied when no key
    matches.
    """

    __slots__ = ("patterns", "_compiled", "_cache")

    def __init__(self, patterns: Iterable[str] = DEFAULT_REDACT_PATTERNS) -> None:
        if isinstance(patterns, str):
            raise ValueError(f"invalid redaction patterns {patterns!r}: expected a list of globs")
        cleaned = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise ValueError(f"invalid redaction pattern {pattern!r}: expected a glob string")
            cleaned.append(pattern.strip())
        self.patterns: Tuple[str, ...] = tuple(cleaned)
        # Compiled on first use: every test process builds the default policy
        # at start-up, and one that records nothing never matches a key.
        self._compiled: Optional[Pattern[str]] = None
        self._cache: Dict[Tuple[str, ...], Tuple[str, ...]] = {}

    def matches(self, key: str) -> bool:
        """Whether values of attribute ``key`` are redacted."""
        if not self.patterns:
            return False
        regex = self._compiled
        if regex is None:
            # fnmatch.translate escapes what it does not translate: this compiles.
            regex = self._compiled = re.compile(
                "|".join(fnmatch.translate(p.lower()) for p in self.patterns)
            )
        return regex.match(key.lower()) is not None

    def hidden_keys(self, keys: Tuple[str, ...]) -> Tuple[str, ...]:
        """The keys of ``keys`` whose values are redacted (cached per key tuple)."""
        hidden = self._cache.get(keys)
        if hidden is None:
            hidden = tuple(k for k in keys if self.matches(k))
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[keys] = hidden
        return hidden

    def apply(self, attributes: Dict[str, Any], keys: Optional[Tuple[str, ...]] = None) -> Dict[str, Any]:
        """Return ``attributes`` with secret values replaced; the same dict when none match.

        ``keys`` is the dict's key tuple when the caller has it already.
        """
        if not attributes or not self.patterns:
            return attributes
        if keys is None:
            keys = tuple(attributes)
        # The cache lookup inlined: this runs for every span the processor writes.
        hidden = self._cache.get(keys)
        if hidden is None:
            hidden = self.hidden_keys(keys)
        if not hidden:
            return attributes
        out = dict(attributes)
        for key in hidden:
            out[key] = REDACTED
        return out

    def redact_attributes(self, attributes: FrozenAttributes) -> FrozenAttributes:
        """``attributes`` with secret values replaced; the same object when none match."""
        if not attributes:
            return attributes
        hidden = self.hidden_keys(attributes._keys)
        if not hidden:
            return attributes
        from .record import make_attributes

        return make_attributes(
            attributes._keys,
            tuple(REDACTED if k in hidden else v for k, v in zip(attributes._keys, attributes._values)),
        )

    def redact_record(self, record: SpanRecord) -> SpanRecord:
        """A copy of ``record`` with secret span, event and link attribute values
        replaced, for writing out; ``record`` itself when nothing matches."""
        from .record import _RECORD_FIELDS, make_event, make_link, make_record

        original = record.attributes  # a new mapping on each access: compare with this one
        attrs = self.redact_attributes(original)
        events = tuple(
            make_event(e.name, e.timestamp, self.redact_attributes(e.attributes))
            for e in record.events
        )
        links = tuple(
            make_link(lk.trace_id, lk.span_id, self.redact_attributes(lk.attributes))
            for lk in record.links
        )
        if (
            attrs is original
            and all(a.attributes is b.attributes for a, b in zip(events, record.events))
            and all(a.attributes is b.attributes for a, b in zip(links, record.links))
        ):
            return record
        fields = dict(zip(_RECORD_FIELDS, record._key()))
        fields.update(attributes=attrs, events=events, links=links)
        return make_record(**fields, _size=0)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"RedactionPolicy({list(self.patterns)!r})"


def policy_from_lines(lines: Iterable[str]) -> Optional[RedactionPolicy]:
    """Build a policy from configuration lines.

    No lines means the defaults.  The word ``default`` stands for the default
    patterns (so ``default`` plus more lines extends them); ``none`` alone
    turns redaction off and gives ``None``.
    """
    items = [line.strip() for line in lines if line and line.strip()]
    if not items:
        return RedactionPolicy()
    if [i.lower() for i in items] == ["none"]:
        return None
    if any(i.lower() == "none" for i in items):
        raise ValueError(f"invalid redaction patterns {items!r}: 'none' must stand alone")
    patterns: list[str] = []
    for item in items:
        if item.lower() == "default":
            patterns.extend(DEFAULT_REDACT_PATTERNS)
        else:
            patterns.append(item)
    return RedactionPolicy(patterns)
