"""The policy on structures: copies, idempotence, cycles, depth, huge strings, pseudonyms, settings."""

from __future__ import annotations

import copy
import datetime
import decimal
import re
import uuid
from collections import OrderedDict, namedtuple
from typing import Any

import pytest
from pydantic import SecretStr

from glowops.redaction import (
    CYCLE,
    MASK,
    MAX_DEPTH,
    TRUNCATED,
    RedactionPolicy,
    default_policy,
    redact_headers,
    redact_url,
)
from glowops.settings import Settings

EVENT: dict[str, Any] = {
    "timestamp": "2025-11-02T10:00:00.123456Z",
    "level": "info",
    "event": "login failed for jane@example.com",
    "request_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "user_id": "u_1",
    "status": 401,
    "duration_ms": 1.5,
    "password": "hunter2",
    "headers": {"Authorization": "Bearer abcdef123456", "Accept": "text/html"},
    "tags": ("a", "card 4111 1111 1111 1111"),
    "ids": {1, 2},
    "when": datetime.date(2025, 11, 2),
    "amount": decimal.Decimal("12.50"),
    "uid": uuid.UUID(int=5),
    "ok": True,
    "nothing": None,
}


def test_redact_returns_a_redacted_copy_and_never_mutates() -> None:
    before = copy.deepcopy(EVENT)
    out = RedactionPolicy().redact(EVENT)
    assert before == EVENT
    assert out is not EVENT and out["headers"] is not EVENT["headers"]
    assert out["password"] == MASK
    assert out["headers"] == {"Authorization": MASK, "Accept": "text/html"}
    assert out["event"] == f"login failed for {MASK}"
    assert out["tags"] == ("a", f"card {MASK}")
    for key in (
        "timestamp",
        "request_id",
        "status",
        "duration_ms",
        "ids",
        "when",
        "amount",
        "uid",
        "ok",
        "nothing",
        "user_id",
    ):
        assert out[key] == EVENT[key]


def test_redact_event_matches_redact() -> None:
    policy = RedactionPolicy()
    assert policy.redact_event(EVENT) == policy.redact(EVENT)
    assert policy.redact_event(EVENT) == policy.redact_event(EVENT)  # warm caches give the same answer


def test_idempotent() -> None:
    policy = RedactionPolicy()
    once = policy.redact(EVENT)
    assert policy.redact(once) == once
    text = "mail a.b@example.com, card 4111-1111-1111-1111, Authorization: Bearer xyz123456, ssn 123-45-6789"
    assert policy.redact_text(policy.redact_text(text)) == policy.redact_text(text)


def test_containers_keep_their_kind() -> None:
    point = namedtuple("point", "x y")
    data = {
        "p": point(1, "jane@example.com"),
        "f": frozenset({"x"}),
        "o": OrderedDict(a=1),
        "b": b"pwd",
        "ba": bytearray(b"jane@example.com"),
        "s": SecretStr("x"),
    }
    out = RedactionPolicy().redact(data)
    assert out["p"] == point(1, MASK) and type(out["p"]) is point
    assert out["f"] == frozenset({"x"})
    assert out["o"] == {"a": 1}
    assert out["b"] == b"pwd"
    assert out["ba"] == bytearray(MASK.encode())
    assert out["s"] == MASK


def test_unknown_objects_become_their_scrubbed_text() -> None:
    class Account:
        def __str__(self) -> str:
            return "Account(jane@example.com)"

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    out = RedactionPolicy().redact({"a": Account(), "b": Broken(), "e": ValueError("token=abc123")})
    assert out == {"a": f"Account({MASK})", "b": "<unprintable>", "e": f"token={MASK}"}


def test_cycles_become_a_marker() -> None:
    data: dict[str, Any] = {"name": "x"}
    data["self"] = data
    items: list[Any] = [1]
    items.append(items)
    data["items"] = items
    out = RedactionPolicy().redact(data)
    assert out == {"name": "x", "self": CYCLE, "items": [1, CYCLE]}
    assert RedactionPolicy().redact_event(data)["self"] == CYCLE


def test_shared_but_acyclic_references_are_walked_twice() -> None:
    shared = {"email": "jane@example.com"}
    out = RedactionPolicy().redact({"a": shared, "b": shared})
    assert out == {"a": {"email": MASK}, "b": {"email": MASK}}


def test_deep_nesting_is_cut_at_max_depth_without_recursion_error() -> None:
    deep: Any = "leaf"
    for _ in range(10_000):
        deep = {"k": [deep]}
    policy = RedactionPolicy(max_depth=8)
    out = policy.redact(deep)
    level = out
    for _ in range(4):
        level = level["k"][0]
    assert level == MAX_DEPTH
    assert policy.redact(out) == out
    assert "<max depth>" in repr(RedactionPolicy().redact(deep))


@pytest.mark.timeout(30)  # a guard against a hang, not a speed claim
def test_huge_strings_are_bounded_and_leak_nothing() -> None:
    filler = "lorem ipsum 2025-11-02T10:00:00Z 127.0.0.1:5432 order 1234567890 " * 80_000
    half = filler[:2_500_000]
    text = f"jane@example.com {half} token=abc123xyz {half} 4111111111111111"
    assert len(text) > 5_000_000
    policy = RedactionPolicy()
    out = policy.redact_text(text)
    assert out.endswith(TRUNCATED) and len(out) <= 262_144 + len(TRUNCATED)
    for secret in ("jane@example.com", "abc123xyz", "4111111111111111"):
        assert secret not in out
    assert policy.redact_text(out) == out


