"""The one exception the backup commands turn into a clear, non-zero exit."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, verify, restore or prune step failed; ``str(err)`` is meant for a human."""
