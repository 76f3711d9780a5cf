"""The errors a TraceQL query raises: a syntax error, or a construct this subset leaves out."""

from __future__ import annotations

__all__ = ["TraceQLError", "TraceQLUnsupported"]


class TraceQLError(ValueError):
    """A malformed TraceQL query.

    ``str()`` gives the problem, the query and a caret under the offending
    column; :attr:`summary` gives the same on one line (for a command line).
    """

    kind = "invalid TraceQL"

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        #: Offset of the offending character in the query (0-based).
        self.position = position
        before = query[:position]
        #: 1-based line and column of the offending character.
        self.line = before.count("\n") + 1
        self.column = position - (before.rfind("\n") + 1) + 1
        super().__init__(self._text())

    @property
    def summary(self) -> str:
        """The problem on one line: ``invalid TraceQL at column 7: expected ...``."""
        where = f"line {self.line}, column {self.column}" if "\n" in self.query else (
            f"column {self.column}"
        )
        return f"{self.kind} at {where}: {self.message}"

    def _text(self) -> str:
        lines = self.query.split("\n")
        shown = lines[self.line - 1] if lines else ""
        return f"{self.summary}\n  {shown}\n  {' ' * (self.column - 1)}^"


class TraceQLUnsupported(TraceQLError):
    """Valid TraceQL that this subset does not support (metrics, hints, ...)."""

    kind = "unsupported TraceQL"
