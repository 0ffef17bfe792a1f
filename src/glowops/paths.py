"""One gate for every path built from outside data: S3 keys, manifest ids and file names,
archive members.

``contained(root, name)`` is the only way such a name becomes a local path. It refuses, with an
:class:`UnsafePath` that says why:

- an empty name, an absolute name (``/x``, ``C:x``, ``//x``), an empty or ``.``/``..`` part;
- a backslash (a Windows separator some tools honour), a NUL or another control character;
- a symlink anywhere between ``root`` and the target (an existing one: a planted link would
  redirect the write);

and, last, checks that the resolved path is still inside the resolved ``root``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["UnsafePath", "check_name", "contained"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafePath(ValueError):
    """A name from outside data that would leave its directory (the message says how)."""


def check_name(name: str) -> list[str]:
    """The parts of a relative, ``/``-separated name; :class:`UnsafePath` when it is unsafe."""
    if not isinstance(name, str) or not name:
        raise UnsafePath("empty path")
    shown = repr(name[:80])
    if _CONTROL.search(name):
        raise UnsafePath(f"path {shown} contains a NUL or control character")
    if "\\" in name:
        raise UnsafePath(f"path {shown} contains a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafePath(f"path {shown} is absolute")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"path {shown} has an empty, '.' or '..' part")
    return parts


def contained(root: Path, name: str) -> Path:
    """``root / name`` after checking that ``name`` cannot leave ``root`` (see the module doc).

    ``root`` itself is trusted (it comes from settings); it need not exist yet.
    """
    parts = check_name(name)
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise UnsafePath(f"path {name[:80]!r} goes through a symlink ({part!r})")
    base = root.resolve()
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafePath(f"path {name[:80]!r} resolves outside {root}")
    return path
