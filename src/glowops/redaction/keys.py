"""Which mapping keys (dict keys, header names, query parameter names) hold secrets.

Keys are compared after normalisation: lower-cased, with ``-``, ``_``, ``.`` and spaces removed,
so ``X-Api-Key``, ``x_api_key`` and ``apiKey`` are one name. The rules work on that normalised
form, in three tiers, so that near-misses stay visible: ``author``/``authority`` are not ``auth``,
and ``max_tokens``/``total_tokens`` (counts) are not ``*token`` (credentials).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[-_. ]")

#: Whole normalised names that are secret.
EXACT: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "auth",
        "basicauth",
        "httpauth",
        "proxyauth",
        "authorization",
        "proxyauthorization",
        "cookie",
        "cookies",
        "setcookie",
        "session",
        "sessionid",
        "sessid",
        "sessionkey",
        "jsessionid",
        "phpsessid",
        "ssn",
        "socialsecuritynumber",
        "taxid",
        "tin",
        "ein",
        "itin",
        "privatekey",
        "credential",
        "credentials",
        "dsn",
        "jwt",
        "otp",
        "totp",
        "mfacode",
        "apikey",
        "xapikey",
        "signature",
    }
)

#: A normalised name ending with one of these is secret (``access_token``, ``client_secret``,
#: ``db_password``, ``openai_api_key``...). ``tokens`` is deliberately absent: it counts things.
SUFFIXES: tuple[str, ...] = (
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "apikey",
    "authorization",
    "cookie",
    "cookies",
    "sessionid",
    "privatekey",
    "secretkey",
    "accesskey",
    "accesskeyid",
    "signingkey",
    "encryptionkey",
    "credential",
    "credentials",
    "ssn",
)

#: A normalised name containing one of these is secret (``password_hash``, ``api_keys``,
#: ``aws_secret_access_key``, ``secret_name``...): over-masking a neighbour beats a leak.
FRAGMENTS: tuple[str, ...] = ("password", "passwd", "apikey", "privatekey", "credential", "secret")

#: Extra names that are secret only as URL query parameters (``?key=...``, ``&sig=...``),
#: where they carry API keys and signed-URL signatures; as dict keys they are too common.
QUERY_ONLY: frozenset[str] = frozenset({"key", "sig", "signature"})

#: "secret" inside an ordinary word is not a secret.
_NOT_SECRET: frozenset[str] = frozenset({"secretary", "secretariat"})


def normalise_key(name: str) -> str:
    """``X-Api-Key`` -> ``xapikey``; the form every rule in this module compares."""
    return _SEPARATORS.sub("", name.lower())


def is_sensitive_normalised(norm: str, extra: frozenset[str] = frozenset()) -> bool:
    """True when the normalised key ``norm`` names a secret (see the module docstring)."""
    if norm in EXACT or norm in extra:
        return True
    if not norm or norm in _NOT_SECRET:
        return False
    if norm.endswith(SUFFIXES):
        return True
    return any(fragment in norm for fragment in FRAGMENTS)


def is_sensitive_key(name: str, extra: Iterable[str] = ()) -> bool:
    """True when ``name`` (any case or separator style) names a secret."""
    return is_sensitive_normalised(normalise_key(name), frozenset(normalise_key(e) for e in extra))


def is_sensitive_query_param(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Like :func:`is_sensitive_key`, plus the query-only names (``key``, ``sig``, ``*signature``)."""
    norm = normalise_key(name)
    return norm in QUERY_ONLY or norm.endswith("signature") or is_sensitive_normalised(norm, extra)
