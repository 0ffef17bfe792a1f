"""The redaction policy: one object that every sink (logs, errors, spans, alerts, health) uses.

``redact`` walks any structure and returns a redacted deep copy; ``redact_event`` is the same
walk specialised for a flat log event (the per-request hot path); ``redact_text`` scrubs free
text. Keys are classified once per distinct key (cached); values under secret keys are masked
whatever their type; every other string is scrubbed as free text.

Pseudonyms: with an HMAC key, values under ``pseudonymize_keys`` and e-mail addresses found in
text become ``pseud:`` + the first 16 hex digits of HMAC-SHA256(key, value), e-mail addresses
lower-cased first, so one person correlates across events without being named. Without a key
they are masked.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from pydantic import SecretBytes, SecretStr

from glowops.redaction.detectors import MASK
from glowops.redaction.keys import is_sensitive_normalised, normalise_key
from glowops.redaction.keys import is_sensitive_query_param as _is_sensitive_query_param
from glowops.redaction.text import TextScrubber

CYCLE = "<cycle>"
MAX_DEPTH = "<max depth>"
PSEUDONYM_PREFIX = "pseud:"
PSEUDONYM = re.compile(r"pseud:[0-9a-f]{16}")

_PLAIN, _MASKED, _PSEUDO = 0, 1, 2
_KEY_CACHE_SIZE = 4096
_MAX_DEPTH_LIMIT = 500

#: Immutable values with nothing to scrub: returned as they are.
_SCALARS: frozenset[type] = frozenset(
    {
        int,
        float,
        bool,
        type(None),
        complex,
        decimal.Decimal,
        fractions.Fraction,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timedelta,
        datetime.timezone,
        uuid.UUID,
    }
)


class RedactionPolicy:
    """Masks secrets and personal data in structures, events and text.

    Args:
        extra_keys: more key names to mask (matched like the built-in ones, exactly after
            normalisation: ``X-Tenant-Secret`` == ``x_tenant_secret``).
        hmac_key: key of the pseudonym mode; ``None`` masks instead.
        pseudonymize_keys: key names whose values become pseudonyms (default e-mail fields).
        max_depth: containers nested deeper are replaced by ``"<max depth>"`` (1..500).
        max_string_length: longer strings are scrubbed up to this length and cut with
            ``"…[truncated]"`` (at least 1024).
    """

    def __init__(
        self,
        *,
        extra_keys: Iterable[str] = (),
        hmac_key: bytes | str | None = None,
        pseudonymize_keys: Iterable[str] = ("email", "user_email"),
        max_depth: int = 32,
        max_string_length: int = 262_144,
    ) -> None:
        if not 1 <= max_depth <= _MAX_DEPTH_LIMIT:
            raise ValueError(f"max_depth must be between 1 and {_MAX_DEPTH_LIMIT}, got {max_depth}")
        if max_string_length < 1024:
            raise ValueError(f"max_string_length must be at least 1024, got {max_string_length}")
        if isinstance(hmac_key, str):
            hmac_key = hmac_key.encode()
        if hmac_key is not None and not hmac_key:
            raise ValueError("hmac_key must not be empty (use None to mask instead)")
        self.extra_keys = frozenset(normalise_key(k) for k in extra_keys if k.strip())
        self.pseudonymize_keys = frozenset(normalise_key(k) for k in pseudonymize_keys if k.strip())
        self.max_depth = max_depth
        self._hmac_key = hmac_key
        self._keys: dict[str, tuple[int, str]] = {}
        self._names: dict[str, bool] = {}
        self._params: dict[str, bool] = {}
        self._text = TextScrubber(
            secret_name=self.is_sensitive_key,
            secret_param=self.is_sensitive_query_param,
            email_replacement=self._email_replacement,
            max_length=max_string_length,
        )

    @property
    def pseudonymizing(self) -> bool:
        """True when an HMAC key is set (pseudonyms instead of masks for correlatable fields)."""
        return self._hmac_key is not None

    # --- keys -------------------------------------------------------------------------------
    def is_sensitive_key(self, name: str) -> bool:
        """``name`` (any case/separators) is a secret key under this policy."""
        known = self._names.get(name)
        if known is None:
            known = is_sensitive_normalised(normalise_key(name), self.extra_keys)
            self._remember(self._names, name, known)
        return known

    def is_sensitive_query_param(self, name: str) -> bool:
        """Like :meth:`is_sensitive_key`, plus URL-only names (``key``, ``sig``, ``signature``)."""
        known = self._params.get(name)
        if known is None:
            known = _is_sensitive_query_param(name, self.extra_keys)
            self._remember(self._params, name, known)
        return known

    @staticmethod
    def _remember(cache: dict[str, bool], name: str, value: bool) -> None:
        if len(cache) >= _KEY_CACHE_SIZE:
            cache.clear()
        cache[name] = value

    def _classify(self, key: str) -> tuple[int, str]:
        """(code, output key) for a string key; clean keys are cached."""
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        norm = normalise_key(key)
        if norm in self.pseudonymize_keys:
            code = _PSEUDO if self._hmac_key is not None else _MASKED
        elif is_sensitive_normalised(norm, self.extra_keys):
            code = _MASKED
        else:
            code = _PLAIN
        out_key = self._text.scrub(key)
        result = (code, out_key)
        if out_key == key:  # never keep a key that held personal data
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[key] = result
        return result

    def _key(self, key: Any) -> tuple[int, Any]:
        if type(key) is str:
            return self._classify(key)
        if isinstance(key, str):
            return self._classify(str(key))
        if isinstance(key, bytes | bytearray):
            code, _ = self._classify(bytes(key).decode("utf-8", "replace"))
            return code, self._bytes(key)
        return _PLAIN, key

    # --- pseudonyms -------------------------------------------------------------------------
    def pseudonym(self, value: str) -> str:
        """``pseud:`` + 16 hex of HMAC-SHA256(key, value); requires an HMAC key."""
        if self._hmac_key is None:
            raise ValueError("pseudonyms need an hmac_key")
        digest = hmac.new(self._hmac_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return PSEUDONYM_PREFIX + digest.hexdigest()[:16]

    def _email_replacement(self, address: str) -> str:
        return MASK if self._hmac_key is None else self.pseudonym(address.lower())

    def _pseudo_value(self, value: Any, depth: int, path: set[int]) -> Any:
        if self._hmac_key is None:
            return MASK
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            if PSEUDONYM.fullmatch(text):
                return text
            return self.pseudonym(text.lower() if "@" in text else text)
        if type(value) in _SCALARS:
            return self.pseudonym(str(value))
        # A container under a pseudonymised key: walk it (addresses inside become pseudonyms).
        return self._walk(value, depth + 1, path)

    # --- public API -------------------------------------------------------------------------
    def redact_text(self, text: str) -> str:
        """Scrub free text (messages, tracebacks, URLs, headers rendered as text)."""
        return self._text.scrub(text)

    def redact_url(self, url: str) -> str:
        """A URL with its password (``user:***REDACTED***@``) and secret parameters masked.

        Query parameters and fragment parameters, ``&`` or ``;`` separated, are masked when
        their name is secret, including URL-only names (``key``, ``sig``, ``X-Amz-Signature``).
        """
        return self._text.scrub(url)

    def redact_headers(self, headers: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> Any:
        """Headers with secret ones (Authorization, Cookie, X-Api-Key...) masked, others scrubbed.

        A mapping gives a dict, pairs give a list of pairs; ``bytes`` names and values (ASGI raw
        headers) stay ``bytes``.
        """
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        out: list[tuple[Any, Any]] = []
        for name, value in pairs:
            text_name = name.decode("latin-1") if isinstance(name, bytes | bytearray) else str(name)
            if self.is_sensitive_key(text_name):
                masked: Any = MASK.encode() if isinstance(value, bytes | bytearray) else MASK
            elif isinstance(value, bytes | bytearray):
                masked = self._bytes(value)
            else:
                masked = self._text.scrub(str(value))
            out.append((name, masked))
        return dict(out) if isinstance(headers, Mapping) else out

    def redact(self, obj: Any) -> Any:
        """A redacted deep copy of ``obj``; the input is never mutated.

        dict/Mapping -> dict, list -> list, tuple -> tuple (named tuples keep their type),
        set/frozenset keep theirs, str/bytes are scrubbed, numbers, dates, UUIDs and ``None``
        are returned as they are, pydantic secrets become the mask, and any other object is
        replaced by its scrubbed ``str()``. Cycles become ``"<cycle>"``, containers deeper than
        ``max_depth`` become ``"<max depth>"``.
        """
        return self._walk(obj, 0, set())

    def redact_event(self, event: Mapping[Any, Any]) -> dict[Any, Any]:
        """:meth:`redact` for a log event dict, specialised for flat events (the hot path)."""
        keys = self._keys
        scrub = self._text.scrub
        clean = self._text.clean  # strings already found clean: a set look-up, no call
        out: dict[Any, Any] = {}
        path: set[int] | None = None
        for key, value in event.items():
            entry = keys.get(key) if type(key) is str else None
            code, out_key = entry if entry is not None else self._key(key)
            if code:
                if code == _MASKED:
                    out[out_key] = MASK
                else:
                    if path is None:
                        path = {id(event)}
                    out[out_key] = self._pseudo_value(value, 0, path)
                continue
            kind = type(value)
            if kind is str:
                out[out_key] = value if value in clean else scrub(value)
            elif kind in _SCALARS:
                out[out_key] = value
            else:
                if path is None:
                    path = {id(event)}
                out[out_key] = self._walk(value, 1, path)
        return out

    # --- the walk ---------------------------------------------------------------------------
    def _walk(self, value: Any, depth: int, path: set[int]) -> Any:
        kind = type(value)
        if kind is str:
            return self._text.scrub(value)
        if kind in _SCALARS:
            return value
        if isinstance(value, Mapping | list | tuple | AbstractSet):
            if depth >= self.max_depth:
                return MAX_DEPTH
            ident = id(value)
            if ident in path:
                return CYCLE
            path.add(ident)
            try:
                return self._container(value, depth, path)
            finally:
                path.discard(ident)
        if isinstance(value, str):
            return self._text.scrub(str(value))
        if isinstance(value, bytes | bytearray | memoryview):
            return self._bytes(value)
        if isinstance(value, SecretStr | SecretBytes):
            return MASK
        if isinstance(value, enum.Enum | int | float):
            return value
        try:
            text = str(value)
        except Exception:  # a broken __str__ must not break logging
            return "<unprintable>"
        return self._text.scrub(text)

    def _container(self, value: Any, depth: int, path: set[int]) -> Any:
        inner = depth + 1
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                code, out_key = self._key(key)
                if code == _MASKED:
                    out[out_key] = MASK
                elif code == _PSEUDO:
                    out[out_key] = self._pseudo_value(item, depth, path)
                else:
                    out[out_key] = self._walk(item, inner, path)
            return out
        items = [self._walk(item, inner, path) for item in value]
        if isinstance(value, list):
            return items
        if isinstance(value, tuple):
            if hasattr(value, "_fields"):  # a named tuple keeps its type
                try:
                    return type(value)(*items)
                except TypeError:
                    return tuple(items)
            return tuple(items)
        if isinstance(value, frozenset):
            return frozenset(items)
        return set(items)

    def _bytes(self, value: bytes | bytearray | memoryview) -> Any:
        raw = bytes(value)
        text = raw.decode("utf-8", "surrogateescape")
        scrubbed = self._text.scrub(text)
        if scrubbed == text:
            return raw if isinstance(value, memoryview) else type(value)(raw)
        out = scrubbed.encode("utf-8", "surrogateescape")
        return bytearray(out) if isinstance(value, bytearray) else out
