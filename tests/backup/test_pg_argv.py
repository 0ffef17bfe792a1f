"""The database password never appears in a client tool's process arguments.

Every PostgreSQL client glowops starts (pg_dump, pg_dumpall, pg_restore, pg_amcheck) is reached
through a wrapper on PATH that copies its own ``/proc/<pid>/cmdline`` and ``environ`` (what any
local user, or the same user, could read) to a log, then execs the real tool. Backup, verify
with its drill, and restore run with a password in the URL; the log must show every tool and
never the password.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from backup_helpers import SCHEMA, invoke, run_sql, table_fingerprints
from click.testing import CliRunner

from glowops.backup.pgtools import find_tool
from peers import PG_ADMIN_URL, drop_database, new_database

TOOLS = ("pg_dump", "pg_dumpall", "pg_restore", "pg_amcheck")

WRAPPER = """#!/bin/sh
{{
  printf 'TOOL {name}\\n'; tr '\\0' ' ' < /proc/$$/cmdline
  printf '\\nENV '; tr '\\0' ' ' < /proc/$$/environ; printf '\\n'
}} >> {log}
exec {real} "$@"
"""


@pytest.fixture
def password_role() -> Iterator[tuple[str, str]]:
    """A login role with a password: (name, password); dropped afterwards."""
    name = f"glowops_pw_{secrets.token_hex(4)}"
    password = f"Pw-{secrets.token_hex(12)}"
    run_sql(PG_ADMIN_URL, f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'")
    yield name, password
    run_sql(PG_ADMIN_URL, f"DROP ROLE IF EXISTS {name}")


def with_credentials(url: str, role: str, password: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{role}:{password}@")


@pytest.mark.postgres
def test_no_password_in_any_client_tool_arguments(
    tmp_path: Path,
    backup_env: Path,
    cli: CliRunner,
    password_role: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    role, password = password_role
    log = tmp_path / "children.log"
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    for name in TOOLS:
        real = find_tool(name, 15)
        script = wrappers / name
        script.write_text(WRAPPER.format(name=name, log=log, real=real))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}:{os.environ['PATH']}")

    source = new_database("glowops_argv_src")
    target = new_database("glowops_argv_dst")
    try:
        run_sql(source, SCHEMA)
        source_pw = with_credentials(source, role, password)
        code, out = invoke(cli, "run", "--database-url", source_pw, "--globals", "--quiet")
        assert code == 0, out
        drill_pw = with_credentials(PG_ADMIN_URL, role, password)
        code, out = invoke(cli, "verify", "--drill-url", drill_pw, "--quiet")
        assert code == 0, out
        assert "ok     pg_amcheck: no corruption found" in out
        # The password also in the query string form libpq accepts.
        target_pw = target.replace("postgresql://postgres@", f"postgresql://{role}@")
        target_pw += f"?password={password}"
        code, out = invoke(cli, "restore", "latest", "--to", target_pw, "--yes", "--quiet")
        assert code == 0, out
        assert table_fingerprints(target) == table_fingerprints(source)
    finally:
        drop_database(source)
        drop_database(target)

    text = log.read_text()
    started = {line.split()[1] for line in text.splitlines() if line.startswith("TOOL ")}
    assert {"pg_dump", "pg_dumpall", "pg_restore", "pg_amcheck"} <= started
    cmdlines = [line for line in text.splitlines() if not line.startswith(("TOOL ", "ENV "))]
    assert any("--dbname=" in c for c in cmdlines)  # the wrappers saw the real arguments
    assert password not in text  # neither in argv nor in the environment: a 0600 passfile
    assert "passfile=" in text
