"""The syntax tree of a TraceQL query, with each expression's implied type."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

__all__ = [
    "Field", "Static", "Intrinsic", "Attribute", "Binary", "Unary",
    "SpansetFilter", "SpansetOp", "Pipeline", "ScalarFilter", "Aggregate", "ScalarOp",
    "GroupBy", "Select", "Coalesce", "INTRINSIC_TYPES",
]

# Implied types, as Tempo names them; "attribute" is a value known only at run time.
NUMERIC = ("int", "float", "duration")

#: Each supported intrinsic, by (scope, name), and its type.  Scope "" is the
#: unscoped form (``name``, ``duration``, ``rootName``...).
INTRINSIC_TYPES = {
    ("span", "name"): "string",
    ("span", "status"): "status",
    ("span", "statusMessage"): "string",
    ("span", "kind"): "kind",
    ("span", "duration"): "duration",
    ("span", "id"): "string",
    ("span", "parentID"): "string",
    ("span", "childCount"): "int",
    ("trace", "duration"): "duration",
    ("trace", "rootName"): "string",
    ("trace", "rootService"): "string",
    ("trace", "id"): "string",
    ("event", "name"): "string",
    ("event", "timeSinceStart"): "duration",
    ("link", "traceID"): "string",
    ("link", "spanID"): "string",
    ("instrumentation", "name"): "string",
    ("instrumentation", "version"): "string",
}

#: The unscoped intrinsics and the scoped one each stands for.
UNSCOPED_INTRINSICS = {
    "name": ("span", "name"),
    "status": ("span", "status"),
    "statusMessage": ("span", "statusMessage"),
    "kind": ("span", "kind"),
    "duration": ("span", "duration"),
    "rootName": ("trace", "rootName"),
    "rootServiceName": ("trace", "rootService"),
    "traceDuration": ("trace", "duration"),
}


def matching_operands(a: str, b: str) -> bool:
    """Whether two implied types may meet in one operation (Tempo's isMatchingOperand)."""
    return (
        a == b or "attribute" in (a, b) or "nil" in (a, b) or (a in NUMERIC and b in NUMERIC)
    )


def valid_for(op: str, t: str) -> bool:
    """Whether operator ``op`` applies to a value of implied type ``t``."""
    if t == "attribute":
        return True
    if t == "bool":
        return op in ("&&", "||", "=", "!=")
    if t in NUMERIC:
        return op in ("+", "-", "*", "/", "%", "^", "=", "!=", ">", ">=", "<", "<=")
    if t == "string":
        return op in ("=", "!=", "=~", "!~", ">", ">=", "<", "<=")
    if t in ("status", "kind"):
        return op in ("=", "!=")
    return False


class Field:
    """A field expression: evaluated on one span."""

    type: str = "attribute"
    pos: int = 0

    def children(self) -> Tuple[Field, ...]:
        return ()

    def walk(self) -> List[Field]:
        out: List[Field] = [self]
        for child in self.children():
            out.extend(child.walk())
        return out


class Static(Field):
    def __init__(self, value: Any, type_: str, pos: int) -> None:
        self.value, self.type, self.pos = value, type_, pos


class Intrinsic(Field):
    def __init__(self, scope: str, name: str, pos: int) -> None:
        self.scope, self.name, self.pos = scope, name, pos
        self.type = INTRINSIC_TYPES[(scope, name)]


class Attribute(Field):
    def __init__(self, scope: str, name: str, pos: int) -> None:
        # scope "" is unscoped: the span's attribute, else the resource's.
        self.scope, self.name, self.pos = scope, name, pos


class Binary(Field):
    def __init__(self, op: str, lhs: Field, rhs: Field, pos: int) -> None:
        self.op, self.lhs, self.rhs, self.pos = op, lhs, rhs, pos
        if op in ("&&", "||", "=", "!=", ">", ">=", "<", "<=", "=~", "!~"):
            self.type = "bool"
        else:
            self.type = lhs.type if lhs.type != "attribute" else rhs.type

    def children(self) -> Tuple[Field, ...]:
        return (self.lhs, self.rhs)


class Unary(Field):
    """``!x``, ``-x``, and ``x != nil`` (op "exists") / ``x = nil`` (op "missing")."""

    def __init__(self, op: str, operand: Field, pos: int) -> None:
        self.op, self.operand, self.pos = op, operand, pos
        self.type = operand.type if op == "-" else "bool"

    def children(self) -> Tuple[Field, ...]:
        return (self.operand,)


class Stage:
    """A spanset expression or pipeline stage: spansets in, spansets out."""

    pos: int = 0


class SpansetFilter(Stage):
    def __init__(self, expression: Optional[Field], pos: int) -> None:
        self.expression, self.pos = expression, pos


class SpansetOp(Stage):
    def __init__(self, op: str, lhs: Stage, rhs: Stage, pos: int) -> None:
        self.op, self.lhs, self.rhs, self.pos = op, lhs, rhs, pos


class Pipeline(Stage):
    def __init__(self, stages: List[Stage], pos: int) -> None:
        self.stages, self.pos = stages, pos


class Scalar:
    """A value computed over one spanset: an aggregate, a number, or arithmetic on them."""

    type: str = "attribute"
    pos: int = 0

    def has_aggregate(self) -> bool:
        return False


class Aggregate(Scalar):
    def __init__(self, function: str, field: Optional[Field], pos: int) -> None:
        self.function, self.field, self.pos = function, field, pos
        if function == "count":
            self.type = "int"
        elif function == "avg" and field is not None and field.type == "int":
            self.type = "float"
        else:
            self.type = field.type if field is not None else "attribute"

    def has_aggregate(self) -> bool:
        return True


class ScalarOp(Scalar):
    def __init__(self, op: str, lhs: Scalar, rhs: Scalar, pos: int) -> None:
        self.op, self.lhs, self.rhs, self.pos = op, lhs, rhs, pos
        self.type = lhs.type if lhs.type != "attribute" else rhs.type

    def has_aggregate(self) -> bool:
        return self.lhs.has_aggregate() or self.rhs.has_aggregate()


class ScalarStatic(Scalar):
    def __init__(self, value: Any, type_: str, pos: int) -> None:
        self.value, self.type, self.pos = value, type_, pos


class ScalarFilter(Stage):
    def __init__(self, op: str, lhs: Scalar, rhs: Scalar, pos: int) -> None:
        self.op, self.lhs, self.rhs, self.pos = op, lhs, rhs, pos


class GroupBy(Stage):
    def __init__(self, field: Field, pos: int) -> None:
        self.field, self.pos = field, pos


class Select(Stage):
    def __init__(self, fields: List[Field], pos: int) -> None:
        self.fields, self.pos = fields, pos


class Coalesce(Stage):
    def __init__(self, pos: int) -> None:
        self.pos = pos
