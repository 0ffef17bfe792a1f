"""Encryption at rest: round trip, wrong key, tampering and truncation, bad key configuration."""

from __future__ import annotations

import base64
import io
import os

import pytest

from glowops.backup.crypto import Encryptor, decrypt_stream, file_context, parse_key
from glowops.backup.errors import BackupError

CONTEXT = file_context("20250101T020000.000Z-ab12", "dump.pgc.enc")


def encrypt(key: bytes, data: bytes, chunk: int = 1024, pieces: int = 7, context: bytes = CONTEXT) -> bytes:
    enc = Encryptor(key, context, chunk_size=chunk)
    out = bytearray()
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        out += enc.update(data[start : start + step])
    out += enc.finish()
    return bytes(out)


def decrypt(key: bytes, blob: bytes, context: bytes = CONTEXT) -> bytes:
    return b"".join(decrypt_stream(key, io.BytesIO(blob), context))


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 10_000])
def test_round_trip(size: int) -> None:
    key = os.urandom(32)
    data = os.urandom(size)
    blob = encrypt(key, data)
    assert size < 64 or data[:64] not in blob
    assert decrypt(key, blob) == data


def test_wrong_key_is_a_clear_error() -> None:
    blob = encrypt(os.urandom(32), b"secret rows" * 500)
    with pytest.raises(BackupError, match="wrong encryption key"):
        decrypt(os.urandom(32), blob)


@pytest.mark.parametrize(
    "other",
    [
        file_context("20250101T020000.000Z-ab13", "dump.pgc.enc"),  # the same file under a newer id
        file_context("20250101T020000.000Z-ab12", "globals.sql.enc"),  # another file of the backup
    ],
)
def test_a_file_moved_to_another_backup_or_name_does_not_decrypt(other: bytes) -> None:
    key = os.urandom(32)
    blob = encrypt(key, b"attacker wants this restored as today's backup" * 100)
    with pytest.raises(BackupError, match="moved from another backup"):
        decrypt(key, blob, other)


def test_files_from_before_the_context_binding_are_refused() -> None:
    key = os.urandom(32)
    blob = b"GLOWENC1" + encrypt(key, b"old")[8:]
    with pytest.raises(BackupError, match="take a new backup"):
        decrypt(key, blob)


def test_truncation_and_tampering_are_detected() -> None:
    key = os.urandom(32)
    blob = encrypt(key, os.urandom(5000))
    # Cut after a whole chunk record: a reader that trusted the stream would return a short dump.
    first_record_end = 20 + 4 + 1024 + 16
    with pytest.raises(BackupError, match="truncated"):
        decrypt(key, blob[:first_record_end])
    flipped = bytearray(blob)
    flipped[first_record_end + 10] ^= 1
    with pytest.raises(BackupError, match="chunk 1 is corrupted"):
        decrypt(key, bytes(flipped))
    with pytest.raises(BackupError, match="bad header"):
        decrypt(key, b"PGDMP" + blob[5:])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(os.urandom(16)).decode(), "decodes to 16 bytes, not 32"),
    ],
)
def test_bad_key_configuration_says_how_to_make_one(value: str, message: str) -> None:
    with pytest.raises(BackupError, match=message) as err:
        parse_key(value)
    assert "base64.b64encode(os.urandom(32))" in str(err.value)
