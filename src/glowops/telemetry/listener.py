"""The address the service really listens on, as its ASGI server reports it.

The embedded alert engine labels its samples ``instance="host:port"`` as a Prometheus scrape
would. Settings name a host and port, but a service started with ``uvicorn app:app --port 9000``
listens elsewhere: the first request's ``scope["server"]`` says where, and from then on that is
the instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_instance: str | None = None


def unknown() -> bool:
    """True until a request has told where the server listens (one check on the hot path)."""
    return _instance is None


def observe(scope: Mapping[str, Any]) -> None:
    """Remember ``host:port`` of the server of this request (the first one that has it)."""
    global _instance
    server = scope.get("server")
    if server and _instance is None:
        host, port = server[0], server[1]
        _instance = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def instance(default: str) -> str:
    """The observed ``host:port``, or ``default`` before the first request."""
    return _instance or default
