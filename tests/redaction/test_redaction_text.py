"""Free-text detectors, one category at a time, each with look-alikes that must survive."""

from __future__ import annotations

import pytest

from glowops.redaction import MASK, RedactionPolicy
from glowops.redaction.detectors import card_issuer_ok, luhn_ok

POLICY = RedactionPolicy()


def scrub(text: str) -> str:
    return POLICY.redact_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe@example.com now", f"mail {MASK} now"),
        ("to: John.O'Brien+tag@mail.example.co.uk.", f"to: {MASK}."),
        ("user=jane@example.org&x=1", f"user={MASK}&x=1"),
        ("<jöhn@exämple.de>", f"<{MASK}>"),
    ],
)
def test_email(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", ["@example.com mention", "user@localhost", "a @ b", "foo@bar"])
def test_email_look_alikes(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0958",
        "+1 (555) 123-4567",
        "+15551234567",
        "+33 1 23 45 67 89",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "1-800-555-1234",
        "020 7946 0958",
        "07700 900123",
        "01 23 45 67 89",
        "030 12345678",
    ],
)
def test_phone_numbers(text: str) -> None:
    assert scrub(f"call {text} today") == f"call {MASK} today"


@pytest.mark.parametrize(
    "text",
    [
        "5551234567",
        "order 1234567890 shipped",
        "2025-11-02",
        "2025-11-02T10:00:00Z",
        "02/11/2025",
        "11.02.2025",
        "01.02.2025 10:00",
        "10:00:00",
        "1.2.3",
        "v10.20.30",
        "127.0.0.1:5432",
        "0.0.0.0:8000",
        "1700000000",
        "1700000000123",
        "HTTP/1.1 200 1532",
        "2025-11-02 10:00:00,123",
        "+02:00",
        "1,234,567.89",
        "00-11-22-33-44-55",
    ],
)
def test_phone_look_alikes(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize("text", ["123-45-6789", "123 45 6789", "001-01-0001", "899-99-9999"])
def test_ssn(text: str) -> None:
    assert scrub(f"ssn of {text} here") == f"ssn of {MASK} here"


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",
        "123456789",
    ],
)
def test_ssn_look_alikes(text: str) -> None:
    assert scrub(f"value {text} here") == f"value {text} here"


def test_labelled_ssn_and_tax_ids() -> None:
    assert scrub("SSN: 123456789") == f"SSN: {MASK}"
    assert scrub("EIN: 12-3456789") == f"EIN: {MASK}"
    assert scrub("our ein is 12-3456789.") == f"our ein is {MASK}."
    assert scrub("ITIN 912-70-1234") == f"ITIN {MASK}"
    assert scrub("Tax ID number: 98-7654321") == f"Tax ID number: {MASK}"
    # Without a label, an EIN-shaped number is just a number.
    assert scrub("invoice 12-3456789") == "invoice 12-3456789"
    assert scrub("protein 12-3456789") == "protein 12-3456789"


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "3782 822463 10005",
        "6011111111111117",
        "3530111333300000",
        "36227206271667",
        "4222222222222",
    ],
)
def test_card_numbers(number: str) -> None:
    assert scrub(f"card {number} declined") == f"card {MASK} declined"
    assert scrub(f"card={number}") == f"card={MASK}"


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",  # Visa prefix, Luhn fails
        "1234567812345670",  # Luhn passes, no issuer prefix
        "9999999999999995",  # Luhn passes, no issuer
        "411111111111111",  # Visa prefix, wrong length
        "4111 1111 1111",  # too short
    ],
)
def test_card_look_alikes(number: str) -> None:
    assert luhn_ok("1234567812345670") and not card_issuer_ok("1234567812345670")
    assert scrub(f"ref {number} ok") == f"ref {number} ok"


def test_card_next_to_other_numbers_is_still_found() -> None:
    assert scrub("12 4111 1111 1111 1111 99") == f"12 {MASK} 99"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: {MASK}"),
        ("sent Bearer 8f14e45fceea167a5a36dedd4bea2543 upstream", f"sent Bearer {MASK} upstream"),
        ("header Basic dXNlcjpwYXNzd29yZA==", f"header Basic {MASK}"),
        ("Authorization: token ghx123", f"Authorization: {MASK}"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", MASK),
        ("jwt=eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjMifQ.", f"jwt={MASK}"),
    ],
)
def test_credentials(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "basic authentication is enabled",
        "the bearer of bad news",
        "token expired",
        "Basic auth",
    ],
)
def test_credential_look_alikes(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    "key",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        "ghp_" + "a1B2" * 9,
        "gho_" + "Z" * 36,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW",
        "sk_live_51H8abcDEF123ghiJKL",
        "rk_live_abcDEF1234567890",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxp-1234-5678-abcdefghijk",
        "sk-Abc123def456ghi789jkl012mno345",
        "sk-proj-Ab12Cd34Ef56Gh78Ij90_Kl-Mn",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    ],
)
def test_provider_keys(key: str) -> None:
    assert scrub(f"using {key} now") == f"using {MASK} now"


