"""The value detectors: compiled patterns and the validators that keep look-alikes visible.

Each detector is a compiled regular expression, linear in the text (no nested unbounded
repetition), plus, where a pattern alone would over-match, a validator: the Luhn check and
issuer ranges for card numbers, SSA rules for SSNs, digit counts for phone numbers. Every
``sub_*`` function takes a string and returns it with its matches masked; the text scrubber
decides which ones run (cheap literal pre-filters first).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable

MASK = "***REDACTED***"

# --- blocks and tokens with a fixed shape -----------------------------------------------------
#: PEM private keys (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... PRIVATE KEY [BLOCK]). A block
#: whose END line is missing (a cut log line) is masked to the end of the text.
PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]{0,40}"
    r"PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.S,
)

#: JWTs (JWS and JWE) and lone base64url JSON segments: ``{"`` always encodes as ``eyJ``.
JWT = re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*)*")

#: Well-known provider key formats, one pattern per leading literal so that the regex engine
#: can jump to candidates: (gate literals, pattern). A pattern runs only when one of its gate
#: literals is in the text. The left boundary (no letter or digit before) is checked in Python.
PROVIDERS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # AWS access key ids (AKIA, ASIA...) and Google API keys.
    (
        ("A",),
        re.compile(
            r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
            r"|AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"
        ),
    ),
    # GitHub personal, OAuth, user-to-server, server and refresh tokens; fine-grained PATs.
    (("gh",), re.compile(r"gh[pousr]_[A-Za-z0-9]{30,255}(?![A-Za-z0-9])")),
    (("github_pat_",), re.compile(r"github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9])")),
    # Stripe secret and restricted keys, webhook secrets.
    (("k_live_", "k_test_"), re.compile(r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,255}(?![A-Za-z0-9])")),
    (("whsec_",), re.compile(r"whsec_[A-Za-z0-9+/=]{20,255}")),
    # Slack bot/user/app tokens.
    (("xox", "xapp-"), re.compile(r"x(?:ox[abposr]-[A-Za-z0-9-]{10,255}|app-\d-[A-Za-z0-9-]{10,255})")),
    # GitLab and npm tokens.
    (("glpat-",), re.compile(r"glpat-[A-Za-z0-9_-]{20,255}")),
    (("npm_",), re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    # OpenAI (and Anthropic) keys: sk-, sk-proj-, sk-svcacct-, sk-admin-, sk-ant-.
    (("sk-",), re.compile(r"sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,255}")),
)

#: Slack incoming-webhook and workflow URLs: the path is the credential.
SLACK_HOOK = re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/-]+")

#: ``scheme://user:password@`` in URLs; anchored on ``://`` so the scan stays fast. The
#: password runs to the last ``@`` before a space or ``/`` (unencoded ``@`` in passwords happens).
URL_CREDENTIALS = re.compile(r"://([^\s/?#@:\[\]]*):([^\s/]*)@")

#: ``Bearer x``, ``Basic x``, ``token x`` credentials in free text (a ``Digest`` header is a
#: list of fields: it is masked whole as the value of ``Authorization:``).
AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)([ \t]+)([A-Za-z0-9._~+/=-]{6,})")

# --- key=value pairs ----------------------------------------------------------------------------
#: A name followed by ``=`` or ``:`` (JSON, Python repr, logfmt, HTTP headers, query strings).
#: Whether the name is secret, and how far the value runs, is decided in Python.
KEY_VALUE = re.compile(r"""(?<![\w.-])([A-Za-z_][\w.-]{0,63})(["']?[ \t]*[:=][ \t]*)""")
#: Unquoted values end at whitespace or a list/query/markup delimiter.
BARE_VALUE = re.compile(r"""[^\s&;,"'<>(){}\[\]]*""")
QUERY_VALUE = re.compile(r"""[^\s&;#?"'<>]*""")
HEADER_VALUE = re.compile(r"""[^\r\n"]*""")
#: Credentials whose value runs to the end of the line (HTTP header syntax).
LINE_VALUED = frozenset({"authorization", "proxyauthorization", "cookie", "setcookie"})
AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate", "apikey"})

# --- e-mail ------------------------------------------------------------------------------------
#: The domain side of an address, anchored on ``@``; the local part is found by walking left.
EMAIL_DOMAIN = re.compile(r"@((?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63})(?!\w)")
_LOCAL_EXTRA = frozenset(".%+-_'")

# --- numbers -------------------------------------------------------------------------------------
#: A run of digits and phone/card separators, at least 7 characters, not inside a word, a
#: decimal or a pseudonym. Only such runs can hold an SSN, a card or a phone number.
DIGIT_RUN = re.compile(r"[+(\d](?<![\w.].)(?<!pseud:.)(?=(?:[ ().-]{0,2}\d){7})[\d ().-]{5,}\d(?!\w)(?!:\d)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_DATE_HOUR = re.compile(r"\d{4}-\d\d-\d\d(?: \d\d)?")
_ROUGH_RUN = re.compile(r"[0-9][0-9 ().-]{6,}[0-9]")  # ASCII ranges scan faster than \d
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")

#: US SSN: area not 000/666/9xx, group not 00, serial not 0000, one separator used twice.
SSN = re.compile(
    r"(?<!\d)(?<!\d[-.])(?!000|666|9)\d{3}(?P<sep>[- ])(?!00)\d{2}(?P=sep)(?!0000)\d{4}(?!\d)(?![-.]\d)"
)
#: A 9-digit number labelled as an SSN is masked whatever its shape.
SSN_LABELLED = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?)?)[^\w\n]{0,4}"
    r"(\d{3}[- ]?\d{2}[- ]?\d{4})(?!\d)"
)
#: EIN (12-3456789) and ITIN (9xx-7x-xxxx) only next to a word that says so.
TAX_ID = re.compile(
    r"(?i)\b(?:f?ein|i?tin|tax[ _-]?id(?:entification)?(?:[ _-]?(?:no|number|num))?)\b[^\w\n]{0,4}"
    r"(?:(?:is|no|number|num|of)\b[^\w\n]{0,3})?"
    r"(\d{2}-?\d{7}|\d{3}[- ]?\d{2}[- ]?\d{4})(?![\d-])"
)
#: The label words (lower case) of SSN_LABELLED and TAX_ID.
CONTEXT_WORDS = ("ssn", "social", "ein", "tin", "tax")

