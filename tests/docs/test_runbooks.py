"""The runbooks are complete, true to the code and reachable.

- every alert of the catalog links (``runbook_url``) to a page with the required sections, each
  with real content, and a header that matches the rule;
- every general runbook has the sections the issue asks for;
- every ``glowops ...`` command shown in a runbook exists (its ``--help`` succeeds) with the
  options it is shown with; every alert name, dashboard uid and relative link resolves;
- ``glowops runbook NAME`` prints the page, ``--list`` lists them, a typo fails with a suggestion,
  and a wheel carries the pages.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import CliRunner

from glowops.alerting.rules import DEFAULT_RUNBOOK_BASE, AlertRule, build_catalog
from glowops.cli import app
from glowops_prismaglow import RUNBOOKS as PACK_RUNBOOKS
from glowops_prismaglow import pack as prismaglow
from peers import missing_peer
from prisma_glow_gateway.cli import top as gateway_cli

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
ALERTS = RUNBOOKS / "alerts"
PACK_ALERTS = PACK_RUNBOOKS / "alerts"
CATALOG = build_catalog(packs=[prismaglow])  # glowops' rules and the Prisma Glow pack's
CORE = build_catalog()  # the expressions a service without packs sees
ALERT_NAMES = {rule.name for rule in CATALOG.alerts}
CORE_NAMES = {rule.name for rule in CORE.alerts}
DASHBOARD_UIDS = {rule.dashboard_url.rsplit("/", 1)[1] for rule in CATALOG.alerts}
ALERT_SECTIONS = ("Meaning", "First checks", "Likely causes", "Fixes", "Escalation")
PLACEHOLDERS = re.compile(
    r"\b(TODO|TBD|FIXME|XXX|lorem ipsum)\b|<fill|\.\.\.\s*$", re.IGNORECASE | re.MULTILINE
)

# The general runbooks: required sections (headings) and facts each one must state (the list).
GENERAL: dict[str, dict[str, tuple[str, ...]]] = {
    "incident-response": {
        "sections": (
            "Severities and response times",
            "Escalation chain",
            "Roles",
            "Communication template",
            "Timeline",
            "Post-incident review",
        ),
        "facts": (
            "P0",
            "P1",
            "P2",
            "P3",
            "15 minutes",
            "1 hour",
            "4 hours",
            "next business day",
            "Incident commander",
            "GLOWOPS_ONCALL_FILE",
        ),
    },
    "performance-troubleshooting": {
        "sections": (
            "Confirm and scope",
            "Find the slow route",
            "One slow trace",
            "Its log lines",
            "The database",
        ),
        "facts": (
            "/d/glowops-service",
            "request_id",
            "trace_id",
            "pg_stat_activity",
            "HighLatencyP99",
            "SlowResponsesP95",
        ),
    },
    "disaster-recovery": {
        "sections": (
            "Targets",
            "Restore from a glowops backup",
            "Restore from Supabase",
            "The monthly drill",
        ),
        "facts": (
            "RPO",
            "RTO",
            "glowops backup restore",
            "PITR",
            "drill-report.md",
            "restore_seconds",
            "mismatches",
            "BackupDrillOverdue",
            "BackupDrillFailed",
        ),
    },
    "security-incident": {
        "sections": (
            "Detect",
            "Investigate: from the dashboard to the audit trail",
            "Contain",
            "Rotate keys and tokens",
            "Tell",
        ),
        "facts": (
            "/d/glowops-security",
            "security_events",
            "SENTRY_DSN",
            "ERROR_NOTIFY_WEBHOOK",
            "GLOWOPS_PAGERDUTY_ROUTING_KEY",
            "GLOWOPS_OPS_TOKEN",
            "GLOWOPS_SECRET_KEY",
            "RLSDenialSpike",
        ),
    },
    "deployment": {
        "sections": (),
        "facts": ("prisma-glow-gateway db upgrade", "glowops backup run", "/health/ready"),
    },
    "rollback": {"sections": (), "facts": ("glowops backup restore", "expand")},
    "database-migration": {
        "sections": (),
        "facts": ("prisma-glow-gateway db upgrade", "prisma-glow-gateway db current"),
    },
    "key-rotation": {"sections": (), "facts": ("security-incident.md", "glowops alerts test-notify")},
}

# CamelCase words in backticks that are not alert names.
NOT_ALERTS = {"CrashLoopBackOff", "OOMKilled"}


def all_pages() -> list[Path]:
    return sorted([*RUNBOOKS.rglob("*.md"), *PACK_RUNBOOKS.rglob("*.md")])


def sections(text: str) -> dict[str, str]:
    """Level-2 heading -> its body (up to the next level-2 heading)."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def prose(text: str) -> str:
    """Text with fenced code blocks removed."""
    return re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.MULTILINE | re.DOTALL)


