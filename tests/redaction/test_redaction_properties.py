"""Property tests: generated secrets of every category never survive, look-alikes always do."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glowops.redaction import RedactionPolicy
from glowops.redaction.detectors import luhn_ok
from glowops.redaction.text import _SAFE

POLICY = RedactionPolicy()
PSEUDO = RedactionPolicy(hmac_key=b"property-key")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALNUM = string.ascii_letters + string.digits


def _alnum(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(ALNUM, min_size=min_size, max_size=max_size)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=n, max_size=n)


@st.composite
def ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    sep = draw(st.sampled_from(["-", " "]))
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def _luhn_complete(body: str) -> str:
    for check in string.digits:
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(
        st.sampled_from(
            [
                ("4", 16),
                ("4", 13),
                ("4", 19),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("2720", 16),
                ("34", 15),
                ("37", 15),
                ("6011", 16),
                ("65", 16),
                ("644", 16),
                ("3528", 16),
                ("3589", 19),
                ("36", 14),
                ("300", 14),
            ]
        )
    )
    number = _luhn_complete(prefix + draw(_digits(length - len(prefix) - 1)))
    style = draw(st.sampled_from(["plain", " ", "-"]))
    if style == "plain":
        return number
    if length == 15:
        return style.join([number[:4], number[4:10], number[10:]])
    if length == 14:
        return style.join([number[:4], number[4:10], number[10:]])
    return style.join(number[i : i + 4] for i in range(0, length, 4))


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = draw(st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True))
    domain = draw(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,8}){0,2}", fullmatch=True))
    tld = draw(st.from_regex(r"[a-z]{2,6}", fullmatch=True))
    return f"{local}@{domain}.{tld}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@st.composite
def jwts(draw: st.DrawFn) -> str:
    alg = draw(st.sampled_from(["HS256", "RS256", "none"]))
    header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": draw(_alnum(1, 12)), "exp": draw(st.integers(0, 2**31))}).encode())
    signature = _b64url(draw(st.binary(min_size=16, max_size=64)))
    return f"{header}.{payload}.{signature}"


@st.composite
def provider_keys(draw: st.DrawFn) -> str:
    upper_alnum = string.ascii_uppercase + string.digits
    kind = draw(st.sampled_from(["aws", "ghp", "gh_pat", "stripe", "slack", "openai", "google"]))
    if kind == "aws":
        return draw(st.sampled_from(["AKIA", "ASIA"])) + draw(st.text(upper_alnum, min_size=16, max_size=16))
    if kind == "ghp":
        return draw(st.sampled_from(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"])) + draw(_alnum(36, 36))
    if kind == "gh_pat":
        return "github_pat_" + draw(_alnum(22, 22)) + "_" + draw(_alnum(59, 59))
    if kind == "stripe":
        return draw(st.sampled_from(["sk_live_", "rk_live_", "sk_test_"])) + draw(_alnum(24, 99))
    if kind == "slack":
        return (
            draw(st.sampled_from(["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"]))
            + draw(_digits(12))
            + "-"
            + draw(_alnum(24, 32))
        )
    if kind == "openai":
        body = draw(_alnum(17, 60)) + draw(st.sampled_from(string.digits)) + "Aa"
        return draw(st.sampled_from(["sk-", "sk-proj-"])) + "".join(draw(st.permutations(list(body))))
    return "AIza" + draw(st.text(ALNUM + "_-", min_size=35, max_size=35))


@st.composite
def phones(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["intl", "nanp", "e164"]))
    if kind == "e164":
        rest = draw(st.text(string.digits, min_size=7, max_size=14))
        return "+" + draw(st.sampled_from("123456789")) + rest
    if kind == "nanp":
        area, exchange, line = draw(_digits(3)), draw(_digits(3)), draw(_digits(4))
        form = draw(st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "{} {} {}"]))
        return form.format(area, exchange, line)
    country = draw(st.sampled_from(["1", "44", "33", "49", "353", "91"]))
    groups = draw(st.lists(st.text(string.digits, min_size=2, max_size=4), min_size=2, max_size=4))
    digits = len(country) + sum(len(g) for g in groups)
    if digits < 8:
        groups.append("1234")
    sep = draw(st.sampled_from([" ", "-", "."]))
    return f"+{country} " + sep.join(groups)


@st.composite
def secrets_in_context(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(text holding the secret, the secret substrings that must not survive)."""
    kind = draw(
        st.sampled_from(
            [
                "ssn",
                "card",
                "email",
                "jwt",
                "key",
                "phone",
                "bearer",
                "basic",
                "url",
                "query",
                "kv",
                "pem",
                "slack",
                "ein",
            ]
        )
    )
    if kind == "ssn":
        value = draw(ssns())
        return value, [value]
    if kind == "card":
        value = draw(cards())
        return value, [value]
    if kind == "email":
        value = draw(emails())
        return value, [value]
    if kind == "jwt":
        value = draw(jwts())
        return value, [value.split(".")[1]]
    if kind == "key":
        value = draw(provider_keys())
        return value, [value]
    if kind == "phone":
        value = draw(phones())
        return value, [value]
    token = draw(_alnum(19, 39)) + draw(st.sampled_from(string.digits))  # the filler has no digits
    if kind == "bearer":
        return f"Bearer {token}", [token]
    if kind == "basic":
        user = draw(_alnum(1, 10))
        password = draw(_alnum(8, 20)) + "7"
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        return f"Authorization: Basic {encoded}", [encoded]
    if kind == "url":
        scheme = draw(st.sampled_from(["https", "postgresql", "redis", "amqp"]))
        return f"{scheme}://svc:{token}@db.example.com:5432/app", [token]
    if kind == "query":
        name = draw(
            st.sampled_from(
                [
                    "token",
                    "api_key",
                    "password",
                    "secret",
                    "signature",
                    "sig",
                    "access_token",
                    "key",
                    "X-Amz-Signature",
                    "client_secret",
                ]
            )
        )
        sep = draw(st.sampled_from(["&", ";"]))
        return f"https://api.example.com/v1/items?page=2{sep}{name}={token}{sep}size=10", [token]
    if kind == "kv":
        name = draw(
            st.sampled_from(
                [
                    "password",
                    "passwd",
                    "api_key",
                    "apiKey",
                    "X-Api-Key",
                    "client_secret",
                    "refresh_token",
                    "Authorization",
                    "cookie",
                    "session_id",
                    "private_key",
                ]
            )
        )
        form = draw(st.sampled_from(["{}={}", "{}: {}", '"{}": "{}"', "'{}': '{}'"]))
        return form.format(name, token), [token]
    if kind == "pem":
        body = base64.b64encode(draw(st.binary(min_size=48, max_size=120))).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        label = draw(
            st.sampled_from(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
        )
        block = f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"
        return block, [line for line in lines if len(line) >= 16]
    if kind == "slack":
        path = f"T{draw(_alnum(8, 10))}/B{draw(_alnum(8, 10))}/{token}"
        return f"https://hooks.slack.com/services/{path}", [token]
    number = f"{draw(_digits(2))}-{draw(_digits(7))}"
    label = draw(st.sampled_from(["EIN", "ein:", "Tax ID", "TIN #"]))
    return f"{label} {number}", [number]


# Filler: words and punctuation without digits, so that it never extends a generated number.
FILLER = st.text(string.ascii_letters + " ,.;!?()[]'\"\n\t", max_size=40)
KEYS = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)


