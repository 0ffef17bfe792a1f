"""Signed one-click acknowledgement links: HMAC-SHA256, expiring, single-use.

Every page carries ``<external_url>/ops/oncall/ack/<token>``. The token names one firing of
one alert (fingerprint and firing time), its expiry and a random nonce, and is signed with the
on-call link key (``GLOWOPS_ONCALL_ACK_KEY``, else a random key kept in
``state_dir/oncall-ack.key``, mode 0600). Opening the link shows what would be acknowledged;
the button on that page acknowledges (a GET never changes anything, so mail scanners and chat
unfurlers that fetch links cannot acknowledge by accident). A nonce is spent on first use: a
second use, an expired link, a link of an earlier firing and a tampered link are all refused.

The link is not an ops credential: it can do exactly one thing, to one alert, once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from glowops.settings import Settings

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ack_links (nonce TEXT PRIMARY KEY, used_at REAL NOT NULL, by TEXT NOT NULL)"
)
PATH = "/ops/oncall/ack/"


class LinkError(ValueError):
    """Why a link is refused (the message is safe to show); ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class LinkClaim:
    alertname: str
    fingerprint: str
    fired_at: float
    level: int
    expires: float
    nonce: str


def link_key(settings: Settings) -> bytes:
    """The configured key, else one generated once per state directory."""
    configured = getattr(settings, "oncall_ack_key", None)
    if configured is not None and configured.get_secret_value():
        return bytes(configured.get_secret_value().encode())
    path = Path(settings.state_dir) / "oncall-ack.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckLinks:
    """Issues and redeems the links; spent nonces live in the alerting state file."""

    def __init__(self, db: sqlite3.Connection, key: bytes, external_url: str) -> None:
        self.db = db
        self.key = key
        self.external_url = external_url.rstrip("/")
        db.execute(SCHEMA)

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self.key, b"glowops-ack-link\x00" + body, hashlib.sha256).digest()

    def issue(self, alertname: str, fp: str, fired_at: float, level: int, expires: float) -> str:
        claim = {"a": alertname, "f": fp, "t": fired_at, "l": level, "e": expires, "n": secrets.token_hex(12)}
        body = json.dumps(claim, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def url(self, token: str) -> str:
        return f"{self.external_url}{PATH}{token}"

    def verify(self, token: str, now: float) -> LinkClaim:
        """The claim of a valid, unexpired, unspent link (raises LinkError otherwise)."""
        body_text, _, sig_text = token.partition(".")
        if not body_text or not sig_text or len(token) > 1024:
            raise LinkError("this is not an acknowledgement link")
        try:
            body, sig = _unb64(body_text), _unb64(sig_text)
        except ValueError:
            raise LinkError("this is not an acknowledgement link") from None
        if not hmac.compare_digest(sig, self._sign(body)):
            raise LinkError("this link's signature does not match (altered, or signed with another key)", 403)
        try:
            raw = json.loads(body)
            claim = LinkClaim(
                str(raw["a"]), str(raw["f"]), float(raw["t"]), int(raw["l"]), float(raw["e"]), str(raw["n"])
            )
        except (ValueError, KeyError, TypeError):
            raise LinkError("this is not an acknowledgement link") from None
        if now >= claim.expires:
            raise LinkError(
                "this link has expired: acknowledge from the console or `glowops alerts ack`", 410
            )
        used = self.db.execute("SELECT used_at, by FROM ack_links WHERE nonce = ?", (claim.nonce,)).fetchone()
        if used is not None:
            raise LinkError("this link has been used already; each link acknowledges once", 410)
        return claim

    def spend(self, token: str, now: float, by: str) -> LinkClaim:
        """Verify and mark used in one step (a second, concurrent use loses)."""
        claim = self.verify(token, now)
        cur = self.db.execute("INSERT OR IGNORE INTO ack_links VALUES (?, ?, ?)", (claim.nonce, now, by))
        if cur.rowcount != 1:
            raise LinkError("this link has been used already; each link acknowledges once", 410)
        return claim
