"""``glowops runbook NAME``: print a runbook page in the terminal.

NAME is an alert of the rule catalog (``glowops runbook HighErrorRate``, the page its
``runbook_url`` links to) or a general runbook (``glowops runbook disaster-recovery``).
``glowops runbook --list`` shows every alert with its page and every general runbook.

The pages are ``docs/runbooks`` of the source tree, and the runbook folder of each pack in use
(``glowops --pack prismaglow runbook ApprovalsOverdue``, ``GLOWOPS_PACKS``). A wheel carries the same files as
``glowops/runbooks`` (hatch ``force-include`` in pyproject.toml), so the command works on a
production host without a checkout; the packaged copy is preferred when both exist.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from glowops.clikit import Group, echo_markdown, echo_markup, print_table

top = Group()

ALERTS_DIR = "alerts"
INDEX_PAGE = "README.md"  # the index of a folder, not a runbook of its own

_PACKAGE_DIR = Path(__file__).resolve().parent


def runbook_roots() -> list[Path]:
    """Where runbooks may live, in order of preference: inside the installed package, then
    ``docs/runbooks`` of the source tree (an editable install or a checkout)."""
    return [_PACKAGE_DIR / "runbooks", _PACKAGE_DIR.parents[1] / "docs" / "runbooks"]


def runbook_root() -> Path | None:
    """The first runbook folder that exists, or None when neither does."""
    for root in runbook_roots():
        if (root / ALERTS_DIR).is_dir():
            return root
    return None


@dataclass(frozen=True, slots=True)
class Runbooks:
    """The pages found under one runbook root, by the name ``glowops runbook`` accepts."""

    root: Path
    alerts: dict[str, Path]  # AlertName -> alerts/AlertName.md
    general: dict[str, Path]  # incident-response -> incident-response.md

    @classmethod
    def load(cls, root: Path) -> Runbooks:
        def pages(folder: Path) -> dict[str, Path]:
            if not folder.is_dir():
                return {}
            return {p.stem: p for p in sorted(folder.glob("*.md")) if p.name != INDEX_PAGE}

        return cls(root, pages(root / ALERTS_DIR), pages(root))

    def with_pack_pages(self, folders: list[Path]) -> Runbooks:
        """These pages and those of the packs' runbook folders (``Pack.runbooks``)."""
        alerts, general = dict(self.alerts), dict(self.general)
        for folder in folders:
            extra = Runbooks.load(folder)
            alerts.update(extra.alerts)
            general.update(extra.general)
        return Runbooks(self.root, alerts, general)

    @property
    def names(self) -> list[str]:
        return [*self.alerts, *self.general]

    def find(self, name: str) -> Path | None:
        """The page of ``name``: exact, then case-insensitive; ``.md`` and ``alerts/`` are optional."""
        wanted = name.strip().removesuffix(".md").removeprefix(f"{ALERTS_DIR}/")
        for pages in (self.alerts, self.general):
            if wanted in pages:
                return pages[wanted]
        folded = {n.casefold(): p for n, p in (*self.alerts.items(), *self.general.items())}
        return folded.get(wanted.casefold())

    def suggestions(self, name: str, limit: int = 3) -> list[str]:
        """Close names for a typo (compared case-insensitively, returned as spelled)."""
        by_fold = {n.casefold(): n for n in self.names}
        close = difflib.get_close_matches(name.casefold(), list(by_fold), n=limit, cutoff=0.6)
        return [by_fold[c] for c in close]


def title_of(page: Path) -> str:
    """The first Markdown heading of a page (its title)."""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return page.stem


def _list(books: Runbooks) -> None:
    from glowops.alerting.export import catalog_from_settings
    from glowops.settings import load_settings

    # Piped output keeps whole names (a terminal gets its own width).
    width = None if sys.stdout.isatty() else 160
    rows = []
    for rule in catalog_from_settings(load_settings(), backups=True).alerts:
        page = books.alerts.get(rule.name)
        if page is None:
            shown = "[red]missing[/red]"
        else:  # a pack's page: "prismaglow:alerts/ApprovalsOverdue.md"
            shown = f"{rule.pack + ':' if rule.pack else ''}{ALERTS_DIR}/{page.name}"
        rows.append((rule.name, rule.priority, rule.severity, rule.family, shown))
    columns = ("alert", "priority", "severity", "family", "page")
    title = "Alert runbooks (glowops runbook ALERTNAME)"
    print_table(title, columns, rows, width=width, no_wrap=("alert", "page"))
    general = [(name, title_of(page)) for name, page in books.general.items()]
    print_table("General runbooks (glowops runbook NAME)", ("name", "title"), general, width=width)
    echo_markup(f"pages in {books.root}", markup=False)


@top.command("runbook")
@click.argument("name", default=None, required=False)
@click.option(
    "--list",
    "-l",
    "list_",
    is_flag=True,
    default=False,
    help="List every alert with its page, and the general runbooks.",
)
@click.option(
    "--raw", "raw", is_flag=True, default=False, help="Print the Markdown source instead of rendering it."
)
@click.option("--path", "path_only", is_flag=True, default=False, help="Print only the page's file path.")
def runbook(
    name: str | None,
    list_: bool,
    raw: bool,
    path_only: bool,
) -> None:
    """Print the runbook of an alert (the page its runbook_url links to) or a general runbook.

    Examples::

        glowops runbook HighErrorRate
        glowops runbook disaster-recovery
        glowops runbook --list
        glowops runbook BackupStale --raw | less
    """
    root = runbook_root()
    if root is None:
        tried = ", ".join(str(r) for r in runbook_roots())
        click.echo(f"glowops runbook: no runbook folder found (looked in {tried})", err=True)
        raise click.exceptions.Exit(1)
    from glowops.packs import active_packs
    from glowops.settings import load_settings

    folders = [pack.runbooks for pack in active_packs(load_settings()) if pack.runbooks is not None]
    books = Runbooks.load(root).with_pack_pages(folders)
    if list_ or name is None:
        _list(books)
        return
    page = books.find(name)
    if page is None:
        close = books.suggestions(name)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        click.echo(
            f"glowops runbook: no runbook named {name!r}.{hint} `glowops runbook --list` shows them all.",
            err=True,
        )
        raise click.exceptions.Exit(1)
    if path_only:
        click.echo(str(page))
        return
    text = page.read_text(encoding="utf-8")
    if raw:
        click.echo(text, nl=False)
        return
    echo_markdown(text)