def _embed(draw: Any, text: str) -> str:
    return f"{draw(FILLER)} {text} {draw(FILLER)}"


@st.composite
def nested(draw: st.DrawFn, leaf: str) -> Any:
    """A random structure with ``leaf`` somewhere inside, under random keys."""
    value: Any = leaf
    for _ in range(draw(st.integers(0, 5))):
        shape = draw(st.sampled_from(["dict", "list", "tuple"]))
        siblings = draw(st.lists(st.one_of(FILLER, st.integers(), st.none()), max_size=3))
        if shape == "dict":
            keys = draw(st.lists(KEYS, min_size=len(siblings) + 1, max_size=len(siblings) + 1, unique=True))
            container: Any = dict(zip(keys, [*siblings, value], strict=True))
            value = container
        else:
            items = [*siblings]
            items.insert(draw(st.integers(0, len(items))), value)
            value = items if shape == "list" else tuple(items)
    return value


def _assert_gone(output: Any, secrets: list[str]) -> None:
    rendered = repr(output) + (output if isinstance(output, str) else "")
    for secret in secrets:
        assert secret not in rendered, f"{secret!r} survived in {rendered!r}"


@FAST
@given(data=st.data(), case=secrets_in_context())
def test_secrets_in_free_text_never_survive(data: st.DataObject, case: tuple[str, list[str]]) -> None:
    text, secrets = case
    embedded = _embed(data.draw, text)
    _assert_gone(POLICY.redact_text(embedded), secrets)
    _assert_gone(PSEUDO.redact_text(embedded), secrets)
    once = POLICY.redact_text(embedded)
    assert POLICY.redact_text(once) == once


