"""``state_secret(path)``: a random key kept in a file, the same for every process that asks.

Several workers (``serve --workers N``) start together and must agree on keys that sign what a
browser or client carries from one worker to the next (console sessions, login tokens). The
first process to finish writing wins: the key is written to a private temporary file, then
linked into place, which fails when another process linked first; the loser reads the winner's
key. A reader never sees a half-written file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["state_secret"]


def state_secret(path: Path, nbytes: int = 48) -> str:
    """The URL-safe key stored at ``path`` (mode 0600), created with ``nbytes`` random bytes
    when missing."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(nbytes)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{path}: the key file is empty (delete it to create a new key)")
    return key
