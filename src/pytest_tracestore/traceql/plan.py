"""A compiled query: its stages as closures, and how to run them over records or a store."""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..record import SpanRecord, normalize_trace_id
from .evaluate import (
    Env,
    Tag,
    TraceInfo,
    arithmetic,
    compare,
    compile_field,
    compile_filter,
    uses_trace,
)
from .nodes import (
    Aggregate,
    Attribute,
    Binary,
    Coalesce,
    Field,
    GroupBy,
    Intrinsic,
    Pipeline,
    Scalar,
    ScalarFilter,
    ScalarOp,
    ScalarStatic,
    Select,
    SpansetFilter,
    SpansetOp,
    Stage,
    Static,
)

__all__ = ["Plan"]

Spanset = List[SpanRecord]
StageFn = Callable[[List[Spanset], TraceInfo, Env], List[Spanset]]
ScalarFn = Callable[[Spanset, Env], Any]
_by_start = attrgetter("start_time")

#: An index lookup a filter allows: ("attribute", key, value), ("status", name)
#: or ("trace", id).  Every span the filter matches is among its candidates.
Hint = Tuple[str, ...]


class Plan:
    """A query's stages, compiled once and run over any number of traces."""

    def __init__(self, tree: Pipeline) -> None:
        self._run = _compile_stage(tree)
        stages = tree.stages
        only = stages[0] if len(stages) == 1 else None
        #: Set when the query is one spanset filter: it is then run span by
        #: span, with no grouping into traces.
        self.filter: Optional[Callable[[SpanRecord, Env], bool]] = None
        self.filter_needs_trace = False
        self.hints: List[Hint] = []
        if isinstance(only, SpansetFilter):
            self.filter = compile_filter(only.expression)
            self.filter_needs_trace = uses_trace(only.expression)
            self.hints = _hints(only.expression)
        #: Which traces can return spans at all, as filters to run first.
        self.needs = _needs(tree)

    def run_traces(self, traces: Iterable[Sequence[SpanRecord]]) -> List[SpanRecord]:
        """The matching spans of every trace, each trace given as its records."""
        found: List[SpanRecord] = []
        for records in traces:
            if not records:
                continue
            info = TraceInfo(records)
            env = Env(lambda record, info=info: info)  # type: ignore[misc]
            seen: Set[int] = set()
            for spanset in self._run([info.spans], info, env):
                for span in spanset:
                    if id(span) not in seen:
                        seen.add(id(span))
                        found.append(span)
        found.sort(key=_by_start)
        return found

    def run_filter(
        self,
        records: Iterable[SpanRecord],
        trace_of: Callable[[str], Sequence[SpanRecord]],
        test: Optional[Callable[[SpanRecord, Env], bool]] = None,
    ) -> List[SpanRecord]:
        """The records a spanset filter (the query's own by default) matches, by start time.

        ``trace_of`` gives a trace's records, for the intrinsics that read it.
        """
        test = test or self.filter
        assert test is not None
        cache: Dict[str, TraceInfo] = {}

        def info_of(record: SpanRecord) -> TraceInfo:
            info = cache.get(record.trace_id)
            if info is None:
                info = cache[record.trace_id] = TraceInfo(trace_of(record.trace_id))
            return info

        env = Env(info_of)
        found = [r for r in records if test(r, env)]
        found.sort(key=_by_start)
        return found


# -- which traces can match ------------------------------------------------------

#: A requirement on a trace: None (any trace), ("filter", predicate, hints) (a
#: span matching the filter), ("and", a, b) or ("or", a, b).
Need = Optional[Tuple[Any, ...]]


def _needs(node: Stage) -> Need:
    """What a trace must hold for ``node`` to return any of its spans.

    A stage only ever narrows the spansets it is given, so a pipeline needs
    what its first stage needs; ``&&`` and the structural operators need both
    sides (their negations, the right side); ``||`` either.
    """
    if isinstance(node, Pipeline):
        return _needs(node.stages[0])
    if isinstance(node, SpansetFilter):
        if node.expression is None:
            return None
        return ("filter", compile_filter(node.expression), _hints(node.expression))
    if isinstance(node, SpansetOp):
        if node.op.startswith("!"):
            return _needs(node.rhs)
        left, right = _needs(node.lhs), _needs(node.rhs)
        if node.op == "||":
            return None if left is None or right is None else ("or", left, right)
        if left is None or right is None:
            return left if right is None else right
        return ("and", left, right)
    return None  # a pipeline that starts with an aggregate or by() reads every trace


