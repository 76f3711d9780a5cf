"""Which TracerProviders record into the run's store: the provider policy.

The setting ``trace_store_provider`` (ini key, or ``--trace-store-provider``)
picks a :class:`Mode`; at start-up the global provider found is classified as
a :class:`Found`, and :data:`DECISIONS` maps the pair to a :class:`Decision`.
:class:`Providers` carries the decision out and keeps what it joined: in the
modes of :data:`WATCHING` it joins every SDK ``TracerProvider`` made during
the run and every provider set as global later, so an app's own provider
(its resource, its exporters) records into the store beside doing its own
work.  :func:`environment_notes` says when recording cannot happen or is
thinned whatever was decided.
"""

from __future__ import annotations

import enum
import os
import threading
import weakref
from collections import Counter
from typing import Any, Callable, Mapping, Optional

import pytest

from .options import setting

__all__ = [
    "DECISIONS",
    "WATCHING",
    "Decision",
    "Found",
    "Mode",
    "Providers",
    "describe",
    "environment_notes",
    "read_mode",
    "sdk_knows_disabled",
]


class Mode(enum.Enum):
    """What the user allows: the value of ``trace_store_provider``."""

    #: Join every provider; while none is global, record the global API's
    #: spans through a session provider that yields the slot to the app's.
    AUTO = "auto"
    #: Join the global provider, or set a session one as global (taking the slot).
    INSTALL = "install"
    #: Join every provider, never make one.
    JOIN = "join"
    #: No provider work: only what the ``trace_store_processor`` fixture is added to records.
    OFF = "off"


class Found(enum.Enum):
    """The global provider at start-up."""

    NONE = "none"  # the API's proxy: nobody set one
    SDK = "sdk"  # an SDK TracerProvider (or subclass)
    JOINABLE = "joinable"  # another provider with an add_span_processor method
    FOREIGN = "foreign"  # a provider we cannot add a processor to


class Decision(enum.Enum):
    """What the plugin did with providers at start-up."""

    JOINED = "joined"
    FALLBACK = "fallback"
    INSTALLED = "installed"
    WAITING = "waiting"
    UNJOINABLE = "unjoinable"
    OFF = "off"


#: (mode, global provider found) -> decision.
DECISIONS: Mapping[tuple[Mode, Found], Decision] = {
    (Mode.AUTO, Found.NONE): Decision.FALLBACK,
    (Mode.AUTO, Found.SDK): Decision.JOINED,
    (Mode.AUTO, Found.JOINABLE): Decision.JOINED,
    (Mode.AUTO, Found.FOREIGN): Decision.UNJOINABLE,
    (Mode.INSTALL, Found.NONE): Decision.INSTALLED,
    (Mode.INSTALL, Found.SDK): Decision.JOINED,
    (Mode.INSTALL, Found.JOINABLE): Decision.JOINED,
    (Mode.INSTALL, Found.FOREIGN): Decision.UNJOINABLE,
    (Mode.JOIN, Found.NONE): Decision.WAITING,
    (Mode.JOIN, Found.SDK): Decision.JOINED,
    (Mode.JOIN, Found.JOINABLE): Decision.JOINED,
    (Mode.JOIN, Found.FOREIGN): Decision.UNJOINABLE,
    (Mode.OFF, Found.NONE): Decision.OFF,
    (Mode.OFF, Found.SDK): Decision.OFF,
    (Mode.OFF, Found.JOINABLE): Decision.OFF,
    (Mode.OFF, Found.FOREIGN): Decision.OFF,
}

#: The modes that join every provider made or set during the run.
WATCHING = frozenset({Mode.AUTO, Mode.JOIN})

_HEADERS = {
    Decision.JOINED: "added to the TracerProvider already set",
    Decision.FALLBACK: "joining every TracerProvider; a session one serves the global tracer "
    "API until the app sets its own",
    Decision.INSTALLED: "installed a session TracerProvider",
    Decision.WAITING: "joining every TracerProvider made or set (trace_store_provider=join; "
    "none is set yet)",
    Decision.UNJOINABLE: "global provider {name} cannot be joined: add the "
    "trace_store_processor fixture's processor to yours",
    Decision.OFF: "no provider set-up (trace_store_provider=off): add the "
    "trace_store_processor fixture's processor to yours",
}

