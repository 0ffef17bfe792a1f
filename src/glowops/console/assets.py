"""The console's own CSS and JavaScript, served by the service (no CDN, no external request).

Files are read once; their URLs carry a content hash (``/ops/static/console.js?v=1a2b...``), so
a hashed URL is cached for a year and a deploy changes the URL. An unhashed request gets a short
cache and an ETag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    media_type: str


class Assets:
    """The files of ``static/`` in memory, with their content hashes."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.files: dict[str, Asset] = {}
        for path in sorted(directory.iterdir()):
            if path.is_file() and path.suffix in _MEDIA:
                body = path.read_bytes()
                digest = hashlib.sha256(body).hexdigest()[:16]
                self.files[path.name] = Asset(body, digest, _MEDIA[path.suffix])

    def url(self, name: str) -> str:
        """The cache-busting URL templates link to."""
        return f"/ops/static/{name}?v={self.files[name].etag}"

    async def serve(self, request: Request) -> Response:
        asset = self.files.get(request.path_params["name"])
        if asset is None:
            return Response("not found", status_code=404, media_type="text/plain")
        etag = f'"{asset.etag}"'
        if request.query_params.get("v") == asset.etag:
            cache = "public, max-age=31536000, immutable"
        else:
            cache = "public, max-age=300"
        headers = {"Cache-Control": cache, "ETag": etag, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
