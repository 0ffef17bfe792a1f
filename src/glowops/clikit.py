"""What glowops' commands share on top of click: help printed as written, enum choices, tables.

The core's command line needs only click. Rich is optional: when it is importable, tables and
Markdown are drawn with it; otherwise they are printed as aligned plain text.
"""

from __future__ import annotations

import enum
import importlib.util
import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click


class Command(click.Command):
    """A command whose help keeps its examples and lists as written; prose paragraphs are wrapped."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_help(self.help or "", formatter)


def write_help(text: str, formatter: click.HelpFormatter) -> None:
    """Prose paragraphs wrapped to the terminal; lists, indented blocks and what follows ``::``
    verbatim (click would run command examples together)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    verbatim_next = False
    with formatter.indentation():
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            formatter.write_paragraph()
            if verbatim_next or any(line.startswith((" ", "- ")) for line in lines):
                for line in lines:
                    formatter.write(f"{formatter.current_indent * ' '}{line}\n")
            else:
                formatter.write_text(" ".join(line.strip() for line in lines))
            verbatim_next = paragraph.rstrip().endswith("::")


class Group(click.Group):
    """A command group whose commands and sub-groups print their help as written."""

    command_class = Command

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_help(self.help or "", formatter)


Group.group_class = Group


class EnumChoice(click.Choice[str]):
    """A choice among an enum's values; the command receives the enum member."""

    def __init__(self, enum_type: type[enum.Enum]) -> None:
        super().__init__([str(member.value) for member in enum_type])
        self.enum_type = enum_type

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.enum_type):
            return value
        return self.enum_type(super().convert(value, param, ctx))


PATH = click.Path(path_type=Path)


def rich_available() -> bool:
    """True when rich can draw tables and Markdown (it is optional)."""
    return importlib.util.find_spec("rich") is not None


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    no_wrap: Sequence[str] = (),
    title_justify: str = "center",
) -> None:
    """A table: drawn by rich when it is installed, else aligned plain text."""
    if rich_available():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify=title_justify)  # type: ignore[arg-type]
        for column in columns:
            table.add_column(column, no_wrap=column in no_wrap)
        for row in rows:
            table.add_row(*row)
        Console(width=width).print(table)
        return
    cells = [[strip_markup(str(v)) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    if title:
        click.echo(title)
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


_MARKUP = re.compile(r"\[/?(?:bold|dim|red|green|yellow|italic)(?: [a-z]+)*\]")


def strip_markup(text: str) -> str:
    """The text without rich's style tags (``[bold]``, ``[/dim]``...)."""
    return _MARKUP.sub("", text)


def echo_markup(text: str, *, markup: bool = True) -> None:
    """A line with rich's style tags: styled when rich is installed, plain otherwise."""
    if rich_available():
        from rich.console import Console

        Console().print(text, markup=markup, highlight=False, soft_wrap=True)
    else:
        click.echo(strip_markup(text) if markup else text)


def echo_markdown(text: str) -> None:
    """Markdown rendered by rich when it is installed, else the source as it is."""
    if rich_available():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text, code_theme="ansi_dark"))
    else:
        click.echo(text, nl=False)