FilterRunner = Callable[[Callable[[SpanRecord, Env], bool], List[Hint]], List[SpanRecord]]


def matching_traces(need: Need, run_filter: FilterRunner) -> Optional[Set[str]]:
    """The ids of the traces that meet ``need`` (``None``: every trace may)."""
    if need is None:
        return None
    if need[0] == "filter":
        return {span.trace_id for span in run_filter(need[1], need[2])}
    left = matching_traces(need[1], run_filter)
    right = matching_traces(need[2], run_filter)
    assert left is not None and right is not None
    return left & right if need[0] == "and" else left | right


# -- index hints ----------------------------------------------------------------


def _conjuncts(node: Optional[Field]) -> List[Field]:
    if isinstance(node, Binary) and node.op == "&&":
        return _conjuncts(node.lhs) + _conjuncts(node.rhs)
    return [] if node is None else [node]


def _hints(node: Optional[Field]) -> List[Hint]:
    hints: List[Hint] = []
    for part in _conjuncts(node):
        if not (isinstance(part, Binary) and part.op == "="):
            continue
        field, value = part.lhs, part.rhs
        if isinstance(field, Static):
            field, value = value, field
        if not isinstance(value, Static):
            continue
        if isinstance(field, Attribute) and field.scope == "span" and value.type in (
            "string", "int", "float", "bool"
        ):
            hints.append(("attribute", field.name, value.value))
        elif isinstance(field, Intrinsic) and value.type == "status":
            hints.append(("status", value.value))
        elif isinstance(field, Intrinsic) and (field.scope, field.name) == ("trace", "id"):
            try:
                hints.append(("trace", normalize_trace_id(value.value)))
            except ValueError:
                hints.append(("none",))  # no trace has that id
    return hints


# -- stages -----------------------------------------------------------------------


def _compile_stage(node: Stage) -> StageFn:
    if isinstance(node, Pipeline):
        return _compile_pipeline(node)
    if isinstance(node, SpansetFilter):
        return _compile_spanset_filter(node)
    if isinstance(node, SpansetOp):
        return _compile_spanset_op(node)
    if isinstance(node, ScalarFilter):
        return _compile_scalar_filter(node)
    if isinstance(node, GroupBy):
        return _compile_group(node)
    if isinstance(node, Coalesce):
        return lambda spansets, trace, env: [_union(spansets)] if spansets else []
    assert isinstance(node, Select)
    # Selected fields are read from the returned records; the spans stay the same.
    return lambda spansets, trace, env: spansets


def _compile_pipeline(node: Pipeline) -> StageFn:
    stages = [_compile_stage(stage) for stage in node.stages]

    def run(spansets: List[Spanset], trace: TraceInfo, env: Env) -> List[Spanset]:
        for stage in stages:
            if not spansets:
                break
            spansets = stage(spansets, trace, env)
        return spansets

    return run


def _compile_spanset_filter(node: SpansetFilter) -> StageFn:
    test = compile_filter(node.expression)

    def run(spansets: List[Spanset], trace: TraceInfo, env: Env) -> List[Spanset]:
        out = []
        for spanset in spansets:
            kept = [span for span in spanset if test(span, env)]
            if kept:
                out.append(kept)
        return out

    return run


def _union(spansets: Iterable[Spanset]) -> Spanset:
    seen: Set[int] = set()
    out: Spanset = []
    for spanset in spansets:
        for span in spanset:
            if id(span) not in seen:
                seen.add(id(span))
                out.append(span)
    return out


def _compile_spanset_op(node: SpansetOp) -> StageFn:
    left, right, op = _compile_stage(node.lhs), _compile_stage(node.rhs), node.op

    def run(spansets: List[Spanset], trace: TraceInfo, env: Env) -> List[Spanset]:
        out = []
        for spanset in spansets:
            lhs = _union(left([spanset], trace, env))
            rhs = _union(right([spanset], trace, env))
            if op == "&&":
                result = _union([lhs, rhs]) if lhs and rhs else []
            elif op == "||":
                result = _union([lhs, rhs])
            else:
                result = structural(op, lhs, rhs, trace)
            if result:
                out.append(result)
        return out

    return run