def test_long_texts_below_the_cap_are_scanned_to_the_end() -> None:
    text = ("x" * 250_000) + " jane@example.com"
    assert RedactionPolicy().redact_text(text) == ("x" * 250_000) + " " + MASK
    roomy = RedactionPolicy(max_string_length=2_000_000)
    assert roomy.redact_text("x" * 1_500_000 + " a@b.co").endswith(MASK)


def test_pseudonyms_are_keyed_stable_and_correlate_text_with_fields() -> None:
    policy = RedactionPolicy(hmac_key=b"k1")
    out = policy.redact(
        {
            "email": "Jane@Example.com",
            "user_email": " jane@example.com ",
            "note": "mail jane@example.com",
            "password": "x",
        }
    )
    pseudonym = out["email"]
    assert re.fullmatch(r"pseud:[0-9a-f]{16}", pseudonym)
    assert out == {"email": pseudonym, "user_email": pseudonym, "note": f"mail {pseudonym}", "password": MASK}
    assert RedactionPolicy(hmac_key=b"k2").redact({"email": "jane@example.com"})["email"] != pseudonym
    assert policy.redact(out) == out  # a pseudonym is not pseudonymised again
    assert policy.redact({"email": None, "user_email": 42})["email"] is None
    assert RedactionPolicy().redact({"email": "jane@example.com"}) == {"email": MASK}


def test_configured_pseudonymised_keys() -> None:
    policy = RedactionPolicy(hmac_key="key", pseudonymize_keys=["customer-ref"])
    out = policy.redact({"customer_ref": "C-1", "email": "jane@example.com"})
    assert out["customer_ref"] == policy.pseudonym("C-1")
    # "email" is no longer a pseudonymised key, but an address in its text still is.
    assert out["email"] == policy.pseudonym("jane@example.com")


def test_headers_and_urls() -> None:
    policy = RedactionPolicy()
    headers = [
        (b"authorization", b"Bearer abc123456"),
        (b"x-api-key", b"k"),
        (b"referer", b"https://u:p@x/y"),
        (b"accept", b"*/*"),
    ]
    assert policy.redact_headers(headers) == [
        (b"authorization", MASK.encode()),
        (b"x-api-key", MASK.encode()),
        (b"referer", f"https://u:{MASK}@x/y".encode()),
        (b"accept", b"*/*"),
    ]
    assert redact_headers({"Cookie": "a=b", "Host": "x"}, policy) == {"Cookie": MASK, "Host": "x"}
    assert redact_url("https://a:b@h/p?password=x&y=1", policy) == f"https://a:{MASK}@h/p?password={MASK}&y=1"


def test_default_policy_reads_settings_and_is_cached() -> None:
    settings = Settings(
        redaction_extra_keys=["tenant_secret_ref", "x-ref"],
        redaction_hmac_key=SecretStr("s3cret"),
        redaction_pseudonymize_keys=["email", "login"],
    )
    policy = default_policy(settings)
    assert policy is default_policy(
        Settings(
            redaction_extra_keys=["tenant_secret_ref", "x-ref"],
            redaction_hmac_key=SecretStr("s3cret"),
            redaction_pseudonymize_keys=["email", "login"],
        )
    )
    assert policy is not default_policy(Settings())
    out = policy.redact({"x_ref": 1, "login": "bob", "email": "a@b.co"})
    assert out["x_ref"] == MASK
    assert out["login"] == RedactionPolicy(hmac_key=b"s3cret").pseudonym("bob")
    assert default_policy(Settings()).redact({"email": "a@b.co"}) == {"email": MASK}


def test_default_policy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOWOPS_REDACTION_EXTRA_KEYS", "customer_ref, internal_note")
    policy = default_policy(Settings())
    out = policy.redact({"Customer-Ref": "c1", "internal_note": "n"})
    assert out == {"Customer-Ref": MASK, "internal_note": MASK}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_depth": 0}, "max_depth"),
        ({"max_depth": 10_000}, "max_depth"),
        ({"max_string_length": 10}, "max_string_length"),
        ({"hmac_key": b""}, "hmac_key"),
    ],
)
def test_bad_options_are_clear_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedactionPolicy(**kwargs)
    with pytest.raises(ValueError, match="hmac_key"):
        RedactionPolicy().pseudonym("x")


def test_event_keys_of_any_type() -> None:
    policy = RedactionPolicy()
    event = {1: "jane@example.com", b"password": "x", ("a", "b"): 2, "Token": 3}
    assert policy.redact_event(event) == {1: MASK, b"password": MASK, ("a", "b"): 2, "Token": MASK}


@pytest.mark.timeout(30)  # a guard against a hang (catastrophic backtracking), not a speed claim
@pytest.mark.parametrize(
    "unit",
    [
        "1 ",
        "12-",
        "0000-",
        "1.1.",
        "(1)",
        "password=",
        "a@a.",
        "Bearer ",
        "+1 ",
        "%41",
        "&#64;",
        "a+",
        "%2B14155550123&",
        "4111+1111+1111+1111=",
        "%2540a.co%25",
    ],
)
def test_adversarial_texts_are_cut_and_finish(unit: str) -> None:
    """Linear scans over at most max_string_length characters: a 2 MB adversarial text ends."""
    text = unit * (2_000_000 // len(unit))
    out = RedactionPolicy().redact_text(text)
    assert out.endswith(TRUNCATED)
    assert len(out) <= 262_144 + len(TRUNCATED)