def page_of(rule: AlertRule) -> Path:
    prefix = DEFAULT_RUNBOOK_BASE.rstrip("/") + "/"
    assert rule.runbook_url.startswith(prefix), rule.runbook_url
    assert rule.runbook_url == prefix + rule.runbook_path
    return ROOT / rule.runbook_url[len(prefix) :]


# --------------------------------------------------------------------------------------------
# One page per alert
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", CATALOG.alerts, ids=lambda r: r.name)
def test_alert_links_to_a_complete_page(rule: AlertRule) -> None:
    page = page_of(rule)
    folder = PACK_ALERTS if rule.pack else ALERTS
    assert page.resolve() == folder / f"{rule.name}.md", (
        f"{rule.name}: runbook_url points to {rule.runbook_url}"
    )
    assert page.is_file(), f"{rule.name}: no runbook page at {page.relative_to(ROOT)}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {rule.name}\n")
    found = sections(text)
    assert list(found)[: len(ALERT_SECTIONS)] == list(ALERT_SECTIONS), f"{rule.name}: sections {list(found)}"
    for name in ALERT_SECTIONS:
        words, prose_words = len(found[name].split()), len(prose(found[name]).split())
        assert words >= 20 and prose_words >= 10, f"{rule.name}: section {name!r} is nearly empty"
    assert not PLACEHOLDERS.search(text), f"{rule.name}: placeholder text {PLACEHOLDERS.search(text)!r}"
    header = text.split("## Meaning", 1)[0]
    for fact in (f"`{rule.severity}`", f"`{rule.priority}`", f"`{rule.family}`", rule.dashboard_url):
        assert fact in header, f"{rule.name}: header does not state {fact}"
    expr = CORE.alert(rule.name).expr if rule.name in CORE_NAMES else rule.expr
    assert f"```promql\n{expr}\n```" in header, f"{rule.name}: header expression differs from the catalog"


def test_no_page_for_an_alert_that_does_not_exist() -> None:
    pack_names = ALERT_NAMES - CORE_NAMES
    for folder, names in ((ALERTS, CORE_NAMES), (PACK_ALERTS, pack_names)):
        pages = {p.stem for p in folder.glob("*.md")} - {"README"}
        assert pages == names, f"{folder}: extra: {pages - names}, missing: {names - pages}"
        index = (folder / "README.md").read_text(encoding="utf-8")
        for name in names:
            assert f"[{name}]({name}.md)" in index, f"{folder}/README.md does not list {name}"


# --------------------------------------------------------------------------------------------
# General runbooks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GENERAL))
def test_general_runbook_has_its_sections(name: str) -> None:
    page = RUNBOOKS / f"{name}.md"
    assert page.is_file(), f"missing runbook {page.relative_to(ROOT)}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# ")
    found = sections(text)
    for section in GENERAL[name]["sections"]:
        heading = next((h for h in found if re.fullmatch(rf"(\d+\. )?{re.escape(section)}", h)), None)
        assert heading is not None, f"{name}: no section {section!r} (has {list(found)})"
        assert len(prose(found[heading]).split()) >= 20, f"{name}: section {section!r} is nearly empty"
    for fact in GENERAL[name]["facts"]:
        assert fact in text, f"{name}: does not mention {fact!r}"
    assert not PLACEHOLDERS.search(text), f"{name}: placeholder text"