def structural(op: str, lhs: Spanset, rhs: Spanset, trace: TraceInfo) -> Spanset:
    """The spans a structural operator returns: the right side's that relate to the left's.

    ``!`` forms return the right side's spans that do not; ``&`` forms return
    the related spans of both sides.
    """
    if not rhs:
        return []
    base = op.lstrip("!&")
    left_ids = {id(s) for s in lhs}
    right_ids = {id(s) for s in rhs}
    if base == ">>":  # right spans with an ancestor on the left
        related = [s for s in rhs if any(id(a) in left_ids for a in trace.ancestors(s))]
        over_right = {id(a) for s in rhs for a in trace.ancestors(s)}
        partners = [s for s in lhs if id(s) in over_right]
    elif base == "<<":  # right spans with a descendant on the left
        over_left = {id(a) for s in lhs for a in trace.ancestors(s)}
        related = [s for s in rhs if id(s) in over_left]
        partners = [s for s in lhs if any(id(a) in right_ids for a in trace.ancestors(s))]
    elif base == ">":  # right spans whose parent is on the left
        related = [s for s in rhs if id(trace.parent(s)) in left_ids]
        parents_of_right = {id(trace.parent(s)) for s in rhs}
        partners = [s for s in lhs if id(s) in parents_of_right]
    elif base == "<":  # right spans that are the parent of a left span
        parents_of_left = {id(trace.parent(s)) for s in lhs}
        related = [s for s in rhs if id(s) in parents_of_left]
        partners = [s for s in lhs if id(trace.parent(s)) in right_ids]
    else:  # "~": right spans with a sibling (same parent, not itself) on the left
        related = _with_sibling(rhs, lhs, left_ids)
        partners = _with_sibling(lhs, rhs, right_ids)
    if op.startswith("!"):
        related_ids = {id(s) for s in related}
        return [s for s in rhs if id(s) not in related_ids]
    if op.startswith("&"):
        return _union([partners, related])
    return related


def _with_sibling(spans: Spanset, others: Spanset, other_ids: Set[int]) -> Spanset:
    # A span whose parent is missing from the trace still has that parent's
    # id, and so its siblings; a root span has none.
    counts = Counter(s.parent_span_id for s in others if s.parent_span_id is not None)
    return [
        s
        for s in spans
        if s.parent_span_id is not None
        and counts[s.parent_span_id] - (1 if id(s) in other_ids else 0) > 0
    ]


def _compile_group(node: GroupBy) -> StageFn:
    value_of = compile_field(node.field)

    def run(spansets: List[Spanset], trace: TraceInfo, env: Env) -> List[Spanset]:
        out: List[Spanset] = []
        for spanset in spansets:
            groups: Dict[Any, Spanset] = {}
            for span in spanset:
                value = value_of(span, env)
                # True and 1 are different groups, as they are different values.
                key = (type(value).__name__, id(value) if type(value) is Tag else value)
                groups.setdefault(key, []).append(span)
            out.extend(groups.values())
        return out

    return run


def _compile_scalar_filter(node: ScalarFilter) -> StageFn:
    left, right, op = _compile_scalar(node.lhs), _compile_scalar(node.rhs), node.op

    def run(spansets: List[Spanset], trace: TraceInfo, env: Env) -> List[Spanset]:
        return [s for s in spansets if compare(op, left(s, env), right(s, env))]

    return run


def _compile_scalar(node: Scalar) -> ScalarFn:
    if isinstance(node, ScalarStatic):
        value = node.value
        return lambda spanset, env: value
    if isinstance(node, ScalarOp):
        left, right, op = _compile_scalar(node.lhs), _compile_scalar(node.rhs), node.op
        return lambda spanset, env: arithmetic(op, left(spanset, env), right(spanset, env))
    assert isinstance(node, Aggregate)
    if node.function == "count":
        return lambda spanset, env: len(spanset)
    assert node.field is not None
    value_of, function = compile_field(node.field), node.function

    def aggregate(spanset: Spanset, env: Env) -> Any:
        values = [
            v for v in (value_of(s, env) for s in spanset)
            if type(v) is int or type(v) is float
        ]
        if not values:
            return None
        if function == "sum":
            return sum(values)
        if function == "min":
            return min(values)
        if function == "max":
            return max(values)
        return sum(values) / len(values)

    return aggregate
