"""Write a backup file while hashing (and optionally encrypting) it: the data is read once.

The sha256 is of the bytes as stored (ciphertext when encrypted), so ``sha256sum`` on the
stored file matches the manifest and a checksum check needs no key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from glowops.backup.crypto import Encryptor, decrypt_stream
from glowops.backup.keys import ENC_SUFFIX as ENC_SUFFIX  # re-exported: where the writers and readers look
from glowops.backup.manifest import FileEntry

READ_SIZE = 1024 * 1024


class HashingWriter:
    """A write-only file that hashes (and encrypts) what passes through it."""

    def __init__(self, path: Path, key: bytes | None = None, context: bytes = b"") -> None:
        """``context`` is the file's associated data (:func:`glowops.backup.crypto.file_context`)."""
        self.path = path
        self._fh = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._hash = hashlib.sha256()
        self._enc = Encryptor(key, context) if key is not None else None
        self.size = 0
        self.plain_bytes = 0
        self.head = b""  # the first plaintext bytes, to check a file signature

    def _put(self, data: bytes) -> None:
        if data:
            self._hash.update(data)
            self._fh.write(data)
            self.size += len(data)

    def write(self, data: bytes) -> None:
        if len(self.head) < 16:
            self.head += data[: 16 - len(self.head)]
        self.plain_bytes += len(data)
        self._put(self._enc.update(data) if self._enc is not None else data)

    def close(self) -> FileEntry:
        """Flush, fsync and describe the file."""
        if self._enc is not None:
            self._put(self._enc.finish())
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return FileEntry(self.path.name, self.size, self._hash.hexdigest())

    def abort(self) -> None:
        self._fh.close()


def copy_stream(
    source: BinaryIO, writer: HashingWriter, on_bytes: Callable[[int], None] | None = None
) -> None:
    """Copy a pipe into ``writer`` in 1 MiB reads."""
    read = source.read
    while True:
        data = read(READ_SIZE)
        if not data:
            return
        writer.write(data)
        if on_bytes is not None:
            on_bytes(len(data))


def store_file(src: Path, dest_dir: Path, key: bytes | None, context: Callable[[str], bytes]) -> FileEntry:
    """Copy ``src`` into ``dest_dir`` (encrypted when ``key``), hashing on the way; ``context``
    gives the associated data of the stored name."""
    name = src.name + (ENC_SUFFIX if key is not None else "")
    writer = HashingWriter(dest_dir / name, key, context(name))
    try:
        with open(src, "rb") as fh:
            copy_stream(fh, writer)  # type: ignore[arg-type]
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def hash_file(path: Path) -> FileEntry:
    """Size and sha256 of a file already in place (directory-format dumps)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(path.name, size, digest.hexdigest())


def plaintext_chunks(path: Path, key: bytes | None, context: bytes = b"") -> Iterable[bytes]:
    """The plaintext of a stored file, decrypting (with associated data ``context``) when it
    carries the ``.enc`` suffix."""
    with open(path, "rb") as fh:
        if path.name.endswith(ENC_SUFFIX):
            if key is None:
                from glowops.backup.errors import BackupError

                raise BackupError(
                    f"{path.name} is encrypted: set GLOWOPS_BACKUP_ENCRYPTION_KEY to the key the backup "
                    "was made with"
                )
            yield from decrypt_stream(key, fh, context)  # type: ignore[arg-type]
        else:
            while chunk := fh.read(READ_SIZE):
                yield chunk
