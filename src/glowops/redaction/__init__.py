"""PII redaction: one policy for every sink (logs, Sentry events, spans, alerts, health output).

    from glowops.redaction import default_policy
    policy = default_policy(settings)
    policy.redact({"password": "x", "note": "mail jane@example.com"})
    # {'password': '***REDACTED***', 'note': 'mail ***REDACTED***'}

Choices worth knowing (the details live in :mod:`~glowops.redaction.keys`,
:mod:`~glowops.redaction.detectors`, :mod:`~glowops.redaction.text` and
:class:`RedactionPolicy`):

- Mask text is ``***REDACTED***``. With ``GLOWOPS_REDACTION_HMAC_KEY`` set, e-mail addresses
  (in text, and values of ``GLOWOPS_REDACTION_PSEUDONYMIZE_KEYS``) become ``pseud:`` + the first
  16 hex digits of HMAC-SHA256(key, lower-cased address): stable, keyed, not reversible.
- URL credentials keep the user name and mask the password: ``postgresql://app:***REDACTED***@db``.
- Secret query/fragment parameters (``&`` or ``;`` separated) are masked by name; ``key``,
  ``sig`` and ``*signature`` count as secret only in URLs.
- Card numbers need an issuer prefix, a valid length and the Luhn check; phone numbers need a
  ``+`` or separators (bare digit runs are never phones); only ASCII digits are considered.
- Strings longer than ``max_string_length`` (256 KiB) are cut there, scrubbed, and end with
  ``…[truncated]``: the dropped tail is never output. Containers deeper than ``max_depth``
  (32) become ``<max depth>``; cycles become ``<cycle>``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from glowops.redaction.detectors import MASK
from glowops.redaction.keys import is_sensitive_key, normalise_key
from glowops.redaction.policy import CYCLE, MAX_DEPTH, PSEUDONYM_PREFIX, RedactionPolicy
from glowops.redaction.text import TRUNCATED

if TYPE_CHECKING:
    from glowops.settings import Settings

__all__ = [
    "CYCLE",
    "MASK",
    "MAX_DEPTH",
    "PSEUDONYM_PREFIX",
    "TRUNCATED",
    "RedactionPolicy",
    "default_policy",
    "is_sensitive_key",
    "normalise_key",
    "redact_headers",
    "redact_url",
]


def default_policy(settings: Settings | None = None) -> RedactionPolicy:
    """The policy configured by ``settings`` (the process settings when ``None``).

    Cached per distinct configuration (extra keys, HMAC key, pseudonymised keys), so every sink
    of a process shares one policy and its key cache.
    """
    if settings is None:
        from glowops.settings import get_settings

        settings = get_settings()
    secret = settings.redaction_hmac_key
    key = secret.get_secret_value() if secret is not None else None
    return _policy_for(
        tuple(settings.redaction_extra_keys), key or None, tuple(settings.redaction_pseudonymize_keys)
    )


@functools.lru_cache(maxsize=16)
def _policy_for(
    extra_keys: tuple[str, ...], hmac_key: str | None, pseudonymize_keys: tuple[str, ...]
) -> RedactionPolicy:
    return RedactionPolicy(extra_keys=extra_keys, hmac_key=hmac_key, pseudonymize_keys=pseudonymize_keys)


def redact_url(url: str, policy: RedactionPolicy) -> str:
    """:meth:`RedactionPolicy.redact_url` of ``policy`` (there is no implicit policy)."""
    return policy.redact_url(url)


def redact_headers(headers: Mapping[Any, Any] | Iterable[tuple[Any, Any]], policy: RedactionPolicy) -> Any:
    """:meth:`RedactionPolicy.redact_headers` of ``policy`` (there is no implicit policy)."""
    return policy.redact_headers(headers)
