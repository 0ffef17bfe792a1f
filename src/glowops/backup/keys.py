"""Backup keys: who signs manifests, who encrypts files, which retired keys still verify.

- The **signing key** is ``GLOWOPS_BACKUP_SIGNING_KEY`` (at least 32 characters), else a key
  derived from ``GLOWOPS_BACKUP_ENCRYPTION_KEY``. It signs every manifest (HMAC-SHA256 over
  :meth:`Manifest.canonical`, which lists every file with its size and sha256).
- The **encryption key** encrypts new backups (see :mod:`glowops.backup.crypto`).
- ``GLOWOPS_BACKUP_OLD_KEYS`` (comma-separated) holds retired keys: they verify signatures and
  decrypt, never sign or encrypt. Each manifest names its keys by id (a hash, never the key).

Once any key is configured, :func:`authenticate` refuses an unsigned manifest, a wrong or
unknown signature, and a plaintext backup while an encryption key is set, before a byte of the
backup is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from glowops.backup.errors import BackupError
from glowops.backup.manifest import Manifest

if TYPE_CHECKING:
    from glowops.backup.store import BackupEntry
    from glowops.settings import Settings

# Not imported from backup.crypto / backup.sink: they need the `crypto` extra (cryptography),
# and status, metrics and prune read signatures without it.
AEAD_ALGORITHM = "aes-256-gcm"
ENC_SUFFIX = ".enc"
MAC_ALGORITHM = "hmac-sha256"
MIN_SIGNING_KEY = 32
_MAC_LABEL = b"glowops-backup-manifest-mac-v1"


class BackupAuthError(BackupError):
    """A backup whose manifest or files cannot be authenticated."""


def key_id(key: bytes, purpose: str) -> str:
    """A short public name of a key (12 hex digits of a labelled hash)."""
    return hashlib.sha256(f"glowops-backup-{purpose}-id-v1:".encode() + key).hexdigest()[:12]


def _mac_key(secret: bytes) -> bytes:
    return hmac.new(secret, _MAC_LABEL, hashlib.sha256).digest()


def _maybe_aes(value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


@dataclass(slots=True)
class Keyring:
    """The keys of one configuration (current and retired), by id."""

    encryption: bytes | None = None
    signing: bytes | None = None  # the MAC key new manifests are signed with
    signing_source: str = ""
    macs: dict[str, bytes] = field(default_factory=dict)  # id -> MAC key (current and old)
    aes: dict[str, bytes] = field(default_factory=dict)  # id -> encryption key (current and old)

    @property
    def configured(self) -> bool:
        """True when backups must be signed (a signing or encryption key is set)."""
        return self.signing is not None

    @property
    def signing_id(self) -> str | None:
        return key_id(self.signing, "mac") if self.signing else None

    @property
    def encryption_id(self) -> str | None:
        return key_id(self.encryption, "aes") if self.encryption else None

    def _add_mac(self, mac: bytes) -> None:
        self.macs[key_id(mac, "mac")] = mac

    def _add_aes(self, key: bytes) -> None:
        self.aes[key_id(key, "aes")] = key
        self._add_mac(_mac_key(key))

    # --- producing -----------------------------------------------------------------------------
    def sign(self, manifest: Manifest) -> None:
        """Record the encryption key id and sign ``manifest`` (nothing without a key)."""
        manifest.encryption_key_id = self.encryption_id if manifest.encryption else None
        manifest.signature = None
        if self.signing is None:
            return
        mac = hmac.new(self.signing, manifest.canonical(), hashlib.sha256).hexdigest()
        manifest.signature = {"alg": MAC_ALGORITHM, "key_id": str(self.signing_id), "mac": mac}

    # --- consuming -----------------------------------------------------------------------------
    def authenticate(self, manifest: Manifest) -> str:
        """Raise :class:`BackupAuthError` unless the manifest is signed by a known key (and
        encrypted, when an encryption key is set); the one-line verdict when it is fine."""
        if not self.configured:
            return "no backup key configured: the manifest is not authenticated (see `glowops backup keys`)"
        sig = manifest.signature
        if not sig:
            raise BackupAuthError(
                f"backup {manifest.id} is not signed, but a backup key is configured: it was made "
                "before signing was enabled or was placed in the store by someone else"
            )
        if sig.get("alg") != MAC_ALGORITHM:
            raise BackupAuthError(
                f"backup {manifest.id}: unknown signature algorithm {str(sig.get('alg'))[:40]!r}"
            )
        mac_key = self.macs.get(str(sig.get("key_id")))
        if mac_key is None:
            raise BackupAuthError(
                f"backup {manifest.id} is signed with key {str(sig.get('key_id'))[:16]!r}, which is neither "
                "the current key nor one of GLOWOPS_BACKUP_OLD_KEYS"
            )
        expected = hmac.new(mac_key, manifest.canonical(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(sig.get("mac", ""))):
            raise BackupAuthError(
                f"backup {manifest.id}: the manifest signature does not match (the manifest was changed)"
            )
        plain = [f.name for f in manifest.files if not f.name.endswith(ENC_SUFFIX)]
        if self.encryption is not None and (manifest.encryption != AEAD_ALGORITHM or plain):
            raise BackupAuthError(
                f"backup {manifest.id} is not encrypted, but GLOWOPS_BACKUP_ENCRYPTION_KEY is set: "
                "plaintext backups are refused"
            )
        if manifest.encryption and plain:
            raise BackupAuthError(f"backup {manifest.id} lists unencrypted files: {', '.join(plain[:3])}")
        return f"manifest signed with key {sig['key_id']}"

    def decryption_key(self, manifest: Manifest) -> bytes | None:
        """The key that decrypts ``manifest``'s files (None when they are not encrypted)."""
        if not manifest.encryption:
            return None
        if manifest.encryption_key_id is None:  # made before key ids: only the current key can tell
            if self.encryption is None:
                raise BackupError(_NO_KEY)
            return self.encryption
        key = self.aes.get(manifest.encryption_key_id)
        if key is None:
            raise BackupError(
                f"backup {manifest.id} was encrypted with key {manifest.encryption_key_id}, which is "
                "neither GLOWOPS_BACKUP_ENCRYPTION_KEY nor one of GLOWOPS_BACKUP_OLD_KEYS"
            )
        return key


