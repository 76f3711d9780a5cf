"""A recursive-descent (Pratt) parser for the supported subset of TraceQL.

Operator precedence follows Tempo's grammar: in a field expression ``&&`` and
``||`` bind loosest (as equals, left to right), then comparisons, then ``+ -``,
then ``!``, then ``* / %``, then ``^`` (right to left), then unary minus.
Between spansets the structural operators bind tighter than ``&&`` / ``||``,
and ``|`` loosest of all.
"""

from __future__ import annotations

import re
from typing import List, Optional

from .errors import TraceQLError, TraceQLUnsupported
from .lexer import Token, tokenize
from .nodes import (
    INTRINSIC_TYPES,
    NUMERIC,
    UNSCOPED_INTRINSICS,
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
    Unary,
    matching_operands,
    valid_for,
)

__all__ = ["parse"]

_COMPARISONS = ("=", "!=", ">", ">=", "<", "<=", "=~", "!~")
_FIELD_BP = {"&&": 10, "||": 10, "+": 30, "-": 30, "*": 50, "/": 50, "%": 50, "^": 60}
_FIELD_BP.update(dict.fromkeys(_COMPARISONS, 20))
_NOT_BP = 40
_NEGATE_BP = 70
_SCALAR_BP = {"+": 30, "-": 30, "*": 50, "/": 50, "%": 50, "^": 60}
_SCALAR_COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")

#: Spanset operators: ``&&`` / ``||`` and the structural ones.
SPANSET_OPS = (
    "&&", "||", ">>", ">", "<<", "<", "~", "!>>", "!>", "!<<", "!<", "!~",
    "&>>", "&>", "&<<", "&<", "&~",
)
_SPANSET_BP = {op: (10 if op in ("&&", "||") else 20) for op in SPANSET_OPS}

_AGGREGATES = ("count", "avg", "min", "max", "sum")
_STATUSES = ("ok", "error", "unset")
_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
# Valid TraceQL this subset leaves out, and how to name it in the error.
_UNSUPPORTED_WORDS = {
    **{
        name: f"the metrics function {name}()"
        for name in (
            "rate", "count_over_time", "min_over_time", "max_over_time", "avg_over_time",
            "sum_over_time", "quantile_over_time", "histogram_over_time", "compare",
        )
    },
    "topk": "the metrics function topk()",
    "bottomk": "the metrics function bottomk()",
    "with": "query hints (with ...)",
    "parent": "the parent intrinsic",
    "nestedSetLeft": "the nestedSetLeft intrinsic",
    "nestedSetRight": "the nestedSetRight intrinsic",
    "nestedSetParent": "the nestedSetParent intrinsic",
}


def _a(type_: str) -> str:
    return f"an {type_}" if type_[0] in "aeiou" else f"a {type_}"