def test_escalation_chain_is_the_specs_in_order() -> None:
    chain = sections((RUNBOOKS / "incident-response.md").read_text(encoding="utf-8"))["Escalation chain"]
    positions = [chain.find(role) for role in ("On-call engineer", "Team lead", "Engineering manager", "CTO")]
    assert -1 not in positions and positions == sorted(positions), positions


# --------------------------------------------------------------------------------------------
# Everything a runbook names exists
# --------------------------------------------------------------------------------------------
_FENCE = re.compile(r"^\s*```(\w*)\n(.*?)^\s*```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`((?:glowops|prisma-glow-gateway) [^`]+)`")
PROGRAMS = ("glowops", "prisma-glow-gateway")  # glowops' commands, and the gateway's own
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def shown_commands() -> list[tuple[str, str, list[str]]]:
    """Every ``glowops`` / ``prisma-glow-gateway`` invocation in the runbooks' shell blocks and
    inline code: (where, program, argv)."""
    found: list[tuple[str, str, list[str]]] = []
    for page in all_pages():
        text = page.read_text(encoding="utf-8")
        where = str(page.relative_to(ROOT))
        snippets = [body for lang, body in _FENCE.findall(text) if lang in ("", "bash", "sh", "shell")]
        snippets += _INLINE.findall(prose(text))
        for snippet in snippets:
            for line in snippet.splitlines():
                if not any(f"{program} " in line for program in PROGRAMS):
                    continue
                lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
                lexer.whitespace_split = True
                lexer.commenters = "#"
                segment: list[str] = []
                for token in [*lexer, ";"]:
                    if token and set(token) <= set("|&;"):
                        while segment and _ASSIGNMENT.match(segment[0]):
                            segment.pop(0)
                        if segment and segment[0] in PROGRAMS:
                            found.append((where, segment[0], segment[1:]))
                        segment = []
                    else:
                        segment.append(token)
    return found


@cache
def _root_command(program: str) -> Any:
    # glowops is on click, the gateway on Typer (which vendors its own click): groups are
    # recognised by their ``commands`` mapping.
    return app if program == "glowops" else typer.main.get_command(gateway_cli)


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def resolve(argv: list[str], program: str = "glowops") -> tuple[list[str], Any, list[str]]:
    """The sub-command path of ``argv``, its command, and the rest of the arguments."""
    command = _root_command(program)
    path: list[str] = []
    rest = list(argv)
    while program == "glowops" and rest[:1] == ["--pack"]:  # a root option: glowops --pack NAME ...
        rest = rest[2:]
    while _is_group(command) and rest and not rest[0].startswith("-"):
        # get_command, not .commands: the root group loads its sub-commands lazily.
        sub = command.get_command(command.context_class(command), rest[0])
        assert sub is not None, f"`{program} {' '.join([*path, rest[0]])}` is not a command"
        path.append(rest.pop(0))
        command = sub
    return path, command, rest


def test_runbooks_show_commands() -> None:
    commands = shown_commands()
    # The pages are built around the CLI: a parser that finds nothing is a broken test.
    assert len(commands) > 100
    assert {(program, *resolve(argv, program)[0]) for _, program, argv in commands} >= {
        ("glowops", "backup", "restore"),
        ("glowops", "runbook"),
        ("glowops", "alerts", "ack"),
        ("glowops", "health"),
        ("prisma-glow-gateway", "db", "upgrade"),
    }


def test_every_command_shown_in_a_runbook_exists() -> None:
    runner = CliRunner()
    paths: dict[tuple[str, ...], str] = {}
    for where, program, argv in shown_commands():
        path, command, rest = resolve(argv, program)
        shown = f"`{program} {' '.join(argv)}`"
        assert path, f"{where}: {shown} names no command"
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for token in rest:
            if token.startswith("-") and token != "-":
                name = token.split("=", 1)[0]
                assert name in options | {"--help"}, f"{where}: {shown}: no option {name}"
        paths.setdefault((program, *path), where)
    for (program, *names), where in sorted(paths.items()):
        result = runner.invoke(_root_command(program), [*names, "--help"])
        assert result.exit_code == 0, f"{where}: `{program} {' '.join(names)} --help` failed: {result.output}"