_NO_KEY = "the backup is encrypted: set GLOWOPS_BACKUP_ENCRYPTION_KEY to the key it was made with"


def keyring(settings: Settings) -> Keyring:
    """The keys the settings configure, checked before any work starts."""
    ring = Keyring()
    for old in (settings.backup_old_keys.get_secret_value() if settings.backup_old_keys else "").split(","):
        if not old.strip():
            continue
        aes = _maybe_aes(old)
        if aes is not None:
            ring._add_aes(aes)
        ring._add_mac(_mac_key(old.strip().encode()))
    enc = settings.backup_encryption_key
    if enc is not None and enc.get_secret_value():
        from glowops.backup.crypto import parse_key

        ring.encryption = parse_key(enc.get_secret_value())
        ring._add_aes(ring.encryption)
        ring.signing = _mac_key(ring.encryption)
        ring.signing_source = "derived from GLOWOPS_BACKUP_ENCRYPTION_KEY"
    sign = settings.backup_signing_key
    if sign is not None and sign.get_secret_value():
        value = sign.get_secret_value().strip()
        if len(value) < MIN_SIGNING_KEY:
            raise BackupError(
                f"GLOWOPS_BACKUP_SIGNING_KEY must be at least {MIN_SIGNING_KEY} characters (got "
                f"{len(value)}); create one with `glowops backup keys --new`"
            )
        ring.signing = _mac_key(value.encode())
        ring._add_mac(ring.signing)
        ring.signing_source = "GLOWOPS_BACKUP_SIGNING_KEY"
    return ring


def trusted(settings: Settings, entries: Sequence[BackupEntry]) -> list[BackupEntry]:
    """The entries whose manifests authenticate (every entry when no key is configured).

    Status, metrics and retention read only these: a planted manifest can neither make the
    store look fresh nor push a real backup out of the retention window (prune leaves it alone;
    ``verify`` reports it).
    """
    try:
        ring = keyring(settings)
    except BackupError:
        return list(entries)  # the misconfiguration is reported by the commands that need keys
    if not ring.configured:
        return list(entries)
    out = []
    for entry in entries:
        try:
            ring.authenticate(entry.manifest)
        except BackupAuthError:
            continue
        out.append(entry)
    return out
