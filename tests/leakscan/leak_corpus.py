"""The leak scan's corpus: secrets of every detector's kinds, fresh for each run, and their spellings.

Every secret is generated with random parts, so a hit in a sink can only come from the request
that planted it. Each has spellings as a client would send them (plain, percent-encoded,
form-encoded with ``+``, HTML entities for form values); the scan looks for the plain value and
every spelling in every decoded view of every sink. Look-alikes (UUIDs, trace ids, digests,
dates, versions, ``max_tokens=``, ``author``) must come back byte for byte, and a harmless
marker must be found raw, so that an empty or broken sink cannot pass.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import string
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from glowops.redaction.detectors import luhn_ok

_RNG = secrets.SystemRandom()


def _digits(n: int) -> str:
    return "".join(_RNG.choice(string.digits) for _ in range(n))


def _alnum(n: int) -> str:
    return "".join(_RNG.choice(string.ascii_letters + string.digits) for _ in range(n))


def _upper_alnum(n: int) -> str:
    return "".join(_RNG.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def _luhn(prefix: str, length: int) -> str:
    body = prefix + _digits(length - len(prefix) - 1)
    return next(body + c for c in string.digits if luhn_ok(body + c))


def _random_key(n: int) -> str:
    """Base62 with at least one digit, one capital and one small letter (a real key's shape)."""
    return (
        _RNG.choice(string.digits)
        + _RNG.choice(string.ascii_uppercase)
        + _RNG.choice(string.ascii_lowercase)
        + _alnum(n - 3)
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class Secret:
    """One planted value: ``kind``, the value as planted, and the substrings that must never appear."""

    kind: str
    value: str
    cores: tuple[str, ...] = field(default=())

    @property
    def needles(self) -> tuple[str, ...]:
        return (self.value, *self.cores)

    def spellings(self) -> dict[str, str]:
        """The ways a client may send it: plain, percent, form (``+``), HTML entities."""
        entity = "".join(f"&#{ord(c)};" if c in "@.+- " else c for c in self.value)
        return {
            "plain": self.value,
            "percent": quote(self.value, safe=""),
            "form": quote_plus(self.value),
            "entities": html.escape(entity, quote=False).replace("&amp;#", "&#"),
        }


def make_secrets() -> list[Secret]:
    """Secrets of every kind the policy knows (fresh random parts on every call)."""
    tag = _alnum(6).lower()
    visa = _luhn("4", 16)
    master = _luhn("51", 16)
    amex = _luhn("37", 15)
    ssn = f"{_RNG.randint(100, 665):03d}-{_RNG.randint(10, 99):02d}-{_RNG.randint(1000, 9999):04d}"
    jwt_payload = _b64url(json.dumps({"sub": f"user-{tag}", "exp": 2_000_000_000}).encode())
    jwt_header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    jwt = f"{jwt_header}.{jwt_payload}.{_b64url(secrets.token_bytes(32))}"
    password = f"pw-{_alnum(14)}9"
    basic = base64.b64encode(f"svc-{tag}:{password}".encode()).decode()
    pem_body = base64.b64encode(secrets.token_bytes(96)).decode()
    out = [
        Secret("email", f"jane.doe+{tag}@example.com"),
        Secret("phone_intl", f"+44 20 {_digits(4)} {_digits(4)}"),
        Secret("phone_nanp", f"415.{_RNG.randint(200, 999)}.{_digits(4)}"),
        Secret("ssn", ssn, (ssn.replace("-", ""),)),
        Secret("card_visa", " ".join(visa[i : i + 4] for i in range(0, 16, 4)), (visa,)),
        Secret("card_mastercard", "-".join(master[i : i + 4] for i in range(0, 16, 4)), (master,)),
        Secret("card_amex", f"{amex[:4]} {amex[4:10]} {amex[10:]}", (amex,)),
        Secret("jwt", jwt, (jwt_payload,)),
        Secret("aws_key", "AKIA" + _upper_alnum(16)),
        Secret("github", "ghp_" + _random_key(36)),
        Secret("stripe", "sk_live_" + _random_key(24)),
        Secret("slack_token", f"xoxb-{_digits(12)}-{_random_key(24)}"),
        Secret("openai", "sk-proj-" + _random_key(32)),
        Secret("google_key", "AIza" + _random_key(35)),
        Secret("password_kv", f"password={password}", (password,)),
        Secret("basic_auth", f"Basic {basic}", (basic,)),
        Secret("url_credentials", f"postgresql://svc:{password}x@db.example.com/app", (password + "x",)),
        Secret(
            "slack_hook",
            f"https://hooks.slack.com/services/T{_upper_alnum(8)}/B{_upper_alnum(8)}/{_random_key(24)}",
        ),
        Secret("ein", f"EIN {_digits(2)}-{_digits(7)}"),
        Secret(
            "pem", f"-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----", (pem_body[:40],)
        ),
    ]
    # the last parts of a Slack webhook URL and an EIN are what must not leak
    fixed = []
    for secret in out:
        if secret.kind == "slack_hook":
            secret = Secret(secret.kind, secret.value, (secret.value.rsplit("/", 1)[1],))
        elif secret.kind == "ein":
            secret = Secret(secret.kind, secret.value, (secret.value.split(" ", 1)[1],))
        fixed.append(secret)
    return fixed


@dataclass(frozen=True)
class Corpus:
    """One run's secrets, look-alikes and positive-control marker."""

    secrets: list[Secret]
    look_alikes: dict[str, str]
    marker: str

    @classmethod
    def fresh(cls) -> Corpus:
        look_alikes = {
            "uuid": str(uuid.uuid4()),
            "trace_id": secrets.token_hex(16),
            "sha256": hashlib.sha256(secrets.token_bytes(8)).hexdigest(),
            "date": "2026-12-02",
            "version": f"{_RNG.randint(1, 9)}.{_RNG.randint(10, 99)}.{_RNG.randint(100, 999)}",
            "max_tokens": "max_tokens=4096",
            "author": "author=Austen",
        }
        return cls(make_secrets(), look_alikes, "lsmark" + secrets.token_hex(6))

    def look_alike_query(self) -> str:
        """The look-alikes and the marker as query parameters."""
        parts = [
            f"ref={self.look_alikes['uuid']}",
            f"trace={self.look_alikes['trace_id']}",
            f"sha={self.look_alikes['sha256']}",
            f"day={self.look_alikes['date']}",
            f"v={self.look_alikes['version']}",
            self.look_alikes["max_tokens"],
            self.look_alikes["author"],
            f"mark={self.marker}",
        ]
        return "&".join(parts)