def test_alert_names_and_dashboards_in_runbooks_exist() -> None:
    for page in all_pages():
        text = page.read_text(encoding="utf-8")
        for word in re.findall(r"`([A-Z][a-z]+(?:[A-Z][a-z0-9]*)+)`", text):
            assert word in ALERT_NAMES | NOT_ALERTS, f"{page.name}: `{word}` is not an alert of the catalog"
        for word in re.findall(r"\[([A-Z][a-z]+(?:[A-Z][a-z0-9]*)+)\]\(", text):
            assert word in ALERT_NAMES, f"{page.name}: link text {word} is not an alert of the catalog"
        for uid in re.findall(r"/d/([a-z0-9-]+)", text):
            assert uid in DASHBOARD_UIDS, (
                f"{page.name}: dashboard uid {uid} is not one of {sorted(DASHBOARD_UIDS)}"
            )


def test_links_between_runbooks_resolve() -> None:
    checked = 0
    for page in all_pages():
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            resolved = (page.parent / target.split("#", 1)[0]).resolve()
            assert resolved.is_file(), f"{page.relative_to(ROOT)}: broken link {target}"
            checked += 1
    assert checked > 50


# --------------------------------------------------------------------------------------------
# glowops runbook
# --------------------------------------------------------------------------------------------
def test_runbook_command_prints_the_alert_page() -> None:
    result = CliRunner().invoke(app, ["runbook", "HighErrorRate"])
    assert result.exit_code == 0, result.output
    for text in ("HighErrorRate", "Meaning", "First checks", "Escalation", "glowops:http_request_errors"):
        assert text in result.output
    assert "## " not in result.output  # rendered, not the Markdown source


def test_runbook_command_is_case_insensitive_and_prints_general_runbooks() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["runbook", "backupstale", "--raw"])
    assert result.exit_code == 0
    assert result.output == (ALERTS / "BackupStale.md").read_text(encoding="utf-8")
    result = runner.invoke(app, ["runbook", "disaster-recovery"])
    assert result.exit_code == 0 and "Restore from Supabase" in result.output


def test_runbook_command_suggests_close_names() -> None:
    result = CliRunner().invoke(app, ["runbook", "HighErorRate"])
    assert result.exit_code == 1
    assert "no runbook named 'HighErorRate'" in result.stderr
    assert "Did you mean: HighErrorRate" in result.stderr
    result = CliRunner().invoke(app, ["runbook", "disaster-recovry"])
    assert result.exit_code == 1 and "disaster-recovery" in result.stderr


def test_runbook_list_shows_every_alert_with_its_page() -> None:
    result = CliRunner().invoke(app, ["--pack", "prismaglow", "runbook", "--list"])
    assert result.exit_code == 0
    for name in ALERT_NAMES:
        assert f"alerts/{name}.md" in result.output, name
    assert "missing" not in result.output
    assert "disaster-recovery" in result.output and "incident-response" in result.output


def test_the_wheel_carries_the_runbooks(tmp_path: Path) -> None:
    """Installed from a wheel (no checkout), ``glowops runbook`` still finds its pages."""
    uv = shutil.which("uv")
    if uv is None:
        missing_peer("uv (to build the wheel)")
    build = subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("glowops-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    for name in CORE_NAMES:
        assert f"glowops/runbooks/alerts/{name}.md" in names
    # Run from the unpacked wheel only: it comes first on sys.path, outside the source tree.
    probe = subprocess.run(
        [sys.executable, "-c", "import glowops.runbook_cli as r; print(r.__file__); print(r.runbook_root())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(unpacked), "PATH": ""},
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    module_file, root = probe.stdout.split()
    assert Path(module_file).is_relative_to(unpacked)
    assert Path(root) == unpacked / "glowops" / "runbooks"


def test_a_packs_runbook_is_found_with_the_pack_only(without_packs: None) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["runbook", "ApprovalsOverdue"])
    assert missing.exit_code == 1 and "no runbook named 'ApprovalsOverdue'" in missing.stderr
    found = runner.invoke(app, ["--pack", "prismaglow", "runbook", "ApprovalsOverdue", "--path"])
    assert found.exit_code == 0, found.output
    assert Path(found.output.strip()) == PACK_ALERTS / "ApprovalsOverdue.md"
