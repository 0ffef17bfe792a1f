"""The one path helper: hostile names never leave their root (property-based and named cases)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glowops.paths import UnsafePath, contained

PARTS = st.sampled_from(["..", ".", "", "a", "b.enc", "dump", "/", "\\", "\x00", "C:", "~", "..."])
NAMES = st.one_of(
    st.lists(PARTS, min_size=1, max_size=6).map("/".join),
    st.text(min_size=1, max_size=40),
    st.lists(PARTS, min_size=1, max_size=6).map("".join),
)


@settings(max_examples=250, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_a_name_either_stays_inside_or_is_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    try:
        path = contained(root, name)
    except UnsafePath as err:
        assert str(err)  # every refusal says why
        return
    resolved = Path(os.path.realpath(path))
    assert resolved == root.resolve() or root.resolve() in resolved.parents
    assert ".." not in Path(name).parts and not name.startswith("/")
    assert "\\" not in name and "\x00" not in name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("/etc/passwd", "absolute"),
        ("//abs/path", "absolute"),
        ("C:evil", "absolute"),
        ("../sibling", "'..'"),
        ("a/../../x", "'..'"),
        ("a//b", "empty"),
        ("./a", "'.'"),
        ("a\\..\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("", "empty"),
    ],
)
def test_named_attacks_are_refused_with_the_reason(tmp_path: Path, name: str, why: str) -> None:
    with pytest.raises(UnsafePath, match=why):
        contained(tmp_path, name)


def test_a_planted_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath, match="symlink"):
        contained(root, "link/file")
    assert contained(root, "dump/toc.dat") == root / "dump" / "toc.dat"
