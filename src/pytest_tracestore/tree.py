"""Matching a trace against an expected shape, for :meth:`Trace.assert_tree`.

The expected shape is parsed into nodes once; a node fits a span when its
label matches the span and its children can be given distinct children of
the span (a bipartite matching, so the order of the expected children never
decides the outcome).  When nothing fits, a second pass looks for the first
place where expected and actual part, to mark it in the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .matchers import Matcher, matches_value
from .query import Query
from .record import SpanRecord

if TYPE_CHECKING:
    from .trace import Trace

__all__ = ["match_tree", "parse_tree"]

# How many lines of the actual tree a failure draws.
_MAX_ROWS = 60


class Node:
    """One expected span: a label, and the children it must have (``None``: not given)."""

    __slots__ = ("label", "children", "text")

    def __init__(self, label: Any, children: Optional[List[Node]]) -> None:
        self.label = label
        self.children = children
        self.text = _label_text(label)


def _label_text(label: Any) -> str:
    if isinstance(label, str):
        return label
    if isinstance(label, re.Pattern):
        return f"/{label.pattern}/"
    if isinstance(label, Query):
        return f"Query({label.describe()})"
    return repr(label)


def _check_label(label: Any) -> Any:
    if isinstance(label, (str, re.Pattern, Matcher, Query)):
        return label
    raise ValueError(
        f"invalid tree node {label!r}: expected a span name, a regex, a matcher, a Query, "
        "a (node, [children]) tuple or a {node: [children]} dict"
    )


def _children(value: Any, owner: Any) -> List[Node]:
    if not isinstance(value, list):
        raise ValueError(
            f"invalid children {value!r} of tree node {owner!r}: expected a list of nodes"
        )
    nodes: List[Node] = []
    for item in value:
        nodes.extend(_nodes(item))
    return nodes


def _nodes(item: Any) -> List[Node]:
    if isinstance(item, Mapping):
        if not item:
            raise ValueError("invalid tree node {}: an empty dict names no span")
        return [Node(_check_label(k), _children(v, k)) for k, v in item.items()]
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], list):
            raise ValueError(
                f"invalid tree node {item!r}: a tuple is (node, [children]), the children in a list"
            )
        return [Node(_check_label(item[0]), _children(item[1], item[0]))]
    return [Node(_check_label(item), None)]


def parse_tree(expected: Any) -> List[Node]:
    """The expected top-level nodes (a list means several)."""
    if isinstance(expected, list):
        if not expected:
            raise ValueError("invalid expected tree []: name at least one span")
        return _children(expected, "the trace")
    return _nodes(expected)


class _Matching:
    def __init__(self, trace: Trace, exact: bool, ordered: bool) -> None:
        self.trace = trace
        self.exact = exact
        self.ordered = ordered
        self._fits: Dict[Tuple[int, str], bool] = {}

    def label_ok(self, node: Node, span: SpanRecord) -> bool:
        label = node.label
        if isinstance(label, str):
            return span.name == label
        if isinstance(label, Query):
            return label.matches(span, self.trace)
        return matches_value(label, span.name)

    def fits(self, node: Node, span: SpanRecord) -> bool:
        key = (id(node), span.span_id)
        found = self._fits.get(key)
        if found is None:
            found = self._fits[key] = self._fits_now(node, span)
        return found

    def _fits_now(self, node: Node, span: SpanRecord) -> bool:
        if not self.label_ok(node, span):
            return False
        kids = self.trace.children(span)
        if node.children is None:
            return not (self.exact and kids)
        return self.assign(node.children, kids)

    def assign(self, nodes: Sequence[Node], spans: Sequence[SpanRecord]) -> bool:
        """Whether each node can have a span of its own among ``spans``."""
        if self.exact and len(nodes) != len(spans):
            return False
        if self.ordered:
            return self._in_order(nodes, 0, spans, 0)
        owner: Dict[int, int] = {}  # span index -> node index

        def place(i: int, tried: set[int]) -> bool:
            for j, span in enumerate(spans):
                if j in tried or not self.fits(nodes[i], span):
                    continue
                tried.add(j)
                if j not in owner or place(owner[j], tried):
                    owner[j] = i
                    return True
            return False

        return all(place(i, set()) for i in range(len(nodes)))

    def _in_order(self, nodes: Sequence[Node], i: int, spans: Sequence[SpanRecord], j: int) -> bool:
        # Whether a node fits a span does not depend on the other nodes, so
        # giving each node the first span that fits it never costs a later
        # node its match: one pass, no backtracking.
        for node in nodes[i:]:
            while j < len(spans) and not self.fits(node, spans[j]):
                j += 1
            if j == len(spans):
                return False
            j += 1
        return True

    # -- where it went wrong ----------------------------------------------

    def diagnose_children(
        self,
        nodes: Sequence[Node],
        spans: Sequence[SpanRecord],
        parent: Optional[SpanRecord],
        parent_node: Optional[Node],
    ) -> Tuple[Optional[Node], Optional[SpanRecord], str]:
        where = f"child of {parent.name!r}" if parent is not None else "span"
        names = ", ".join(repr(s.name) for s in spans[:8]) + (" …" if len(spans) > 8 else "")
        found = f"children: {names}" if parent is not None else f"spans: {names}"
        if not spans:
            found = "no children" if parent is not None else "no spans"
        owner = f"{parent.name!r}" if parent is not None else "the trace"
        if self.exact and len(spans) > len(nodes):
            return (
                parent_node,
                parent,
                f"{owner} has {len(spans)} {'children' if parent else 'roots'}, "
                f"expected exactly {len(nodes)}: {names}",
            )
        for node in nodes:
            candidates = [s for s in spans if self.label_ok(node, s)]
            if not candidates:
                return node, parent, f"no {where} matches {node.text!r} ({found})"
            if not any(self.fits(node, s) for s in candidates):
                return self.diagnose_node(node, candidates[0])
        wanted = ", ".join(repr(n.text) for n in nodes)
        if self.ordered:
            return (
                parent_node,
                parent,
                f"the children of {owner} are not in the expected order: expected {wanted}; "
                f"found, by start time, {names}",
            )
        group = f"children of {owner}" if parent is not None else "spans"
        return parent_node, parent, f"too few {group} match: expected {wanted}; found {names}"

    def diagnose_node(
        self, node: Node, span: SpanRecord
    ) -> Tuple[Optional[Node], Optional[SpanRecord], str]:
        kids = self.trace.children(span)
        if node.children is None:
            names = ", ".join(repr(s.name) for s in kids)
            return node, span, f"{span.name!r} has children ({names}), expected none"
        return self.diagnose_children(node.children, kids, span, node)


def _expected_rows(nodes: Sequence[Node]) -> List[Tuple[str, Node]]:
    rows: List[Tuple[str, Node]] = []

    def walk(node: Node, prefix: str, branch: str, inner: str) -> None:
        rows.append((prefix + branch + node.text, node))
        kids = node.children or []
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, prefix + inner, "└── " if last else "├── ", "    " if last else "│   ")

    for node in nodes:
        walk(node, "", "", "")
    return rows


def _side_by_side(
    nodes: Sequence[Node],
    trace: Trace,
    marked_node: Optional[Node],
    marked_span: Optional[SpanRecord],
) -> List[str]:
    from .render import tree_rows

    left = [("> " if node is marked_node else "  ") + text for text, node in _expected_rows(nodes)]
    right = []
    for prefix, span in tree_rows(trace):
        mark = "> " if marked_span is not None and span is marked_span else "  "
        kind = f" [{span.kind}]" if span.kind != "INTERNAL" else ""
        status = " ERROR" if span.status == "ERROR" else ""
        right.append(mark + prefix + span.name + kind + status)
    if len(right) > _MAX_ROWS:
        right = right[: _MAX_ROWS - 1] + [f"  … {len(right) - _MAX_ROWS + 1} more spans"]
    width = max(len(line) for line in left + ["  expected"])
    lines = [f"{'  expected':<{width}} │   actual"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        lines.append(f"{a:<{width}} │ {b}".rstrip())
    return lines


def match_tree(
    trace: Trace, expected: Any, *, exact: bool = False, ordered: bool = False
) -> Optional[str]:
    """``None`` when ``trace`` has the shape ``expected``, else the failure message."""
    for flag, value in (("exact", exact), ("ordered", ordered)):
        if not isinstance(value, bool):
            raise ValueError(f"invalid {flag} {value!r}: expected True or False")
    nodes = parse_tree(expected)
    matching = _Matching(trace, exact, ordered)
    # Without exact=True the expected top may sit anywhere: spans above it are extra spans.
    tops = trace.roots if exact else list(trace)
    if matching.assign(nodes, tops):
        return None
    marked_node, marked_span, reason = matching.diagnose_children(nodes, tops, None, None)
    options = ", ".join(f"{f}=True" for f, v in (("exact", exact), ("ordered", ordered)) if v)
    head = f"trace {trace.trace_id} does not have the expected shape" + (
        f" ({options})" if options else ""
    )
    lines = [f"{head}: {reason}", ""]
    lines.extend(_side_by_side(nodes, trace, marked_node, marked_span))
    return "\n".join(lines)
