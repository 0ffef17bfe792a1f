"""Which keys are secret: case- and separator-insensitive, and near-misses stay visible."""

from __future__ import annotations

import pytest

from glowops.redaction import MASK, RedactionPolicy, is_sensitive_key, normalise_key

SECRET_KEYS = [
    "password",
    "Password",
    "PASSWORD",
    "passwd",
    "pwd",
    "db_password",
    "password_hash",
    "passphrase",
    "secret",
    "client_secret",
    "clientSecret",
    "CLIENT-SECRET",
    "aws_secret_access_key",
    "secretKey",
    "token",
    "access_token",
    "accessToken",
    "refresh_token",
    "id_token",
    "csrf-token",
    "X-Auth-Token",
    "api_key",
    "apiKey",
    "APIKEY",
    "X-Api-Key",
    "x_api_key",
    "x.api.key",
    "openai_api_key",
    "authorization",
    "Authorization",
    "Proxy-Authorization",
    "auth",
    "cookie",
    "Cookie",
    "set-cookie",
    "Set-Cookie",
    "cookies",
    "session",
    "sessionid",
    "SESSION_ID",
    "jsessionid",
    "ssn",
    "tax_id",
    "taxId",
    "private_key",
    "privateKey",
    "ssh_private_key",
    "credentials",
    "credential",
    "dsn",
    "jwt",
    "otp",
    "mfa_code",
]
VISIBLE_KEYS = [
    "author",
    "Author",
    "authority",
    "authored_by",
    "max_tokens",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "tokens",
    "tokenizer",
    "token_count",
    "token_type",
    "secretary",
    "key",
    "keys",
    "monkey",
    "keyboard",
    "status",
    "user_id",
    "message",
    "path",
    "sessions_active",
    "passenger",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys_are_masked_whatever_the_value(key: str) -> None:
    policy = RedactionPolicy()
    assert is_sensitive_key(key)
    for value in ("plain", 12345, {"nested": "x"}, ["a", "b"], None, 3.5):
        assert policy.redact({key: value}) == {key: MASK}


@pytest.mark.parametrize("key", VISIBLE_KEYS)
def test_look_alike_keys_stay_visible(key: str) -> None:
    assert not is_sensitive_key(key)
    assert RedactionPolicy().redact({key: 4096}) == {key: 4096}


def test_normalisation_drops_case_and_separators() -> None:
    assert normalise_key("X-Api-Key") == normalise_key("x_api_key") == normalise_key("xApiKey") == "xapikey"
    assert normalise_key("Set Cookie") == "setcookie"


def test_extra_keys_match_like_builtin_ones() -> None:
    policy = RedactionPolicy(extra_keys=["X-Tenant-Ref", " "])
    assert policy.redact({"x_tenant_ref": "t-1", "tenantRef": "kept", "xTenantRef": 7}) == {
        "x_tenant_ref": MASK,
        "tenantRef": "kept",
        "xTenantRef": MASK,
    }
    assert RedactionPolicy().redact({"x_tenant_ref": "t-1"}) == {"x_tenant_ref": "t-1"}


def test_url_only_names_are_secret_in_urls_but_not_as_dict_keys() -> None:
    policy = RedactionPolicy()
    assert policy.redact({"key": "cache:users:1", "sig": "abc"}) == {"key": "cache:users:1", "sig": "abc"}
    url = "https://maps.example.com/api?key=AbCdEf123456&sig=deadbeef&X-Amz-Signature=f00d&zoom=3"
    assert policy.redact_url(url) == (
        f"https://maps.example.com/api?key={MASK}&sig={MASK}&X-Amz-Signature={MASK}&zoom=3"
    )


def test_secret_keys_in_lists_tuples_and_deep_nesting() -> None:
    data = {"a": [{"b": ({"Password": ["x", {"y": 1}]},)}], "c": ({"token": 1},)}
    assert RedactionPolicy().redact(data) == {"a": [{"b": ({"Password": MASK},)}], "c": ({"token": MASK},)}


def test_keys_holding_personal_data_are_scrubbed_too() -> None:
    out = RedactionPolicy().redact({"jane.doe@example.com": 3, "count": 1})
    assert out == {MASK: 3, "count": 1}
