"""``python -m pytest_tracestore``: the same as the ``pytest-tracestore`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