# Why a run recorded nothing, by decision, when the environment says nothing.
_EMPTY_CAUSES = {
    Decision.JOINED: "no span ended on the global TracerProvider or any other one made in the run",
    Decision.FALLBACK: "no instrumented code made a span: nothing used the global tracer API "
    "or a TracerProvider made in the run (one made before pytest started and kept to itself "
    "is not joined: add the trace_store_processor fixture's processor to it)",
    Decision.INSTALLED: "no span ended on the session TracerProvider",
    Decision.WAITING: "trace_store_provider=join, and no span ended on a TracerProvider made "
    "or set in the run",
    Decision.UNJOINABLE: "the global provider {name} cannot be joined: add the "
    "trace_store_processor fixture's processor to it",
    Decision.OFF: "trace_store_provider=off: only a provider given the trace_store_processor "
    "fixture's processor records",
}

_TRUE = frozenset({"true", "1", "yes", "on"})


def read_mode(config: pytest.Config) -> Mode:
    """The provider mode from its flag or ini key; a bad value is a usage error."""
    value, where = setting(config, "trace_store_provider")
    if value is None:
        return Mode.AUTO
    try:
        return Mode(value.strip().lower())
    except ValueError:
        names = ", ".join(m.value for m in Mode)
        raise pytest.UsageError(f"{where}: expected one of {names}, got {value!r}") from None


def describe(provider: object) -> str:
    """A provider's class, with its ``service.name`` when it has a resource."""
    kind = type(provider)
    text = f"{kind.__module__}.{kind.__qualname__}"
    resource = getattr(provider, "resource", None)
    attributes = getattr(resource, "attributes", None)
    service = attributes.get("service.name") if isinstance(attributes, Mapping) else None
    return f"{text} (service.name={service})" if service else text


def classify(provider: object) -> Found:
    """What kind of global provider ``provider`` is (``None``: nobody set one)."""
    if provider is None:
        return Found.NONE
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(provider, TracerProvider):
        return Found.SDK
    if callable(getattr(provider, "add_span_processor", None)):
        return Found.JOINABLE
    return Found.FOREIGN


def sdk_knows_disabled() -> bool:
    """Whether this SDK honours ``OTEL_SDK_DISABLED`` (releases before 1.21 ignore it)."""
    from opentelemetry.sdk import environment_variables

    return hasattr(environment_variables, "OTEL_SDK_DISABLED")


def environment_notes(environ: Mapping[str, str]) -> list[str]:
    """Why the SDK records nothing, or only some spans, under these environment variables."""
    notes = []
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE and sdk_knows_disabled():
        notes.append("OTEL_SDK_DISABLED=true turns the OpenTelemetry SDK off: no span is recorded")
    sampler = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    argument = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if sampler in ("always_off", "parentbased_always_off"):
        notes.append(f"OTEL_TRACES_SAMPLER={sampler} drops every span started here")
    elif sampler in ("traceidratio", "parentbased_traceidratio"):
        ratio = argument or "1.0"
        try:
            whole = float(ratio) >= 1.0
        except ValueError:
            whole = False
        if not whole:
            notes.append(
                f"OTEL_TRACES_SAMPLER={sampler} with OTEL_TRACES_SAMPLER_ARG={ratio} "
                "records only a share of traces"
            )
    return notes


