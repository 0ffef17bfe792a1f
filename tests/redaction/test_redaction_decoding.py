"""The decoded pass: percent-encoded, ``+``-spaced and entity-encoded secrets are masked in place."""

from __future__ import annotations

import pytest

from glowops.redaction import MASK, RedactionPolicy
from glowops.redaction.decoding import decodings

POLICY = RedactionPolicy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email=jane.doe%2Baudit%40example.com&page=2", f"email={MASK}&page=2"),
        ("phone=%2B1%20415%20555%200123&lang=en", f"phone={MASK}&lang=en"),
        ("ssn=123%2D45%2D6789", f"ssn={MASK}"),
        ("card=4111+1111+1111+1111&x=1", f"card={MASK}&x=1"),
        ("https://shop.example/a/b?q=jane%40example.com#top", f"https://shop.example/a/b?q={MASK}#top"),
        ("name=jane&#64;example.com&step=2", f"name={MASK}&step=2"),
        ("q=jane&#x40;example.com", f"q={MASK}"),
        ("key%3Dsk_live_abcdefghijklmnop1234", f"key%3D{MASK}"),
        # nested encoding (a value encoded twice on its way through a proxy)
        ("q=%252B1%2520415%2520555%25200123", f"q={MASK}"),
        (
            "Referer: https://app.example/s?q=call+%2B44+20+7946+0958&n=1",
            f"Referer: https://app.example/s?q=call%20{MASK}&n=1",
        ),
    ],
)
def test_encoded_secrets_are_masked_in_place(text: str, expected: str) -> None:
    assert POLICY.redact_text(text) == expected
    assert POLICY.redact_text(expected) == expected  # idempotent


def test_a_secret_only_the_whole_token_shows_masks_the_token() -> None:
    out = POLICY.redact_text("see pass%77ord=hunter2x now")
    assert "hunter2x" not in out and out.startswith("see ") and out.endswith(" now")


def test_pseudonyms_survive_re_encoding() -> None:
    policy = RedactionPolicy(hmac_key=b"k")
    out = policy.redact_text("email=Jane.Doe%40Example.com")
    assert out == "email=" + policy.pseudonym("jane.doe@example.com")


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/items?page=2&size=50&sort=created_at%2Cdesc",
        "2026-12-02T11:00:00+00:00 took 12ms",
        "request_id=550e8400-e29b-41d4-a716-446655440000&v=1.2.3",
        "100% done, a+b, C++",
        "trace=4bf92f3577b34da6a3ce929d0e0e4736&span=00f067aa0ba902b7",
        "sha=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08&date=2026-12-02",
        "q=max_tokens%3D4096&author=Jane%20Austen",
        "path=%2Fv1%2Fitems%2F42 &amp; more",
    ],
)
def test_encoded_look_alikes_survive(text: str) -> None:
    assert POLICY.redact_text(text) == text


def test_decodings_are_bounded_and_distinct() -> None:
    spelled = decodings("%25252541")
    assert spelled[:3] == ["%252541", "%2541", "%41"]  # three rounds, no more
    assert len(spelled) == len(set(spelled))
    assert decodings("plain") == []


def test_structures_and_headers_get_the_decoded_pass() -> None:
    out = POLICY.redact({"query": "to=jane%40example.com", "list": ["x", "4111+1111+1111+1111"]})
    assert out == {"query": f"to={MASK}", "list": ["x", MASK]}
    headers = POLICY.redact_headers({"Referer": "https://a.example/?phone=%2B14155550123"})
    assert headers == {"Referer": f"https://a.example/?phone={MASK}"}
