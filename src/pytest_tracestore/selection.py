"""The command's filters on every span it reads: ``--test`` and ``--service``.

They look at one span alone, so every command keeps reading the file as a
stream.  Imports no pytest.
"""

from __future__ import annotations

import argparse
from typing import Optional

from .record import SpanRecord

__all__ = ["SpanSelection", "add_selection_arguments"]


class SpanSelection:
    """Which spans a command looks at: a test's (by node id or a part of one), a service's."""

    def __init__(self, test: Optional[str] = None, service: Optional[str] = None) -> None:
        for what, value in (("test", test), ("service", service)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"invalid {what} {value!r}: expected a non-empty string")
        self.test = test
        self.service = service

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SpanSelection:
        """The selection the command line asked for (``--test``, and ``--service`` where given)."""
        return cls(getattr(args, "test", None), getattr(args, "select_service", None))

    def __bool__(self) -> bool:
        return self.test is not None or self.service is not None

    def __call__(self, record: SpanRecord) -> bool:
        """Whether ``record`` is selected."""
        wanted = self.test
        if wanted is not None:
            test = record.test
            if test is None or wanted not in test:
                return False
        if self.service is not None and record.resource.get("service.name") != self.service:
            return False
        return True

    def __str__(self) -> str:
        parts = []
        if self.test is not None:
            parts.append(f"--test {self.test}")
        if self.service is not None:
            parts.append(f"--service {self.service}")
        return " ".join(parts)


def _non_empty(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return text


def add_selection_arguments(parser: argparse.ArgumentParser, *, service: bool = True) -> None:
    """Add ``--test`` (and, unless the command has its own, ``--service``) to a command."""
    parser.add_argument(
        "--test",
        type=_non_empty,
        metavar="NODEID",
        help="only the spans of the tests whose node id is, or holds, NODEID",
    )
    if service:
        parser.add_argument(
            "--service",
            dest="select_service",
            type=_non_empty,
            metavar="NAME",
            help="only the spans whose resource's service.name is NAME",
        )