def parse(query: str) -> Pipeline:
    """The syntax tree of ``query``; raises :class:`TraceQLError` (a ``ValueError``)."""
    if not isinstance(query, str):
        raise ValueError(f"invalid TraceQL query {query!r}: expected a string")
    parser = _Parser(query)
    tree = parser.pipeline()
    parser.finish()
    return tree


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.at = 0

    # -- helpers ----------------------------------------------------------

    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def is_op(self, *ops: str) -> bool:
        token = self.peek
        return token.kind == "op" and token.value in ops

    def is_word(self, *words: str) -> bool:
        token = self.peek
        return token.kind == "word" and token.value in words

    def error(self, message: str, token: Optional[Token] = None) -> TraceQLError:
        token = token or self.peek
        return TraceQLError(message, self.query, token.pos)

    def expected(self, what: str, token: Optional[Token] = None) -> TraceQLError:
        token = token or self.peek
        found = token.text if token.kind == "end" else repr(token.text)
        return self.error(f"expected {what}, found {found}", token)

    def unsupported(self, what: str, token: Token) -> TraceQLUnsupported:
        return TraceQLUnsupported(
            f"{what} is not supported (valid TraceQL, outside the subset implemented here)",
            self.query,
            token.pos,
        )

    def expect_op(self, op: str, what: str | None = None) -> Token:
        if not self.is_op(op):
            raise self.expected(what or repr(op))
        return self.take()

    def check_word(self) -> None:
        token = self.peek
        if token.kind == "word" and token.value in _UNSUPPORTED_WORDS:
            raise self.unsupported(_UNSUPPORTED_WORDS[token.value], token)

    def finish(self) -> None:
        self.check_word()
        if self.peek.kind != "end":
            raise self.expected("'|', a spanset operator or the end of the query")

    # -- pipelines --------------------------------------------------------

    def pipeline(self) -> Pipeline:
        start = self.peek.pos
        stages = [self.element(first=True)]
        while self.is_op("|"):
            self.take()
            stages.append(self.element(first=False))
        return Pipeline(stages, start)

    def element(self, first: bool) -> Stage:
        self.check_word()
        token = self.peek
        if token.kind == "word":
            if token.value in _AGGREGATES:
                return self.scalar_filter()
            if token.value == "by":
                self.take()
                self.expect_op("(")
                field = self.field(0)
                self.expect_op(")")
                self.check_references_span(field, token, "by()")
                return GroupBy(field, token.pos)
            if token.value == "select":
                return self.select()
            if token.value == "coalesce" and not first:
                self.take()
                self.expect_op("(")
                self.expect_op(")")
                return Coalesce(token.pos)
        if token.kind in ("int", "float", "duration") or (
            token.kind == "op" and token.value == "-" and self.scalar_ahead()
        ):
            return self.scalar_filter()
        if self.is_op("(") and self.scalar_ahead():
            # "(count() + 1) > 2" is a scalar filter, "(count() > 2) && { }" a
            # wrapped pipeline: try the first, then the second.
            saved = self.at
            try:
                return self.scalar_filter()
            except TraceQLUnsupported:
                raise
            except TraceQLError as first:
                self.at = saved
                try:
                    return self.spanset(0)
                except TraceQLError:
                    raise first from None
        return self.spanset(0)

    def scalar_ahead(self) -> bool:
        # After any opening parentheses or minus signs, an aggregate or a
        # number starts a scalar filter; a brace or anything else, a spanset.
        at = self.at
        while self.tokens[at].kind == "op" and self.tokens[at].value in ("(", "-"):
            at += 1
        token = self.tokens[at]
        return token.kind in ("int", "float", "duration") or (
            token.kind == "word" and token.value in _AGGREGATES
        )

    def select(self) -> Select:
        token = self.take()
        self.expect_op("(")
        fields: List[Field] = []
        while True:
            self.check_word()
            start = self.peek
            field = self.field_primary()
            if not isinstance(field, (Attribute, Intrinsic)):
                raise self.error("select() takes attributes and intrinsics only", start)
            fields.append(field)
            if not self.is_op(","):
                break
            self.take()
        self.expect_op(")", "',' or ')'")
        return Select(fields, token.pos)

    # -- spanset expressions ---------------------------------------------

    def spanset(self, rbp: int) -> Stage:
        left = self.spanset_operand()
        while self.peek.kind == "op" and _SPANSET_BP.get(self.peek.value, 0) > rbp:
            token = self.take()
            right = self.spanset(_SPANSET_BP[token.value])
            left = SpansetOp(token.value, left, right, token.pos)
        return left

    def spanset_operand(self) -> Stage:
        token = self.peek
        if self.is_op("{"):
            self.take()
            if self.is_op("}"):
                self.take()
                return SpansetFilter(None, token.pos)
            expression = self.field(0)
            if not self.is_op("}"):
                raise self.expected("'}' or an operator")
            self.take()
            if expression.type not in ("bool", "attribute"):
                raise self.error(
                    f"a spanset filter must be a condition, not {_a(expression.type)} value",
                    token,
                )
            return SpansetFilter(expression, token.pos)
        if self.is_op("("):
            self.take()
            inner = self.pipeline()
            self.expect_op(")", "')' or '|'")
            return inner.stages[0] if len(inner.stages) == 1 else inner
        self.check_word()
        raise self.expected("'{' or '('")

    # -- field expressions ------------------------------------------------

    def field(self, rbp: int) -> Field:
        left = self.field_prefix()
        while self.peek.kind == "op" and _FIELD_BP.get(self.peek.value, 0) > rbp:
            token = self.take()
            op = token.value
            if op in ("=", "!=") and self.is_word("nil"):
                self.take()
                left = self.nil_test(op, left, token)
                continue
            if self.is_word("nil"):
                raise self.error("nil can only be compared with = or !=")
            bp = _FIELD_BP[op]
            right = self.field(bp - 1 if op == "^" else bp)
            left = self.binary(op, left, right, token)
        return left

    def binary(self, op: str, left: Field, right: Field, token: Token) -> Binary:
        if not matching_operands(left.type, right.type) or not (
            valid_for(op, left.type) and valid_for(op, right.type)
        ):
            raise self.error(f"cannot apply {op} to {left.type} and {right.type}", token)
        if op in ("=~", "!~"):
            if not (isinstance(right, Static) and right.type == "string"):
                raise self.error(
                    f"{op} needs a string literal (a regular expression) on its right", token
                )
            try:
                re.compile(right.value)
            except re.error as exc:
                raise TraceQLError(
                    f"invalid regular expression {right.value!r}: {exc}", self.query, right.pos
                ) from None
        return Binary(op, left, right, token.pos)

    def nil_test(self, op: str, operand: Field, token: Token) -> Unary:
        if isinstance(operand, Intrinsic) and op == "=":
            raise self.error("an intrinsic is never nil: = nil applies to attributes", token)
        return Unary("exists" if op == "!=" else "missing", operand, token.pos)

    def field_prefix(self) -> Field:
        token = self.peek
        if self.is_op("!"):
            self.take()
            operand = self.field(_NOT_BP)
            if operand.type not in ("bool", "attribute"):
                raise self.error(f"! needs a condition, not {_a(operand.type)} value", token)
            return Unary("!", operand, token.pos)
        if self.is_op("-"):
            self.take()
            operand = self.field(_NEGATE_BP)
            if operand.type not in NUMERIC + ("attribute",):
                raise self.error(f"- needs a number, not {_a(operand.type)} value", token)
            if isinstance(operand, Static):
                return Static(-operand.value, operand.type, token.pos)
            return Unary("-", operand, token.pos)
        if self.is_op("("):
            self.take()
            inner = self.field(0)
            self.expect_op(")", "')' or an operator")
            return inner
        if self.is_word("nil"):
            self.take()
            if not self.is_op("=", "!="):
                raise self.error("nil can only be compared with = or !=", token)
            op_token = self.take()
            if self.is_word("nil"):
                self.take()
                return Static(False, "bool", token.pos)
            operand = self.field(_FIELD_BP["="])
            return self.nil_test(op_token.value, operand, op_token)
        return self.field_primary()

    def field_primary(self) -> Field:
        token = self.peek
        kind, value = token.kind, token.value
        if kind in ("string", "int", "float", "duration"):
            self.take()
            return Static(value, kind, token.pos)
        if kind == "attribute":
            scope, name = value
            if scope == "parent":
                raise self.unsupported("the parent. attribute scope", token)
            self.take()
            return Attribute(scope, name, token.pos)
        if kind == "intrinsic":
            if value not in INTRINSIC_TYPES:
                names = ", ".join(n for s, n in INTRINSIC_TYPES if s == value[0])
                raise self.error(
                    f"unknown intrinsic {value[0]}:{value[1]}: expected {value[0]}: then one of "
                    f"{names}",
                    token,
                )
            self.take()
            return Intrinsic(value[0], value[1], token.pos)
        if kind == "word":
            self.check_word()
            self.take()
            if value in ("true", "false"):
                return Static(value == "true", "bool", token.pos)
            if value in _STATUSES:
                return Static(value.upper(), "status", token.pos)
            if value in _KINDS:
                return Static(value.upper(), "kind", token.pos)
            if value in UNSCOPED_INTRINSICS:
                scope, name = UNSCOPED_INTRINSICS[value]
                return Intrinsic(scope, name, token.pos)
            if value == "minInt":
                return Static(-(2**63), "int", token.pos)
            if value == "maxInt":
                return Static(2**63 - 1, "int", token.pos)
            raise self.error(
                f"unknown identifier {value!r}: an attribute needs a scope (.{value} or "
                f"span.{value}), a string needs quotes",
                token,
            )
        raise self.expected("a field, a value or '('")

    def check_references_span(self, field: Field, token: Token, what: str) -> None:
        if not any(isinstance(n, (Attribute, Intrinsic)) for n in field.walk()):
            raise self.error(f"{what} needs an attribute or intrinsic of the span", token)

    # -- scalar filters (aggregates) ------------------------------------

    def scalar_filter(self) -> ScalarFilter:
        start = self.peek
        left = self.scalar(0)
        if not self.is_op(*_SCALAR_COMPARISONS):
            self.check_word()
            raise self.expected("a comparison (=, !=, <, <=, >, >=) after the aggregate")
        token = self.take()
        right = self.scalar(0)
        if not (left.has_aggregate() or right.has_aggregate()):
            raise self.error("a pipeline comparison needs an aggregate such as count()", start)
        self.check_scalar_types(token.value, left, right, token)
        return ScalarFilter(token.value, left, right, token.pos)

    def check_scalar_types(self, op: str, left: Scalar, right: Scalar, token: Token) -> None:
        if not matching_operands(left.type, right.type) or not (
            valid_for(op, left.type) and valid_for(op, right.type)
        ):
            raise self.error(f"cannot apply {op} to {left.type} and {right.type}", token)

    def scalar(self, rbp: int) -> Scalar:
        left = self.scalar_prefix()
        while self.peek.kind == "op" and _SCALAR_BP.get(self.peek.value, 0) > rbp:
            token = self.take()
            bp = _SCALAR_BP[token.value]
            right = self.scalar(bp - 1 if token.value == "^" else bp)
            self.check_scalar_types(token.value, left, right, token)
            left = ScalarOp(token.value, left, right, token.pos)
        return left

    def scalar_prefix(self) -> Scalar:
        token = self.peek
        if self.is_op("("):
            self.take()
            inner = self.scalar(0)
            self.expect_op(")", "')' or an operator")
            return inner
        if self.is_op("-"):
            self.take()
            operand = self.scalar(_NEGATE_BP)
            zero = ScalarStatic(0, "int", token.pos)
            return ScalarOp("-", zero, operand, token.pos)
        if token.kind in ("int", "float", "duration"):
            self.take()
            return ScalarStatic(token.value, token.kind, token.pos)
        self.check_word()
        if token.kind == "word" and token.value in _AGGREGATES:
            self.take()
            self.expect_op("(")
            if token.value == "count":
                self.expect_op(")", "')': count() takes no argument")
                return Aggregate("count", None, token.pos)
            if self.is_op(")"):
                raise self.expected(f"a field to {token.value}()")
            field = self.field(0)
            self.expect_op(")", "')' or an operator")
            if field.type not in NUMERIC + ("attribute",):
                raise self.error(
                    f"{token.value}() needs a number, not {_a(field.type)} value", token
                )
            self.check_references_span(field, token, f"{token.value}()")
            return Aggregate(token.value, field, token.pos)
        raise self.expected("an aggregate (count, avg, min, max, sum) or a number")