#: Phone numbers: international (+, 8 to 15 digits), North American with separators, and
#: national trunk-prefix formats (0...) with separators. Bare digit runs never match.
PHONE_INTL = re.compile(r"(?<![\d+])\+[1-9](?:[ .-]?\(?\d\)?){7,14}(?!\d)")
PHONE_NANP = re.compile(
    r"(?<!\d)(?<!\d[.-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)(?![.-]\d)"
)
PHONE_TRUNK = re.compile(
    r"(?<!\d)(?<!\d[.-])\(?0[1-9]\d{0,3}\)?[ .-]\d{2,8}(?:[ .-]\d{2,8}){0,3}(?![\d:])(?![.-]\d)"
)
_CARD_GROUP = re.compile(r"\d+")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string is valid."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    """Issuer prefix and length of Visa, Mastercard (incl. 2-series), Amex, Discover, JCB, Diners."""
    n = len(digits)
    if n < 13 or n > 19:
        return False
    if digits[0] == "4":
        return n in (13, 16, 19)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:
        return n >= 16
    if 3528 <= p4 <= 3589:
        return n >= 16
    if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):
        return n >= 14
    return False


def is_card_number(digits: str) -> bool:
    """Issuer prefix and length first (Luhn alone passes one random run in ten), then Luhn."""
    return card_issuer_ok(digits) and luhn_ok(digits)


def basic_credentials(token: str) -> bool:
    """``token`` decodes as base64 ``user:password`` (so ``Basic authentication`` is prose)."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


_BASIC_MAX = 1024


def basic_credentials_length(token: str) -> int:
    """How much of ``token`` is base64 ``user:password`` (0: none). The token pattern runs on
    over ``/`` (a base64 character), so ``Basic dXNlcjpwdw==/next/path`` in a URL path is cut
    at its padding or at a ``/``, whichever decodes."""
    if basic_credentials(token):
        return len(token)
    head = token[:_BASIC_MAX]  # credentials are short: bounded work on a hostile token
    ends = {m.end() for m in re.finditer(r"=+", head)}
    ends.update(i for i, c in enumerate(head) if c == "/")
    for end in sorted(ends, reverse=True)[:16]:
        if end >= 6 and basic_credentials(token[:end]):
            return end
    return 0