def test_provider_look_alikes() -> None:
    for text in ["sk-learn-is-a-library", "task-1234567890abcdefghij", "AKIA-not-a-key", "mask_live_thing"]:
        assert scrub(text) == text


def test_aws_secret_and_slack_webhook() -> None:
    assert scrub("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == (
        f"aws_secret_access_key = {MASK}"
    )
    hook = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    assert scrub(f"posting to {hook} failed") == f"posting to https://hooks.slack.com/services/{MASK} failed"


def test_pem_private_keys() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\nZZZ+abc=\n-----END RSA PRIVATE KEY-----"
    assert scrub(f"key:\n{pem}\ndone") == f"key:\n{MASK}\ndone"
    cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    assert scrub(f"log {cut}") == f"log {MASK}"
    public = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQY\n-----END PUBLIC KEY-----"
    assert scrub(public) == public


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/prisma", f"postgresql://app:{MASK}@db:5432/prisma"),
        ("redis://:hunter2@localhost:6379/0", f"redis://:{MASK}@localhost:6379/0"),
        ("postgres://u:p@ss@host/db", f"postgres://u:{MASK}@host/db"),
        (
            "https://x.com/cb?code=1&access_token=abc;sig=zz#id_token=qq&state=s",
            f"https://x.com/cb?code=1&access_token={MASK};sig={MASK}#id_token={MASK}&state=s",
        ),
        ("https://x.com/a;jsessionid=ABC123?page=2", f"https://x.com/a;jsessionid={MASK}?page=2"),
        ("https://gateway@db.internal:5432/x", "https://gateway@db.internal:5432/x"),
        (
            "https://example.com/search?q=token&max_tokens=5",
            "https://example.com/search?q=token&max_tokens=5",
        ),
    ],
)
def test_urls(url: str, expected: str) -> None:
    assert POLICY.redact_url(url) == expected
    assert scrub(f"GET {url} 200") == f"GET {expected} 200"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 user=bob", f"password={MASK} user=bob"),
        ('{"password": "hun ter\\"2", "a": 1}', f'{{"password": "{MASK}", "a": 1}}'),
        ("{'api_key': 'abc', 'n': 2}", f"{{'api_key': '{MASK}', 'n': 2}}"),
        ("Cookie: sessionid=abc; csrftoken=def\nnext", f"Cookie: {MASK}\nnext"),
        ("X-Api-Key: k-123 rest", f"X-Api-Key: {MASK} rest"),
        ("token: Bearer abc123 ok", f"token: {MASK} ok"),
        ("max_tokens=4096 total_tokens: 12 author: bob", "max_tokens=4096 total_tokens: 12 author: bob"),
    ],
)
def test_key_value_pairs_in_text(text: str, expected: str) -> None:
    assert scrub(text) == expected


LOOK_ALIKES = [
    "123e4567-e89b-12d3-a456-426614174000",
    "12345678-0123-4567-8901-123456789012",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00f067aa0ba902b7",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "1700000000",
    "1700000000.123",
    "2025-11-02",
    "2025-11-02T10:00:00.123456+00:00",
    "1.2.3",
    "v2.31.0-rc.1+build.5",
    "127.0.0.1:5432",
    "[::1]:8000",
    "order 4000123456 shipped",
    "author",
    "max_tokens",
    "/api/v1/documents/{doc_id}",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "pid 12345 port 6379",
    "took 1234.5678 ms",
    "ts=1700000000123 level=info",
    "GET /health 200 OK",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_survive_byte_for_byte(text: str) -> None:
    assert scrub(text) == text
    assert scrub(f"x {text} y") == f"x {text} y"


def test_basic_credentials_followed_by_a_path_are_masked() -> None:
    import base64

    token = base64.b64encode(b"svc:pw-secret9").decode()
    assert POLICY.redact_text(f"/v1/things/Basic {token}/next") == f"/v1/things/Basic {MASK}/next"
    prose = "Basic authentication, basic dXNlcg==/x"
    assert POLICY.redact_text(prose) == prose


def test_a_scheme_word_before_a_credential_does_not_hide_it() -> None:
    assert POLICY.redact_text("TOKEN Bearer 00000000000000000000") == f"TOKEN Bearer {MASK}"
