"""Encryption at rest: AES-256-GCM over 1 MiB chunks, streamable in both directions.

File layout::

    b"GLOWENC2" | chunk_size (4 bytes, big endian) | nonce_prefix (8 random bytes)
    then records: length (4 bytes) | ciphertext+tag  for each chunk

Each chunk's nonce is ``nonce_prefix || counter`` and its associated data binds the header, the
file's context (``<backup id>/<file name>``, see :func:`file_context`), the counter and a "last
chunk" flag, so reordered, dropped, swapped or truncated chunks fail to decrypt instead of
yielding a silently shortened dump, and a file moved under another backup id or name does not
decrypt at all. ``GLOWENC1`` files (before the context was bound) are refused.

The key is 32 random bytes, base64-encoded, in ``GLOWOPS_BACKUP_ENCRYPTION_KEY``; create one with
``python -c "import os,base64; print(base64.b64encode(os.urandom(32)).decode())"``.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from glowops.backup.errors import BackupError
from glowops.backup.keys import AEAD_ALGORITHM

MAGIC = b"GLOWENC2"
_OLD_MAGIC = b"GLOWENC1"
CHUNK = 1024 * 1024
_HEADER = struct.Struct(">8sI8s")
_LEN = struct.Struct(">I")
ALGORITHM = AEAD_ALGORITHM  # one name, defined where no cryptography import is needed
KEY_HELP = (
    "GLOWOPS_BACKUP_ENCRYPTION_KEY must be 32 random bytes encoded in base64 (44 characters); "
    'create one with: python -c "import os,base64; print(base64.b64encode(os.urandom(32)).decode())"'
)


def parse_key(value: str) -> bytes:
    """Decode a base64 key of exactly 32 bytes, or raise a :class:`BackupError` saying how to make one."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BackupError(f"the backup encryption key is not valid base64. {KEY_HELP}") from None
    if len(key) != 32:
        raise BackupError(f"the backup encryption key decodes to {len(key)} bytes, not 32. {KEY_HELP}")
    return key


def file_context(backup_id: str, name: str) -> bytes:
    """The associated data naming one stored file: its backup id and its name in the manifest."""
    return f"glowops-backup:{backup_id}/{name}".encode()


def _aad(header: bytes, context: bytes, counter: int, last: bool) -> bytes:
    return header + struct.pack(">I", len(context)) + context + struct.pack(">Q?", counter, last)


class Encryptor:
    """Turns plaintext chunks into the encrypted stream; call :meth:`finish` exactly once."""

    def __init__(self, key: bytes, context: bytes, chunk_size: int = CHUNK) -> None:
        self._aes = AESGCM(key)
        self._context = context
        self._prefix = os.urandom(8)
        self._chunk = chunk_size
        self.header = _HEADER.pack(MAGIC, chunk_size, self._prefix)
        self._counter = 0
        self._pending = bytearray()
        self._started = False

    def _seal(self, data: bytes, last: bool) -> bytes:
        nonce = self._prefix + struct.pack(">I", self._counter)
        sealed = self._aes.encrypt(nonce, data, _aad(self.header, self._context, self._counter, last))
        self._counter += 1
        return _LEN.pack(len(sealed)) + sealed

    def update(self, data: bytes) -> bytes:
        """Encrypted bytes for ``data`` (whole chunks only; the rest waits for more input)."""
        out = bytearray()
        if not self._started:
            out += self.header
            self._started = True
        self._pending += data
        # Keep at least one byte back so the final chunk is never empty.
        while len(self._pending) > self._chunk:
            out += self._seal(bytes(self._pending[: self._chunk]), last=False)
            del self._pending[: self._chunk]
        return bytes(out)

    def finish(self) -> bytes:
        """The last (flagged) chunk."""
        out = b"" if self._started else self.header
        self._started = True
        out += self._seal(bytes(self._pending), last=True)
        self._pending.clear()
        return out


def decrypt_stream(key: bytes, source: BinaryIO, context: bytes) -> Iterator[bytes]:
    """Yield the plaintext of an encrypted stream; :class:`BackupError` if the key is wrong, the
    data was altered or truncated, or the file belongs to another backup id or name."""
    header = source.read(_HEADER.size)
    if header.startswith(_OLD_MAGIC):
        raise BackupError(
            "this file was encrypted by an older glowops that did not bind the backup id and file "
            "name; it cannot be authenticated: take a new backup"
        )
    if len(header) != _HEADER.size or not header.startswith(MAGIC):
        raise BackupError("not a glowops-encrypted backup file (bad header)")
    _, chunk_size, prefix = _HEADER.unpack(header)
    aes = AESGCM(key)
    counter = 0
    while True:
        raw_len = source.read(_LEN.size)
        if len(raw_len) != _LEN.size:
            raise BackupError("the encrypted backup is truncated (no final chunk)")
        (length,) = _LEN.unpack(raw_len)
        if length > chunk_size + 16:
            raise BackupError("the encrypted backup is corrupted (chunk length out of range)")
        sealed = source.read(length)
        if len(sealed) != length:
            raise BackupError("the encrypted backup is truncated (short chunk)")
        nonce = prefix + struct.pack(">I", counter)
        plain: bytes | None = None
        for last in (False, True):
            try:
                plain = aes.decrypt(nonce, sealed, _aad(header, context, counter, last))
            except InvalidTag:
                continue
            if last:
                if source.read(1):
                    raise BackupError("the encrypted backup has data after its final chunk")
                yield plain
                return
            break
        if plain is None:
            if counter == 0:
                raise BackupError(
                    "cannot decrypt the backup: wrong encryption key, a file moved from another "
                    "backup or name, or a corrupted file"
                )
            raise BackupError(f"cannot decrypt the backup: chunk {counter} is corrupted")
        yield plain
        counter += 1