def looks_like_credential(token: str) -> bool:
    """A bearer/token value rather than an English word: has a digit or symbol, or is long."""
    return len(token) >= 20 or any(c.isdigit() or c in "._~+/=-" for c in token)


def openai_key_ok(key: str) -> bool:
    """``sk-`` keys are random base62: digits and both cases (``sk-learn-...`` is a library)."""
    body = key[3:]
    return (
        any(c.isdigit() for c in body) and any(c.isupper() for c in body) and any(c.islower() for c in body)
    )


def sub_provider(text: str) -> str:
    """Mask provider keys; OpenAI-shaped ``sk-`` strings only when they look random."""
    for literals, pattern in PROVIDERS:
        if not any(literal in text for literal in literals):
            continue
        current = text

        def repl(match: re.Match[str], current: str = current) -> str:
            key = match.group(0)
            start = match.start()
            # The boundary is checked here rather than by a leading look-behind, which would
            # stop the regex engine from skipping ahead to the keys' first letters.
            if start and current[start - 1].isascii() and current[start - 1].isalnum():
                return key
            if key.startswith("sk-") and not openai_key_ok(key):
                return key
            return MASK

        text = pattern.sub(repl, text)
    return text


def sub_url_credentials(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://user:***REDACTED***@host`` (user kept)."""
    return URL_CREDENTIALS.sub(lambda m: f"://{m.group(1)}:{MASK}@", text)


def sub_slack_hooks(text: str) -> str:
    """``https://hooks.slack.com/services/T/B/secret`` -> ``.../services/***REDACTED***``."""
    return SLACK_HOOK.sub(lambda m: m.group(1) + MASK, text)


def sub_auth_schemes(text: str, low: str | None = None) -> str:
    """``Bearer x``/``token x`` (credential-shaped x) and ``Basic base64(u:p)``."""

    def masked(match: re.Match[str]) -> str | None:
        scheme, gap, token = match.group(1), match.group(2), match.group(3)
        if scheme.lower() != "basic":
            return f"{scheme}{gap}{MASK}" if looks_like_credential(token) else None
        size = basic_credentials_length(token)
        return f"{scheme}{gap}{MASK}{token[size:]}" if size else None

    if low is None or len(low) != len(text):
        low = text.lower()
    # Tried at every scheme word, not left to right: in "TOKEN Bearer x" the first candidate
    # ("TOKEN Bearer") is prose, and the credential after "Bearer" must still be found.
    return _sub_at(text, AUTH_SCHEME, find_all(low, ("bearer", "basic", "token")), masked)


def _sub_at(
    text: str, pattern: re.Pattern[str], positions: list[int], replace: Callable[[re.Match[str]], str | None]
) -> str:
    """Like ``pattern.sub(replace, text)``, trying ``pattern.match`` only at ``positions``."""
    out: list[str] = []
    done = 0
    for at in positions:
        if at < done:
            continue
        match = pattern.match(text, at)
        if match is None:
            continue
        new = replace(match)
        if new is None:
            continue
        out.append(text[done:at])
        out.append(new)
        done = match.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def sub_email(text: str, replace: Callable[[str], str]) -> str:
    """Replace each address by ``replace(address)``: the local part is walked leftwards from ``@``."""
    out: list[str] = []
    done = 0
    for match in EMAIL_DOMAIN.finditer(text):
        at = match.start()
        if at < done:
            continue
        start = at
        while start > done and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_EXTRA):
            start -= 1
        if start == at or text.endswith("://", 0, start):  # no local part, or a URL's user name
            continue
        out.append(text[done:start])
        out.append(replace(text[start : match.end()]))
        done = match.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def sub_labelled_numbers(text: str, low: str | None = None) -> str:
    """Tax IDs and SSNs next to a word naming them (EIN 12-3456789, SSN 123456789)."""

    def repl(match: re.Match[str]) -> str:
        start, end = match.span(1)
        base = match.start()
        whole = match.group(0)
        return whole[: start - base] + MASK + whole[end - base :]

    if low is None or len(low) != len(text):
        return SSN_LABELLED.sub(repl, TAX_ID.sub(repl, text))
    starts = _label_starts(low)
    if not starts:
        return text
    out: list[str] = []
    done = 0
    for at in starts:
        if at < done:
            continue
        match = TAX_ID.match(text, at) or SSN_LABELLED.match(text, at)
        if match is None:
            continue
        out.append(text[done:at])
        out.append(repl(match))
        done = match.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _label_starts(low: str) -> list[int]:
    """Word starts of the label words (``fein``/``itin`` start one letter before ``ein``/``tin``)."""
    starts = set()
    for at in find_all(low, CONTEXT_WORDS):
        if at and low[at - 1] in "fi":
            at -= 1
        if at == 0 or not low[at - 1].isalnum():
            starts.add(at)
    return sorted(starts)


