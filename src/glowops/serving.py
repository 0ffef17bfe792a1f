"""uvicorn's HTTP/1.1 protocol, answering requests it cannot parse with a problem body.

uvicorn refuses a request it cannot parse (a header value with a raw line break, a broken
request line) before any ASGI app sees it, with a plain-text ``Invalid HTTP request received.``
Clients of a glowops service expect RFC 9457 problem bodies for every error, so this protocol
answers the same 400 as ``application/problem+json``. Pass it to uvicorn::

    uvicorn.run(app, http=glowops.serving.ProblemHTTPProtocol)
    uvicorn --http glowops.serving:ProblemHTTPProtocol --factory my_service:create_app

Everything else is uvicorn's own protocol (httptools when installed, as with uvicorn[standard],
else h11), unchanged.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from glowops.problems import PROBLEM_JSON, problem_body

__all__ = ["BAD_REQUEST_BODY", "ProblemHTTPProtocol"]

_log = logging.getLogger("glowops.serving")

# No request ID: the request never reached the point where one is assigned.
BAD_REQUEST_BODY = orjson.dumps(
    {
        k: v
        for k, v in problem_body(
            400,
            "The request is not valid HTTP/1.1: check the request line and the headers "
            "(a header value may not contain a line break or other control characters).",
        ).items()
        if k != "request_id"
    }
)


def _problem_400_bytes() -> bytes:
    head = (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"content-type: " + PROBLEM_JSON.encode() + b"\r\n"
        b"content-length: " + str(len(BAD_REQUEST_BODY)).encode("ascii") + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + BAD_REQUEST_BODY


class _ProblemH11(H11Protocol):
    """h11 with a problem-body 400."""

    def send_400_response(self, msg: str) -> None:
        # h11's state machine is in an error state here: write the answer as bytes, then close.
        _log.warning("unparseable HTTP request refused with 400: %s", msg)
        self.transport.write(_problem_400_bytes())
        self.transport.close()


def _pick() -> type[asyncio.Protocol]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return _ProblemH11

    class _ProblemHttpTools(HttpToolsProtocol):
        """httptools with a problem-body 400."""

        def send_400_response(self, msg: str) -> None:
            _log.warning("unparseable HTTP request refused with 400: %s", msg)
            self.transport.write(_problem_400_bytes())
            self.transport.close()

    return _ProblemHttpTools


ProblemHTTPProtocol: type[asyncio.Protocol] = _pick()
"""uvicorn's default HTTP/1.1 protocol class, with problem-body 400s."""
