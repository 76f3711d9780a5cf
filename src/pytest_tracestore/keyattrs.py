"""Which attributes explain a span: the one rule for every short form of a span.

A line about a span has room for a few attributes, and a reader wants the
ones that say what the span did (the route and the status code of a
request, the statement of a query, the error's type) before the ones that
merely describe it.  The report sections put these keys first and the rest
after; the command's trees show these keys alone unless asked for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, List

__all__ = ["KEY_ATTRIBUTES", "key_attributes", "ordered_keys"]

#: Attribute keys that explain a span, in the order they are shown: names from
#: OpenTelemetry's semantic conventions, each current name followed by the older
#: one instrumentations still send.
KEY_ATTRIBUTES = (
    # HTTP
    "http.route",
    "http.request.method",
    "http.method",
    "http.response.status_code",
    "http.status_code",
    "url.full",
    "http.url",
    "http.target",
    # databases
    "db.system",
    "db.operation.name",
    "db.operation",
    "db.statement",
    "db.query.text",
    # RPC and messaging
    "rpc.system",
    "rpc.method",
    "messaging.system",
    "messaging.destination.name",
    # where the call went
    "peer.service",
    "server.address",
    # what went wrong
    "error.type",
    "exception.type",
    "exception.message",
)

_RANK = {key: rank for rank, key in enumerate(KEY_ATTRIBUTES)}


def key_attributes(attributes: Mapping[str, Any]) -> List[str]:
    """The keys of ``attributes`` that explain the span, in :data:`KEY_ATTRIBUTES` order."""
    return sorted((key for key in attributes if key in _RANK), key=_RANK.__getitem__)


def ordered_keys(keys: Iterable[str]) -> List[str]:
    """Every key, those of :data:`KEY_ATTRIBUTES` first in its order, then the rest as given."""
    given = list(keys)
    rest = [key for key in given if key not in _RANK]
    return key_attributes(dict.fromkeys(given)) + rest