@FAST
@given(data=st.data(), case=secrets_in_context())
def test_secrets_in_nested_structures_never_survive(data: st.DataObject, case: tuple[str, list[str]]) -> None:
    text, secrets = case
    structure = data.draw(nested(_embed(data.draw, text)))
    out = POLICY.redact(structure)
    _assert_gone(out, secrets)
    assert POLICY.redact(out) == out
    if isinstance(structure, dict):
        assert POLICY.redact_event(structure) == out


@FAST
@given(data=st.data(), cases=st.lists(secrets_in_context(), min_size=2, max_size=5))
def test_several_secrets_in_one_long_text(data: st.DataObject, cases: list[tuple[str, list[str]]]) -> None:
    parts = [_embed(data.draw, text) for text, _ in cases]
    padding = "lorem ipsum dolor sit amet " * 30  # long enough for the long-text path
    text = padding.join(parts)
    out = POLICY.redact_text(text)
    for _, secrets in cases:
        _assert_gone(out, secrets)


LOOK_ALIKE = st.one_of(
    st.uuids().map(str),
    st.integers(0, 2**128 - 1).map(lambda n: f"{n:032x}").filter(lambda h: not h.isdigit()),
    st.integers(0, 2**64 - 1).map(lambda n: f"{n:016x}").filter(lambda h: not h.isdigit()),
    st.binary(min_size=1, max_size=32).map(lambda b: hashlib.sha256(b).hexdigest()),
    st.binary(min_size=1, max_size=32).map(lambda b: hashlib.sha1(b).hexdigest()),
    st.integers(1_000_000_000, 2_000_000_000).map(str),
    st.integers(1_000_000_000_000, 2_000_000_000_000).map(str),
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2100, 1, 1)).map(
        lambda d: d.isoformat()
    ),
    st.dates(min_value=datetime.date(1970, 1, 1)).map(str),
    st.tuples(st.integers(0, 99), st.integers(0, 999), st.integers(0, 999)).map(
        lambda v: "{}.{}.{}".format(*v)
    ),
    st.tuples(
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(1, 65535),
    ).map(lambda v: "{}.{}.{}.{}:{}".format(*v)),
    st.integers(1_000_000_000, 9_999_999_999).map(lambda n: f"order {n}"),
    st.sampled_from(
        [
            "author",
            "authority",
            "max_tokens=4096",
            "total_tokens: 12",
            "prompt_tokens",
            "basic authentication",
            "token expired",
            "sk-learn",
            "localhost:6379",
        ]
    ),
)


# Prose around look-alikes: words that are not themselves credential markers ("token x" and
# "bearer x" rightly mask x).
PROSE = st.lists(
    st.sampled_from(
        [
            "the",
            "request",
            "took",
            "ms",
            "for",
            "id",
            "at",
            "status",
            "ok",
            "ref",
            "Digest",
            "version",
            "(",
            ")",
            ",",
            ".",
        ]
    ),
    max_size=6,
).map(" ".join)


@FAST
@given(data=st.data(), value=LOOK_ALIKE)
def test_look_alikes_survive_byte_for_byte(data: st.DataObject, value: str) -> None:
    text = f"{data.draw(PROSE)} {value} {data.draw(PROSE)}"
    assert POLICY.redact_text(text) == text
    assert POLICY.redact_text(value) == value
    assert POLICY.redact({"field": value, "note": text}) == {"field": value, "note": text}


@FAST
@given(value=st.from_regex(_SAFE, fullmatch=True))
def test_fast_path_shapes_are_really_clean(value: str) -> None:
    """The clean-shape shortcut must never hide something the full scan would mask."""
    assert POLICY._text._scrub(value) == value


@FAST
@given(data=st.data(), case=secrets_in_context())
def test_long_text_path_agrees_with_short_text_path(data: st.DataObject, case: tuple[str, list[str]]) -> None:
    """Texts over 512 characters take a different (str.find-driven) route: same answers."""
    text = _embed(data.draw, case[0])
    padding = "lorem ipsum dolor sit amet " * 25
    assert POLICY.redact_text(padding + text) == padding + POLICY.redact_text(text)