class Providers:
    """Carries a :class:`Decision` out: joins providers, keeps what it joined.

    ``forwarder(provider)`` makes the span processor that a provider gets
    (one per provider, so each can tell of its own shutdown); ``processor()``
    gives the run's processor (``None`` while it is not made), which a
    provider that already forwards to it does not get a second time.
    """

    def __init__(
        self,
        mode: Mode,
        forwarder: Callable[[Any], Any],
        processor: Callable[[], object],
        warn: Callable[[str], None],
    ) -> None:
        self.mode = mode
        self._forwarder = forwarder
        self._processor = processor
        self._warn = warn
        self.decision = Decision.OFF
        #: The provider the plugin joined or made at start-up, if any.
        self.provider: Any = None
        self._fallback: Any = None
        self._joined: list[Callable[[], Any]] = []
        self._forwarders: weakref.WeakSet[Any] = weakref.WeakSet()
        # The (provider, forwarder) being joined now, which its provider must not refuse.
        self._adding: Optional[tuple[Any, Any]] = None
        self._lock = threading.RLock()
        #: How many providers were joined, by description, the plugin's own left out.
        self.joined: Counter[str] = Counter()
        #: What pytest-xdist workers joined, as they reported it.
        self.joined_elsewhere: Counter[str] = Counter()
        self.notes = environment_notes(os.environ)
        self._foreign: Optional[str] = None
        self._watch: Any = None

    # -- start-up --------------------------------------------------------

    def expect(self) -> Decision:
        """The decision while OpenTelemetry is not imported: no global provider can be set yet.

        :meth:`start` runs once it is, and decides the same way.
        """
        self.decision = DECISIONS[(self.mode, Found.NONE)]
        return self.decision

    def start(self) -> Decision:
        """Decide, from the mode and the global provider, and act on it."""
        from ._sdk import global_provider

        current = global_provider()
        found = classify(current)
        self.decision = DECISIONS[(self.mode, found)]
        if self.decision is Decision.OFF:
            return self.decision
        if self.mode in WATCHING:
            self._start_watching()
        if found is Found.FOREIGN:
            self._foreign = describe(current)
        elif found is not Found.NONE:
            self.join(current)
            self.provider = current
        elif self.decision is Decision.INSTALLED or not self._falls_back():
            # An API whose proxy tracers cannot be pointed elsewhere: take the slot.
            self._install()
        return self.decision

    def _falls_back(self) -> bool:
        return self.decision is not Decision.FALLBACK or self._watch.falls_back

    def _start_watching(self) -> None:
        from ._sdk import ProviderWatch

        fallback = self._fallback_provider if self.decision is Decision.FALLBACK else None
        self._watch = ProviderWatch(self.join, self._set_global, self._forwards_already, fallback)
        self._watch.install()

    def _install(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        # Copied first: the provider may be joined as it is made.
        before = self.joined.copy()
        provider = TracerProvider()
        self.join(provider)
        self.joined = before  # the header tells of it; the summary tells of the app's
        trace.set_tracer_provider(provider)
        self.decision = Decision.INSTALLED
        self.provider = provider

    def _fallback_provider(self) -> Any:
        """The session provider the global API records through while no app provider is set."""
        fallback = self._fallback
        if fallback is not None:
            return fallback
        # Two threads' first spans may ask at once: one provider for both.
        with self._lock:
            if self._fallback is None:
                from opentelemetry.sdk.trace import TracerProvider

                before = self.joined.copy()
                provider = TracerProvider()  # joined as it is made
                self.join(provider)
                self.joined = before  # the header tells of it; the summary tells of the app's
                self._fallback = provider
            return self._fallback

    def session_provider(self) -> Any:
        """The provider the ``pytest_tracestore_configure`` hook is given."""
        if self.provider is None and self.decision is Decision.FALLBACK:
            return self._fallback_provider()
        return self.provider

    # -- joining ---------------------------------------------------------

    def join(self, provider: Any) -> bool:
        """Add the run's processor to ``provider`` once; ``False`` if it cannot be joined."""
        # Providers are made in any thread; _adding must be the one of this join.
        with self._lock:
            return self._join(provider)

    def _join(self, provider: Any) -> bool:
        if self._is_joined(provider):
            return True
        if not callable(getattr(provider, "add_span_processor", None)):
            return False
        ref = _ref(provider)
        if self._holds_ours(provider):
            # Given the trace_store_processor fixture's processor (or a
            # wrapper's forwarder) before it was joined: it records already.
            self._joined.append(ref)
            self.joined[describe(provider)] += 1
            return True
        forwarder = self._forwarder(provider)
        self._joined.append(ref)
        self._forwarders.add(forwarder)
        outer, self._adding = self._adding, (provider, forwarder)
        try:
            provider.add_span_processor(forwarder)
        except Exception as exc:  # the app's provider refused: its spans are not recorded
            self._joined.remove(ref)
            self._warn(f"pytest-tracestore: could not join {describe(provider)}: {exc!r}")
            return False
        finally:
            self._adding = outer
        self.joined[describe(provider)] += 1
        return True

    def _is_joined(self, provider: Any) -> bool:
        alive = []
        found = False
        for ref in self._joined:
            target = ref()
            if target is None:
                continue
            alive.append(ref)
            found = found or target is provider
        self._joined = alive
        return found

    def _holds_ours(self, provider: Any) -> bool:
        from ._sdk import span_processors

        processor = self._processor()
        return any(p is processor or p in self._forwarders for p in span_processors(provider))

    def _forwards_already(self, provider: Any, processor: Any) -> bool:
        # The trace_store_processor fixture's processor, added to a provider
        # joined as it was made, or the forwarder of a wrapper (logfire's
        # global provider, say) that hands it to the SDK provider it wraps:
        # once is enough.
        if processor is not self._processor() and processor not in self._forwarders:
            return False
        adding = self._adding
        if adding is not None and adding[0] is provider and adding[1] is processor:
            return False
        return self._is_joined(provider)

    def _set_global(self, provider: Any) -> None:
        found = classify(provider)
        if found is Found.FOREIGN:
            self._note_foreign(describe(provider))
        elif found is not Found.NONE and self.join(provider) and self.provider is None:
            self.provider = provider

    def check_global(self) -> None:
        """Join a global provider set since start-up that was not seen being set."""
        if self._watch is None:
            return
        from ._sdk import global_provider

        current = global_provider()
        if current is not None:
            self._set_global(current)

    def _note_foreign(self, name: str) -> None:
        if self._foreign is None:
            self._foreign = name
            self._warn(self.foreign_note())

    # -- what to tell ----------------------------------------------------

    def foreign_note(self) -> str:
        """The warning about a global provider that cannot be joined."""
        return (
            f"pytest-tracestore: the global TracerProvider {self._foreign} has no "
            "add_span_processor method and cannot be joined; its spans are not recorded "
            "(add the trace_store_processor fixture's processor to it)"
        )

    def warnings(self) -> list[str]:
        """What to warn about once, at start-up: recording cannot happen or is thinned."""
        found = [f"pytest-tracestore: {note}" for note in self.notes]
        if self._foreign is not None:
            found.append(self.foreign_note())
        return found

    def header(self) -> str:
        """What was decided, for the report header."""
        return _HEADERS[self.decision].format(name=self._foreign)

    def header_notes(self) -> list[str]:
        """Header lines for what keeps spans from being recorded."""
        return [f"tracestore: warning: {note}" for note in self.notes]

    def summary(self) -> Optional[str]:
        """What was joined (here and in the workers), for the terminal summary."""
        counts = self.joined + self.joined_elsewhere
        if not counts:
            return None
        shown = [name if n == 1 else f"{name} x{n}" for name, n in list(counts.items())[:5]]
        more = f", and {len(counts) - 5} more" if len(counts) > 5 else ""
        return f"tracestore: joined {', '.join(shown)}{more}"

    def empty_hint(self) -> str:
        """The likely cause of a run that recorded no span at all."""
        if self.notes:
            return "; ".join(self.notes)
        if self._foreign is not None:
            return _EMPTY_CAUSES[Decision.UNJOINABLE].format(name=self._foreign)
        return _EMPTY_CAUSES[self.decision]

    def close(self) -> None:
        """Stop joining; put back what the watch wrapped."""
        if self._watch is not None:
            self._watch.uninstall()
            self._watch = None


def _ref(provider: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(provider)
    except TypeError:  # a provider class with __slots__ and no __weakref__
        return lambda: provider
