"""Free-text scrubbing: the detectors in a fixed order, each behind a cheap literal pre-filter.

Order matters: whole blocks and tokens first (PEM, JWT, URL credentials, provider keys), then
``name=value`` pairs, auth schemes and e-mail addresses, and digit-based data last, so that a
digit run inside an already-masked token is never looked at. Every replacement is the mask (or
a pseudonym) and contains nothing a detector matches, which makes scrubbing idempotent.

Then the decoded pass (:mod:`~glowops.redaction.decoding`) runs the same detectors on the
percent-, ``+``- and entity-decoded spellings of each encoded token and masks them in place.

Strings longer than ``max_length`` characters are cut: the first ``max_length`` characters are
scrubbed, the result is cut to ``max_length`` again and ``TRUNCATED`` is appended. The dropped
tail is never output, so a secret cannot survive in it; time stays linear in ``max_length``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from glowops.redaction import detectors as d
from glowops.redaction.decoding import scrub_decoded

TRUNCATED = "…[truncated]"

#: Shapes no detector fires on (so checking them first changes no result, only speed):
#: ISO dates/times, UUIDs and hex IDs/digests with at least one letter (an all-digit run could
#: be a card number), plain lower-case words and dotted names, and plain numbers up to 12 digits.
_SAFE = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?)?"
    r"|(?=[0-9]*[a-fA-F])(?:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})"
    r"|[a-z][a-z._]{0,40}|-?\d{1,12}(?:\.\d+)?"
    # URL paths whose segments are lower-case words (provider keys need _ or - or capitals),
    # at most 7 characters (too short for any detector), {route_params} or UUIDs.
    r"|(?:/(?:[a-z.~]{1,40}|[A-Za-z0-9._~-]{1,7}|\{[A-Za-z_]{1,40}\}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))+/?"
)
#: Lower-cased name fragments that can make ``name=value`` secret (keys.py has the real rules).
_KEY_HINT = re.compile(
    r"pass|pwd|secret|token|key|auth|cookie|sess|ssn|tin|ein|tax|credential|sig|jwt|dsn"
    r"|otp|mfa"
)
_AUTH_WORDS = ("bearer", "basic", "token")
#: Texts longer than this find their candidate names with ``str.find`` on the lower-cased text.
_LONG = 512
#: Clean strings up to this length are remembered (a set of strings that held nothing to hide).
_CLEAN_MAX_LEN = 200
_CLEAN_CACHE_SIZE = 8192


class TextScrubber:
    """Scrubs one string. Build once per policy; :meth:`scrub` is safe to call from any thread."""

    def __init__(
        self,
        *,
        secret_name: Callable[[str], bool],
        secret_param: Callable[[str], bool],
        email_replacement: Callable[[str], str],
        max_length: int,
    ) -> None:
        self._secret_name = secret_name
        self._secret_param = secret_param
        self._email = email_replacement
        self.max_length = max_length
        # Log events repeat most of their strings (level, logger, service, route...): a string
        # once found clean is looked up, not rescanned. Only clean strings are kept, and only
        # short ones; the set is emptied when full.
        self.clean: set[str] = set()

    def scrub(self, text: str) -> str:
        """``text`` with every detected secret or personal datum masked (or pseudonymised)."""
        size = len(text)
        if size <= _CLEAN_MAX_LEN:
            clean = self.clean
            if text in clean:
                return text
            out = text if _SAFE.fullmatch(text) else self._scrub(text)
            if out == text:
                if len(clean) >= _CLEAN_CACHE_SIZE:
                    clean.clear()
                clean.add(text)
            return out
        if size > self.max_length:
            cut = self.max_length
            if text.endswith(TRUNCATED) and size - len(TRUNCATED) <= cut:
                cut = size - len(TRUNCATED)  # already cut by a previous pass: keep it stable
            head = self._scrub(text[:cut])
            return head[: self.max_length] + TRUNCATED
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        text = self._plain(text)
        if "%" in text or "+" in text or "&" in text:
            # the same detectors on decoded spellings (percent, ``+``, HTML entities)
            text = scrub_decoded(text, self._plain)
        return text

    def _plain(self, text: str) -> str:
        """The detectors on the text as it is spelled."""
        long = len(text) > _LONG
        if "PRIVATE KEY" in text:
            text = d.PEM.sub(d.MASK, text)
        if "eyJ" in text:
            text = d.JWT.sub(d.MASK, text)
        has_at = "@" in text
        if "://" in text:
            if has_at:
                text = d.sub_url_credentials(text)
            if "hooks.slack.com" in text:
                text = d.sub_slack_hooks(text)
        if len(text) >= 15:
            text = d.sub_provider(text)
        lowered = _Lowered()
        if "=" in text or ":" in text:
            low = lowered.of(text)
            if long:
                text = d.sub_key_values(text, self._secret_name, self._secret_param, low)
            elif _KEY_HINT.search(low):
                text = d.sub_key_values(text, self._secret_name, self._secret_param)
        if " " in text or "\t" in text:
            low = lowered.of(text)
            if long:
                text = d.sub_auth_schemes(text, low)
            elif any(word in low for word in _AUTH_WORDS):
                text = d.sub_auth_schemes(text)
        if has_at and "@" in text:
            text = d.sub_email(text, self._email)
        if d.DIGIT_RUN.search(text):
            low = lowered.of(text)
            if long:
                text = d.sub_labelled_numbers(text, low)
            elif any(word in low for word in d.CONTEXT_WORDS):
                text = d.sub_labelled_numbers(text)
            text = d.sub_digit_runs(text)
        return text


class _Lowered:
    """``text.lower()`` computed once per version of the text (detectors index into it)."""

    __slots__ = ("low", "source")

    def __init__(self) -> None:
        self.source: str | None = None
        self.low = ""

    def of(self, text: str) -> str:
        if self.source is not text:
            self.source = text
            self.low = text.lower()
        return self.low