def sub_digit_runs(text: str) -> str:
    """SSNs, card numbers and phone numbers, looked for only inside candidate digit runs.

    A plain pattern (no look-arounds, so the regex engine scans fast) finds rough runs; the
    exact ``DIGIT_RUN`` pattern then runs only inside each rough run, seeing its real context.
    """
    out: list[str] = []
    done = 0
    size = len(text)
    for rough in _ROUGH_RUN.finditer(text):
        run = rough.group(0)
        # Cheap rejections first: fewer than 8 digits (IP addresses, "200 1532"), or a date.
        if len(run) - run.count(" ") - run.count("-") - run.count(".") - run.count("(") - run.count(")") < 8:
            continue
        if _DATE_HOUR.fullmatch(run):
            continue
        for match in DIGIT_RUN.finditer(text, max(done, rough.start() - 1), min(size, rough.end() + 2)):
            start, end = match.span()
            if start < done:
                continue
            new = _digit_run_repl(text, match)
            if new is None:
                continue
            out.append(text[done:start])
            out.append(new)
            done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _digit_run_repl(text: str, match: re.Match[str]) -> str | None:
    run = match.group(0)
    start, end = match.span()
    if (start and text[start - 1] == "-") or text[end : end + 1] == "-":
        # A UUID's all-digit groups look like phone numbers: leave UUIDs alone.
        window_start = max(0, start - 36)
        for uuid in _UUID.finditer(text, window_start, end + 36):
            if uuid.start() < end and uuid.end() > start:
                return None
    new = scrub_digit_run(run)
    return None if new == run else new


def scrub_digit_run(run: str) -> str:
    """Mask the SSNs, cards and phone numbers of one candidate run."""
    if run.isdigit():  # bare digits: only a card number (bare 9-12 digits are not phones)
        return MASK if 13 <= len(run) <= 19 and is_card_number(run) else run
    if _DATE.fullmatch(run):
        return run
    if "-" in run or " " in run:
        run = SSN.sub(MASK, run)
    run = _sub_cards(run)
    if "+" in run:
        run = PHONE_INTL.sub(MASK, run)
    run = PHONE_NANP.sub(MASK, run)
    return PHONE_TRUNK.sub(_trunk_repl, run)


def _trunk_repl(match: re.Match[str]) -> str:
    number = match.group(0)
    digits = sum(c.isdigit() for c in number)
    return MASK if 9 <= digits <= 12 else number


def _sub_cards(run: str) -> str:
    """Card numbers: contiguous, or groups split by single spaces/dashes (4-4-4-4, 4-6-5...)."""
    groups = [(m.start(), m.end()) for m in _CARD_GROUP.finditer(run)]
    if sum(end - start for start, end in groups) < 13:
        return run
    # Clusters of groups joined by exactly one space or dash.
    clusters: list[list[tuple[int, int]]] = []
    for span in groups:
        if clusters and span[0] - clusters[-1][-1][1] == 1 and run[span[0] - 1] in " -":
            clusters[-1].append(span)
        else:
            clusters.append([span])
    hits: list[tuple[int, int]] = []
    for cluster in clusters:
        hits.extend(_cards_in_cluster(run, cluster))
    if not hits:
        return run
    out: list[str] = []
    done = 0
    for start, end in hits:
        out.append(run[done:start])
        out.append(MASK)
        done = end
    out.append(run[done:])
    return "".join(out)


def _cards_in_cluster(run: str, cluster: list[tuple[int, int]]) -> list[tuple[int, int]]:
    hits: list[tuple[int, int]] = []
    i = 0
    n = len(cluster)
    while i < n:
        found = False
        for j in range(min(n, i + 6), i, -1):
            part = cluster[i:j]
            # Grouped numbers start with 4 digits; inner groups have 2-6, the last 1-6 (4-4-4-1).
            if len(part) > 1 and (
                part[0][1] - part[0][0] != 4
                or any(not 2 <= e - s <= 6 for s, e in part[1:-1])
                or part[-1][1] - part[-1][0] > 6
            ):
                continue
            digits = "".join(run[s:e] for s, e in part)
            if is_card_number(digits):
                hits.append((part[0][0], part[-1][1]))
                i = j
                found = True
                break
        if not found:
            i += 1
    return hits


