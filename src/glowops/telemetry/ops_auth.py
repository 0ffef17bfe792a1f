"""Who may read ops surfaces (/metrics now; health details and the console later).

With ``GLOWOPS_OPS_TOKEN`` set, a caller must present ``Authorization: Bearer <token>``
(compared in constant time). Without a token, only loopback clients are served: that is the
ops-port deployment, or a developer's machine.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.types import Receive, Scope, Send

from glowops.settings import Settings
from glowops.telemetry.hooks import header

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_CHALLENGE = b'Bearer realm="glowops-ops"'


class OpsGuard:
    """Decides whether a request may see an ops surface; answers 401 when it may not."""

    def __init__(self, settings: Settings) -> None:
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        self._expected = b"Bearer " + token.encode() if token else None

    @property
    def token_required(self) -> bool:
        return self._expected is not None

    def allows(self, scope: Scope) -> bool:
        """True when the request carries the ops token (or comes from loopback when none is set)."""
        if self._expected is None:
            client: Any = scope.get("client")
            return bool(client) and client[0] in _LOOPBACK
        presented = header(scope, b"authorization") or b""
        return hmac.compare_digest(presented, self._expected)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send 401 with a ``WWW-Authenticate`` challenge (problem+json body)."""
        body = (
            b'{"type":"about:blank","title":"Unauthorized","status":401,'
            b'"detail":"This ops endpoint needs Authorization: Bearer <GLOWOPS_OPS_TOKEN>."}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"www-authenticate", _CHALLENGE),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