_QUOTED = {
    '"': re.compile(r'"((?:[^"\\\r\n]|\\.)*)"?'),
    "'": re.compile(r"'((?:[^'\\\r\n]|\\.)*)'?"),
}
_GAP = re.compile(r"[ \t]+")


#: Fragments of every secret name (keys.py), for long texts. The tax and SSN labels (``tin``,
#: ``ein``...) are left to the labelled-number detector, which handles ``EIN=12-3456789`` too.
KEY_WORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "cookie",
    "sess",
    "ssn",
    "tax",
    "credential",
    "sig",
    "jwt",
    "dsn",
    "otp",
    "mfa",
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def find_all(low: str, words: tuple[str, ...]) -> list[int]:
    """Sorted start positions of every occurrence of ``words`` in ``low`` (C-speed ``str.find``)."""
    found: list[int] = []
    for word in words:
        at = low.find(word)
        while at != -1:
            found.append(at)
            at = low.find(word, at + 1)
    found.sort()
    return found


def sub_key_values(
    text: str, secret_name: Callable[[str], bool], secret_param: Callable[[str], bool], low: str | None = None
) -> str:
    """Mask the value of every ``name=value`` / ``name: value`` pair whose name is secret.

    A name right after ``?``, ``&``, ``;`` or ``#`` followed by ``=`` is a URL parameter and is
    judged by ``secret_param`` (which also knows ``key``, ``sig``, ``signature``...). Values are
    quoted strings (escapes honoured), header values running to the end of the line
    (Authorization, Cookie...), or bare tokens; ``Bearer x`` counts as one value.

    ``low`` (``text.lower()``, same length) lets long texts be searched for the few names that
    can be secret with ``str.find`` instead of matching every ``name=`` of the text.
    """
    matches: Iterable[re.Match[str]]
    if low is not None and len(low) == len(text):
        matches = _hinted_names(text, low)
    else:
        matches = KEY_VALUE.finditer(text)
    out: list[str] = []
    done = 0
    for match in matches:
        if match.start() < done:
            continue
        span = _secret_value_span(text, match, secret_name, secret_param)
        if span is None:
            continue
        out.append(text[done : span[0]])
        out.append(MASK)
        done = span[1]
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _hinted_names(text: str, low: str) -> list[re.Match[str]]:
    """``KEY_VALUE`` matches at the names containing a secret-looking word."""
    matches: list[re.Match[str]] = []
    last = -1
    for at in find_all(low, KEY_WORDS):
        start = at
        while start > 0 and at - start < 64 and (text[start - 1] in _NAME_CHARS or text[start - 1].isalnum()):
            start -= 1
        if start <= last:
            continue
        match = KEY_VALUE.match(text, start)
        if match is not None and match.end(1) > at:
            matches.append(match)
            last = start
    return matches


def _secret_value_span(
    text: str, match: re.Match[str], secret_name: Callable[[str], bool], secret_param: Callable[[str], bool]
) -> tuple[int, int] | None:
    start = match.start()
    name = match.group(1)
    before = text[start - 1] if start else ""
    query = bool(before) and before in "?&;#" and match.group(2) == "="
    if not (secret_param(name) if query else secret_name(name)):
        return None
    value_start = match.end()
    first = text[value_start : value_start + 1]
    if first in _QUOTED:
        quoted = _QUOTED[first].match(text, value_start)
        assert quoted is not None  # the pattern matches at least the quote
        span = quoted.span(1)
    else:
        norm = name.lower().replace("-", "").replace("_", "").replace(".", "")
        pattern = QUERY_VALUE if query else HEADER_VALUE if norm in LINE_VALUED else BARE_VALUE
        bare = pattern.match(text, value_start)
        assert bare is not None  # every value pattern accepts the empty string
        span = bare.span()
        if bare.group(0).lower() in AUTH_SCHEMES:
            gap = _GAP.match(text, span[1])
            if gap is not None:
                token = BARE_VALUE.match(text, gap.end())
                if token is not None and token.group(0):
                    span = (span[0], token.end())
    value = text[span[0] : span[1]]
    if not value or value == MASK:
        return None
    return span
